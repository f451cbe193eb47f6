"""Importing this module registers every gpu_heavy analyzer."""

from tiktok_analyzer.gpu_heavy.analyzers import objects

__all__ = ["objects"]

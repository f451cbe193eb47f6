"""Importing this module registers every gpu_light analyzer."""

from tiktok_analyzer.gpu_light.analyzers import color, quality

__all__ = ["color", "quality"]

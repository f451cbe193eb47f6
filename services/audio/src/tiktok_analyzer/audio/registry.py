"""Importing this module registers every audio analyzer."""

from tiktok_analyzer.audio.analyzers import audio_features

__all__ = ["audio_features"]

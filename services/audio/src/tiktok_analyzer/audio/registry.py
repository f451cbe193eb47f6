"""Importing this module registers every audio analyzer."""

from tiktok_analyzer.audio.analyzers import (
    audio_events,
    audio_features,
    pitch,
    speech_emotion,
    speech_rate,
    transcript,
)

__all__ = ["audio_events", "audio_features", "pitch", "speech_emotion", "speech_rate",
           "transcript"]

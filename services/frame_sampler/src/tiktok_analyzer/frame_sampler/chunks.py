"""Overlapping audio chunks: the stitching rule the sampler and the audio analyzers share."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from tiktok_analyzer.shared.errors import ConfigError


class AudioChunker:
    """Cuts a stream of mono samples into overlapping chunks.

    Stitching rule: chunk ``k`` holds samples ``[s_k, s_k + n_k)`` of the audio, of which the
    first ``o_k`` (``overlap``) repeat the end of chunk ``k - 1``; ``o_0 = 0``. Chunks are
    ``chunk`` samples long and start ``chunk - overlap`` apart, so every chunk but the first has
    ``overlap`` samples of lead-in. The last chunk ends at the end of the audio and reaches back
    as far as a full chunk would, so its overlap may be longer. A chunk *owns* its samples after
    the overlap: every sample is owned by exactly one chunk, and concatenating each chunk minus
    its overlap gives the whole audio. Analyzers may read the overlap as context but report only
    on what they own.
    """

    def __init__(self, chunk: int, overlap: int) -> None:
        if chunk < 1 or not 0 <= overlap < chunk:
            raise ConfigError(f"audio overlap ({overlap} samples) must be below the chunk "
                              f"length ({chunk} samples)")
        self.chunk = chunk
        self.overlap = overlap
        self.history = np.zeros(0, dtype=np.int16)  # the last emitted chunk
        self.new: list[np.ndarray] = []  # samples not emitted yet
        self.new_count = 0
        self.next_start = 0  # sample index of the first sample not emitted yet

    def push(self, samples: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yields ``(start_sample, overlap_samples, samples)`` for every chunk now complete."""
        if len(samples):
            self.new.append(samples)
            self.new_count += len(samples)
        lead = self.overlap if len(self.history) else 0
        while self.new_count >= self.chunk - lead:
            yield self._emit(self.chunk - lead, lead)
            lead = self.overlap

    def finish(self) -> Iterator[tuple[int, int, np.ndarray]]:
        if self.new_count:
            lead = min(len(self.history), self.chunk - self.new_count)
            yield self._emit(self.new_count, lead)

    def _emit(self, fresh: int, lead: int) -> tuple[int, int, np.ndarray]:
        pending = np.concatenate(self.new) if len(self.new) > 1 else self.new[0]
        head, rest = pending[:fresh], pending[fresh:]
        window = np.concatenate([self.history[len(self.history) - lead:], head]) if lead else head
        self.new = [rest] if len(rest) else []
        self.new_count = len(rest)
        start = self.next_start - lead
        self.next_start += fresh
        self.history = window
        return start, lead, window

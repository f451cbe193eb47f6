"""One process at a time compiles numba kernels into a shared cache, machine-wide.

librosa's kernels are numba functions with ``cache=True``; their cache lives in one folder
that every process on the machine uses (librosa's ``__pycache__``, or ``NUMBA_CACHE_DIR``).
When two processes compile the same ``@guvectorize`` kernels at the same time, numba can write
a pair of cache files from different compilations whose symbol names disagree, and every
process that later loads them segfaults (numba issue #10128, open; seen here when the audio
service and a test process warmed up together on a fresh machine). Warm-ups, which compile
everything once, therefore hold an exclusive lock on a file in the temporary folder: the
second process waits, then loads what the first one cached.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = Path(tempfile.gettempdir()) / "tiktok-analyzer-numba-compile.lock"


@contextmanager
def numba_compile_lock() -> Iterator[None]:
    """Hold the machine-wide compile lock (blocking) for the duration of the block."""
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

"""What a service's imports cost with and without Python's bytecode cache (docs/setup.md).

Times, in fresh interpreters, the imports a service makes (torch, OpenCV, transformers,
librosa, FastStream, aiokafka, OpenTelemetry) twice each way: with PYTHONDONTWRITEBYTECODE and
an empty cache folder (every module compiled from source, as when the environment sets it),
and from a cache written by one run before. PYTHONPYCACHEPREFIX keeps both caches in
temporary folders, so the .venv's own __pycache__ is neither used nor touched and the script
gives the same answer when run again. Prints the median of each and their ratio.

Usage: .venv/bin/python benchmarks/bytecode_cache.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

IMPORTS = ("import torch, cv2, transformers, librosa, scipy.signal, faststream, aiokafka, "
           "opentelemetry.sdk")


def timed_import(cache: str, write: bool) -> float:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": cache}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not write:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as cached:
        timed_import(cached, write=True)  # fills the cache
        without = [timed_import(empty, write=False) for _ in range(args.runs)]
        with_cache = [timed_import(cached, write=False) for _ in range(args.runs)]
    a, b = statistics.median(without), statistics.median(with_cache)
    print(f"imports without a bytecode cache: {a:.2f} s (median of {args.runs})")
    print(f"imports from the bytecode cache:  {b:.2f} s (median of {args.runs})")
    print(f"without / with: {a / b:.2f}x")


if __name__ == "__main__":
    main()

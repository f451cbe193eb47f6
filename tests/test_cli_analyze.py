"""`tiktok-analyzer analyze` and `demo`: one process, no Kafka or MinIO."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from report_checks import check_sections_without_weights

from tiktok_analyzer.cli.main import EXIT_OK, EXIT_REJECTED, EXIT_USAGE

CLI = [sys.executable, "-m", "tiktok_analyzer.cli.main"]


def run_cli(*args: str, model_store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIKTOK_MODEL_STORE": str(model_store)}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=600)


def only_report(out: Path) -> dict:
    (path,) = out.glob("*.report.json")
    return json.loads(path.read_text())


def test_analyze_writes_a_complete_report(red_clip: Path, tmp_path: Path,
                                          empty_model_store: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("analyze", str(red_clip), "--out", str(out), model_store=empty_model_store)
    assert result.returncode == EXIT_OK, result.stderr
    assert "batches" in result.stderr  # progress while it works
    report = only_report(out)
    assert report["status"] == "complete"
    check_sections_without_weights(report["analyzers"])  # an empty model store
    assert report["analyzers"]["color"]["summary"]["dominant_colors"][0]["rgb"] == [218, 30, 29]
    assert abs(report["analyzers"]["audio_features"]["summary"]["tempo_bpm"] - 100) < 2
    assert "tempo_bpm" in result.stdout  # the readable summary


def test_analyze_on_garbage_writes_a_rejected_report(tmp_path: Path,
                                                     empty_model_store: Path) -> None:
    garbage = tmp_path / "clip.mp4"
    garbage.write_bytes(os.urandom(4096))
    out = tmp_path / "out"
    result = run_cli("analyze", str(garbage), "--out", str(out), model_store=empty_model_store)
    assert result.returncode == EXIT_REJECTED, result.stderr
    report = only_report(out)
    assert report["status"] == "rejected"
    assert "not a recognised media file" in report["reason"]


def test_demo_generates_a_sample_and_analyzes_it(tmp_path: Path,
                                                 empty_model_store: Path) -> None:
    result = run_cli("demo", "--out", str(tmp_path), model_store=empty_model_store)
    assert result.returncode == EXIT_OK, result.stderr
    assert (tmp_path / "sample.mp4").is_file()
    report = only_report(tmp_path)
    assert abs(report["summary"]["tempo_bpm"] - 120) < 2.4


def test_analyze_takes_folders_and_files_and_exits_with_the_worst_outcome(
        red_clip: Path, tmp_path: Path, empty_model_store: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "red.mp4").write_bytes(red_clip.read_bytes())
    (folder / "broken.mp4").write_bytes(os.urandom(4096))
    (folder / "notes.txt").write_text("not media: a folder is searched for media suffixes")
    out = tmp_path / "out"
    result = run_cli("analyze", str(folder), "--out", str(out), model_store=empty_model_store)
    assert result.returncode == EXIT_REJECTED, result.stderr  # rejected is worse than ok
    reports = {json.loads(p.read_text())["status"] for p in out.glob("*.report.json")}
    assert reports == {"complete", "rejected"}
    assert len(list(out.glob("*.report.html"))) == 2
    table = result.stdout
    assert "red.mp4" in table and "broken.mp4" in table and "notes.txt" not in table
    assert "first batch decoded" in result.stderr  # start-up, measured from the command

    missing = run_cli("analyze", str(folder / "sub"), str(tmp_path / "absent.mp4"),
                      "--out", str(out), model_store=empty_model_store)
    assert missing.returncode == EXIT_USAGE  # a usage error is the worst outcome
    assert "absent.mp4: no such file or folder" in missing.stderr
    assert "complete" in missing.stdout  # the files that exist are still analyzed

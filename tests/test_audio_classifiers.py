"""``audio_events`` and ``speech_emotion`` through their production loading path.

Tiny random models in the official formats (``tiny_hf_audio``) are written into a temporary
model store under the default lock's file names and loaded by the analyzers themselves, then
run by the ``GroupRunner`` on a synthesized 22 s track cut into overlapping chunks the way the
sampler cuts them. Random weights make the tags and emotions meaningless, so those are checked
for structure only; what does not depend on the weights (silence from energy, Silero's voice
activity, the windowing, merging, label families and summaries) is checked exactly.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_hf_audio as th
import torch
from plugin_helpers import of_type, summarize

from tiktok_analyzer.audio.analyzers.audio_events import (
    AudioEventsAnalyzer,
    AudioEventsConfig,
    AudioEventSegment,
    Window,
    dbfs,
    family_indices,
    family_score,
    label_family,
    merge_windows,
    window_bounds,
    window_kind,
)
from tiktok_analyzer.audio.analyzers.speech_emotion import (
    SpeechEmotionAnalyzer,
    SpeechEmotionConfig,
    SpeechEmotionSegment,
    emotion_word,
    plan_pieces,
    split_evenly,
)
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.results import LabelScore
from tiktok_analyzer.shared.runtime.analyzers import (
    AnalyzerOutcome,
    AudioInput,
    GroupRunner,
    LoadContext,
)
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.runtime.plugins import discover, provider_of

SR = th.SR
EMOTIONS = {"neutral", "happy", "angry", "sad"}
KINDS = {"speech", "music", "silence", "other"}
# The synthesized track (th.track): babble 0-6 s, silence 6-9, chords 9-16, babble 16-20,
# silence 20-22.
DURATION = 22.0
SILENT = [(6.0, 9.0), (20.0, 22.0)]
BABBLE = [(0.0, 6.0), (16.0, 20.0)]


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audio-models") / "models"
    store = ModelStore(root)  # the default lock: file names must match it
    th.write_tiny_ast(store.folder("audio_events"))
    th.write_tiny_wav2vec2(store.folder("speech_emotion"))
    return root


def runner_for(store: ModelStore, *analyzers: Any) -> GroupRunner:
    runner = GroupRunner(Group.AUDIO, analyzers or [AudioEventsAnalyzer(),
                                                    SpeechEmotionAnalyzer()],
                         LoadContext(model_store=store, device="cpu"))
    runner.load()
    return runner


@pytest.fixture(scope="module")
def chunks() -> list[AudioInput]:
    return [AudioInput("v", i, start, SR, samples, overlap)
            for i, (start, overlap, samples) in enumerate(th.chunks(th.track()))]


@pytest.fixture(scope="module")
def results(store_root: Path, chunks: list[AudioInput]) -> list[dict[str, AnalyzerOutcome]]:
    runner = runner_for(ModelStore(store_root))
    assert runner.unavailable() == {}
    try:
        return [{run.analyzer: run for run in runner.run(chunk)} for chunk in chunks]
    finally:
        runner.close()


def chunk_end(chunk: AudioInput) -> float:
    return chunk.start_s + len(chunk.samples) / chunk.sample_rate


def event_segments(results: list[dict[str, AnalyzerOutcome]]) -> list[AudioEventSegment]:
    return [r for by_key in results
            for r in of_type(by_key["audio_events"].records, AudioEventSegment)]


def emotion_segments(results: list[dict[str, AnalyzerOutcome]]) -> list[SpeechEmotionSegment]:
    return [r for by_key in results
            for r in of_type(by_key["speech_emotion"].records, SpeechEmotionSegment)]


def overlap_s(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


# --- the production path ---------------------------------------------------------------------

def test_chunks_overlap_as_the_sampler_cuts_them(chunks: list[AudioInput]) -> None:
    assert [(c.start_s, c.overlap_s) for c in chunks] == [(0.0, 0.0), (9.0, 1.0), (12.0, 7.0)]
    assert chunk_end(chunks[-1]) == DURATION


def test_both_load_with_the_pinned_ids(store_root: Path,
                                       results: list[dict[str, AnalyzerOutcome]]) -> None:
    lock = ModelStore(store_root).lock
    for by_key in results:
        for key in ("audio_events", "speech_emotion"):
            run = by_key[key]
            assert run.status is AnalyzerStatus.OK, run.reason
            assert (run.model_id, run.model_revision) == (lock[key].model_id,
                                                          lock[key].revision)


def test_audio_events_segments_tile_each_chunks_owned_part(
        chunks: list[AudioInput], results: list[dict[str, AnalyzerOutcome]]) -> None:
    for chunk, by_key in zip(chunks, results, strict=True):
        segments = of_type(by_key["audio_events"].records, AudioEventSegment)
        assert segments
        assert segments[0].t == pytest.approx(chunk.owned_start_s, abs=1e-4)
        assert segments[-1].end_t == pytest.approx(chunk_end(chunk), abs=1e-4)
        for before, after in itertools.pairwise(segments):
            assert before.end_t == after.t  # contiguous, no overlap
            assert before.kind != after.kind  # runs of one kind are merged
        for segment in segments:
            assert segment.kind in KINDS
            assert 0 <= segment.t < segment.end_t <= DURATION
            assert segment.windows[0].t == segment.t
            assert segment.windows[-1].end_t == segment.end_t
            for w1, w2 in zip(segment.windows, segment.windows[1:], strict=False):
                assert w1.end_t == w2.t
            for window in segment.windows:
                assert 0.5 <= window.end_t - window.t < 1.5 + 1e-9  # hop 1 s, remainder folded
                assert len(window.tags) == (0 if segment.kind == "silence" else 3)
            for tag in segment.tags:
                assert tag.label in th.AST_LABELS
                assert 0.0 <= tag.score <= 1.0
            assert 0.0 <= segment.speech_score <= 1.0 and 0.0 <= segment.music_score <= 1.0
            scores = [t.score for t in segment.tags]
            assert scores == sorted(scores, reverse=True)


def test_audio_events_cover_the_video_once(results: list[dict[str, AnalyzerOutcome]]) -> None:
    spans = sorted((r.t, r.end_t) for r in event_segments(results))
    assert spans[0][0] == 0.0 and spans[-1][1] == DURATION
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start == pytest.approx(end, abs=1e-4)


def test_silence_is_found_by_energy_exactly(results: list[dict[str, AnalyzerOutcome]]) -> None:
    # Weight-free: every window of digital silence, and only those, is silence.
    silent = [(r.t, r.end_t) for r in event_segments(results) if r.kind == "silence"]
    assert silent == SILENT


def test_speech_emotion_segments(chunks: list[AudioInput],
                                 results: list[dict[str, AnalyzerOutcome]]) -> None:
    cfg = SpeechEmotionConfig()
    for chunk, by_key in zip(chunks, results, strict=True):
        for record in of_type(by_key["speech_emotion"].records, SpeechEmotionSegment):
            assert chunk.owned_start_s - 1e-4 <= record.t < record.end_t <= chunk_end(chunk)
            assert record.end_t - record.t <= cfg.max_segment_s + 1e-3
            assert {s.label for s in record.scores} == EMOTIONS
            assert sum(s.score for s in record.scores) == pytest.approx(1.0, abs=1e-3)
            assert all(0.0 <= s.score <= 1.0 for s in record.scores)
            assert record.emotion == record.scores[0].label
            assert [s.score for s in record.scores] == sorted(
                (s.score for s in record.scores), reverse=True)
    spans = sorted((r.t, r.end_t) for r in emotion_segments(results))
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 1e-4  # never the same second twice, across chunks too


def test_voice_activity_finds_the_babble_only(results: list[dict[str, AnalyzerOutcome]]) -> None:
    # Silero VAD is a packaged asset, not the random model: its decisions are real. The
    # babble is mostly covered; the chords and the silences are not taken for speech.
    spans = [(r.t, r.end_t) for r in emotion_segments(results)]
    for babble in BABBLE:
        covered = sum(overlap_s(babble, s) for s in spans)
        assert covered >= 0.8 * (babble[1] - babble[0])
    quiet_or_music = [(6.5, 8.5), (9.5, 15.5), (20.5, 22.0)]
    assert all(overlap_s(q, s) == 0.0 for q in quiet_or_music for s in spans)


def test_no_speech_gives_no_records(store_root: Path) -> None:
    runner = runner_for(ModelStore(store_root), SpeechEmotionAnalyzer())
    samples = np.concatenate([th.chords(4.0), th.silence(2.0)])
    (run,) = runner.run(AudioInput("v", 0, 30.0, SR, samples, 1.0))
    assert run.status is AnalyzerStatus.OK
    assert run.records == []
    runner.close()


def test_other_sample_rates_are_resampled(store_root: Path) -> None:
    # The same chunk at 32 kHz gives the same segment boundaries, in video seconds.
    analyzer = AudioEventsAnalyzer()
    analyzer.load(LoadContext(model_store=ModelStore(store_root), device="cpu"))
    y16 = np.concatenate([th.babble(2.5), th.silence(2.0), th.chords(2.5)])
    from scipy.signal import resample_poly

    y32 = resample_poly(y16, 2, 1).astype(np.float32)
    at16 = analyzer.process(AudioInput("v", 3, 40.0, SR, y16, 1.0))
    at32 = analyzer.process(AudioInput("v", 3, 40.0, 2 * SR, y32, 1.0))
    assert [(s.t, s.end_t) for s in at16] == [(s.t, s.end_t) for s in at32]
    assert at16[0].t == 41.0 and at16[-1].end_t == 47.0
    assert [(s.t, s.end_t) for s in at16 if s.kind == "silence"] == [(43.0, 44.0)]


def test_ast_scores_are_sigmoids_unless_the_checkpoint_is_single_label(
        store_root: Path) -> None:
    analyzer = AudioEventsAnalyzer()
    analyzer.load(LoadContext(model_store=ModelStore(store_root), device="cpu"))
    assert analyzer.activation == "sigmoid"
    probs = analyzer.scores([th.babble(1.0), th.chords(2.0)])
    assert probs.shape == (2, len(th.AST_LABELS))
    assert ((probs > 0) & (probs < 1)).all()
    forced = AudioEventsAnalyzer(AudioEventsConfig(activation="softmax"))
    forced.load(LoadContext(model_store=ModelStore(store_root), device="cpu"))
    assert forced.scores([th.babble(1.0)]).sum() == pytest.approx(1.0, abs=1e-5)


def test_windows_are_batched_by_the_batch_size(store_root: Path) -> None:
    # 10 windows in passes of 3 give the same scores as one pass.
    store = ModelStore(store_root)
    one, three = AudioEventsAnalyzer(), AudioEventsAnalyzer(AudioEventsConfig(batch_size=3))
    for analyzer in (one, three):
        analyzer.load(LoadContext(model_store=store, device="cpu"))
    clips = [th.babble(2.0, seed=i) for i in range(10)]
    np.testing.assert_allclose(one.scores(clips), three.scores(clips), atol=1e-5)


def test_padding_does_not_change_emotion_scores_where_batched(tmp_path: Path) -> None:
    # A Wav2Vec2 with layer norm takes an attention mask: its clips of different lengths are
    # batched, and must score as they do alone.
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(1)
    config = th.wav2vec2_config()
    config.feat_extract_norm, config.do_stable_layer_norm = "layer", True
    model = Wav2Vec2ForSequenceClassification(config).eval()
    extractor = Wav2Vec2FeatureExtractor(sampling_rate=SR, return_attention_mask=True)
    analyzer = SpeechEmotionAnalyzer()
    analyzer.setup(model, extractor, "cpu")
    assert analyzer.batched
    clips = [th.babble(1.0, seed=1), th.babble(2.3, seed=2), th.babble(1.7, seed=3)]
    together = analyzer.scores(clips)
    alone = np.concatenate([analyzer.scores([c]) for c in clips])
    np.testing.assert_allclose(together, alone, atol=1e-4)


def test_summaries(results: list[dict[str, AnalyzerOutcome]]) -> None:
    events = summarize("audio_events", event_segments(results))
    assert discover()["audio_events"].headline == ("speech_ratio",)
    assert provider_of("speech_ratio") == "audio_events"
    assert 0.0 <= events["speech_ratio"] <= 1.0
    ratios = [events[f"{k}_ratio"] for k in ("speech", "music", "silence", "other")]
    assert sum(ratios) == pytest.approx(1.0, abs=1e-3)
    assert events["silence_ratio"] == round(5.0 / DURATION, 4)  # weight-free
    assert events["covered_s"] == DURATION
    assert 1 <= len(events["top_tags"]) <= 5
    assert all(t["label"] in th.AST_LABELS and 0 <= t["score"] <= 1 for t in events["top_tags"])

    emotion = summarize("speech_emotion", emotion_segments(results))
    assert emotion["dominant_emotion"] in EMOTIONS
    assert emotion["dominant_emotion"] == next(iter(emotion["emotion_shares"]))
    assert sum(emotion["emotion_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert emotion["speech_s"] > 0 and emotion["segments"] >= 2


# --- weights absent or unsafe ----------------------------------------------------------------

def test_missing_weights_are_skipped_with_the_pull_command(tmp_path: Path,
                                                           chunks: list[AudioInput]) -> None:
    runner = runner_for(ModelStore(tmp_path / "empty"))
    for run in runner.run(chunks[0]):
        assert run.status is AnalyzerStatus.SKIPPED
        assert f"tiktok-analyzer models pull {run.analyzer}" in (run.reason or "")
        assert run.records == []


class _Exploit:
    marker: str = ""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_foreign_code_is_refused_not_run(store_root: Path, tmp_path: Path,
                                                     chunks: list[AudioInput]) -> None:
    store = ModelStore(tmp_path / "models")
    shutil.copytree(ModelStore(store_root).folder("speech_emotion"),
                    store.folder("speech_emotion"))
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = str(marker)
    torch.save({"wav2vec2.masked_spec_embed": exploit},
               store.folder("speech_emotion") / "pytorch_model.bin")
    runner = runner_for(store, SpeechEmotionAnalyzer())
    (run,) = runner.run(chunks[0])
    assert run.status is AnalyzerStatus.FAILED
    assert (run.reason or "").startswith("load failed")
    assert "posix.system" in (run.reason or "") and "weights_only" in (run.reason or "")
    assert not marker.exists()
    # The control: the same file does run its code when unpickled without weights_only (it
    # only touches the marker), so the refusal above is what kept it from running.
    torch.load(store.folder("speech_emotion") / "pytorch_model.bin", weights_only=False)
    assert marker.exists()


def test_a_checkpoint_missing_weights_fails_instead_of_running_random(
        store_root: Path, tmp_path: Path, chunks: list[AudioInput]) -> None:
    # transformers would fill the missing classifier with random values and only warn.
    store = ModelStore(tmp_path / "models")
    folder = store.folder("speech_emotion")
    shutil.copytree(ModelStore(store_root).folder("speech_emotion"), folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith("classifier.")},
               folder / "pytorch_model.bin")
    runner = runner_for(store, SpeechEmotionAnalyzer())
    (run,) = runner.run(chunks[0])
    assert run.status is AnalyzerStatus.FAILED
    assert "classifier.weight" in (run.reason or "")


# --- weight-free parts, known answers --------------------------------------------------------

@pytest.mark.parametrize(("name", "family"), [
    ("Speech", "speech"), ("Male speech, man speaking", "speech"),
    ("Child speech, kid speaking", "speech"), ("Conversation", "speech"),
    ("Narration, monologue", "speech"), ("Speech synthesizer", "speech"),
    ("Whispering", "speech"), ("Hubbub, speech noise, speech babble", None),
    ("Laughter", None), ("Shout", None), ("Music", "music"), ("Musical instrument", "music"),
    ("Singing", "music"), ("Rapping", "music"), ("Guitar", "music"), ("Drum and bass", "music"),
    ("Keyboard (musical)", "music"), ("Computer keyboard", None), ("Pop music", "music"),
    ("Burst, pop", None), ("Bird vocalization, bird call, bird song", None), ("Song", "music"),
    ("Jingle (music)", "music"), ("Jingle bell", None), ("Bicycle bell", None),
    ("Tubular bells", "music"), ("Wood block", "music"), ("Singing bowl", "music"),
    ("Scratching (performance technique)", "music"), ("Scratch", None),
    ("Rock and roll", "music"), ("Dog", None), ("Silence", None), ("Hum", None),
])
def test_label_family(name: str, family: str | None) -> None:
    assert label_family(name) == family


def test_family_indices() -> None:
    labels = dict(enumerate(th.AST_LABELS))
    families = family_indices(labels)
    assert families == {"speech": [0, 1, 2], "music": [4, 6, 7, 8, 9, 10]}
    scores = np.linspace(0.0, 0.75, len(labels))  # label i scores i * 0.05
    assert family_score(scores, families["speech"]) == pytest.approx(0.10)
    assert family_score(scores, families["music"]) == pytest.approx(0.50)
    assert family_score(None, families["music"]) == 0.0
    assert family_score(scores, []) == 0.0


def test_window_bounds() -> None:
    # 3.2 s: the 0.2 s remainder joins the last window; 2.6 s from 1 s: 0.6 s stays alone.
    assert window_bounds(0, 3 * SR + SR // 5, SR) == [
        (0, SR), (SR, 2 * SR), (2 * SR, 3 * SR + SR // 5)]
    assert window_bounds(SR, 3 * SR + 3 * SR // 5, SR) == [
        (SR, 2 * SR), (2 * SR, 3 * SR), (3 * SR, 3 * SR + 3 * SR // 5)]
    assert window_bounds(0, SR // 5, SR) == [(0, SR // 5)]  # a lone short window stays
    assert window_bounds(SR, SR, SR) == []


def test_level_and_silence_by_energy() -> None:
    t = np.arange(SR) / SR
    sine = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert dbfs(sine) == pytest.approx(20 * np.log10(0.1 / np.sqrt(2)), abs=0.01)  # -23.01
    assert dbfs(np.zeros(SR, np.float32)) == -120.0
    assert dbfs(np.zeros(0, np.float32)) == -120.0
    cfg = AudioEventsConfig(silence_dbfs=-50.0, min_family_score=0.2)
    assert window_kind(-50.01, 0.9, 0.1, cfg) == "silence"
    assert window_kind(-49.99, 0.9, 0.1, cfg) == "speech"
    assert window_kind(-20.0, 0.3, 0.6, cfg) == "music"
    assert window_kind(-20.0, 0.5, 0.5, cfg) == "speech"  # a tie goes to speech
    assert window_kind(-20.0, 0.1, 0.19, cfg) == "other"


def test_merge_windows() -> None:
    labels = {0: "Speech", 1: "Music", 2: "Dog"}

    def w(start: float, end: float, kind: str, level: float,
          scores: list[float] | None) -> Window:
        p = np.array(scores) if scores is not None else None
        return Window(start, end, kind, level, p,  # type: ignore[arg-type]
                      speech=p[0] if p is not None else 0.0,
                      music=p[1] if p is not None else 0.0)

    segments = merge_windows([
        w(10.0, 11.0, "speech", -20.0, [0.9, 0.1, 0.3]),
        w(11.0, 13.0, "speech", -30.0, [0.6, 0.4, 0.0]),
        w(13.0, 14.0, "silence", -120.0, None),
        w(14.0, 15.0, "silence", -90.0, None),
        w(15.0, 15.5, "music", -25.0, [0.2, 0.8, 0.1]),
    ], labels, top_k=2)
    assert [(s.t, s.end_t, s.kind) for s in segments] == [
        (10.0, 13.0, "speech"), (13.0, 15.0, "silence"), (15.0, 15.5, "music")]
    speech, quiet, music = segments
    # Averages weighted by window duration: (0.9 * 1 + 0.6 * 2) / 3 = 0.7, etc.
    assert speech.tags == [LabelScore(label="Speech", score=0.7),
                           LabelScore(label="Music", score=0.3)]
    assert (speech.speech_score, speech.music_score) == (0.7, 0.3)
    assert speech.dbfs == round(10 * np.log10((10 ** -2 + 2 * 10 ** -3) / 3), 2)  # -24.08
    assert [len(x.tags) for x in speech.windows] == [2, 2]
    assert speech.windows[1].tags[0] == LabelScore(label="Speech", score=0.6)
    assert quiet.tags == [] and quiet.speech_score == 0.0
    assert quiet.dbfs == round(10 * np.log10((1e-12 + 1e-9) / 2), 2)
    assert music.tags[0] == LabelScore(label="Music", score=0.8)
    assert merge_windows([], labels, 3) == []


def test_emotion_words() -> None:
    assert [emotion_word(c) for c in ("neu", "hap", "ang", "sad", "NEU", "joy")] == [
        "neutral", "happy", "angry", "sad", "neutral", "joy"]


def test_split_and_plan_pieces() -> None:
    assert split_evenly(0, 10, 4) == [(0, 3), (3, 7), (7, 10)]
    assert split_evenly(5, 8, 4) == [(5, 8)]
    assert split_evenly(5, 5, 4) == []
    cfg = SpeechEmotionConfig(min_segment_s=0.5, max_segment_s=4.0)
    rate = 100  # samples per second, to keep the numbers readable
    owned_from = 100  # a 1 s overlap
    pieces = plan_pieces([
        (0, 80),     # entirely in the overlap: the previous chunk reported it
        (50, 300),   # starts in the overlap: heard from 50, reported from 100
        (320, 340),  # 0.2 s: too short to classify
        (400, 1300),  # 9 s: three pieces of 3 s
        (1400, 1495),  # 0.95 s
    ], owned_from, rate, cfg)
    assert pieces == [(50, 100, 300), (400, 400, 700), (700, 700, 1000), (1000, 1000, 1300),
                      (1400, 1400, 1495)]
    sliver = plan_pieces([(0, 105)], owned_from, rate, cfg)
    assert sliver == []  # 0.05 s owned: a sliver at the boundary


def test_config_rejects_pieces_that_splitting_would_drop() -> None:
    with pytest.raises(ValueError, match="twice"):
        SpeechEmotionConfig(min_segment_s=2.0, max_segment_s=3.0)


def test_summaries_known_answer() -> None:
    def segment(t: float, end_t: float, kind: str, tags: list[tuple[str, float]],
                speech: float, music: float, level: float) -> dict[str, Any]:
        labels = [{"label": label, "score": score} for label, score in tags]
        return {"t": t, "end_t": end_t, "kind": kind, "speech_score": speech,
                "music_score": music, "dbfs": level, "tags": labels,
                "windows": [{"t": t, "end_t": end_t, "tags": labels}]}

    events = summarize("audio_events", [
        segment(0.0, 2.0, "speech", [("Speech", 0.8), ("Music", 0.2)], 0.8, 0.2, -20.0),
        segment(2.0, 3.0, "silence", [], 0.0, 0.0, -120.0),
        segment(3.0, 4.0, "music", [("Music", 0.9)], 0.0, 0.9, -25.0),
    ])
    assert events == {
        "speech_ratio": 0.5, "music_ratio": 0.25, "silence_ratio": 0.25, "other_ratio": 0.0,
        "covered_s": 4.0, "speech_s": 2.0, "music_s": 1.0, "first_speech_s": 0.0,
        "top_tags": [{"label": "Speech", "score": 0.4}, {"label": "Music", "score": 0.325}],
    }
    emotion = summarize("speech_emotion", [
        {"t": 0.0, "end_t": 1.0, "emotion": "happy", "scores": []},
        {"t": 2.0, "end_t": 5.0, "emotion": "neutral", "scores": []},
    ])
    assert emotion == {"dominant_emotion": "neutral",
                       "emotion_shares": {"neutral": 0.75, "happy": 0.25},
                       "speech_s": 4.0, "segments": 2}
    assert summarize("audio_events", [])["speech_ratio"] is None
    assert summarize("speech_emotion", [])["dominant_emotion"] is None

"""The sampler's policy on media synthesized here with known content: shot starts, rotation,
pixel aspect, overlapping audio chunks, and exact manifests for odd inputs. No Kafka: payloads
go through a local blob store, exactly as in one-process mode."""

from __future__ import annotations

import itertools
from collections import Counter
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plugin_helpers import summarize

from tiktok_analyzer.cli.sample import click_track
from tiktok_analyzer.frame_sampler.chunks import AudioChunker
from tiktok_analyzer.frame_sampler.stage import sample_video
from tiktok_analyzer.shared.contracts.events import (
    AnalyzerStatus,
    AudioChunk,
    FrameBatch,
    Group,
    MediaInfo,
    ObjectRef,
    SamplingManifest,
    VideoAccepted,
)
from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker, unpack
from tiktok_analyzer.shared.runtime.analyzers import GroupRunner, LoadContext
from tiktok_analyzer.shared.runtime.consume import analyze_batch, decode_jpeg, to_input
from tiktok_analyzer.shared.runtime.models import ModelStore
from tiktok_analyzer.shared.settings import PipelineSettings, SamplingSettings

FPS = 30
AUDIO_RATE = 48_000
RED, GREEN, BLUE = (220, 30, 30), (20, 200, 60), (30, 40, 210)
YELLOW, GREY = (240, 220, 40), (128, 128, 128)


# --- synthesis ----------------------------------------------------------------------------------


def write_clip(path: Path, *, duration_s: float, width: int = 96, height: int = 160,
               scenes: list[tuple[float, tuple[int, int, int]]] | None = None,
               image: np.ndarray | None = None, rotation_ccw: int | None = None,
               sar: Fraction | None = None, audio: np.ndarray | None = None,
               audio_start_s: float = 0.0, video: bool = True, faststart: bool = False) -> Path:
    """An H.264 (+ AAC) MP4. ``scenes``: (start time, solid colour) hard cuts; ``image``: one
    fixed picture; ``rotation_ccw``: a display matrix as FFmpeg reads it back (-90 is the
    ``rotate=90`` tag of a phone's portrait clip); ``sar``: the sample aspect ratio."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        vstream = None
        if video:
            vstream = out.add_stream("libx264", rate=FPS)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
            vstream.options = {"preset": "ultrafast", "crf": "23"}
            if sar is not None:
                vstream.codec_context.sample_aspect_ratio = sar
            if rotation_ccw is not None:
                vstream.set_display_rotation(rotation_ccw)
        astream = None
        if audio is not None:
            astream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        if vstream is not None:
            scenes = scenes or [(0.0, GREY)]
            for i in range(round(duration_s * FPS)):
                if image is not None:
                    rgb = image
                else:
                    colour = [c for start, c in scenes if start <= i / FPS + 1e-9][-1]
                    rgb = np.full((height, width, 3), colour, dtype=np.uint8)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, FPS)
                for packet in vstream.encode(frame):
                    out.mux(packet)
            for packet in vstream.encode(None):
                out.mux(packet)
        if astream is not None and audio is not None:
            offset = round(audio_start_s * AUDIO_RATE)
            for start in range(0, len(audio), 1024):
                frame = av.AudioFrame.from_ndarray(audio[None, start:start + 1024],
                                                   format="flt", layout="mono")
                frame.sample_rate = AUDIO_RATE
                frame.pts, frame.time_base = offset + start, Fraction(1, AUDIO_RATE)
                for packet in astream.encode(frame):
                    out.mux(packet)
            for packet in astream.encode(None):
                out.mux(packet)
    return path


def accepted_for(path: Path) -> VideoAccepted:
    media = MediaInfo(container="mov,mp4,m4a,3gp,3g2,mj2", duration_s=None,
                      size_bytes=path.stat().st_size)
    return VideoAccepted(video_id=f"v-{path.stem}", source=ObjectRef(bucket="local", key=path.name),
                         media=media)


class Sampled:
    def __init__(self, path: Path, store: LocalBlobStore, **settings: Any) -> None:
        self.store = store
        packer = PayloadPacker(store, "work", 256 * 1024)
        sampling = SamplingSettings(**settings)
        # These tests check the heavy group's interval and shot starts: the group runs only
        # objects here, which asks for 2 frames/s of its own, so it follows the group's
        # interval (caption and segmentation have grids of their own, 3 s and 2 s).
        # Likewise the light group without scene_labels, which also asks for shot starts.
        light = [k for k in PipelineSettings().gpu_light if k != "scene_labels"]
        pipeline = PipelineSettings(gpu_heavy=["objects"], gpu_light=light,
                                    settings={"objects": {"every_s": sampling.heavy_interval_s}})
        self.events = list(sample_video(path, accepted_for(path), packer, sampling, pipeline))
        *self.batches, self.manifest = self.events
        assert isinstance(self.manifest, SamplingManifest)

    def frames(self, group: Group) -> list[Any]:
        return [f for e in self.batches if isinstance(e, FrameBatch) and e.group is group
                for f in e.frames]

    def chunks(self) -> list[AudioChunk]:
        return [e for e in self.batches if isinstance(e, AudioChunk)]

    def image(self, frame: Any) -> np.ndarray:
        return decode_jpeg(unpack(frame.jpeg, self.store))

    def batch_counts(self) -> dict[Group, int]:
        return dict(Counter(e.group for e in self.batches))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def decoded_audio_samples(path: Path, rate: int) -> int:
    """How many mono samples at ``rate`` the file's audio decodes to, read on its own."""
    import av

    total = 0
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            total += sum(out.samples for out in resampler.resample(frame))
        total += sum(out.samples for out in resampler.resample(None))
    return total


# --- shots --------------------------------------------------------------------------------------


def test_heavy_frames_at_shot_starts_and_on_the_interval(tmp_path: Path,
                                                         store: LocalBlobStore) -> None:
    # Cuts at 1.5, 4.2, 6.0 (also an interval tick) and 7.5 s; heavy interval 3 s.
    scenes = [(0.0, RED), (1.5, GREEN), (4.2, BLUE), (6.0, YELLOW), (7.5, GREY)]
    clip = write_clip(tmp_path / "cuts.mp4", duration_s=9.0, scenes=scenes)
    sampled = Sampled(clip, store, heavy_interval_s=3.0, heavy_batch=2)

    cuts = [start for start, _ in scenes]
    assert sampled.manifest.shot_starts_s == pytest.approx(cuts, abs=1.01 / FPS)
    heavy = sampled.frames(Group.GPU_HEAVY)
    assert [(f.t, f.reason) for f in heavy] == [
        (pytest.approx(t, abs=1.01 / FPS), reason) for t, reason in [
            (0.0, "shot_start"), (1.5, "shot_start"), (3.0, "interval"), (4.2, "shot_start"),
            (6.0, "shot_start"), (7.5, "shot_start")]]
    assert len({f.index for f in heavy}) == len(heavy)  # no frame sent twice
    # Each shot-start frame shows the new scene, not the last frame of the old one.
    for frame in heavy:
        if frame.reason == "shot_start":
            colour = [c for start, c in scenes if start <= frame.t + 1e-6][-1]
            centre = sampled.image(frame)[frame.height // 2, frame.width // 2]
            assert np.abs(centre.astype(int) - colour).max() < 20, (frame.t, centre, colour)
    light = sampled.frames(Group.GPU_LIGHT)
    assert [f.t for f in light] == pytest.approx([i * 0.5 for i in range(18)])
    assert {f.reason for f in light} == {"interval"}
    assert sampled.manifest.groups[Group.GPU_HEAVY].batches == 3
    assert sampled.batch_counts()[Group.GPU_HEAVY] == 3


def test_motion_inside_a_shot_is_not_a_cut(tmp_path: Path, store: LocalBlobStore) -> None:
    from tiktok_analyzer.cli.sample import make_video

    clip = make_video(tmp_path / "moving.mp4", duration_s=4.0, width=180, height=320,
                      pattern="moving", bpm=None, preset="ultrafast")
    sampled = Sampled(clip, store)
    assert sampled.manifest.shot_starts_s == [0.0]
    assert [f.reason for f in sampled.frames(Group.GPU_HEAVY)] == ["shot_start", "interval"]


def test_shot_start_frames_can_be_switched_off(tmp_path: Path, store: LocalBlobStore) -> None:
    clip = write_clip(tmp_path / "cuts.mp4", duration_s=4.0,
                      scenes=[(0.0, RED), (1.5, BLUE), (2.5, GREEN)])
    sampled = Sampled(clip, store, heavy_shot_starts=False, heavy_interval_s=3.0)
    # The shots are still found (the report's shot figures need them); no heavy frame for them.
    assert sampled.manifest.shot_starts_s == pytest.approx([0.0, 1.5, 2.5], abs=1.01 / FPS)
    assert [(f.t, f.reason) for f in sampled.frames(Group.GPU_HEAVY)] == [
        (0.0, "interval"), (3.0, "interval")]


def test_a_flash_is_no_cut_and_min_shot_length_merges_quick_cuts(
        tmp_path: Path, store: LocalBlobStore) -> None:
    # A one-frame flash, then a cut 0.3 s later: the flash is not a shot change.
    scenes = [(0.0, RED), (2.0, GREY), (2.0 + 1 / FPS, RED), (2.3, BLUE)]
    clip = write_clip(tmp_path / "flash.mp4", duration_s=4.0, scenes=scenes)
    sampled = Sampled(clip, store)
    assert sampled.manifest.shot_starts_s == pytest.approx([0.0, 2.3], abs=1.01 / FPS)
    # Two real cuts 0.3 s apart: both by default, the first alone with a 1 s minimum.
    scenes = [(0.0, RED), (2.0, GREEN), (2.3, BLUE)]
    clip = write_clip(tmp_path / "quick.mp4", duration_s=4.0, scenes=scenes)
    assert Sampled(clip, store).manifest.shot_starts_s == pytest.approx(
        [0.0, 2.0, 2.3], abs=1.01 / FPS)
    assert Sampled(clip, store, shot_min_len_s=1.0).manifest.shot_starts_s == pytest.approx(
        [0.0, 2.0], abs=1.01 / FPS)


@pytest.mark.parametrize("light", [["shots", "color"], ["shots"]],
                         ids=["with_frames", "signals_only"])
def test_gpu_light_batches_carry_every_frame_once(tmp_path: Path, store: LocalBlobStore,
                                                  light: list[str]) -> None:

    scenes = [(0.0, RED), (1.5, GREEN), (4.2, BLUE), (6.0, YELLOW), (7.5, GREY)]
    clip = write_clip(tmp_path / "cuts.mp4", duration_s=9.0, scenes=scenes)
    packer = PayloadPacker(store, "work", 256 * 1024)
    events = list(sample_video(clip, accepted_for(clip), packer, SamplingSettings(),
                               PipelineSettings(gpu_light=light)))
    manifest = events[-1]
    assert isinstance(manifest, SamplingManifest)
    batches = [e for e in events if isinstance(e, FrameBatch) and e.group is Group.GPU_LIGHT]
    assert manifest.groups[Group.GPU_LIGHT].batches == len(batches) > 1
    spans = [to_input(b, store).signals for b in batches]
    assert all(s is not None for s in spans)
    times = [t for s in spans if s is not None for t in s.times]
    # Every decoded frame exactly once, in order, at its time.
    assert times == pytest.approx([i / FPS for i in range(round(9.0 * FPS))], abs=1e-3)
    for a, b in itertools.pairwise(spans):
        assert a is not None and b is not None
        assert b.start_index == a.start_index + len(a.times)
        assert a.end_t == float(round(a.end_t))  # whole seconds but the last
        assert b.lead_in == min(6, a.lead_in + len(a.times))
        # The lead-in repeats the previous span's last thumbnails.
        assert np.array_equal(b.thumbs[:b.lead_in], a.thumbs[len(a.thumbs) - b.lead_in:])
    last = spans[-1]
    assert last is not None and last.end_t == pytest.approx(9.0, abs=1e-3)
    assert last.thumbs.shape[1:] == (40, 24)  # 96x160 upright: cells of 2x2 samples, 2 apart
    # Hard cuts arrive as frame indices; the shots, once settled, as the manifest lists them.
    assert sorted({c for s in spans if s is not None for c in s.cuts}) == [45, 126, 180, 225]
    shots = [shot for s in spans if s is not None for shot in s.shots]
    assert [shot.t for shot in shots] == manifest.shot_starts_s
    assert [shot.start_index for shot in shots] == [0, 45, 126, 180, 225]
    assert shots[-1].end_index == 270


# --- geometry -----------------------------------------------------------------------------------


def marked(width: int, height: int) -> np.ndarray:
    """Grey picture whose left quarter is red: shows where the coded left edge ends up."""
    image = np.full((height, width, 3), GREY, dtype=np.uint8)
    image[:, : width // 4] = RED
    return image


@pytest.mark.parametrize(("rotation_ccw", "rotation_cw", "red_edge"),
                         [(-90, 90, "top"), (90, 270, "bottom"), (180, 180, "right")])
def test_rotated_video_gives_upright_frames(tmp_path: Path, store: LocalBlobStore,
                                            rotation_ccw: int, rotation_cw: int,
                                            red_edge: str) -> None:
    # Coded landscape 320x176, shown turned: a phone's portrait clip when rotation_cw is 90.
    clip = write_clip(tmp_path / "rotated.mp4", duration_s=1.0, width=320, height=176,
                      image=marked(320, 176), rotation_ccw=rotation_ccw)
    sampled = Sampled(clip, store)
    manifest = sampled.manifest
    assert manifest.rotation_deg == rotation_cw
    transposed = rotation_cw in (90, 270)
    assert (manifest.display_width, manifest.display_height) == \
        ((176, 320) if transposed else (320, 176))
    for group in (Group.GPU_HEAVY, Group.GPU_LIGHT):
        for frame in sampled.frames(group):
            image = sampled.image(frame)
            assert image.shape[:2] == (frame.height, frame.width)
            assert (frame.height > frame.width) is transposed
            h, w = image.shape[:2]
            edges = {"top": image[: h // 8], "bottom": image[-(h // 8):],
                     "left": image[:, : w // 8], "right": image[:, -(w // 8):]}
            for edge, pixels in edges.items():
                is_red = bool(np.abs(pixels.reshape(-1, 3).mean(axis=0) - RED).max() < 25)
                assert is_red is (edge == red_edge), (edge, pixels.reshape(-1, 3).mean(axis=0))


def test_non_square_pixels_are_stretched(tmp_path: Path, store: LocalBlobStore) -> None:
    # 320x320 coded at SAR 2:1 is shown 640x320.
    clip = write_clip(tmp_path / "sar.mp4", duration_s=1.0, width=320, height=320,
                      image=marked(320, 320), sar=Fraction(2, 1))
    sampled = Sampled(clip, store, heavy_max_side=640, light_max_side=480)
    assert (sampled.manifest.display_width, sampled.manifest.display_height) == (640, 320)
    heavy, light = sampled.frames(Group.GPU_HEAVY)[0], sampled.frames(Group.GPU_LIGHT)[0]
    assert (heavy.width, heavy.height) == (640, 320)
    assert (light.width, light.height) == (480, 240)
    image = sampled.image(heavy)
    assert image.shape == (320, 640, 3)
    red_columns = np.abs(image.mean(axis=0).astype(int) - RED).max(axis=1) < 25
    assert red_columns[:150].all() and not red_columns[170:].any()  # still the left quarter


# --- audio --------------------------------------------------------------------------------------


@pytest.mark.parametrize("total", [0, 1, 3999, 4000, 4001, 6999, 7000, 7001, 23_456])
def test_chunker_stitching_rule(total: int) -> None:
    signal = np.arange(total, dtype=np.int16)
    chunker = AudioChunker(chunk=4000, overlap=1000)
    pieces = [signal[i:i + 777] for i in range(0, total, 777)]
    chunks = [c for piece in pieces for c in chunker.push(piece)] + list(chunker.finish())
    owned = []
    for k, (start, lead, window) in enumerate(chunks):
        assert np.array_equal(window, signal[start:start + len(window)])
        assert len(window) <= 4000
        assert lead == 0 if k == 0 else lead >= 1000
        if k < len(chunks) - 1:
            assert len(window) == 4000 and (k == 0 or lead == 1000)
        elif k > 0:
            assert len(window) == 4000 or start == 0  # the last chunk reaches back a full chunk
        owned.append(window[lead:])
    joined = np.concatenate(owned) if owned else np.zeros(0, np.int16)
    assert np.array_equal(joined, signal)


def test_audio_chunks_overlap_and_stitch_back(tmp_path: Path, store: LocalBlobStore) -> None:
    audio = click_track(11.3, 120, rate=AUDIO_RATE)
    clip = write_clip(tmp_path / "audio.mp4", duration_s=11.3, audio=audio, video=False)
    rate = 16_000
    sampled = Sampled(clip, store, audio_chunk_s=4.0, audio_overlap_s=1.0,
                      audio_sample_rate=rate)
    chunks = sampled.chunks()
    assert [c.batch_index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].overlap_s == 0.0
    assert all(c.overlap_s == 1.0 for c in chunks[1:-1])
    assert all(c.num_samples == 4 * rate for c in chunks[:-1])
    pcm = [np.frombuffer(unpack(c.pcm_s16le, store), dtype="<i2") for c in chunks]
    for k in range(1, len(chunks)):
        prev, cur = chunks[k - 1], chunks[k]
        lead = round(cur.overlap_s * rate)
        # The overlap repeats the previous chunk's tail, and start_s agrees with it.
        assert np.array_equal(pcm[k][:lead], pcm[k - 1][len(pcm[k - 1]) - lead:])
        assert cur.start_s + cur.overlap_s == pytest.approx(
            prev.start_s + prev.num_samples / rate, abs=1 / rate)
    owned = sum(c.num_samples - round(c.overlap_s * rate) for c in chunks)
    assert abs(owned - decoded_audio_samples(clip, rate)) <= 4
    manifest = sampled.manifest
    assert manifest.groups[Group.AUDIO].batches == len(chunks)
    for group in (Group.GPU_HEAVY, Group.GPU_LIGHT):
        assert manifest.groups[group].batches == 0
        assert manifest.groups[group].skip_reason == "no video stream"


def test_audio_that_starts_late_is_timed_from_the_video_start(tmp_path: Path,
                                                              store: LocalBlobStore) -> None:
    audio = click_track(3.0, 120, rate=AUDIO_RATE)
    clip = write_clip(tmp_path / "late.mp4", duration_s=5.0, audio=audio, audio_start_s=2.0)
    chunks = Sampled(clip, store).chunks()
    assert chunks[0].start_s == pytest.approx(2.0, abs=0.03)


def test_overlapping_chunks_count_nothing_twice(tmp_path: Path, store: LocalBlobStore) -> None:
    from tiktok_analyzer.audio.analyzers.audio_features import AudioFeaturesAnalyzer

    duration = 25.0
    clip = write_clip(tmp_path / "music.mp4", duration_s=duration,
                      audio=click_track(duration, 120, rate=AUDIO_RATE), video=False)
    sampled = Sampled(clip, store, audio_chunk_s=10.0, audio_overlap_s=2.0)
    chunks = sampled.chunks()
    assert [c.overlap_s > 0 for c in chunks] == [False, True, True]
    # audio_features is weight-free: the model store is empty.
    runner = GroupRunner(Group.AUDIO, [AudioFeaturesAnalyzer()],
                         LoadContext(model_store=ModelStore(tmp_path / "models"), device="cpu"))
    runner.load()
    # The wire form, as the audio service sends it: JSON records in each chunk's partial result.
    runs = [run for c in chunks for run in analyze_batch(runner, c, store).runs]
    assert [(run.analyzer, run.status) for run in runs] == [
        ("audio_features", AnalyzerStatus.OK)] * len(chunks)
    records = [r for run in runs for r in run.records]
    times = [r["t"] for r in records]
    assert len(set(times)) == len(times) and times == sorted(times)
    assert times[0] == pytest.approx(0.0, abs=0.03)
    assert sum(r["duration_s"] for r in records) == pytest.approx(duration, abs=0.05)
    beats = [b for r in records for b in r["beats"]]
    assert np.diff(beats).min() > 0.4  # one beat per click: none counted by two chunks
    assert len(beats) >= 0.9 * duration * 2
    summary = summarize("audio_features", records)
    assert summary["tempo_bpm"] == pytest.approx(120, rel=0.02)
    assert to_input(chunks[1], store).owned_start_s == pytest.approx(10.0, abs=1e-6)


# --- manifests ----------------------------------------------------------------------------------


def test_video_without_audio(tmp_path: Path, store: LocalBlobStore) -> None:
    clip = write_clip(tmp_path / "silent.mp4", duration_s=3.0)
    sampled = Sampled(clip, store)
    groups = sampled.manifest.groups
    assert groups[Group.AUDIO].batches == 0
    assert groups[Group.AUDIO].skip_reason == "no audio stream"
    counts = sampled.batch_counts()
    assert Group.AUDIO not in counts
    assert {g: groups[g].batches for g in (Group.GPU_HEAVY, Group.GPU_LIGHT)} == counts
    assert not any("truncated" in w for w in sampled.manifest.warnings)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_file_is_flagged_and_counted_exactly(tmp_path: Path, store: LocalBlobStore,
                                                       keep: float) -> None:
    whole = write_clip(tmp_path / "whole.mp4", duration_s=6.0, scenes=[(0, RED), (3, BLUE)],
                       audio=click_track(6.0, 100, rate=AUDIO_RATE), faststart=True)
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # the index is at the front
    cut = tmp_path / f"cut-{keep}.mp4"
    cut.write_bytes(data[: int(len(data) * keep)])

    intact = Sampled(whole, store)
    assert not any("truncated" in w for w in intact.manifest.warnings)
    sampled = Sampled(cut, LocalBlobStore(tmp_path / "cut-blobs"))
    manifest = sampled.manifest
    assert any(w.startswith("input looks truncated") for w in manifest.warnings), \
        manifest.warnings
    assert manifest.decoded_duration_s is not None and manifest.decoded_duration_s < 6.0 * keep
    counts = sampled.batch_counts()
    assert {g: p.batches for g, p in manifest.groups.items()} == {g: counts.get(g, 0)
                                                                   for g in Group}
    assert all(p.batches > 0 for p in manifest.groups.values())


def test_closing_early_stops_decoding(tmp_path: Path, store: LocalBlobStore) -> None:
    import threading

    clip = write_clip(tmp_path / "long.mp4", duration_s=8.0, scenes=[(0, RED), (4, BLUE)])
    events = sample_video(clip, accepted_for(clip), PayloadPacker(store, "work", 256 * 1024),
                          SamplingSettings(light_batch=1))
    assert isinstance(next(events), FrameBatch)
    events.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("sampler-")]


def test_audio_format_change_mid_stream_keeps_every_sample() -> None:
    import av

    from tiktok_analyzer.frame_sampler.stage import _Resampler

    def tone(seconds: float, rate: int, layout: str) -> Any:
        channels = 2 if layout == "stereo" else 1
        samples = np.zeros((1, round(seconds * rate) * channels), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout=layout)
        frame.sample_rate = rate
        return frame

    resampler = _Resampler(av, 16_000)
    out = [*resampler.push(tone(1.0, 48_000, "mono")), *resampler.push(tone(1.0, 44_100, "stereo")),
           *resampler.finish()]
    assert abs(sum(len(x) for x in out) - 32_000) <= 64

"""``caption``: a caption per keyframe (every 3 s and each shot start) and a short description
of the video built from them.

Two backends, chosen by the ``backend`` setting, write the same record type, so the report
differs only in ``model_id``:

- ``blip2`` (default; lock entry ``caption``, Salesforce/blip2-opt-2.7b): one caption per
  keyframe, the frames of a batch in one ``generate()`` call.
- ``smolvlm`` (lock entry ``caption_vlm``, HuggingFaceTB/SmolVLM-256M-Instruct, small enough
  for a CPU): the same per-keyframe captions, plus ``scene`` records: one description of
  several consecutive keyframes of a shot, shown to the model together in one prompt
  (``_caption_scenes`` says how shots are told apart and how a shot spanning batches is
  handled).

``precision`` picks the weights' precision per device (``_caption_models.load_options``):
``auto`` is fp32 on CPU and fp16 on CUDA; ``bf16``, ``fp16``, ``int8`` and ``int4``
(bitsandbytes) run on CUDA; asking a CPU for fp16/int8/int4 fails the load with the setting to
use instead. Generation: ``max_new_tokens``, ``num_beams``, ``prompt`` (BLIP-2 captions best
with none), and the analyzer's ``batch_size`` (frames per ``generate()``).

The summary (in the aggregator, no model): ``segments``, the keyframe captions in time order
with runs of near-identical captions within a shot merged (``_caption_text``: content words
compared with ``difflib``, ``merge_similarity``); ``scenes``, each scene's fullest
description; ``description``, a few sentences: the distinct scene descriptions when the
backend made them, else the distinct segment captions, in time order. Shots come from the
sampler's manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tiktok_analyzer.gpu_heavy.analyzers._caption_models import Precision
from tiktok_analyzer.gpu_heavy.analyzers._caption_scenes import SceneBuffer
from tiktok_analyzer.gpu_heavy.analyzers._caption_text import (
    TimedCaption,
    clean,
    describe,
    merge_runs,
    shot_of,
)
from tiktok_analyzer.shared.contracts.events import Group
from tiktok_analyzer.shared.contracts.report import TimelineEvent
from tiktok_analyzer.shared.contracts.results import StrictRecord, StrictSummary
from tiktok_analyzer.shared.errors import ConfigError
from tiktok_analyzer.shared.runtime.analyzers import (
    Analyzer,
    AnalyzerConfig,
    FramePolicy,
    FramesInput,
    LoadContext,
    VideoFacts,
)

KEYFRAME_EVERY_S = 3.0
# The lock entry of each backend's weights; ``model_entry`` names the default one.
LOCK_ENTRIES = {"blip2": "caption", "smolvlm": "caption_vlm"}
DEFAULT_PROMPTS = {"blip2": "", "smolvlm": "Describe this image in one short sentence."}


class CaptionConfig(AnalyzerConfig):
    kind: Literal["caption"] = "caption"
    backend: Literal["blip2", "smolvlm"] = Field(
        default="blip2", description="blip2: lock entry caption; smolvlm: lock entry "
                                     "caption_vlm, which also describes several frames of a shot")
    precision: Precision = Field(
        default="auto", description="auto: fp32 on CPU, fp16 on CUDA; bf16/fp16/int8/int4 "
                                    "(bitsandbytes) on CUDA; CPU takes fp32 or bf16")
    prompt: str | None = Field(
        default=None, description="Per-keyframe prompt (None: the backend's own: none for "
                                  "BLIP-2, a one-sentence instruction for SmolVLM)")
    scene_prompt: str = Field(
        default="These are frames of one shot of a short video, in order. Describe what "
                "happens in one sentence.",
        description="smolvlm: the instruction that comes with a shot's frames")
    scene_frames: int = Field(
        default=4, ge=0, le=16,
        description="smolvlm: most keyframes described together (0: no scene descriptions)")
    max_new_tokens: int = Field(default=30, ge=1, le=256)
    num_beams: int = Field(default=1, ge=1, le=8)
    image_splitting: bool = Field(
        default=False, description="smolvlm: tile large frames (more detail, several times "
                                   "the tokens per frame)")
    merge_similarity: float = Field(
        default=0.75, gt=0.0, le=1.0,
        description="Captions at least this alike in content words count as the same")
    max_sentences: int = Field(default=5, ge=1, le=20,
                               description="Most sentences in the video's description")
    shot_start_tolerance_s: float = Field(
        default=0.1, gt=0.0,
        description="smolvlm: a keyframe further than this past its 3 s grid point is a shot "
                    "start (the sampler adds those off the grid)")


class CaptionRecord(StrictRecord):
    """A keyframe's caption (``kind`` frame) or a description of several consecutive
    keyframes of one shot (``kind`` scene, from ``t`` to ``end_t``, the last frame's time)."""

    caption: str
    model_id: str
    kind: Literal["frame", "scene"] = "frame"
    end_t: float | None = Field(default=None, ge=0, description="scene: its last frame's time")
    frames: int = Field(default=1, ge=1, description="Keyframes the model saw for it")


class CaptionSpan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float = Field(description="Its first keyframe, seconds")
    end_t: float = Field(description="Its last keyframe, seconds")
    caption: str
    frames: int = Field(description="Keyframes it covers")
    shot: int | None = Field(default=None, description="Index of its shot in the manifest")


class CaptionSummary(StrictSummary):
    description: str | None = Field(default=None, description="A few sentences, in time order")
    segments: list[CaptionSpan] = Field(
        default_factory=list, description="Keyframe captions, runs of near-identical ones merged")
    scenes: list[CaptionSpan] = Field(
        default_factory=list, description="Descriptions of several frames of a shot (smolvlm)")
    keyframes: int = 0
    model_id: str | None = None


def spans(items: Sequence[TimedCaption]) -> list[CaptionSpan]:
    return [CaptionSpan(t=c.t, end_t=c.end_t, caption=c.caption, frames=c.frames, shot=c.shot)
            for c in items]


class CaptionAnalyzer(Analyzer[CaptionConfig, FramesInput, CaptionRecord, CaptionSummary]):
    key: ClassVar[str] = "caption"
    group: ClassVar[Group] = Group.GPU_HEAVY
    version: ClassVar[str] = "1"
    batch_size: ClassVar[int] = 4  # one sampler batch of gpu_heavy frames per generate()
    inputs = FramePolicy(every_s=KEYFRAME_EVERY_S, shot_starts=True)
    config_model = CaptionConfig
    record_model = CaptionRecord
    summary_model = CaptionSummary
    model_entry = LOCK_ENTRIES["blip2"]
    captioner: Any = None  # Blip2Captioner | VlmCaptioner once loaded
    scenes: SceneBuffer | None = None

    @property
    def lock_entry(self) -> str:
        """The lock entry of the configured backend (``model_entry`` is the default's)."""
        return LOCK_ENTRIES[self.config.backend]

    def model_entries(self) -> tuple[str, ...]:
        return (self.lock_entry,)

    def load(self, context: LoadContext) -> None:
        cfg = self.config
        pinned, folder = context.model_store.require(self.lock_entry)
        try:
            import transformers  # noqa: F401
        except ImportError as exc:
            raise ConfigError("transformers is not installed: install "
                              "tiktok-analyzer-gpu-heavy[runtime]") from exc
        from tiktok_analyzer.gpu_heavy.analyzers._caption_models import (
            Blip2Captioner,
            VlmCaptioner,
        )

        prompt = cfg.prompt if cfg.prompt is not None else DEFAULT_PROMPTS[cfg.backend]
        self.device = context.device
        if cfg.backend == "blip2":
            self.captioner = Blip2Captioner(folder, pinned.model_id, context.device,
                                            cfg.precision, prompt, cfg.max_new_tokens,
                                            cfg.num_beams)
        else:
            self.captioner = VlmCaptioner(folder, pinned.model_id, context.device,
                                          cfg.precision, prompt, cfg.scene_prompt,
                                          cfg.max_new_tokens, cfg.num_beams,
                                          cfg.image_splitting)
            if cfg.scene_frames > 0:
                self.scenes = SceneBuffer(cfg.every_s or KEYFRAME_EVERY_S,
                                          cfg.shot_start_tolerance_s, cfg.scene_frames)
        self.model_id, self.model_revision = pinned.model_id, pinned.revision

    def process(self, batch: FramesInput) -> list[CaptionRecord]:
        if not batch.frames:
            return []
        model_id = self.model_id or ""
        texts = self.captioner.caption([frame.rgb for frame in batch.frames])
        records = [CaptionRecord(t=frame.t, caption=clean(text), model_id=model_id)
                   for frame, text in zip(batch.frames, texts, strict=True)]
        if self.scenes is not None:
            touched = self.scenes.add(batch.video_id, [(f.t, f.rgb) for f in batch.frames])
            for scene in touched:
                text = self.captioner.describe(scene.images)
                records.append(CaptionRecord(
                    t=scene.start, end_t=scene.times[-1], caption=clean(text),
                    model_id=model_id, kind="scene", frames=len(scene.times)))
        return records

    def close(self) -> None:
        if self.captioner is not None:
            self.captioner.close()
        self.captioner = None
        self.scenes = None

    # --- the report (aggregator) --------------------------------------------------------------

    def summarize_with(self, records: Sequence[CaptionRecord], video: VideoFacts
                       ) -> CaptionSummary:
        cfg = self.config
        shots = video.shot_starts_s
        frames = sorted((r for r in records if r.kind == "frame"), key=lambda r: r.t)
        keyframes = [TimedCaption(r.t, r.t, r.caption, 1, shot_of(r.t, shots)) for r in frames]
        segments = merge_runs(keyframes, cfg.merge_similarity)
        # A growing scene was described once per batch that added to it: keep the fullest.
        fullest: dict[float, CaptionRecord] = {}
        for r in records:
            if r.kind == "scene" and (r.t not in fullest or r.frames >= fullest[r.t].frames):
                fullest[r.t] = r
        scenes = [TimedCaption(r.t, r.end_t if r.end_t is not None else r.t, r.caption,
                               r.frames, shot_of(r.t, shots))
                  for r in sorted(fullest.values(), key=lambda r: r.t)]
        return CaptionSummary(
            description=describe(scenes or segments, cfg.merge_similarity, cfg.max_sentences),
            segments=spans(segments), scenes=spans(scenes), keyframes=len(frames),
            model_id=next((r.model_id for r in records), None))

    def timeline(self, summary: CaptionSummary, records: Sequence[CaptionRecord]
                 ) -> list[TimelineEvent]:
        return [TimelineEvent(t=s.t, analyzer=self.key, label=s.caption)
                for s in summary.segments if s.caption]

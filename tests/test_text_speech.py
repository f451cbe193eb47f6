"""``text_speech`` on crafted sections built from the real types of both analyzers it reads
(``ocr``'s summary with its text tracks, ``transcript``'s segments with their words): burned-in
captions against speech, their lag, on-screen text never spoken, and what it says when either
analyzer is missing. The last test reads the sections back from a report's JSON, as the
aggregator holds them after a restart."""

from __future__ import annotations

from tiktok_analyzer.aggregator.analyzers.text_speech import (
    TextSpeechAnalyzer,
    TextSpeechSummary,
)
from tiktok_analyzer.audio.analyzers.transcript import TranscriptSegment, Word
from tiktok_analyzer.gpu_light.analyzers.ocr import OcrSummary, TextTrack
from tiktok_analyzer.shared.contracts.events import AnalyzerStatus, Group
from tiktok_analyzer.shared.contracts.report import AnalyzerSection
from tiktok_analyzer.shared.contracts.results import Record, Summary
from tiktok_analyzer.shared.runtime.analyzers import VideoFacts
from tiktok_analyzer.shared.runtime.report_analyzers import ReportInputs

VIDEO = VideoFacts(duration_s=8.0, shot_starts_s=(0.0,), width=1080, height=1920)
INSTALLED = frozenset({"ocr", "transcript"})


def section(key: str, group: Group, summary: Summary, records: list[Record] | None = None,
            status: AnalyzerStatus = AnalyzerStatus.OK, reason: str | None = None
            ) -> AnalyzerSection:
    return AnalyzerSection(analyzer=key, group=group, version="1", status=status, reason=reason,
                           batches=1, elapsed_s=0.0, summary=summary, records=records or [])


def track(n: int, text: str, t: float, end_t: float, y: float = 0.8) -> TextTrack:
    box = (0.2, y - 0.03, 0.8, y + 0.03)
    return TextTrack(id=n, text=text, t=t, end_t=end_t, frames=int((end_t - t) / 0.5),
                     confidence=0.9, box=box, center=(0.5, y), height=0.06,
                     position="bottom-center" if y > 2 / 3 else "top-center",
                     caption=y > 2 / 3, readings=[text])


def transcript(words: list[tuple[float, str]]) -> TranscriptSegment:
    timed = [Word(t=t, end_t=t + 0.3, text=w, probability=0.9) for t, w in words]
    return TranscriptSegment(t=timed[0].t, end_t=timed[-1].end_t,
                             text=" ".join(w.text for w in timed), language="en",
                             language_probability=0.99, avg_logprob=-0.2, no_speech_prob=0.01,
                             compression_ratio=1.3, words=timed)


SPOKEN = [(1.0, "Hello"), (1.3, "there,"), (2.0, "watch"), (2.3, "this"), (3.0, "right"),
          (3.3, "now.")]
# Captions half a second after the words (ocr's 2 fps grid), one misread ("watcn"), a title
# at the top and a call to action at the end that nobody says.
TRACKS = [track(1, "BEST TACOS", 0.0, 8.0, y=0.1), track(2, "hello there", 1.5, 2.5),
          track(3, "watcn this", 2.5, 3.5), track(4, "right now", 3.5, 4.5),
          track(5, "FOLLOW FOR MORE", 6.0, 8.0)]


def sections(tracks: list[TextTrack], words: list[tuple[float, str]]
             ) -> dict[str, AnalyzerSection]:
    return {"ocr": section("ocr", Group.GPU_LIGHT, OcrSummary(tracks=tracks)),
            "transcript": section("transcript", Group.AUDIO, Summary(),
                                  [transcript(words)] if words else [])}


def analyze(found: dict[str, AnalyzerSection]) -> TextSpeechSummary:
    summary = TextSpeechAnalyzer().analyze(ReportInputs(VIDEO, found, INSTALLED)).summary
    assert isinstance(summary, TextSpeechSummary)
    return summary


def test_captions_of_the_speech_their_lag_and_the_unspoken_text() -> None:
    summary = analyze(sections(TRACKS, SPOKEN))
    assert (summary.spoken_words, summary.shown_words, summary.shown_share) == (6, 6, 1.0)
    assert summary.burned_in_captions is True
    assert summary.caption_lag_s == 0.5
    assert [(u.text, u.t, u.position) for u in summary.unspoken or []] == [
        ("BEST TACOS", 0.0, "top-center"), ("FOLLOW FOR MORE", 6.0, "bottom-center")]
    assert summary.unavailable == {}


def test_text_that_matches_speech_only_far_from_it_is_not_captions() -> None:
    late = [track(2, "hello there", 6.0, 7.0), track(3, "watch this", 6.0, 7.0)]
    summary = analyze(sections(late, SPOKEN))
    assert (summary.shown_words, summary.burned_in_captions) == (0, False)
    assert summary.caption_lag_s is None and "caption_lag_s" in summary.unavailable
    assert summary.unspoken == []  # the words are said, only not while shown


def test_speech_without_any_text_on_screen() -> None:
    summary = analyze(sections([], SPOKEN))
    assert (summary.shown_share, summary.burned_in_captions, summary.unspoken) == (
        0.0, False, [])


def test_without_a_transcript_it_says_why() -> None:
    found = sections(TRACKS, SPOKEN)
    found["transcript"] = section("transcript", Group.AUDIO, Summary(),
                                  status=AnalyzerStatus.SKIPPED, reason="weights missing")
    summary = analyze(found)
    assert summary.burned_in_captions is None and summary.unspoken is None
    assert summary.unavailable["burned_in_captions"] == (
        "analyzer transcript skipped: weights missing")


def test_without_ocr_it_says_why() -> None:
    found = sections(TRACKS, SPOKEN)
    del found["ocr"]
    summary = analyze(found)
    assert summary.shown_share is None
    assert summary.unavailable["shown_share"] == "needs analyzer ocr (not enabled)"


def test_silent_video_with_text() -> None:
    summary = analyze(sections(TRACKS, []))
    assert summary.spoken_words == 0 and summary.shown_share is None
    assert summary.unavailable["shown_share"] == "the transcript has no words"
    assert len(summary.unspoken or []) == len(TRACKS)


def test_sections_read_back_from_json() -> None:
    found = {key: AnalyzerSection.model_validate_json(s.model_dump_json())
             for key, s in sections(TRACKS, SPOKEN).items()}
    assert analyze(found) == analyze(sections(TRACKS, SPOKEN))

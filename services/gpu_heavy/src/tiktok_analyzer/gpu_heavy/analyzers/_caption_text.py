"""Caption text for the ``caption`` analyzer: when two captions say the same thing, and how a
video's keyframe captions become a few segments and one short description.

Captioning models word one picture differently from frame to frame ("a man dancing in a
kitchen", "a man is dancing in the kitchen"), so captions are compared on their content words:
lower case, punctuation and filler words dropped (articles, forms of *to be*, the "a picture
of" that BLIP-2 likes to start with), then ``difflib``'s ratio over the remaining words. Pure
Python: the aggregator runs it without any model library.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

# Words that change between captions of the same picture without changing what it shows.
FILLER = frozenset({
    "a", "an", "the", "is", "are", "was", "were", "be", "being", "it", "its", "there", "this",
    "that", "of", "some", "very", "and", "with", "while", "his", "her", "their", "image",
    "picture", "photo", "frame", "shows", "showing", "view", "close", "up", "closeup",
})
_WORD = re.compile(r"[a-z0-9']+")


def content_words(caption: str) -> list[str]:
    return [w for w in _WORD.findall(caption.lower()) if w not in FILLER]


def similarity(a: str, b: str) -> float:
    """0..1, how alike two captions are in their content words (1: the same words in the same
    order). Two captions with no content words are alike only if their texts are."""
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return 1.0 if a.strip().lower() == b.strip().lower() else 0.0
    return SequenceMatcher(a=wa, b=wb, autojunk=False).ratio()


def clean(caption: str) -> str:
    """One line, no surrounding blanks or quotes: what a model's decoded text becomes."""
    return " ".join(caption.split()).strip(" \"'")


@dataclass(frozen=True)
class TimedCaption:
    t: float
    end_t: float
    caption: str
    frames: int = 1
    shot: int | None = None


def shot_of(t: float, shot_starts_s: Sequence[float]) -> int | None:
    """Index of the shot holding ``t`` (None when the shots are not known)."""
    if not shot_starts_s:
        return None
    return max(0, bisect.bisect_right(list(shot_starts_s), t + 1e-6) - 1)


def merge_runs(captions: Sequence[TimedCaption], threshold: float) -> list[TimedCaption]:
    """Consecutive near-identical captions (``similarity >= threshold``) of one shot as one
    segment, from the first one's ``t`` to the last one's ``end_t``; the segment keeps the
    first wording. Input in time order."""
    out: list[TimedCaption] = []
    for item in captions:
        last = out[-1] if out else None
        if (last is not None and last.shot == item.shot
                and similarity(last.caption, item.caption) >= threshold):
            out[-1] = TimedCaption(last.t, max(last.end_t, item.end_t), last.caption,
                                   last.frames + item.frames, last.shot)
        else:
            out.append(item)
    return out


def distinct(captions: Sequence[TimedCaption], threshold: float) -> list[TimedCaption]:
    """The captions in time order, each dropped when it is near-identical to an earlier one
    anywhere in the video (a recurring shot is told once, where it first appears)."""
    kept: list[TimedCaption] = []
    for item in captions:
        if all(similarity(k.caption, item.caption) < threshold for k in kept):
            kept.append(item)
    return kept


def sentence(caption: str) -> str:
    text = clean(caption).rstrip(".")
    return f"{text[:1].upper()}{text[1:]}." if text else ""


def describe(captions: Sequence[TimedCaption], threshold: float, max_sentences: int) -> str | None:
    """A short description of the video: its distinct captions in time order, one sentence
    each, at most ``max_sentences``; when there are more, the longest-lasting ones are kept
    (still in time order)."""
    kept = [c for c in distinct(captions, threshold) if clean(c.caption)]
    if len(kept) > max_sentences:
        longest = sorted(kept, key=lambda c: (-(c.end_t - c.t), -c.frames, c.t))[:max_sentences]
        kept = sorted(longest, key=lambda c: c.t)
    text = " ".join(sentence(c.caption) for c in kept)
    return text or None

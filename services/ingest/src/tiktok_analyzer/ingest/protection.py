"""Encrypted (DRM-protected) media, recognised from the container's own structure.

FFmpeg opens a CENC-encrypted MP4 or an encrypted WebM without complaint and decodes the
ciphertext into grey or garbled frames; analyzing those would report on noise. So the probe
looks for the structures that mark encryption before FFmpeg reads the file:

- ISO BMFF (MP4, MOV, fragmented MP4; ISO/IEC 23001-7 "Common Encryption"): protected sample
  entries (``encv``, ``enca``, ``enct``, ``encs``, ``encm``; Apple's ``drms``/``drmi``), a
  ``sinf`` box with its ``schm`` scheme (``cenc``, ``cbcs``, ``cens``, ``cbc1``), ``tenc``,
  and ``pssh`` boxes naming the DRM systems;
- Matroska/WebM: a ``ContentEncoding`` of type 1 (encryption) or a ``ContentEncryption``
  element in a track;
- MPEG-TS: packets whose ``transport_scrambling_control`` bits are set.

Everything here walks box and element headers, seeking past payloads, so it reads a few
kilobytes of a file of any size. It runs inside the confined probe child like the rest of the
probe, and a malformed header ends the walk quietly: judging broken files is the demuxer's job.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

_PROTECTED_ENTRIES = {b"encv": "video", b"enca": "audio", b"enct": "text", b"encs": "system",
                      b"encm": "metadata", b"drms": "audio (FairPlay)",
                      b"drmi": "video (FairPlay)"}
# Boxes whose payload is only child boxes, on the paths to sample entries and pssh boxes.
_MP4_PARENTS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex",
                b"sinf", b"schi"}
_DRM_SYSTEMS = {
    "edef8ba979d64acea3c827dcd51d21ed": "Widevine",
    "9a04f07998404286ab92e65be0885f95": "PlayReady",
    "94ce86fb07ff4f43adb893d2fa968ca2": "FairPlay",
    "1077efecc0b24d02ace33c1e52e2fb4b": "ClearKey (W3C common)",
    "e2719d58a985b3c9781ab030af78d30e": "ClearKey (DASH-IF)",
    "5e629af538da4063897797ffbd9902d4": "Marlin",
}
_MAX_BOXES = 100_000  # a crafted file of tiny boxes cannot keep the walk going for long
_MAX_DEPTH = 12
_MAX_ENTRY_BYTES = 1 << 20  # sample descriptions are small; a larger one is read in part


@dataclass
class Protection:
    """What marks a file as encrypted; empty when nothing does."""

    marks: list[str] = field(default_factory=list)
    schemes: set[str] = field(default_factory=set)
    systems: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.marks or self.schemes)

    def reason(self) -> str:
        parts = list(dict.fromkeys(self.marks))
        if self.schemes:
            parts.append("scheme " + ", ".join(sorted(self.schemes)))
        if self.systems:
            parts.append("DRM " + ", ".join(sorted(self.systems)))
        return (f"encrypted media ({'; '.join(parts)}): without the keys only noise would "
                "decode, so it is not analyzed")


def find_protection(f: BinaryIO) -> Protection:
    """Encryption marks in the file ``f`` (opened for binary reading, seekable)."""
    f.seek(0)
    head = f.read(16)
    found = Protection()
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"moof", b"styp", b"free", b"wide",
                                        b"mdat", b"skip", b"pdin", b"sidx", b"uuid"):
        _walk_mp4(f, 0, _size(f), 0, found, [0])
    elif head[:4] == b"\x1a\x45\xdf\xa3":
        _walk_matroska(f, found)
    elif head[:1] == b"\x47" or head[4:5] == b"\x47":
        _scan_ts(f, found)
    return found


def _size(f: BinaryIO) -> int:
    here = f.tell()
    end = f.seek(0, 2)
    f.seek(here)
    return end


# --- ISO BMFF ---------------------------------------------------------------------------------


def _boxes(f: BinaryIO, start: int, end: int, count: list[int]) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in ``[start, end)``; stops at the first
    header that does not fit, since nothing after a size lie can be located."""
    pos = start
    while pos + 8 <= end and count[0] < _MAX_BOXES:
        count[0] += 1
        f.seek(pos)
        header = f.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        body = pos + 8
        if size == 1:
            large = f.read(8)
            if len(large) < 8:
                return
            size, body = struct.unpack(">Q", large)[0], pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            return
        yield kind, body, pos + size
        pos += size


def _walk_mp4(f: BinaryIO, start: int, end: int, depth: int, found: Protection,
              count: list[int]) -> None:
    if depth > _MAX_DEPTH:
        return
    for kind, body, box_end in _boxes(f, start, end, count):
        if kind in _MP4_PARENTS:
            _walk_mp4(f, body, box_end, depth + 1, found, count)
        elif kind == b"stsd":
            f.seek(body)
            _sample_entries(f.read(min(box_end - body, _MAX_ENTRY_BYTES)), found)
        elif kind == b"pssh":
            f.seek(body + 4)  # after version and flags
            system = f.read(16).hex()
            if len(system) == 32:
                found.marks.append("pssh box")
                found.systems.add(_DRM_SYSTEMS.get(system, f"system {system}"))
        elif kind == b"tenc":
            found.marks.append("tenc box")
        elif kind == b"schm":
            _scheme(f, body, box_end, found)


def _sample_entries(stsd: bytes, found: Protection) -> None:
    pos = 8  # version, flags, entry count
    while pos + 8 <= len(stsd):
        size, kind = struct.unpack_from(">I4s", stsd, pos)
        if size < 8:
            return
        entry = stsd[pos: pos + size]
        if kind in _PROTECTED_ENTRIES:
            found.marks.append(f"protected {_PROTECTED_ENTRIES[kind]} sample entry "
                               f"{kind.decode('latin-1')}")
        # The protection scheme sits in a sinf box after the entry's fixed fields, whose
        # length depends on the entry's kind and version; finding its header by name is
        # enough to read the four-letter scheme.
        at = entry.find(b"schm")
        if at >= 4 and entry.find(b"sinf") >= 4:
            found.marks.append("sinf box")
            scheme = entry[at + 8: at + 12]
            if len(scheme) == 4:
                found.schemes.add(scheme.decode("latin-1").strip("\x00 ") or "unnamed")
        pos += size


def _scheme(f: BinaryIO, body: int, end: int, found: Protection) -> None:
    f.seek(body + 4)
    scheme = f.read(min(4, max(0, end - body - 4)))
    if len(scheme) == 4:
        found.schemes.add(scheme.decode("latin-1").strip("\x00 ") or "unnamed")


# --- Matroska / WebM --------------------------------------------------------------------------

_SEGMENT, _TRACKS, _TRACK_ENTRY, _CLUSTER = 0x18538067, 0x1654AE6B, 0xAE, 0x1F43B675
_CONTENT_ENCODINGS, _CONTENT_ENCODING = 0x6D80, 0x6240
_CONTENT_ENCODING_TYPE, _CONTENT_ENCRYPTION = 0x5033, 0x5035
_EBML_PARENTS = {_SEGMENT, _TRACKS, _TRACK_ENTRY, _CONTENT_ENCODINGS, _CONTENT_ENCODING}
_UNKNOWN = -1


def _vint(f: BinaryIO, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of one EBML variable-length integer; an all-ones size is unknown."""
    first = f.read(1)
    if not first or first[0] == 0:
        return None
    length = 9 - first[0].bit_length()
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        return None
    raw = int.from_bytes(first + rest, "big")
    if keep_marker:  # element IDs are written with their length marker
        return raw, length
    value = raw & ((1 << (7 * length)) - 1)
    return (_UNKNOWN if value == (1 << (7 * length)) - 1 else value), length


def _walk_matroska(f: BinaryIO, found: Protection) -> None:
    end = _size(f)
    count = [0]
    f.seek(0)
    _ebml_level(f, 0, end, 0, found, count)


def _ebml_level(f: BinaryIO, start: int, end: int, depth: int, found: Protection,
                count: list[int]) -> None:
    pos = start
    while pos < end and count[0] < _MAX_BOXES and depth <= _MAX_DEPTH:
        count[0] += 1
        f.seek(pos)
        ident, size = _vint(f, keep_marker=True), _vint(f, keep_marker=False)
        if ident is None or size is None:
            return
        body = pos + ident[1] + size[1]
        box_end = end if size[0] == _UNKNOWN else body + size[0]
        if box_end > end:
            box_end = end  # a truncated file: look at what is there
        element = ident[0]
        if element == _CLUSTER:
            return  # media data: track headers come before it
        if element == _CONTENT_ENCRYPTION:
            found.marks.append("Matroska ContentEncryption")
        elif element == _CONTENT_ENCODING_TYPE:
            f.seek(body)
            value = int.from_bytes(f.read(min(8, box_end - body)), "big")
            if value == 1:
                found.marks.append("Matroska ContentEncoding of type encryption")
        elif element in _EBML_PARENTS:
            _ebml_level(f, body, box_end, depth + 1, found, count)
        if size[0] == _UNKNOWN:
            return  # its end is unknown: nothing after it can be located
        pos = box_end


# --- MPEG-TS ----------------------------------------------------------------------------------

_TS_PACKETS = 4000


def _scan_ts(f: BinaryIO, found: Protection) -> None:
    f.seek(0)
    data = f.read(192 * _TS_PACKETS)
    for stride, offset in ((188, 0), (192, 4)):
        if all(data[offset + i * stride: offset + i * stride + 1] == b"\x47" for i in range(3)):
            break
    else:
        return
    scrambled = total = 0
    for at in range(offset, len(data) - 3, stride):
        if data[at] != 0x47:
            break
        total += 1
        scrambled += bool(data[at + 3] >> 6)
    if scrambled:
        found.marks.append(f"MPEG-TS scrambled packets ({scrambled} of the first {total})")

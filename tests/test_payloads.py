"""Payloads travel inline when small and by reference when large, and survive the trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiktok_analyzer.shared.contracts.events import (
    FrameBatch,
    Group,
    InlineBlob,
    SampledFrame,
    StoredBlob,
)
from tiktok_analyzer.shared.errors import PayloadError
from tiktok_analyzer.shared.infra.blobs import LocalBlobStore, PayloadPacker, unpack


def test_small_inline_large_stored_both_round_trip(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    packer = PayloadPacker(store, "work", inline_limit=100)
    small, large = b"\x00\xff" * 10, bytes(range(256)) * 4
    small_blob, large_blob = packer.pack(small, "v/a", "x"), packer.pack(large, "v/b", "x")
    assert isinstance(small_blob, InlineBlob) and isinstance(large_blob, StoredBlob)
    batch = FrameBatch(video_id="v", group=Group.GPU_LIGHT, batch_index=0, frames=[
        SampledFrame(index=0, t=0.0, width=2, height=2, jpeg=small_blob),
        SampledFrame(index=1, t=0.5, width=2, height=2, jpeg=large_blob)])
    decoded = FrameBatch.model_validate_json(batch.model_dump_json())
    assert [unpack(f.jpeg, store) for f in decoded.frames] == [small, large]
    assert (packer.inline_count, packer.stored_count) == (1, 1)


def test_a_stored_payload_of_the_wrong_size_is_an_error(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("work", "k", b"abc", "x")
    with pytest.raises(PayloadError, match="3 bytes, want 4"):
        unpack(StoredBlob(bucket="work", key="k", size=4), store)


def test_keys_cannot_escape_the_local_store(tmp_path: Path) -> None:
    with pytest.raises(PayloadError):
        LocalBlobStore(tmp_path / "root").put("work", "../../etc/x", b"", "x")

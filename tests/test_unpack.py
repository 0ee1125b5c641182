"""Unpacking verifies every layer before it becomes a shared snapshot."""

from __future__ import annotations

import gzip
import io

import pytest

from layers import make_tar
from minidocker.errors import CorruptContent, UnsafeArchive
from minidocker.image import oci, reference
from minidocker.image.create import write_image
from minidocker.image.digest import sha256_bytes


def _image(engine, blobs: list[tuple[bytes, str]], diff_ids: list[str], tag="t:1"):
    layers = [engine.store.put_bytes(data, mt) for data, mt in blobs]
    cfg = oci.new_config(diff_ids, [{"created_by": f"step {i}"} for i in range(len(layers))])
    write_image(engine.store, layers, cfg, [reference.parse(tag)])
    return engine.image(tag)


@pytest.mark.root
def test_gzip_and_plain_layers_unpack_into_chained_snapshots(engine):
    l1 = make_tar(("a", b"1"))
    l2 = make_tar(("b", b"2"))
    _image(engine, [(gzip.compress(l1), oci.MT_LAYER_GZIP), (l2, oci.MT_LAYER)],
           [sha256_bytes(l1), sha256_bytes(l2)])
    top = engine.unpack("t:1")
    chain = oci.chain_ids([sha256_bytes(l1), sha256_bytes(l2)])
    assert top == chain[-1]
    assert engine.snapshots.stat(chain[-1]).parent == chain[0]


@pytest.mark.parametrize("compress", [False, True])
def test_a_layer_that_does_not_match_its_diff_id_is_refused_and_cleaned_up(engine, compress):
    data = make_tar(("a", b"1"))
    blob = gzip.compress(data) if compress else data
    mt = oci.MT_LAYER_GZIP if compress else oci.MT_LAYER
    _image(engine, [(blob, mt)], [sha256_bytes(b"something else")])
    with pytest.raises(CorruptContent, match="does not match"):
        engine.unpack("t:1")
    assert engine.snapshots.walk() == []


def test_a_hostile_layer_leaves_no_snapshot_behind(engine):
    data = make_tar(("ok", b"fine"), ("../../escape", b"evil"))
    _image(engine, [(data, oci.MT_LAYER)], [sha256_bytes(data)])
    with pytest.raises(UnsafeArchive, match="escapes"):
        engine.unpack("t:1")
    assert engine.snapshots.walk() == []
    assert [p for p in (engine.store.root / "snapshots").iterdir() if p.name.isdigit()] == []


def test_a_corrupt_gzip_layer_is_a_clear_error(engine):
    good = gzip.compress(make_tar(("a", b"1" * 10000)))
    bad = good[:len(good) // 2]
    _image(engine, [(bad, oci.MT_LAYER_GZIP)], [sha256_bytes(b"x")])
    with pytest.raises(CorruptContent):
        engine.unpack("t:1")
    assert engine.snapshots.walk() == []

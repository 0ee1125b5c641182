"""Unpacking verifies every layer before it becomes a shared snapshot."""

from __future__ import annotations

import gzip

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


def test_parallel_unpacks_of_one_image_share_one_snapshot_per_layer(engine, tmp_path):
    import subprocess
    import sys
    data = [make_tar((f"f{i}", bytes([i]) * 50_000)) for i in range(3)]
    _image(engine, [(d, oci.MT_LAYER) for d in data], [sha256_bytes(d) for d in data])
    code = "import sys; from minidocker.engine import Engine; print(Engine(sys.argv[1]).unpack('t:1'))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(engine.store.root)],
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    tops = {p.communicate()[0].strip() for p in procs}
    assert [p.returncode for p in procs] == [0] * 6
    chain = oci.chain_ids([sha256_bytes(d) for d in data])
    assert tops == {chain[-1]}
    assert sorted(i.key for i in engine.snapshots.walk()) == sorted(chain)


def test_prune_removes_snapshots_of_deleted_images_and_dead_unpacks(engine):
    data = make_tar(("a", b"1"))
    _image(engine, [(data, oci.MT_LAYER)], [sha256_bytes(data)])
    engine.unpack("t:1")
    engine.snapshots.prepare("extract-999999999-dead x")  # an unpack whose process died
    engine.rmi("t:1")
    assert engine.snapshots.walk() == []


def test_unpacking_reports_progress_in_bytes(engine):
    from contextlib import contextmanager
    data = [make_tar((f"f{i}", bytes([i]) * 30_000)) for i in range(2)]
    _image(engine, [(d, oci.MT_LAYER) for d in data], [sha256_bytes(d) for d in data])
    seen = []

    @contextmanager
    def progress(description, total):
        seen.append((description, total, []))
        yield seen[-1][2].append

    engine.progress = progress
    engine.unpack("t:1")
    [(description, total, counts)] = seen
    assert description == "unpacking" and total == sum(len(d) for d in data)
    assert sum(counts) == total

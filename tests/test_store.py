"""The content-addressed image store: blobs, tags, verification, locking, GC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from minidocker.errors import Conflict, CorruptContent, NotFound
from minidocker.image import oci, reference
from minidocker.image.create import write_image
from minidocker.image.store import Store


def test_blobs_are_named_by_their_sha256_and_stored_once(state_root):
    store = Store(state_root)
    a = store.put_bytes(b"hello", "text/plain")
    b = store.put_bytes(b"hello", "text/plain")
    assert a.digest == b.digest == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert os.listdir(store.blob_dir) == [a.digest.split(":")[1]]
    assert os.listdir(store.tmp_dir) == []
    assert store.read_blob(a) == b"hello"


def test_layout_is_an_oci_image_layout(state_root):
    store = Store(state_root)
    layout = json.loads((store.oci_dir / "oci-layout").read_text())
    assert layout == {"imageLayoutVersion": "1.0.0"}


def test_reading_a_corrupted_blob_fails_and_check_reports_it(state_root):
    store = Store(state_root)
    d = store.put_bytes(b"original", "text/plain")
    path = store.blob_path(d.digest)
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(CorruptContent, match="digest"):
        store.read_blob(d)
    assert any(d.digest in p for p in store.check())


def test_a_missing_blob_is_reported_with_the_way_out(state_root):
    store = Store(state_root)
    d = oci.descriptor_for(b"never stored", "text/plain")
    with pytest.raises(NotFound, match="system check"):
        store.read_blob(d)


def test_put_stream_verifies_the_expected_digest_and_leaves_nothing(state_root):
    import io
    store = Store(state_root)
    wrong = oci.descriptor_for(b"other", "text/plain")
    with pytest.raises(CorruptContent):
        store.put_stream(io.BytesIO(b"actual"), "text/plain", digest=wrong.digest, size=6)
    assert os.listdir(store.blob_dir) == []
    assert os.listdir(store.tmp_dir) == []


def _image(store, content: bytes, tag: str | None):
    layer = store.put_bytes(content, oci.MT_LAYER)
    cfg = oci.new_config([layer.digest], [{"created_by": "test"}])
    return write_image(store, [layer], cfg, [reference.parse(tag)] if tag else [])


def test_moving_a_tag_leaves_the_old_image_untagged(state_root):
    store = Store(state_root)
    old = _image(store, b"\0" * 1024, "app:1")
    new = _image(store, b"\1" * 1024, "app:1")
    entries = {e.digest: ref for ref, e in store.entries()}
    assert entries[new.digest] == reference.parse("app:1")
    assert entries[old.digest] is None  # Docker's <none>:<none>


def test_resolve_by_name_id_prefix_and_digest(state_root):
    store = Store(state_root)
    m = _image(store, b"\2" * 1024, "quay.io/x/app:2")
    img = store.resolve("quay.io/x/app:2")
    assert store.resolve(img.id).id == img.id
    assert store.resolve(img.short_id).id == img.id
    assert store.resolve(img.id.split(":")[1][:5]).id == img.id
    assert store.resolve(f"quay.io/x/app@{m.digest}").id == img.id
    with pytest.raises(NotFound, match="No such image: busybox:latest"):
        store.resolve("busybox")


def test_ambiguous_id_prefix_is_an_error(state_root):
    store = Store(state_root)
    ids = set()
    n = 0
    while True:  # find two images whose IDs share a first hex digit
        img = store.image(_image(store, bytes([n % 256]) * (n + 1), f"img:{n}"))
        n += 1
        first = img.id[7]
        if first in ids:
            break
        ids.add(first)
    with pytest.raises(Conflict, match="ambiguous"):
        store.resolve(first)


def test_gc_removes_only_unreferenced_blobs(state_root):
    store = Store(state_root)
    _image(store, b"kept", "keep:1")
    stray = store.put_bytes(b"stray", "text/plain")
    (store.tmp_dir / ".tmp-crashed").write_bytes(b"half")
    removed, freed = store.gc()
    assert removed == 1 and freed == len(b"stray") + 4
    assert not store.has_blob(stray.digest)
    assert store.resolve("keep:1")
    assert store.check() == []


def test_gc_waits_for_an_ingest_in_progress(state_root):
    writer, collector = Store(state_root), Store(state_root)
    order = []
    started = threading.Event()

    def ingest():
        with writer.ingest():
            started.set()
            blob = writer.put_bytes(b"not yet tagged", oci.MT_LAYER)
            time.sleep(0.3)
            order.append("ingest done")
            write_image(writer, [blob], oci.new_config([blob.digest], [{}]), [reference.parse("late:1")])

    t = threading.Thread(target=ingest)
    t.start()
    started.wait()
    collector.gc()
    order.append("gc done")
    t.join()
    assert order == ["ingest done", "gc done"]
    assert collector.resolve("late:1").manifest.layers[0].size == len(b"not yet tagged")


def test_concurrent_processes_never_lose_a_tag(state_root):
    store = Store(state_root)
    _image(store, b"base", "base:1")
    code = ("import sys; from minidocker.engine import Engine; "
            "Engine(sys.argv[1]).tag('base:1', 'many:' + sys.argv[2])")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(state_root), str(i)])
             for i in range(12)]
    assert [p.wait() for p in procs] == [0] * 12
    tags = {ref.tag for ref, _ in store.entries() if ref and ref.path == "library/many"}
    assert tags == {str(i) for i in range(12)}
    index = json.loads((store.oci_dir / "index.json").read_text())
    assert len(index["manifests"]) == 13


def test_a_garbage_index_is_a_clear_error(state_root):
    store = Store(state_root)
    (store.oci_dir / "index.json").write_text("{not json")
    with pytest.raises(CorruptContent, match="index.json"):
        store.images()

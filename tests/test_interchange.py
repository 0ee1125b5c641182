"""Images move between minidocker and real tools (skopeo, umoci) with their digests intact."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from minidocker.engine import Engine

pytestmark = pytest.mark.tools("skopeo", "umoci")


# skopeo keeps a blob-info cache under /var/lib/containers; run it in a private
# mount namespace with a tmpfs there, so tests leave the host untouched and no
# earlier run's cache changes what skopeo reports.
_ISOLATED = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs tmpfs /var/lib && exec "$@"', "isolated"]


def sh(*args, text=True):
    cmd = _ISOLATED + list(args) if args[0] == "skopeo" else list(args)
    return subprocess.run(cmd, check=True, capture_output=True, text=text).stdout


@pytest.fixture
def saved(engine, busybox, tmp_path):
    path = tmp_path / "busybox.tar"
    with open(path, "wb") as f:
        engine.save(["busybox"], f)
    return path


def test_skopeo_reads_a_saved_archive_as_oci_with_our_exact_manifest(saved, busybox):
    raw = sh("skopeo", "inspect", "--raw", f"oci-archive:{saved}:latest", text=False)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == busybox.manifest_descriptor.digest


def test_skopeo_reads_a_saved_archive_as_docker_save(saved, busybox):
    cfg = json.loads(sh("skopeo", "inspect", "--config", f"docker-archive:{saved}"))
    assert cfg["rootfs"]["diff_ids"] == busybox.config.diff_ids
    info = json.loads(sh("skopeo", "inspect", f"docker-archive:{saved}"))
    assert info["Layers"] == [d.digest for d in busybox.manifest.layers]


def test_our_store_is_an_oci_layout_skopeo_can_read(engine, busybox):
    raw = sh("skopeo", "inspect", "--raw", f"oci:{engine.store.oci_dir}:latest", text=False)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == busybox.manifest_descriptor.digest


def test_an_oci_layout_written_by_skopeo_loads_with_identical_digests(saved, busybox, tmp_path):
    layout = tmp_path / "layout"
    sh("skopeo", "copy", "-q", f"oci-archive:{saved}:latest", f"oci:{layout}:copied")
    index = json.loads((layout / "index.json").read_text())
    skopeo_manifest = index["manifests"][0]["digest"]
    fresh = Engine(tmp_path / "fresh")
    lines = fresh.load(str(layout))
    assert lines == [f"Loaded image ID: {busybox.id}"]  # a bare tag names no repository
    img = fresh.image(busybox.id)
    assert img.manifest_descriptor.digest == skopeo_manifest
    assert img.id == busybox.id  # the config is untouched, so the image ID is the same
    blob = layout / "blobs" / "sha256" / skopeo_manifest.split(":")[1]
    skopeo_layers = [d["digest"] for d in json.loads(blob.read_text())["layers"]]
    assert [d.digest for d in img.manifest.layers] == skopeo_layers


def test_an_oci_archive_with_a_full_name_is_tagged_on_load(saved, busybox, tmp_path):
    archive = tmp_path / "named.tar"
    sh("skopeo", "copy", "-q", f"oci-archive:{saved}:latest", f"oci-archive:{archive}:quay.io/x/bb:7")
    fresh = Engine(tmp_path / "fresh")
    assert fresh.load(str(archive)) == ["Loaded image: quay.io/x/bb:7"]
    assert fresh.image("quay.io/x/bb:7").id == busybox.id


def test_a_umoci_image_with_gzip_layers_loads_and_unpacks(tmp_path, state_root):
    layout, bundle = tmp_path / "umoci", tmp_path / "bundle"
    sh("umoci", "init", "--layout", str(layout))
    sh("umoci", "new", "--image", f"{layout}:t1")
    sh("umoci", "unpack", "--image", f"{layout}:t1", str(bundle))
    (bundle / "rootfs" / "greeting").mkdir()
    (bundle / "rootfs" / "greeting" / "hello.txt").write_text("hello from umoci\n")
    sh("umoci", "repack", "--image", f"{layout}:t1", str(bundle))
    index = json.loads((layout / "index.json").read_text())
    umoci_manifest = index["manifests"][0]["digest"]
    engine = Engine(state_root)
    [line] = engine.load(str(layout))
    image_id = line.rsplit(" ", 1)[1]
    img = engine.image(image_id)
    assert img.manifest_descriptor.digest == umoci_manifest
    assert img.manifest.layers[-1].media_type.endswith("tar+gzip")
    exported = tmp_path / "rootfs.tar"
    with open(exported, "wb") as f:
        engine.export(image_id, f)
    import tarfile
    with tarfile.open(exported) as t:
        assert t.extractfile("greeting/hello.txt").read() == b"hello from umoci\n"


def test_a_truncated_layer_from_umoci_insert_is_refused_on_use(tmp_path, state_root):
    # umoci 0.4.7's `insert` ends its layer tar without padding or end marker;
    # GNU tar calls it "Unexpected EOF" too. Loading works (nothing reads the
    # layer yet); using it fails with a clear error and leaves nothing behind.
    layout = tmp_path / "umoci"
    hello = tmp_path / "hello.txt"
    hello.write_text("hello\n")
    sh("umoci", "init", "--layout", str(layout))
    sh("umoci", "new", "--image", f"{layout}:t1")
    sh("umoci", "insert", "--image", f"{layout}:t1", str(hello), "/hello.txt")
    engine = Engine(state_root)
    [line] = engine.load(str(layout))
    from minidocker.errors import CorruptContent
    with pytest.raises(CorruptContent, match="truncated"):
        with open(tmp_path / "out.tar", "wb") as f:
            engine.export(line.rsplit(" ", 1)[1], f)
    assert os.listdir(engine.store.tmp_dir) == []


def test_a_tampered_oci_layout_is_refused(saved, tmp_path):
    layout = tmp_path / "layout"
    sh("skopeo", "copy", "-q", f"docker-archive:{saved}", f"oci:{layout}:x")
    blobs = layout / "blobs" / "sha256"
    biggest = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[600] ^= 0xFF
    biggest.write_bytes(bytes(data))
    fresh = Engine(tmp_path / "fresh")
    from minidocker.errors import CorruptContent
    with pytest.raises(CorruptContent, match="does not match"):
        fresh.load(str(layout))
    assert fresh.store.entries() == []
    assert os.listdir(fresh.store.tmp_dir) == []

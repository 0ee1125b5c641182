"""The snapshotter contract (containerd's Prepare/View/Commit/Remove).

Every snapshotter implementation runs this suite; add it to ``SNAPSHOTTERS``.
The tests marked ``root`` mount the snapshots for real and check overlay
semantics: union of layers, whiteouts, opaque directories, copy-up.
"""

from __future__ import annotations

import io
import os
import stat

import pytest

from layers import make_tar
from minidocker.errors import Conflict, NotFound
from minidocker.image.layer import apply_layer, write_layer
from minidocker.kernel import get_kernel
from minidocker.kernel.base import MNT_DETACH
from minidocker.kernel.sim.kernel import SimKernel
from minidocker.snapshot import ACTIVE, COMMITTED, VIEW
from minidocker.snapshot.overlay import OverlaySnapshotter

SNAPSHOTTERS = {"overlay": OverlaySnapshotter}
# Each snapshotter is checked on both kernels: the real one (as root) mounts for real,
# the simulated one keeps the layers' whiteouts and owners its own way.
KERNELS = {"linux": get_kernel, "sim": SimKernel}


@pytest.fixture(params=[pytest.param("linux", marks=pytest.mark.root), "sim"])
def kernel(request):
    return KERNELS[request.param]()


@pytest.fixture(params=sorted(SNAPSHOTTERS))
def sn(request, tmp_path):
    return SNAPSHOTTERS[request.param](tmp_path / "snapshots")


def commit_layer(sn, name, parent, tar_bytes, kernel=None):
    key = f"extract {name}"
    sn.prepare(key, parent)
    apply_layer(kernel or get_kernel(), io.BytesIO(tar_bytes), sn.diff_dir(key))
    sn.commit(name, key)


class RealView:
    """A mounted tree read through the real filesystem (the simulator's ``View`` twin)."""

    def __init__(self, top):
        self.top = top

    def read(self, path):
        return (self.top / path).read_bytes()

    def write(self, path, data):
        (self.top / path).write_bytes(data)

    def exists(self, path):
        return os.path.lexists(self.top / path)

    def listdir(self, path="."):
        return sorted(os.listdir(self.top / path))

    def unlink(self, path):
        (self.top / path).unlink()


@pytest.fixture
def mounted(tmp_path, kernel):
    """Mount a list of mounts on a fresh directory; a view of it; unmount afterwards."""
    targets = []

    def mount(mounts):
        target = tmp_path / f"mnt{len(targets)}"
        target.mkdir()
        kernel.mount_all(mounts, str(target))
        targets.append(target)
        return kernel.view(str(target)) if kernel.simulated else RealView(target)

    yield mount
    for t in reversed(targets):
        kernel.umount(str(t), MNT_DETACH)


def test_prepare_without_parent_gives_a_writable_bind_mount(sn):
    mounts = sn.prepare("a")
    assert [m.type for m in mounts] == ["bind"]
    assert "rw" in mounts[0].options
    assert sn.stat("a").kind == ACTIVE
    assert os.path.isdir(sn.diff_dir("a"))


def test_prepare_on_a_committed_parent_stacks_overlay(sn):
    sn.prepare("a")
    sn.commit("base", "a")
    mounts = sn.prepare("b", "base")
    assert mounts[0].type == "overlay"
    opts = dict(o.split("=", 1) for o in mounts[0].options if "=" in o)
    assert {"lowerdir", "upperdir", "workdir"} <= set(opts)
    assert sn.stat("b").parent == "base"


def test_lowerdirs_are_listed_nearest_parent_first(sn):
    sn.prepare("k1")
    sn.commit("l1", "k1")
    sn.prepare("k2", "l1")
    sn.commit("l2", "k2")
    mounts = sn.prepare("top", "l2")
    lower = [o for o in mounts[0].options if o.startswith("lowerdir=")][0][len("lowerdir="):]
    dirs = lower.split(":")
    assert len(dirs) == 2
    assert dirs[0] != dirs[1]
    sn.remove("top")
    view = sn.view("v", "l2")
    assert "ro" in view[0].options


def test_prepare_refuses_missing_or_uncommitted_parent(sn):
    with pytest.raises(NotFound):
        sn.prepare("x", "nope")
    sn.prepare("active")
    with pytest.raises(Conflict):
        sn.prepare("y", "active")


def test_keys_are_unique(sn):
    sn.prepare("a")
    with pytest.raises(Conflict):
        sn.prepare("a")
    with pytest.raises(Conflict):
        sn.view("a")


def test_commit_renames_active_to_committed(sn):
    sn.prepare("work", labels={"x": "1"})
    sn.commit("done", "work", labels={"y": "2"})
    info = sn.stat("done")
    assert info.kind == COMMITTED
    assert info.labels == {"x": "1", "y": "2"}
    with pytest.raises(NotFound):
        sn.stat("work")


def test_only_active_snapshots_can_be_committed(sn):
    sn.prepare("a")
    sn.commit("base", "a")
    sn.view("v", "base")
    assert sn.stat("v").kind == VIEW
    with pytest.raises(Conflict):
        sn.commit("x", "v")
    with pytest.raises(Conflict):
        sn.commit("y", "base")
    sn.prepare("b", "base")
    with pytest.raises(Conflict):
        sn.commit("base", "b")


def test_remove_refuses_a_parent_and_deletes_a_leaf(sn):
    sn.prepare("a")
    sn.commit("base", "a")
    sn.prepare("child", "base")
    with pytest.raises(Conflict):
        sn.remove("base")
    path = sn.diff_dir("child")
    sn.remove("child")
    assert not os.path.exists(path)
    sn.remove("base")
    assert sn.walk() == []
    with pytest.raises(NotFound):
        sn.remove("base")


def test_walk_lists_every_snapshot(sn):
    sn.prepare("a")
    sn.commit("base", "a")
    sn.prepare("b", "base")
    sn.view("c", "base")
    assert {(i.key, i.kind) for i in sn.walk()} == {("base", COMMITTED), ("b", ACTIVE), ("c", VIEW)}


def test_usage_counts_the_snapshots_own_files(sn):
    sn.prepare("a")
    d = sn.diff_dir("a")
    with open(os.path.join(d, "f"), "wb") as f:
        f.write(b"x" * 1000)
    os.mkdir(os.path.join(d, "sub"))
    usage = sn.usage("a")
    assert usage.size == 1000
    assert usage.inodes == 2


def test_metadata_survives_a_new_instance(sn, tmp_path):
    sn.prepare("a")
    sn.commit("base", "a")
    again = type(sn)(tmp_path / "snapshots")
    assert again.stat("base").kind == COMMITTED


# -- real mounts ----------------------------------------------------------------

@pytest.fixture
def three_layers(sn, kernel):
    commit_layer(sn, "l1", None, make_tar(
        ("a", b"from l1"), ("gone", b"deleted later"), ("dir", None),
        ("dir/x", b"x"), ("dir/y", b"y"), ("keep", None), ("keep/k", b"k")), kernel)
    commit_layer(sn, "l2", "l1", make_tar(
        (".wh.gone", b""), ("dir", None), ("dir/.wh..wh..opq", b""), ("dir/z", b"z")), kernel)
    commit_layer(sn, "l3", "l2", make_tar(("a", b"from l3")), kernel)
    return sn


def test_union_whiteout_and_opaque_dir_on_a_mounted_overlay(three_layers, mounted):
    merged = mounted(three_layers.view("v", "l3"))
    assert merged.read("a") == b"from l3"
    assert not merged.exists("gone")
    assert merged.listdir("dir") == ["z"]
    assert merged.read("keep/k") == b"k"
    with pytest.raises(OSError):
        merged.write("new", b"no")  # a view is read-only


def test_active_snapshot_copies_up_and_records_deletions(three_layers, mounted, kernel):
    sn = three_layers
    merged = mounted(sn.prepare("ctr", "l3"))
    merged.write("keep/k", b"changed")
    merged.unlink("a")
    merged.write("new", b"new")
    upper = sn.diff_dir("ctr")
    assert open(os.path.join(upper, "keep", "k"), "rb").read() == b"changed"
    st = kernel.lstat(os.path.join(upper, "a"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    # The lower layers are untouched: layers are read-only and shared.
    lower = mounted(sn.view("check", "l3"))
    assert lower.read("keep/k") == b"k"
    assert lower.read("a") == b"from l3"
    # The upperdir becomes an OCI layer with a whiteout for the deleted file.
    buf = io.BytesIO()
    write_layer(kernel, upper, buf)
    import tarfile
    names = tarfile.open(fileobj=io.BytesIO(buf.getvalue())).getnames()
    assert ".wh.a" in names and "new" in names and "keep/k" in names


def test_usage_counts_hard_linked_bytes_once(sn):
    sn.prepare("a")
    d = sn.diff_dir("a")
    with open(os.path.join(d, "big"), "wb") as f:
        f.write(b"x" * 4096)
    for i in range(5):
        os.link(os.path.join(d, "big"), os.path.join(d, f"link{i}"))
    assert sn.usage("a").size == 4096


def test_overlay_fsyncs_layers_but_not_scratch_space(tmp_path, monkeypatch):
    """A commit or the removal of a layer is durable; making or removing an active
    snapshot (a container's writable layer) is only atomic."""
    sn = OverlaySnapshotter(tmp_path / "snapshots")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    sn.prepare("unpacking")
    assert synced == []
    sn.commit("layer", "unpacking")
    assert len(synced) == 2            # metadata.json's data, then its directory
    sn.prepare("container", "layer")
    sn.remove("container")
    assert len(synced) == 2
    sn.remove("layer")
    assert len(synced) == 4
    assert sn.walk() == []

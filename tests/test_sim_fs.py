"""The simulator's filesystems and mount namespaces behave like Linux's.

The same three layers as the snapshot conformance suite are unpacked and
mounted by the simulated kernel (no root needed) and, as root, by the real
kernel, so the two views can be compared entry by entry.
"""

from __future__ import annotations

import errno
import io
import os
import stat

import pytest

from layers import make_tar
from minidocker.image.layer import apply_layer
from minidocker.kernel import get_kernel
from minidocker.kernel.base import MNT_DETACH, OVERLAY_OPAQUE_XATTR
from minidocker.kernel.sim.fs import MemFS
from minidocker.kernel.sim.kernel import SimKernel
from minidocker.kernel.sim.mounts import Loc, MountEntry, MountNamespace
from minidocker.snapshot.overlay import OverlaySnapshotter

LAYERS = [
    ("l1", None, make_tar(("a", b"from l1"), ("gone", b"deleted later"), ("dir", None),
                          ("dir/x", b"x"), ("dir/y", b"y"), ("keep", None), ("keep/k", b"k"))),
    ("l2", "l1", make_tar((".wh.gone", b""), ("dir", None), ("dir/.wh..wh..opq", b""),
                          ("dir/z", b"z"))),
    ("l3", "l2", make_tar(("a", b"from l3"))),
]


def snapshots(tmp_path, kernel):
    sn = OverlaySnapshotter(tmp_path / "snapshots")
    for name, parent, tar in LAYERS:
        key = f"extract {name}"
        sn.prepare(key, parent)
        apply_layer(kernel, io.BytesIO(tar), sn.diff_dir(key))
        sn.commit(name, key)
    return sn


@pytest.fixture
def sim(tmp_path):
    k = SimKernel()
    return k, snapshots(tmp_path, k)


def mount(k, mounts, tmp_path, name="merged"):
    target = tmp_path / name
    target.mkdir()
    k.mount_all(mounts, str(target))
    return k.view(str(target))


def tree(view, path=".") -> dict:
    """Every entry below ``path``: name → bytes, a dict for a directory, or "->target"."""
    out = {}
    for name in view.listdir(path):
        child = name if path == "." else f"{path}/{name}"
        st = view.lstat(child)
        if stat.S_ISDIR(st.st_mode):
            out[name] = tree(view, child)
        elif stat.S_ISLNK(st.st_mode):
            out[name] = "->"
        else:
            out[name] = view.read(child)
    return out


EXPECTED = {"a": b"from l3", "dir": {"z": b"z"}, "keep": {"k": b"k"}}


def test_sim_union_shows_the_top_copy_hides_whiteouts_and_stops_at_opaque_dirs(sim, tmp_path):
    k, sn = sim
    assert tree(mount(k, sn.view("v", "l3"), tmp_path)) == EXPECTED


def test_sim_whiteouts_are_recorded_as_0_0_character_devices_without_root(sim):
    k, sn = sim
    l2 = _layer_dir(sn, "l2")
    st = k.meta.stat(os.path.join(l2, "gone"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert k.getxattr(os.path.join(l2, "dir"), OVERLAY_OPAQUE_XATTR) == b"y"


def _layer_dir(sn, name) -> str:
    info = {i.key: i for i in sn.walk()}
    assert name in info
    mounts = sn.view(f"peek-{name}", name)
    source = mounts[0].source if mounts[0].type == "bind" else \
        [o for o in mounts[0].options if o.startswith("lowerdir=")][0].split("=", 1)[1].split(":")[0]
    sn.remove(f"peek-{name}")
    return source


def test_sim_view_is_read_only(sim, tmp_path):
    k, sn = sim
    v = mount(k, sn.view("v", "l3"), tmp_path)
    with pytest.raises(OSError) as e:
        v.write("new", b"no")
    assert e.value.errno == errno.EROFS


def test_sim_writes_copy_up_and_deletions_leave_whiteouts_in_the_upper_layer(sim, tmp_path):
    k, sn = sim
    v = mount(k, sn.prepare("ctr", "l3"), tmp_path)
    v.write("keep/k", b"changed")
    v.unlink("a")
    v.write("new", b"new")
    upper = sn.diff_dir("ctr")
    assert open(os.path.join(upper, "keep", "k"), "rb").read() == b"changed"
    st = k.meta.stat(os.path.join(upper, "a"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert tree(v) == {"dir": {"z": b"z"}, "keep": {"k": b"changed"}, "new": b"new"}
    # the lower layers are untouched: layers are read-only and shared
    assert tree(mount(k, sn.view("check", "l3"), tmp_path, "check")) == EXPECTED


def test_sim_directory_made_over_a_deleted_lower_one_is_opaque(sim, tmp_path):
    k, sn = sim
    v = mount(k, sn.prepare("ctr", "l3"), tmp_path)
    v.unlink("keep/k")
    v.rmdir("keep")
    assert "keep" not in v.listdir()
    v.mkdir("keep")
    assert v.listdir("keep") == []
    upper_keep = os.path.join(sn.diff_dir("ctr"), "keep")
    assert k.getxattr(upper_keep, OVERLAY_OPAQUE_XATTR) == b"y"


def test_sim_deleting_a_copied_up_file_still_hides_the_lower_copy(sim, tmp_path):
    k, sn = sim
    v = mount(k, sn.prepare("ctr", "l3"), tmp_path)
    v.write("keep/k", b"changed")   # copied up first
    v.unlink("keep/k")
    assert v.listdir("keep") == []
    st = k.meta.stat(os.path.join(sn.diff_dir("ctr"), "keep", "k"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_sim_removing_a_non_empty_merged_directory_fails(sim, tmp_path):
    k, sn = sim
    v = mount(k, sn.prepare("ctr", "l3"), tmp_path)
    with pytest.raises(OSError) as e:
        v.rmdir("keep")
    assert e.value.errno == errno.ENOTEMPTY


def test_sim_renaming_a_lower_directory_fails_with_exdev_like_overlayfs(sim, tmp_path):
    k, sn = sim
    v = mount(k, sn.prepare("ctr", "l3"), tmp_path)
    with pytest.raises(OSError) as e:
        v.rename("keep", "kept")
    assert e.value.errno == errno.EXDEV
    v.rename("a", "b")  # a file is copied up, renamed, and whited out where it was
    assert v.read("b") == b"from l3" and "a" not in v.listdir()


def test_sim_umount_takes_the_merged_view_away(sim, tmp_path):
    k, sn = sim
    target = tmp_path / "merged"
    v = mount(k, sn.view("v", "l3"), tmp_path)
    assert v.listdir()
    k.umount(str(target), MNT_DETACH)
    assert k.view(str(target)).listdir() == []


@pytest.mark.root
def test_sim_and_real_kernel_show_the_same_merged_tree(tmp_path):
    real = get_kernel()
    sn = snapshots(tmp_path / "real", real)
    target = tmp_path / "real-merged"
    target.mkdir()
    real.mount_all(sn.view("v", "l3"), str(target))
    try:
        seen_by_linux = _walk_real(str(target))
    finally:
        real.umount(str(target), MNT_DETACH)
    # the simulator reads the real kernel's layers (real whiteouts, trusted xattrs) too
    k = SimKernel()
    from_real_layers = tree(mount(k, sn.view("v2", "l3"), tmp_path))
    sim_sn = snapshots(tmp_path / "sim", k)
    from_sim_layers = tree(mount(k, sim_sn.view("v", "l3"), tmp_path, "sim-merged"))
    assert seen_by_linux == from_real_layers == from_sim_layers == EXPECTED


@pytest.mark.parametrize("kernel", ["sim", pytest.param("linux", marks=pytest.mark.root)])
def test_an_overlay_needs_a_workdir_with_an_upperdir_and_two_lowers_without(kernel, tmp_path):
    k = SimKernel() if kernel == "sim" else get_kernel()
    for name in ("l1", "l2", "upper", "work", "merged"):
        (tmp_path / name).mkdir()
    d = {name: str(tmp_path / name) for name in ("l1", "l2", "upper", "work")}
    target = str(tmp_path / "merged")
    for data in (f"lowerdir={d['l1']},upperdir={d['upper']}", f"lowerdir={d['l1']}"):
        with pytest.raises(OSError) as e:
            k.mount("overlay", target, "overlay", 0, data)
        assert e.value.errno == errno.EINVAL
    for data in (f"lowerdir={d['l1']},upperdir={d['upper']},workdir={d['work']}",
                 f"lowerdir={d['l2']}:{d['l1']}"):
        k.mount("overlay", target, "overlay", 0, data)
        k.umount(target, MNT_DETACH)


def _walk_real(path: str) -> dict:
    out = {}
    for name in sorted(os.listdir(path)):
        p = os.path.join(path, name)
        out[name] = _walk_real(p) if os.path.isdir(p) else open(p, "rb").read()
    return out


# -- mount namespaces and lookup --------------------------------------------------------------

@pytest.fixture
def ns():
    fs = MemFS()
    root = MountEntry(fs, fs.root())
    n = MountNamespace(root)
    top = Loc(root, fs.root())
    d = fs.create(fs.root(), "mnt", stat.S_IFDIR | 0o755)
    fs.create(fs.root(), "etc", stat.S_IFDIR | 0o755)
    fs.create(fs.root(), "abs", stat.S_IFLNK | 0o777, target="/etc")
    fs.create(fs.root(), "up", stat.S_IFLNK | 0o777, target="../../../etc")
    fs.create(fs.root(), "loop", stat.S_IFLNK | 0o777, target="loop")
    inner = MemFS()
    inner.create(inner.root(), "file", stat.S_IFREG | 0o644)
    n.attach(MountEntry(inner, inner.root()), Loc(root, d))
    return n, top, inner


def test_lookup_enters_the_topmost_mount_and_climbs_out_with_dotdot(ns):
    n, top, inner = ns
    loc = n.resolve("/mnt/file", top, top)
    assert loc.fs is inner
    assert n.resolve("/mnt/..", top, top) == top
    assert n.path_of(loc, top) == "/mnt/file"


def test_dotdot_at_the_process_root_stays_there(ns):
    n, top, _ = ns
    assert n.resolve("/../../..", top, top) == top


def test_symlinks_resolve_as_if_chrooted(ns):
    n, top, _ = ns
    etc = n.resolve("/etc", top, top)
    assert n.resolve("/abs", top, top) == etc
    assert n.resolve("/up", top, top) == etc   # ".." cannot climb above the root
    with pytest.raises(OSError) as e:
        n.resolve("/loop", top, top)
    assert e.value.errno == errno.ELOOP


def test_a_copied_namespace_keeps_its_own_mounts(ns):
    n, top, inner = ns
    copy, mapping = n.copy()
    new_top = Loc(mapping[top.mount.id], top.key)
    copy.detach(copy.mounted_on(Loc(new_top.mount, n.resolve("/mnt", top, top).key)) or
                copy.mounts[-1])
    assert n.resolve("/mnt/file", top, top).fs is inner     # the original still has it
    with pytest.raises(FileNotFoundError):
        copy.resolve("/mnt/file", new_top, new_top)

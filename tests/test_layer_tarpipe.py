"""Applying layers through GNU tar (minidocker.image.tarpipe).

As root, into an empty directory and in overlay mode, ``apply_layer`` feeds
the entries it has checked to a ``tar -x`` child until one needs ``_Applier``'s
userspace resolution, which then applies the rest. These tests pin down what
goes to tar, where the userspace path takes over, and that the tree (types,
modes, owners, mtimes, contents, link targets, hard-link groups) is the same
as the userspace path alone makes. test_layer_apply.py runs all its hostile
archives both ways as well.
"""

from __future__ import annotations

import io
import os
import random
import stat
import tarfile
import time
from pathlib import Path

import pytest

from minidocker.errors import CorruptContent, MinidockerError, UnsafeArchive
from minidocker.image import tarpipe
from minidocker.image.layer import apply_layer
from minidocker.kernel import get_kernel
from minidocker.kernel.tracing import TracingKernel
from test_layer_apply import Host, build, dir_, hard, node, pax, reg, sym

pytestmark = [pytest.mark.root]

MTIME = 1_500_000_000


@pytest.fixture(autouse=True)
def gnu_tar_present():
    if tarpipe.gnu_tar() is None:
        if os.environ.get("CI"):
            pytest.fail("GNU tar is missing (CI is set, so these tests may not skip)")
        pytest.skip("needs GNU tar")


@pytest.fixture
def kernel():
    return get_kernel()


@pytest.fixture
def spy(monkeypatch):
    """What each tar run did: the name of the entry tar refused (None: it took all)."""
    refused: list[str | None] = []
    real = tarpipe.feed_until_refused

    def recording(feed, reader, entries, clean):
        entry = real(feed, reader, entries, clean)
        refused.append(None if entry is None else entry.name)
        return entry

    monkeypatch.setattr(tarpipe, "feed_until_refused", recording)
    return refused


@pytest.fixture
def dests(tmp_path):
    """(dest for the tar path, dest for the userspace path, sentinel host)."""
    a, b = tmp_path / "dest", tmp_path / "dest2"
    a.mkdir()
    b.mkdir()
    host = Host(tmp_path)
    host.siblings.add("dest2")
    return a, b, host


def userspace(monkeypatch, fn, *args, **kw):
    with monkeypatch.context() as m:
        m.setattr(tarpipe, "gnu_tar", lambda: None)
        return fn(*args, **kw)


def outcome(kernel, data: bytes, dest: Path, **kw):
    """The tree apply_layer leaves, or the error it raises (class and message)."""
    try:
        apply_layer(kernel, io.BytesIO(data), str(dest), **kw)
    except MinidockerError as e:
        return type(e), str(e)
    return snapshot(dest)


def snapshot(root: Path, since: float | None = None) -> dict:
    """Per path: type, mode, owner, mtime, content or target, hard-link group.

    Directories made for missing parents get the current time from both
    paths; any mtime after ``since`` shows as "now".
    """
    since = since if since is not None else time.time() - 3600
    out: dict[str, tuple] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        names = dirnames + filenames + ([""] if dirpath == str(root) else [])
        for name in names:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = p.relative_to(root).as_posix() if name else ""
            mtime = "now" if st.st_mtime > since else st.st_mtime_ns
            if stat.S_ISREG(st.st_mode):
                content = p.read_bytes()
                inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(p)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                content = st.st_rdev
            else:
                content = None
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                        mtime, content)
    for paths in inodes.values():
        for rel in paths:
            out[rel] += (tuple(sorted(paths)),)
    return out


def both_ways(kernel, monkeypatch, spy, dests, data: bytes, **kw):
    """Apply ``data`` through tar and through userspace alone: both outcomes."""
    a, b, host = dests
    via_tar = outcome(kernel, data, a, **kw)
    assert spy, "the tar path was not taken"
    alone = userspace(monkeypatch, outcome, kernel, data, b, **kw)
    host.assert_untouched()
    return via_tar, alone


def full_layer() -> bytes:
    big = random.Random(1).randbytes(3 << 20)
    return build(
        dir_("./", mode=0o750, mtime=MTIME, uid=5, gid=6),
        dir_("etc", mtime=MTIME + 1),
        reg("etc/passwd", b"root:x:0:0\n", mtime=MTIME + 2),
        reg("etc/shadow", b"secret", mode=0o600, uid=0, gid=42, mtime=MTIME + 3),
        dir_("tmp", mode=0o1777, mtime=MTIME + 4),
        dir_("srv", mode=0o2750, uid=33, gid=33, mtime=MTIME + 5),
        reg("srv/empty", b"", mode=0o444, uid=1000, gid=1000, mtime=MTIME + 6),
        reg("usr/bin/su", b"\x7fELF", mode=0o4755, mtime=MTIME + 7),
        reg("usr/bin/wall", b"\x7fELF", mode=0o2755, gid=5, mtime=MTIME + 8),
        dir_("usr/lib", mode=0o750, mtime=MTIME + 19),
        reg("usr/lib/big.so", big, mode=0o755, mtime=MTIME + 9),
        reg("usr/lib/mid.so", big[:700_000], mtime=MTIME + 10, uid=1000),
        hard("usr/lib/mid-again.so", "usr/lib/mid.so"),
        reg("usr/lib/just-small", big[:(64 << 10) - 1], mtime=MTIME + 20),
        reg("usr/lib/just-large", big[:64 << 10], mode=0o4750, mtime=MTIME + 21),
        reg("new/parent/large", big[:100_000], mtime=MTIME + 22),
        hard("usr/bin/su2", "usr/bin/su"),
        hard("./usr/bin/su3", "/usr/bin/su2"),
        sym("lib", "usr/lib", mtime=MTIME + 11, uid=7, gid=8),
        sym("abs", "/etc/passwd", mtime=MTIME + 12),
        sym("up", "../../../etc", mtime=MTIME + 13),
        sym("dangling", "nowhere/at/all", mtime=MTIME + 14),
        node("run/fifo", tarfile.FIFOTYPE, mode=0o620),
        reg("deep/" + "d" * 120 + "/" + "n" * 150, b"long name", mtime=MTIME + 15),
        sym("longlink", "/" + "t" * 200, mtime=MTIME + 16),
        dir_("etc", mode=0o700, mtime=MTIME + 17),   # again: last metadata wins
        reg("srv/a b\\c\nd", b"odd name", mtime=MTIME + 18),
        format=tarfile.GNU_FORMAT)


# --- what goes to tar ------------------------------------------------------------

def test_plain_layer_goes_through_tar_whole_and_matches_userspace(kernel, monkeypatch, spy, dests):
    via_tar, alone = both_ways(kernel, monkeypatch, spy, dests, full_layer())
    assert spy == [None]
    assert via_tar == alone
    assert via_tar[""][1:5] == (0o750, 5, 6, MTIME * 10**9)
    assert via_tar["usr/bin/su"][1] == 0o4755
    assert via_tar["usr/bin/su3"][-1] == ("usr/bin/su", "usr/bin/su2", "usr/bin/su3")
    assert via_tar["usr/lib"][1:5] == (0o750, 0, 0, (MTIME + 19) * 10**9)
    assert via_tar["usr/lib/mid-again.so"][-1] == ("usr/lib/mid-again.so", "usr/lib/mid.so")


def test_large_files_are_written_alongside_tar_not_through_it(kernel, monkeypatch, spy, dests):
    a, _, _ = dests
    piped = []
    real = tarpipe.TarFeed._flush

    def recording(self):
        piped.append(sum(map(len, self._out)))
        real(self)

    monkeypatch.setattr(tarpipe.TarFeed, "_flush", recording)
    data = build(reg("small", b"s" * 1000), reg("d/large", b"L" * (8 << 20)))
    apply_layer(kernel, io.BytesIO(data), str(a))
    assert spy == [None]
    assert sum(piped) < 1 << 20
    assert (a / "d/large").read_bytes() == b"L" * (8 << 20)


def test_a_parent_made_meanwhile_by_tar_is_entered(kernel, monkeypatch, dests):
    a, _, host = dests
    real = os.mkdir

    def racing(path, mode=0o777, *, dir_fd=None):
        real(path, mode, dir_fd=dir_fd)   # "tar" got there first
        raise FileExistsError(17, "File exists", path)

    monkeypatch.setattr(os, "mkdir", racing)
    userspace(monkeypatch, apply_layer, kernel, io.BytesIO(build(reg("x/y/f", b"1"))), str(a))
    assert (a / "x/y/f").read_bytes() == b"1"
    host.assert_untouched()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_missing_parents_get_the_same_mode_under_any_umask(kernel, monkeypatch, spy, dests, umask):
    old = os.umask(umask)
    try:
        via_tar, alone = both_ways(kernel, monkeypatch, spy, dests,
                                   build(reg("a/b/c/file", b"x", mode=0o640)))
    finally:
        os.umask(old)
    assert spy == [None]
    assert via_tar == alone
    assert via_tar["a/b"][1] == 0o755 & ~umask


HANDOVERS = {
    "write through an absolute symlink": ([sym("lnk", "/"), reg("lnk/etc/passwd", b"x")],
                                          "lnk/etc/passwd"),
    "directory through a symlink": ([sym("lnk", "/tmp"), dir_("lnk/x")], "lnk/x/"),
    "write through a relative symlink": ([dir_("real"), sym("lnk", "real"), reg("lnk/f", b"x")],
                                         "lnk/f"),
    "symlink replaced by a directory": ([sym("lnk", "/etc"), dir_("lnk")], "lnk/"),
    "large file through a relative symlink": ([dir_("real"), sym("lnk", "real"),
                                               reg("lnk/big", bytes(100_000))], "lnk/big"),
    "large file through an absolute symlink": ([sym("lnk", "/"),
                                                reg("lnk/etc/big", bytes(100_000))], "lnk/etc/big"),
    "duplicate file": ([reg("f", b"1"), reg("f", b"2")], "f"),
    "large file over a small one": ([reg("f", b"1"), reg("f", bytes(100_000))], "f"),
    "small file over a large one": ([reg("f", bytes(100_000)), reg("f", b"1")], "f"),
    "file over a directory": ([dir_("d"), reg("d/x", b"1"), reg("d", b"2")], "d"),
    "path through a file": ([reg("f", b"1"), dir_("f/x")], "f/x/"),
    "hard link to a symlink": ([sym("lnk", "/etc/passwd"), hard("h", "lnk")], "h"),
    "hard link to a missing file": ([hard("h", "missing")], "h"),
    "hard link to a directory": ([dir_("d"), hard("h", "d")], "h"),
    "hard link with dotdot": ([reg("f", b"1"), hard("h", "d/../f")], "h"),
    "hard link climbing out": ([reg("f", b"1"), hard("h", "../f")], "h"),
    "hard link through a symlink": ([dir_("d"), reg("d/f", b"1"), sym("s", "d"),
                                     hard("h", "s/f")], "h"),
    "whiteout": ([reg("f", b"1"), reg(".wh.g")], ".wh.g"),
    "opaque marker": ([dir_("d"), reg("d/.wh..wh..opq")], "d/.wh..wh..opq"),
    "aufs metadata": ([reg("f", b"1"), dir_(".wh..wh.plnk")], ".wh..wh.plnk/"),
    "xattr": ([pax(reg("f", b"1"), **{"SCHILY.xattr.user.k": "v"})], "f"),
    "sub-second mtime": ([pax(reg("f", b"1"), mtime="1500000000.5")], "f"),
    "negative mtime": ([reg("f", b"1", mtime=-5)], "f"),
    "huge uid": ([reg("f", b"1", uid=3_000_000)], "f"),
    "device node": ([node("dev/null", tarfile.CHRTYPE, 1, 3)], "dev/null"),
    "component over 255 bytes": ([reg("d/" + "x" * 300, b"1")], "d/" + "x" * 300),
    "path over the tar limit": ([reg("/".join(["p" * 200] * 20), b"1")],
                                "/".join(["p" * 200] * 20)),
}


@pytest.mark.parametrize("case", HANDOVERS, ids=list(HANDOVERS))
def test_tar_hands_over_at_the_first_entry_it_cannot_take(kernel, monkeypatch, spy, dests, case):
    members, refused = HANDOVERS[case]
    data = build(dir_("before", mtime=MTIME), reg("before/f", b"data", mtime=MTIME),
                 *members, reg("after", b"after", mtime=MTIME))
    via_tar, alone = both_ways(kernel, monkeypatch, spy, dests, data)
    assert spy == [refused]
    assert via_tar == alone


def test_device_nodes_allowed_are_made_by_userspace_after_tar(kernel, monkeypatch, spy, dests):
    data = build(reg("a", b"1"), node("dev/null", tarfile.CHRTYPE, 1, 3), reg("b", b"2"))
    via_tar, alone = both_ways(kernel, monkeypatch, spy, dests, data, allow_devices=True)
    assert spy == ["dev/null"]
    assert via_tar == alone
    assert via_tar["dev/null"][5] == os.makedev(1, 3)


def test_directory_mtime_set_by_tar_survives_later_userspace_entries(kernel, monkeypatch, spy,
                                                                     dests):
    # "s/new" goes through a symlink, so userspace writes it into d after tar set d's mtime.
    data = build(dir_("d", mtime=MTIME), sym("s", "d"), reg("s/new", b"x", mtime=MTIME + 1))
    via_tar, alone = both_ways(kernel, monkeypatch, spy, dests, data)
    assert spy == ["s/new"]
    assert via_tar == alone
    assert via_tar["d"][4] == MTIME * 10**9 and "d/new" in via_tar


def test_random_layers_give_the_same_tree_both_ways(kernel, monkeypatch, spy, tmp_path):
    names = ["a", "b", "a/b", "a/c", "b/a", "a/b/c", "./a", "/b/c", "c/../a", "c"]
    targets = ["a", "b", "/a", "../b", "/", "a/b", "c/../../a", "missing", "."]
    rng = random.Random(20261128)
    handed_over = 0
    for i in range(60):
        members = []
        for _ in range(rng.randrange(1, 14)):
            name, kind = rng.choice(names), rng.random()
            attrs = dict(mtime=MTIME + rng.randrange(1000), uid=rng.choice([0, 1000]),
                         mode=rng.choice([0o644, 0o755, 0o600, 0o4755, 0o1777]))
            if kind < 0.35:
                members.append(reg(name, rng.randbytes(rng.randrange(2000)), **attrs))
            elif kind < 0.6:
                members.append(dir_(name, **attrs))
            elif kind < 0.8:
                members.append(sym(name, rng.choice(targets), mtime=attrs["mtime"]))
            elif kind < 0.95:
                members.append(hard(name, rng.choice(names)))
            else:
                members.append(node(name, tarfile.FIFOTYPE, mode=attrs["mode"]))
        data = build(*members)
        a, b = tmp_path / f"t{i}", tmp_path / f"u{i}"
        a.mkdir()
        b.mkdir()
        spy.clear()
        via_tar = outcome(kernel, data, a)
        alone = userspace(monkeypatch, outcome, kernel, data, b)
        assert via_tar == alone, [m[0].name for m in members]
        handed_over += spy[0] is not None
    assert 0 < handed_over < 60  # both the whole-tar and the handover paths were exercised


# --- when tar is not used -----------------------------------------------------------------

def test_userspace_applies_when_dest_is_not_empty(kernel, spy, dests):
    a, _, _ = dests
    (a / "old").write_bytes(b"old")
    apply_layer(kernel, io.BytesIO(build(reg("f", b"1"))), str(a))
    assert spy == []
    assert (a / "f").read_bytes() == b"1" and (a / "old").exists()


def test_delete_mode_never_uses_tar(kernel, spy, dests):
    a, _, _ = dests
    apply_layer(kernel, io.BytesIO(build(reg("f", b"1"))), str(a), whiteouts="delete")
    assert spy == [] and (a / "f").read_bytes() == b"1"


def test_tracing_kernel_sees_every_chown_so_never_uses_tar(kernel, spy, dests):
    a, _, _ = dests
    tracing = TracingKernel(kernel)
    apply_layer(tracing, io.BytesIO(build(reg("f", b"1"), reg("g", b"2"))), str(a))
    assert spy == []
    assert [e.op for e in tracing.events].count("chown") == 2


def test_userspace_applies_when_tar_cannot_be_started(kernel, monkeypatch, spy, dests):
    a, _, host = dests

    def no_process(*args, **kw):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(tarpipe.subprocess, "Popen", no_process)
    apply_layer(kernel, io.BytesIO(build(dir_("d"), reg("d/f", b"1"))), str(a))
    assert spy == [] and (a / "d/f").read_bytes() == b"1"
    host.assert_untouched()


def test_a_tar_that_is_not_gnu_tar_is_not_used(monkeypatch, tmp_path):
    fake = tmp_path / "bin" / "tar"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'bsdtar 3.6.2 - libarchive 3.6.2'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(tarpipe, "_TAR_ENV", {**tarpipe._TAR_ENV, "PATH": str(fake.parent)})
    monkeypatch.setattr(tarpipe, "_tar_path", False)
    assert tarpipe.gnu_tar() is None


# --- failures --------------------------------------------------------------------------

def fake_tar(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-tar"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


def test_tar_failure_is_one_line_unsafe_archive(kernel, monkeypatch, dests, tmp_path):
    a, _, host = dests
    tar = fake_tar(tmp_path, "cat > /dev/null\n"
                             "echo 'tar: f: Cannot open: No space left on device' >&2\n"
                             "echo 'tar: Exiting with failure status due to previous errors' >&2\n"
                             "exit 2\n")
    monkeypatch.setattr(tarpipe, "gnu_tar", lambda: tar)
    host.siblings.add("fake-tar")
    with pytest.raises(UnsafeArchive) as info:
        apply_layer(kernel, io.BytesIO(build(reg("f", b"1"))), str(a))
    assert str(info.value) == "cannot apply layer: tar: f: Cannot open: No space left on device"
    host.assert_untouched()


def test_tar_dying_early_is_reported_not_hung_on(kernel, monkeypatch, dests, tmp_path):
    a, _, _ = dests
    tar = fake_tar(tmp_path, "echo 'tar: killed' >&2\nexit 2\n")
    monkeypatch.setattr(tarpipe, "gnu_tar", lambda: tar)
    data = build(*[reg(f"f{i}", bytes(100_000)) for i in range(40)])  # more than the pipe holds
    with pytest.raises(UnsafeArchive, match="^cannot apply layer: tar: killed$"):
        apply_layer(kernel, io.BytesIO(data), str(a))


def test_corrupt_stream_fails_as_in_userspace_and_tar_is_reaped(kernel, monkeypatch, spy, dests):
    a, b, host = dests
    procs = []
    real = tarpipe.TarFeed

    class Recording(real):
        def __init__(self, *args):
            super().__init__(*args)
            procs.append(self.proc)

    monkeypatch.setattr(tarpipe, "TarFeed", Recording)
    data = build(reg("ok", b"fine"), reg("big", bytes(600_000)))[:-300_000]
    with pytest.raises(CorruptContent) as via_tar:
        apply_layer(kernel, io.BytesIO(data), str(a))
    with pytest.raises(CorruptContent) as alone:
        userspace(monkeypatch, apply_layer, kernel, io.BytesIO(data), str(b))
    assert str(via_tar.value) == str(alone.value)
    assert len(procs) == 1 and procs[0].returncode is not None
    assert (a / "ok").read_bytes() == b"fine"
    host.assert_untouched()

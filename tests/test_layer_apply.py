"""Applying layer tars safely (minidocker.image.layer.apply_layer) and writing them back.

Every test builds its own archive: well-formed ones with ``tarfile`` (whose
``TarInfo`` accepts any name, link name or type), malformed ones by patching
raw header blocks. A "host" directory next to the destination holds a
sentinel file; escape attempts must leave it exactly as it was and must not
create anything else beside the destination.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import stat
import struct
import tarfile
import time
from pathlib import Path

import pytest

from minidocker.errors import CorruptContent, MinidockerError, UnsafeArchive
from minidocker.image import tarpipe, tarstream
from minidocker.image.layer import OPAQUE_MARKER, apply_layer, write_layer
from minidocker.kernel import get_kernel

# --- environment ---------------------------------------------------------------

# Tests that need root skip without it, except under CI, where they must fail.
needs_root = pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get("CI"),
                                reason="needs root")


def root_test(fn):
    """Mark a test as needing root (``-m root``) and skip it when not root outside CI."""
    return pytest.mark.root(needs_root(fn))


OPAQUE_XATTR = "trusted.overlay.opaque"
SECRET = b"host secret, do not touch\n"
MiB = 1 << 20


@pytest.fixture
def kernel():
    return get_kernel()


@pytest.fixture(autouse=True, params=["tar", "userspace"])
def extractor(request, monkeypatch):
    """Every test runs twice: as root into an empty directory apply_layer hands
    what it can to GNU tar (minidocker.image.tarpipe); "userspace" turns that off."""
    if request.param == "userspace":
        monkeypatch.setattr(tarpipe, "gnu_tar", lambda: None)
    elif tarpipe.gnu_tar() is None and os.environ.get("CI"):
        pytest.fail("GNU tar is missing (CI is set, so the tar path may not go untested)")
    return request.param


@pytest.fixture
def dest(tmp_path) -> Path:
    d = tmp_path / "dest"
    d.mkdir()
    return d


class Host:
    """A sentinel tree outside the destination, and a check that nothing touched it."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.dir = tmp_path / "host"
        self.dir.mkdir()
        self.secret = self.dir / "secret"
        self.secret.write_bytes(SECRET)
        self.secret.chmod(0o600)
        os.utime(self.secret, ns=(1_000_000_000, 1_000_000_000))
        self.siblings = {"dest", "host"}
        self._before = self._state()

    def _state(self):
        state = {}
        for p in [self.dir, *sorted(self.dir.rglob("*"))]:
            st = p.lstat()
            data = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
            state[p.relative_to(self.tmp).as_posix()] = (
                st.st_mode, st.st_ino, st.st_nlink, st.st_uid, st.st_gid,
                st.st_size, st.st_mtime_ns, data)
        return state

    def assert_untouched(self) -> None:
        assert self._state() == self._before
        assert self.secret.stat().st_nlink == 1
        assert self.secret.read_bytes() == SECRET
        # nothing was created beside the destination (e.g. tmp_path/escape)
        assert {p.name for p in self.tmp.iterdir()} == self.siblings


@pytest.fixture
def host(tmp_path, dest) -> Host:
    return Host(tmp_path)


# --- building archives ---------------------------------------------------------

def reg(name: str, data: bytes = b"", mode: int = 0o644, **attrs):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode = len(data), mode
    for k, v in attrs.items():
        setattr(ti, k, v)
    return ti, data


def dir_(name: str, mode: int = 0o755, **attrs):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = tarfile.DIRTYPE, mode
    for k, v in attrs.items():
        setattr(ti, k, v)
    return ti, None


def sym(name: str, target: str, **attrs):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
    for k, v in attrs.items():
        setattr(ti, k, v)
    return ti, None


def hard(name: str, target: str):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = tarfile.LNKTYPE, target
    return ti, None


def node(name: str, type_: bytes, major: int = 0, minor: int = 0, mode: int = 0o666):
    ti = tarfile.TarInfo(name)
    ti.type, ti.devmajor, ti.devminor, ti.mode = type_, major, minor, mode
    return ti, None


def pax(member, **headers):
    """Give a member extra PAX records (only written in PAX format)."""
    member[0].pax_headers.update(headers)
    return member


def build(*members, format=tarfile.PAX_FORMAT, **open_kw) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=format, **open_kw) as tar:
        for ti, data in members:
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def apply(kernel, data: bytes, dest: Path, **kw):
    return apply_layer(kernel, io.BytesIO(data), str(dest), **kw)


def header(name: str = "f", size: int = 0, typeflag: bytes = tarfile.REGTYPE) -> bytearray:
    """One ustar header block, to patch by hand."""
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mode = size, typeflag, 0o644
    return bytearray(ti.tobuf(format=tarfile.USTAR_FORMAT))


def fix_checksum(block: bytearray) -> bytearray:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return block


def patch(block: bytearray, offset: int, value: bytes) -> bytearray:
    block[offset:offset + len(value)] = value
    return fix_checksum(block)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


END = b"\0" * 1024


def expect(data: bytes, kernel, dest: Path, *errors, **kw) -> MinidockerError:
    """Apply ``data``; it must fail with one of ``errors`` and a one-line message."""
    with pytest.raises(errors or (UnsafeArchive, CorruptContent)) as info:
        apply(kernel, data, dest, **kw)
    assert isinstance(info.value, MinidockerError)
    message = str(info.value)
    assert message and "\n" not in message
    return info.value


def tree(root: Path) -> dict[str, object]:
    """Everything below ``root``: dirs "dir", files their bytes, symlinks ("->", target)."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = p.relative_to(root).as_posix()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("->", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            elif stat.S_ISREG(st.st_mode):
                out[rel] = p.read_bytes()
            elif stat.S_ISFIFO(st.st_mode):
                out[rel] = "fifo"
            elif stat.S_ISCHR(st.st_mode):
                out[rel] = ("chr", os.major(st.st_rdev), os.minor(st.st_rdev))
            elif stat.S_ISBLK(st.st_mode):
                out[rel] = ("blk", os.major(st.st_rdev), os.minor(st.st_rdev))
    return out


def inside(dest: Path, absolute: Path) -> Path:
    """Where absolute host path ``absolute`` lands when resolved inside ``dest``."""
    return dest / str(absolute).lstrip("/")


# --- names that escape -----------------------------------------------------------

@pytest.mark.parametrize("name", [
    "../escape",
    "../host/secret",
    "a/../../escape",
    "a/b/../../../escape",
    "/../escape",
    "//../escape",
    "./../escape",
])
def test_dotdot_names_are_rejected(kernel, dest, host, name):
    data = build(reg(name, b"pwned"))
    expect(data, kernel, dest, UnsafeArchive)
    host.assert_untouched()
    assert tree(dest) == {}


@pytest.mark.parametrize("member", [
    dir_("../escape"),
    sym("../escape", "/"),
    node("../escape", tarfile.FIFOTYPE),
    reg("../.wh.secret"),
])
def test_dotdot_names_are_rejected_for_every_entry_type(kernel, dest, host, member):
    expect(build(member), kernel, dest, UnsafeArchive)
    host.assert_untouched()


def test_absolute_name_lands_inside_root(kernel, dest, host):
    apply(kernel, build(reg("/etc/x", b"inside")), dest)
    assert tree(dest) == {"etc": "dir", "etc/x": b"inside"}
    host.assert_untouched()


def test_dotdot_that_stays_inside_is_normalised(kernel, dest, host):
    apply(kernel, build(reg("a/b/../c", b"1"), reg("./d/./e", b"2")), dest)
    assert tree(dest) == {"a": "dir", "a/c": b"1", "d": "dir", "d/e": b"2"}
    host.assert_untouched()


# --- symlinks -------------------------------------------------------------------

def test_symlink_target_is_stored_verbatim_and_not_followed(kernel, dest, host):
    apply(kernel, build(sym("passwd", "/etc/passwd"), sym("s", str(host.secret))), dest)
    assert tree(dest) == {"passwd": ("->", "/etc/passwd"), "s": ("->", str(host.secret))}
    host.assert_untouched()


def test_symlink_to_filesystem_root_stays_inside_root(kernel, dest, host):
    apply(kernel, build(sym("evil", "/"), reg("evil/secret", b"pwned")), dest)
    assert tree(dest) == {"evil": ("->", "/"), "secret": b"pwned"}
    host.assert_untouched()


def test_symlink_to_filesystem_root_then_host_path_stays_inside_root(kernel, dest, host):
    apply(kernel, build(sym("evil", "/"), reg("evil" + str(host.secret), b"pwned")), dest)
    assert inside(dest, host.secret).read_bytes() == b"pwned"
    host.assert_untouched()


def test_symlink_to_absolute_host_path_stays_inside_root(kernel, dest, host):
    data = build(sym("evil", str(host.dir)), reg("evil/secret", b"pwned"))
    apply(kernel, data, dest)
    assert inside(dest, host.secret).read_bytes() == b"pwned"
    assert (dest / "evil").is_symlink()
    host.assert_untouched()


def test_relative_symlink_climbing_above_root_is_clamped(kernel, dest, host):
    apply(kernel, build(sym("up", "../../../../.."), reg("up/x", b"x")), dest)
    assert tree(dest) == {"up": ("->", "../../../../.."), "x": b"x"}
    host.assert_untouched()


def test_relative_symlink_in_subdir_climbing_above_root_is_clamped(kernel, dest, host):
    data = build(dir_("a"), dir_("a/b"), sym("a/b/up", "../../../host"), reg("a/b/up/secret", b"p"))
    apply(kernel, data, dest)
    assert (dest / "host" / "secret").read_bytes() == b"p"
    host.assert_untouched()


@pytest.mark.parametrize("links", [
    [("a", "b"), ("b", "a")],
    [("a", "a")],
    [("a", "/a")],
    [("a", "./b/"), ("b", "../c"), ("c", "a")],
])
def test_symlink_loop_is_rejected_without_hanging(kernel, dest, host, links):
    data = build(*(sym(n, t) for n, t in links), reg("a/x", b"x"))
    start = time.monotonic()
    err = expect(data, kernel, dest, UnsafeArchive)
    assert time.monotonic() - start < 5
    assert "a/x" in str(err)
    host.assert_untouched()


def test_long_symlink_chain_is_rejected(kernel, dest, host):
    chain = [sym(f"l{i}", f"l{i + 1}") for i in range(50)]
    data = build(dir_("l50"), *chain, reg("l0/x", b"x"))
    expect(data, kernel, dest, UnsafeArchive)
    assert not (dest / "l50" / "x").exists()
    host.assert_untouched()


def test_regular_file_replaces_symlink_of_same_name(kernel, dest, host):
    data = build(sym("link", str(host.secret)), reg("link", b"new content"))
    apply(kernel, data, dest)
    assert tree(dest) == {"link": b"new content"}
    host.assert_untouched()


def test_directory_replaces_symlink_to_host_dir(kernel, dest, host):
    data = build(sym("d", str(host.dir)), dir_("d"), reg("d/secret", b"pwned"))
    apply(kernel, data, dest)
    assert tree(dest) == {"d": "dir", "d/secret": b"pwned"}
    host.assert_untouched()


def test_existing_symlink_in_dest_is_resolved_inside_root(kernel, dest, host):
    # an earlier layer (delete mode flattens into one directory) left a hostile symlink
    os.symlink(str(host.dir), dest / "etc")
    apply(kernel, build(reg("etc/secret", b"pwned")), dest, whiteouts="delete")
    assert inside(dest, host.secret).read_bytes() == b"pwned"
    host.assert_untouched()


def test_existing_symlink_in_dest_is_replaced_not_written_through(kernel, dest, host):
    os.symlink(str(host.secret), dest / "x")
    apply(kernel, build(reg("x", b"new")), dest, whiteouts="delete")
    assert tree(dest) == {"x": b"new"}
    host.assert_untouched()


# Replacing an entry drops cached directory descriptors; the parent descriptor
# the entry is using must stay valid until the entry is done (in the root and
# in subdirectories alike).


@pytest.mark.parametrize(("prefix", "first", "second", "expected"), [
    pytest.param("", sym("x", "y"), reg("x", b"new"), b"new", id="top-file-over-symlink"),
    pytest.param("", dir_("x"), reg("x", b"new"), b"new", id="top-file-over-dir"),
    pytest.param("", sym("x", "y"), dir_("x"), "dir", id="top-dir-over-symlink"),
    pytest.param("", dir_("x"), sym("x", "y"), ("->", "y"), id="top-symlink-over-dir"),
    pytest.param("sub/", sym("sub/x", "y"), reg("sub/x", b"new"), b"new",
                 id="sub-file-over-symlink"),
    pytest.param("sub/", dir_("sub/x"), reg("sub/x", b"new"), b"new",
                 id="sub-file-over-dir"),
    pytest.param("sub/", sym("sub/x", "y"), dir_("sub/x"), "dir",
                 id="sub-dir-over-symlink"),
    pytest.param("sub/", dir_("sub/x"), sym("sub/x", "y"), ("->", "y"),
                 id="sub-symlink-over-dir"),
    pytest.param("sub/", sym("sub/x", "y"), node("sub/x", tarfile.FIFOTYPE), "fifo",
                 id="sub-fifo-over-symlink"),
])
def test_entry_replaces_symlink_or_directory_of_same_name(kernel, dest, host, prefix,
                                                          first, second, expected):
    members = [dir_("sub")] if prefix else []
    apply(kernel, build(*members, first, second), dest)
    got = tree(dest)
    assert got[prefix + "x"] == expected
    assert set(got) == ({"sub", "sub/x"} if prefix else {"x"})
    host.assert_untouched()


# --- hard links -----------------------------------------------------------------

def test_hardlink_inside_layer_shares_the_inode(kernel, dest, host):
    apply(kernel, build(reg("f", b"data"), hard("l", "f"), hard("abs", "/f")), dest)
    f, l, a = (os.lstat(dest / n) for n in ("f", "l", "abs"))
    assert f.st_ino == l.st_ino == a.st_ino
    assert f.st_nlink == 3
    host.assert_untouched()


def test_hardlink_to_dotdot_is_rejected(kernel, dest, host):
    expect(build(hard("l", "../host/secret")), kernel, dest, UnsafeArchive)
    assert tree(dest) == {}
    host.assert_untouched()


def test_hardlink_to_absolute_host_path_resolves_inside_root(kernel, dest, host):
    err = expect(build(hard("l", str(host.secret))), kernel, dest, UnsafeArchive)
    assert "'l'" in str(err)
    assert not (dest / "l").exists()
    host.assert_untouched()


def test_hardlink_through_symlink_to_root_does_not_reach_host(kernel, dest, host):
    target = "d" + str(host.secret)
    expect(build(sym("d", "/"), hard("l", target)), kernel, dest, UnsafeArchive)
    assert not (dest / "l").exists()
    host.assert_untouched()


def test_hardlink_through_symlink_links_the_copy_inside_root(kernel, dest, host):
    decoy = str(host.secret).lstrip("/")
    data = build(reg(decoy, b"decoy"), sym("d", "/"), hard("l", "d/" + decoy))
    apply(kernel, data, dest)
    assert os.lstat(dest / "l").st_ino == os.lstat(dest / decoy).st_ino
    assert (dest / "l").read_bytes() == b"decoy"
    host.assert_untouched()


def test_hardlink_to_symlink_links_the_symlink_itself(kernel, dest, host):
    apply(kernel, build(sym("s", str(host.secret)), hard("h", "s")), dest)
    assert os.lstat(dest / "h").st_ino == os.lstat(dest / "s").st_ino
    assert os.readlink(dest / "h") == str(host.secret)
    host.assert_untouched()


def test_hardlink_to_directory_is_rejected(kernel, dest, host):
    expect(build(dir_("d"), hard("l", "d")), kernel, dest, UnsafeArchive)
    assert not (dest / "l").exists()
    host.assert_untouched()


def test_hardlink_to_root_is_rejected(kernel, dest, host):
    expect(build(hard("l", "./")), kernel, dest, UnsafeArchive)
    host.assert_untouched()


def test_hardlink_to_missing_file_is_rejected(kernel, dest, host):
    expect(build(hard("l", "nope/missing")), kernel, dest, UnsafeArchive)
    assert tree(dest) == {}
    host.assert_untouched()


def test_writing_over_a_hardlink_does_not_change_the_other_name(kernel, dest, host):
    apply(kernel, build(reg("a", b"old"), hard("b", "a"), reg("b", b"new")), dest)
    assert tree(dest) == {"a": b"old", "b": b"new"}
    assert os.lstat(dest / "a").st_nlink == 1


def test_hardlink_works_when_directory_cache_is_full(kernel, dest, host):
    members = [dir_("t"), reg("t/f", b"data")]
    members += [dir_(f"x{i:03}") for i in range(511)]   # cache: t + 511 = 512 -> next evicts
    members += [dir_("p")]                               # eviction; cache = {p}
    members += [dir_(f"y{i:03}") for i in range(511)]   # cache full again, t not in it
    members += [hard("p/link", "t/f")]
    apply(kernel, build(*members), dest)
    assert os.lstat(dest / "p" / "link").st_ino == os.lstat(dest / "t" / "f").st_ino


# --- device nodes -----------------------------------------------------------------

@pytest.mark.parametrize(("type_", "major", "minor"), [
    (tarfile.CHRTYPE, 1, 3),
    (tarfile.BLKTYPE, 7, 0),
    (tarfile.CHRTYPE, 0, 0),
])
def test_device_nodes_are_rejected_by_default(kernel, dest, host, type_, major, minor):
    err = expect(build(node("dev/null", type_, major, minor)), kernel, dest, UnsafeArchive)
    assert "device" in str(err)
    assert not (dest / "dev" / "null").exists()
    host.assert_untouched()


@root_test
def test_device_nodes_are_created_when_allowed(kernel, dest, host):
    data = build(node("null", tarfile.CHRTYPE, 1, 3, 0o666), node("loop0", tarfile.BLKTYPE, 7, 0, 0o660))
    apply(kernel, data, dest, allow_devices=True)
    null, loop = os.lstat(dest / "null"), os.lstat(dest / "loop0")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(loop.st_mode) and loop.st_rdev == os.makedev(7, 0)
    assert stat.S_IMODE(loop.st_mode) == 0o660
    host.assert_untouched()


def test_fifo_is_created_with_its_mode(kernel, dest, host):
    apply(kernel, build(node("p", tarfile.FIFOTYPE, mode=0o640)), dest)
    st = os.lstat(dest / "p")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640


# --- PAX and GNU extensions ---------------------------------------------------------

def test_pax_path_overriding_harmless_name_is_checked(kernel, dest, host):
    data = build(pax(reg("harmless", b"pwned"), path="../escape"))
    assert b"harmless" in data  # the ustar name really is harmless
    expect(data, kernel, dest, UnsafeArchive)
    assert tree(dest) == {}
    host.assert_untouched()


def test_pax_linkpath_overriding_harmless_target_is_checked(kernel, dest, host):
    data = build(reg("f", b"x"), pax(hard("l", "f"), linkpath="../host/secret"))
    expect(data, kernel, dest, UnsafeArchive)
    assert not (dest / "l").exists()
    host.assert_untouched()


def test_pax_global_header_is_ignored(kernel, dest, host):
    data = build(reg("a", b"1"), reg("b/c", b"2"), pax_headers={"path": "../escape"})
    assert b"path=../escape" in data
    apply(kernel, data, dest)
    assert tree(dest) == {"a": b"1", "b": "dir", "b/c": b"2"}
    host.assert_untouched()


def test_handmade_pax_global_header_is_ignored(kernel, dest, host):
    ti = tarfile.TarInfo("pax_global_header")
    g = ti._create_pax_generic_header({"path": "../escape", "linkpath": "/"},
                                      tarfile.XGLTYPE, "utf-8")
    data = g + build(reg("a", b"1"))
    apply(kernel, data, dest)
    assert tree(dest) == {"a": b"1"}
    host.assert_untouched()


def test_gnu_long_name_with_dotdot_is_rejected(kernel, dest, host):
    name = "a" * 120 + "/../../escape"
    data = build(reg(name, b"pwned"), format=tarfile.GNU_FORMAT)
    assert b"././@LongLink" in data
    expect(data, kernel, dest, UnsafeArchive)
    host.assert_untouched()


def test_gnu_long_link_with_dotdot_is_rejected(kernel, dest, host):
    target = "b" * 120 + "/../../host/secret"
    data = build(reg("f"), hard("l", target), format=tarfile.GNU_FORMAT)
    expect(data, kernel, dest, UnsafeArchive)
    host.assert_untouched()


@pytest.mark.parametrize("format", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_legit_long_name_in_nested_dirs_works(kernel, dest, host, format):
    name = "/".join(["d" * 70] * 4) + "/" + "f" * 30
    assert len(name) > 300
    apply(kernel, build(reg(name, b"deep"), format=format), dest)
    assert (dest / name).read_bytes() == b"deep"
    host.assert_untouched()


def test_ustar_prefix_field_is_joined_to_name(kernel, dest, host):
    name = "p" * 120 + "/file"
    apply(kernel, build(reg(name, b"ok"), format=tarfile.USTAR_FORMAT), dest)
    assert (dest / name).read_bytes() == b"ok"


def test_pax_size_overrides_header_size(kernel, dest, host):
    x = tarfile.TarInfo("x")._create_pax_generic_header({"size": "5"}, tarfile.XHDTYPE, "utf-8")
    data = x + bytes(header("f", size=0)) + padded(b"hello") + END   # header 0, PAX 5
    apply(kernel, data, dest)
    assert tree(dest) == {"f": b"hello"}


@pytest.mark.parametrize("typeflag", [tarfile.GNUTYPE_SPARSE, b"M", b"V", b"D", b"Z"])
def test_sparse_and_unknown_entry_types_are_rejected(kernel, dest, host, typeflag):
    data = build(node("weird", typeflag, mode=0o644), format=tarfile.GNU_FORMAT)
    expect(data, kernel, dest, UnsafeArchive)
    assert tree(dest) == {}
    host.assert_untouched()


def test_pax_sparse_entry_is_rejected(kernel, dest, host):
    data = build(pax(reg("f", b"abc"), **{"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}))
    expect(data, kernel, dest, UnsafeArchive)
    assert tree(dest) == {}


# --- duplicates -----------------------------------------------------------------------

def test_duplicate_file_last_content_wins(kernel, dest, host):
    apply(kernel, build(reg("f", b"first", mode=0o600), reg("f", b"second", mode=0o640)), dest)
    assert tree(dest) == {"f": b"second"}
    assert stat.S_IMODE(os.lstat(dest / "f").st_mode) == 0o640


def test_dir_then_file_of_same_name_gives_file(kernel, dest, host):
    apply(kernel, build(dir_("x"), reg("x/child", b"c"), reg("x", b"file")), dest)
    assert tree(dest) == {"x": b"file"}


def test_file_then_dir_of_same_name_gives_dir(kernel, dest, host):
    apply(kernel, build(reg("x", b"file"), dir_("x"), reg("x/child", b"c")), dest)
    assert tree(dest) == {"x": "dir", "x/child": b"c"}


def test_duplicate_dir_keeps_children_and_takes_last_mode(kernel, dest, host):
    apply(kernel, build(dir_("d", 0o700), reg("d/a", b"a"), dir_("d", 0o751)), dest)
    assert tree(dest) == {"d": "dir", "d/a": b"a"}
    assert stat.S_IMODE(os.lstat(dest / "d").st_mode) == 0o751


def test_duplicate_dir_last_mtime_wins(kernel, dest, host):
    apply(kernel, build(dir_("d", mtime=1_000_000_000), dir_("d", mtime=1_500_000_000)), dest)
    assert os.lstat(dest / "d").st_mtime_ns == 1_500_000_000 * 10**9


# --- malformed archives ------------------------------------------------------------------

def test_negative_base256_size_is_corrupt(kernel, dest, host):
    block = patch(header("f"), 124, b"\xff" * 12)
    expect(bytes(block) + END, kernel, dest, CorruptContent)
    assert tree(dest) == {}


def test_size_larger_than_the_data_is_corrupt(kernel, dest, host):
    data = bytes(header("f", size=1 << 30)) + b"a" * 1000
    err = expect(data, kernel, dest, CorruptContent)
    assert "truncated" in str(err)


def test_archive_truncated_in_data_is_corrupt(kernel, dest, host):
    data = build(reg("f", b"x" * 5000))
    expect(data[:512 * 3 + 2000], kernel, dest, CorruptContent)


def test_archive_truncated_in_padding_is_corrupt(kernel, dest, host):
    data = bytes(header("f", size=10)) + b"0123456789" + b"\0" * 100
    expect(data, kernel, dest, CorruptContent)


def test_truncated_header_is_corrupt(kernel, dest, host):
    expect(bytes(header("f", size=0))[:300], kernel, dest, CorruptContent)
    assert tree(dest) == {}


def test_truncated_second_header_is_corrupt(kernel, dest, host):
    data = build(reg("a", b"1"), reg("b", b"2"))
    expect(data[:1024 + 300], kernel, dest, CorruptContent)


@pytest.mark.parametrize("data", [
    random.Random(1234).randbytes(4096),
    b"this is not a tar archive\n" * 100,
    b"\x1f\x8b\x08\x00" + bytes(2044),          # gzip magic: compressed, not a tar
    b"\x80" + bytes(511) + END,
])
def test_not_a_tar_is_corrupt(kernel, dest, host, data):
    expect(data, kernel, dest, CorruptContent)
    assert tree(dest) == {}
    host.assert_untouched()


def test_bad_checksum_is_corrupt(kernel, dest, host):
    data = bytearray(build(reg("f", b"x")))
    data[0] ^= 0x01            # name "f" -> "g" without fixing the checksum
    err = expect(bytes(data), kernel, dest, CorruptContent)
    assert "checksum" in str(err)
    assert tree(dest) == {}


def test_invalid_octal_field_is_corrupt(kernel, dest, host):
    block = patch(header("f"), 100, b"09999999")      # mode
    expect(bytes(block) + END, kernel, dest, CorruptContent)


def test_garbage_after_first_member_is_corrupt(kernel, dest, host):
    data = bytes(header("f", size=3)) + padded(b"abc") + b"GARBAGE!" * 64 + END
    expect(data, kernel, dest, CorruptContent)


def test_zero_block_followed_by_data_is_corrupt(kernel, dest, host):
    data = build(reg("a", b"1"))
    second = build(reg("b", b"2"))
    data = data[:1024] + b"\0" * 512 + second[:1024] + END
    err = expect(data, kernel, dest, CorruptContent)
    assert "zero block" in str(err)


def test_archive_ending_after_extended_header_is_corrupt(kernel, dest, host):
    x = tarfile.TarInfo("x")._create_pax_generic_header({"path": "f"}, tarfile.XHDTYPE, "utf-8")
    expect(x, kernel, dest, CorruptContent)
    expect(x + END, kernel, dest, CorruptContent)


def test_malformed_pax_record_is_corrupt(kernel, dest, host):
    body = padded(b"99 path=f\n")
    xh = header("x", size=10, typeflag=tarfile.XHDTYPE)      # record claims 99 bytes
    data = bytes(xh) + body + bytes(header("f")) + END
    expect(data, kernel, dest, CorruptContent)


def test_huge_pax_header_is_rejected(kernel, dest, host):
    data = build(pax(reg("f", b"x"), comment="c" * (2 * MiB)))
    err = expect(data, kernel, dest, UnsafeArchive)
    assert "PAX" in str(err)
    assert tree(dest) == {}


def test_huge_gnu_long_name_is_rejected(kernel, dest, host):
    data = build(reg("a/" * MiB + "f", b"x"), format=tarfile.GNU_FORMAT)
    expect(data, kernel, dest, UnsafeArchive)
    assert tree(dest) == {}


def test_huge_pax_size_field_before_data_is_rejected(kernel, dest, host):
    # an extended header claiming an absurd size must not be read into memory
    xh = header("x", typeflag=tarfile.XHDTYPE)
    xh[124:136] = b"\x80" + (1 << 60).to_bytes(11, "big")   # base-256 size 2**60
    fix_checksum(xh)
    expect(bytes(xh) + b"12 path=f\n", kernel, dest, UnsafeArchive)


def test_chained_pax_headers_replace_each_other_so_memory_stays_bounded(kernel, dest, host):
    # Go's reader (and so Docker) keeps only the latest extended header; merging
    # a chain would let headers each under MAX_META add up without bound.
    chunks = [tarfile.TarInfo("x")._create_pax_generic_header(
        {"path": "from-first-header"}, tarfile.XHDTYPE, "utf-8")]
    for n in range(3):   # 3 x 700 KiB of distinct records, each header < MAX_META
        records = {f"k{n}.{i}": "v" * 60 for i in range(10_000)}
        chunks.append(tarfile.TarInfo("x")._create_pax_generic_header(
            records, tarfile.XHDTYPE, "utf-8"))
    data = b"".join(chunks) + build(reg("f", b"x"))
    assert len(data) > 2 * tarstream.MAX_META
    apply(kernel, data, dest)
    assert tree(dest) == {"f": b"x"}


def test_pax_header_of_many_tiny_records_parses_in_linear_time(kernel, dest, host):
    body = b"6 a=b\n" * (tarstream.MAX_META // 6)
    xh = header("x", size=len(body), typeflag=tarfile.XHDTYPE)
    data = bytes(xh) + padded(body) + build(reg("f", b"x"))
    start = time.monotonic()
    apply(kernel, data, dest)
    assert time.monotonic() - start < 1.0
    assert tree(dest) == {"f": b"x"}


# Numbers and names the kernel cannot take must still fail as MinidockerError.
def _base256(block: bytearray, offset: int, length: int, value: int) -> bytes:
    block[offset:offset + length] = b"\x80" + value.to_bytes(length - 1, "big")
    return bytes(fix_checksum(block)) + END




@pytest.mark.parametrize("data", [
    pytest.param(build(pax(reg("f", b"x"), uid="4294967296")), id="pax-uid-2**32"),
    pytest.param(build(pax(reg("f", b"x"), gid="99999999999999999999")), id="pax-gid-huge"),
    pytest.param(_base256(header("f"), 108, 8, 1 << 40), id="base256-uid-2**40"),
    pytest.param(build(pax(reg("f", b"x"), mtime="100000000000000000000")), id="pax-mtime-huge"),
    pytest.param(build(pax(reg("f", b"x"), **{"SCHILY.xattr.user.a\0b": "1"})),
                 id="xattr-name-with-nul"),
    pytest.param(build(pax(reg("f", b"x"), mtime="12x")), id="pax-mtime-not-a-number"),
    pytest.param(build(pax(reg("f", b"x"), uid="-1")), id="pax-uid-negative"),
    pytest.param(build(pax(reg("f", b"x"), size="lots")), id="pax-size-not-a-number"),
    pytest.param(build(pax(reg("f", b"x"), path="a\0b")), id="pax-path-with-nul"),
    pytest.param(build(pax(sym("s", "t"), linkpath="/etc\0x")), id="pax-linkpath-with-nul"),
])
def test_hostile_numbers_and_names_fail_cleanly(kernel, dest, host, data):
    expect(data, kernel, dest)
    host.assert_untouched()


@root_test
def test_huge_device_number_fails_cleanly(kernel, dest, host):
    block = header("null", typeflag=tarfile.CHRTYPE)
    data = _base256(block, 329, 8, 1 << 40)
    expect(data, kernel, dest, allow_devices=True)


def test_component_longer_than_255_bytes_fails_cleanly(kernel, dest, host):
    expect(build(reg("x" * 300, b"x")), kernel, dest)
    expect(build(reg("x" * 300 + "/f", b"x")), kernel, dest)
    assert tree(dest) == {}
    host.assert_untouched()


def test_path_longer_than_path_max_works(kernel, dest, host):
    # resolved one component at a time, so PATH_MAX (4096) does not apply
    parts = ["c" * 60] * 80
    name = "/".join(parts) + "/f"
    assert len(name) > 4096
    apply(kernel, build(reg(name, b"deep")), dest)
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        f = os.open("f", os.O_RDONLY, dir_fd=fd)
        assert os.read(f, 100) == b"deep"
        os.close(f)
    finally:
        os.close(fd)
    host.assert_untouched()


def _deep_chain(top: Path, depth: int) -> None:
    """top/d/d/.../d/f, made without holding more than two descriptors."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)


def _remove_deep(top: Path) -> None:
    """Empty ``top`` without recursion (shutil.rmtree recurses per level before 3.13)."""
    n = 0
    while names := os.listdir(top):
        for name in names:
            p = top / name
            if p.is_dir() and not p.is_symlink():
                for child in os.listdir(p):
                    os.rename(p / child, top / f"lifted{n}")
                    n += 1
                p.rmdir()
            else:
                p.unlink()


@pytest.mark.parametrize(("whiteouts", "member"), [
    ("delete", reg(".wh.d")),
    ("overlay", reg("d", b"file over a deep dir")),
])
def test_removing_a_very_deep_directory_fails_cleanly_or_works(kernel, dest, host,
                                                                whiteouts, member):
    _deep_chain(dest, 1500)
    leaked = None
    try:
        apply(kernel, build(member), dest, whiteouts=whiteouts)
    except (UnsafeArchive, CorruptContent) as e:
        assert "\n" not in str(e)
    except Exception as e:  # noqa: BLE001 -- reported below, without a 1000-frame traceback
        leaked = f"{type(e).__name__}: {e}"
    else:
        assert not (dest / "d").is_dir()
    finally:
        _remove_deep(dest)
    assert leaked is None, f"non-MinidockerError escaped apply_layer: {leaked}"
    host.assert_untouched()


def test_parent_that_is_a_file_is_rejected(kernel, dest, host):
    err = expect(build(reg("a", b"file"), reg("a/b", b"child")), kernel, dest, UnsafeArchive)
    assert "not a directory" in str(err).lower()
    assert tree(dest) == {"a": b"file"}


def test_parent_that_is_a_symlink_to_a_file_is_rejected(kernel, dest, host):
    data = build(reg("f", b"file"), sym("s", "/f"), reg("s/b", b"child"))
    expect(data, kernel, dest, UnsafeArchive)
    assert tree(dest) == {"f": b"file", "s": ("->", "/f")}
    host.assert_untouched()


# --- limits ---------------------------------------------------------------------------------

def test_max_bytes_stops_a_large_file(kernel, dest, host):
    data = build(reg("big", b"\0" * (2 * MiB)))
    err = expect(data, kernel, dest, UnsafeArchive, max_bytes=MiB)
    assert "limit" in str(err)
    assert (dest / "big").stat().st_size <= MiB


def test_max_entries_stops_many_entries(kernel, dest, host):
    data = build(*(reg(f"f{i:02}", b"x") for i in range(20)))
    err = expect(data, kernel, dest, UnsafeArchive, max_entries=10)
    assert "10 entries" in str(err)
    assert len(tree(dest)) <= 10


def test_limits_are_not_hit_by_a_layer_within_them(kernel, dest, host):
    data = build(*(reg(f"f{i}", b"x" * 100) for i in range(10)))
    result = apply(kernel, data, dest, max_bytes=len(data), max_entries=10)
    assert result.entries == 10
    assert len(tree(dest)) == 10


def test_max_bytes_counts_header_only_entries(kernel, dest, host):
    data = build(*(dir_(f"d{i:03}") for i in range(100)))
    data = data[:100 * 512] + END          # ends right after the end marker
    expect(data, kernel, dest, UnsafeArchive, max_bytes=8192)


class _Zeros:
    def __init__(self, n: int):
        self.left = n

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return b"\0" * n


def test_gzip_bomb_is_stopped_early(kernel, dest, host):
    size = 50 * MiB
    compressed = io.BytesIO()
    with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            ti = tarfile.TarInfo("bomb")
            ti.size = size
            tar.addfile(ti, _Zeros(size))
    assert len(compressed.getvalue()) < MiB
    stream = gzip.GzipFile(fileobj=io.BytesIO(compressed.getvalue()), mode="rb")
    start = time.monotonic()
    with pytest.raises(UnsafeArchive):
        apply_layer(kernel, stream, str(dest), max_bytes=8 * MiB)
    assert time.monotonic() - start < 5
    assert (dest / "bomb").stat().st_size <= 8 * MiB
    host.assert_untouched()


def test_result_size_counts_every_byte_of_the_stream(kernel, dest, host):
    data = build(reg("f", b"abc"), dir_("d"))
    result = apply(kernel, data, dest)
    assert result.entries == 2
    assert result.size == len(data)


def test_stream_is_read_to_its_end(kernel, dest, host):
    data = build(reg("f", b"abc"))
    stream = io.BytesIO(data)
    apply_layer(kernel, stream, str(dest))
    assert stream.read() == b""


# --- whiteouts: overlay mode -----------------------------------------------------------------

@root_test
def test_overlay_whiteout_becomes_char_device_0_0(kernel, dest, host):
    apply(kernel, build(dir_("etc"), reg(".wh.foo"), reg("etc/.wh.passwd")), dest)
    for p in (dest / "foo", dest / "etc" / "passwd"):
        st = os.lstat(p)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not (dest / ".wh.foo").exists()
    host.assert_untouched()


@root_test
def test_overlay_opaque_marker_sets_trusted_xattr(kernel, dest, host):
    apply(kernel, build(dir_("dir"), reg("dir/keep", b"k"), reg("dir/" + OPAQUE_MARKER)), dest)
    assert os.getxattr(dest / "dir", OPAQUE_XATTR) == b"y"
    assert tree(dest) == {"dir": "dir", "dir/keep": b"k"}


@root_test
def test_overlay_opaque_marker_through_symlink_stays_inside(kernel, dest, host):
    apply(kernel, build(sym("evil", str(host.dir)), reg("evil/" + OPAQUE_MARKER)), dest)
    assert os.getxattr(inside(dest, host.dir), OPAQUE_XATTR) == b"y"
    assert kernel.getxattr(str(host.dir), OPAQUE_XATTR) is None
    host.assert_untouched()


@pytest.mark.parametrize("name", [".wh...", "d/.wh...", ".wh..", ".wh."])
def test_whiteout_naming_no_file_is_rejected(kernel, dest, host, name):
    expect(build(reg(name)), kernel, dest, UnsafeArchive)
    host.assert_untouched()


def test_aufs_metadata_whiteout_is_ignored(kernel, dest, host):
    apply(kernel, build(reg(".wh..wh.plnk"), reg("d/.wh..wh.aufs"), reg("a", b"a")), dest)
    assert tree(dest) == {"a": b"a"}


@root_test
def test_overlay_whiteout_through_symlink_does_not_touch_host(kernel, dest, host):
    apply(kernel, build(sym("evil", str(host.dir)), reg("evil/.wh.secret")), dest)
    st = os.lstat(inside(dest, host.secret))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    host.assert_untouched()


# --- whiteouts: delete mode ---------------------------------------------------------------

def _lower(dest: Path) -> None:
    (dest / "foo").write_bytes(b"old foo")
    (dest / "dir").mkdir()
    (dest / "dir" / "old").write_bytes(b"old")


def test_delete_mode_whiteouts_remove_older_files(kernel, dest, host):
    _lower(dest)
    data = build(reg(".wh.foo"), reg("dir/new", b"new"), reg("dir/" + OPAQUE_MARKER))
    apply(kernel, data, dest, whiteouts="delete")
    assert tree(dest) == {"dir": "dir", "dir/new": b"new"}
    host.assert_untouched()


def test_delete_mode_opaque_marker_before_new_children(kernel, dest, host):
    _lower(dest)
    data = build(dir_("dir"), reg("dir/" + OPAQUE_MARKER), reg("dir/new", b"new"))
    apply(kernel, data, dest, whiteouts="delete")
    assert tree(dest) == {"foo": b"old foo", "dir": "dir", "dir/new": b"new"}


def test_delete_mode_whiteout_removes_a_directory_tree(kernel, dest, host):
    (dest / "d" / "e").mkdir(parents=True)
    (dest / "d" / "e" / "f").write_bytes(b"f")
    apply(kernel, build(reg(".wh.d")), dest, whiteouts="delete")
    assert tree(dest) == {}


def test_delete_mode_whiteout_of_symlink_removes_only_the_link(kernel, dest, host):
    os.symlink(str(host.dir), dest / "l")
    apply(kernel, build(reg(".wh.l")), dest, whiteouts="delete")
    assert tree(dest) == {}
    host.assert_untouched()


def test_delete_mode_whiteouts_through_symlinks_do_not_touch_host(kernel, dest, host):
    os.symlink(str(host.dir), dest / "evil")
    data = build(reg("evil/.wh.secret"), sym("root", "/"),
                 reg("root" + str(host.dir) + "/" + OPAQUE_MARKER))
    apply(kernel, data, dest, whiteouts="delete")
    host.assert_untouched()


def test_delete_mode_opaque_dir_removes_several_old_subdirectories(kernel, dest, host):
    for sub in ("old1", "old2"):
        (dest / "dir" / sub).mkdir(parents=True)
        (dest / "dir" / sub / "f").write_bytes(b"old")
    data = build(reg("dir/new", b"new"), reg("dir/" + OPAQUE_MARKER))
    apply(kernel, data, dest, whiteouts="delete")
    assert tree(dest) == {"dir": "dir", "dir/new": b"new"}


def test_unknown_whiteout_mode_is_refused(kernel, dest):
    with pytest.raises(ValueError):
        apply(kernel, build(reg("a")), dest, whiteouts="aufs")


# --- extended attributes -------------------------------------------------------------------

def _raw(value: bytes) -> str:
    """A PAX value that tarfile writes back as exactly these bytes."""
    return value.decode("utf-8", "surrogateescape")


def _caps(permitted: int) -> bytes:
    # struct vfs_cap_data, revision 2 with the effective flag: magic_etc, then
    # {permitted, inheritable} for the low and the high 32 capabilities
    return struct.pack("<IIIII", 0x02000001, permitted, 0, 0, 0)


@pytest.mark.parametrize("key", [
    "trusted.overlay.opaque",
    "trusted.overlay.redirect",
    "trusted.overlay.origin",
    "trusted.foo",
    "security.selinux",
    "system.posix_acl_access",
])
def test_forbidden_xattr_is_rejected(kernel, dest, host, key):
    data = build(pax(dir_("d"), **{"SCHILY.xattr." + key: "y"}))
    err = expect(data, kernel, dest, UnsafeArchive)
    assert key in str(err)
    assert kernel.getxattr(str(dest / "d"), key) is None


def test_forbidden_xattr_on_layer_root_is_rejected(kernel, dest, host):
    data = build(pax(dir_("./"), **{"SCHILY.xattr." + OPAQUE_XATTR: "y"}))
    expect(data, kernel, dest, UnsafeArchive)
    assert kernel.getxattr(str(dest), OPAQUE_XATTR) is None


def test_user_xattr_is_applied(kernel, dest, host):
    data = build(pax(reg("f", b"x"), **{"SCHILY.xattr.user.foo": _raw(b"b\x00a\xffr")}),
                 pax(dir_("d"), **{"SCHILY.xattr.user.bar": "baz"}))
    apply(kernel, data, dest)
    assert os.getxattr(dest / "f", "user.foo") == b"b\x00a\xffr"
    assert os.getxattr(dest / "d", "user.bar") == b"baz"


@root_test
def test_file_capability_is_applied(kernel, dest, host):
    caps = _caps(1 << 7 | 1 << 10)         # CAP_SETUID | CAP_NET_BIND_SERVICE; has a 0x80 byte
    data = build(pax(reg("ping", b"\x7fELF", mode=0o755),
                     **{"SCHILY.xattr.security.capability": _raw(caps)}))
    apply(kernel, data, dest)
    assert os.getxattr(dest / "ping", "security.capability") == caps


# --- metadata ----------------------------------------------------------------------------

@root_test
def test_setuid_bit_is_preserved_on_root_owned_file(kernel, dest, host):
    apply(kernel, build(reg("su", b"x", mode=0o4755), dir_("shared", mode=0o3777)), dest)
    assert stat.S_IMODE(os.lstat(dest / "su").st_mode) == 0o4755
    assert os.lstat(dest / "su").st_uid == 0
    assert stat.S_IMODE(os.lstat(dest / "shared").st_mode) == 0o3777


@root_test
def test_ownership_is_applied(kernel, dest, host):
    data = build(reg("f", b"x", mode=0o6750, uid=1234, gid=5678), dir_("d", uid=1234, gid=5678),
                 sym("s", "f", uid=1234, gid=5678), node("p", tarfile.FIFOTYPE),
                 pax(reg("big"), uid="3000000", gid="3000001"))
    apply(kernel, data, dest)
    for name in ("f", "d", "s"):
        st = os.lstat(dest / name)
        assert (st.st_uid, st.st_gid) == (1234, 5678), name
    # set-id bits survive the chown because the mode is applied after it
    assert stat.S_IMODE(os.lstat(dest / "f").st_mode) == 0o6750
    assert (os.lstat(dest / "p").st_uid, os.lstat(dest / "p").st_gid) == (0, 0)
    assert (os.lstat(dest / "big").st_uid, os.lstat(dest / "big").st_gid) == (3000000, 3000001)


def test_mtimes_of_files_dirs_and_symlinks_are_restored(kernel, dest, host):
    data = build(
        dir_("./", mtime=900_000_000),
        dir_("d", mtime=1_000_000_000),
        dir_("d/e", mtime=1_100_000_000),
        reg("d/e/f", b"x", mtime=1_200_000_000),
        sym("d/l", "e", mtime=1_300_000_000),
        node("d/p", tarfile.FIFOTYPE),
        reg("d/e/g", b"y", mtime=1_400_000_000),   # written after d/e's own entry
        pax(reg("frac", b"z"), mtime="1234567890.25"),
    )
    apply(kernel, data, dest)
    ns = 10**9
    assert os.lstat(dest).st_mtime_ns == 900_000_000 * ns
    assert os.lstat(dest / "d").st_mtime_ns == 1_000_000_000 * ns
    assert os.lstat(dest / "d" / "e").st_mtime_ns == 1_100_000_000 * ns
    assert os.lstat(dest / "d" / "e" / "f").st_mtime_ns == 1_200_000_000 * ns
    assert os.lstat(dest / "d" / "l").st_mtime_ns == 1_300_000_000 * ns
    assert os.lstat(dest / "d" / "e" / "g").st_mtime_ns == 1_400_000_000 * ns
    assert os.lstat(dest / "frac").st_mtime_ns == 1_234_567_890_250_000_000


def test_negative_fractional_pax_mtime(kernel, dest, host):
    apply(kernel, build(pax(reg("a"), mtime="-1.5"), pax(reg("b"), mtime="-0.5")), dest)
    assert os.lstat(dest / "a").st_mtime_ns == -1_500_000_000
    assert os.lstat(dest / "b").st_mtime_ns == -500_000_000


def test_root_entry_sets_layer_root_metadata(kernel, dest, host):
    apply(kernel, build(dir_(".", mode=0o751), reg("./a", b"a")), dest)
    assert stat.S_IMODE(os.lstat(dest).st_mode) == 0o751
    assert tree(dest) == {"a": b"a"}


# --- writing and round trips ----------------------------------------------------------------

def _make_tree(src: Path) -> None:
    src.mkdir()
    (src / "a.txt").write_bytes(b"hello\n")
    (src / "a.txt").chmod(0o644)
    (src / "bin").mkdir(mode=0o755)
    (src / "bin" / "tool").write_bytes(b"#!/bin/sh\necho hi\n")
    (src / "bin" / "tool").chmod(0o4755)
    (src / "owned").write_bytes(b"mine")
    os.chown(src / "owned", 1234, 5678)
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "sub" / "deeper" / "empty").write_bytes(b"")
    (src / "sub").chmod(0o750)
    os.symlink("a.txt", src / "link")
    os.symlink("/etc/passwd", src / "sub" / "abs")
    os.link(src / "a.txt", src / "hl")
    os.mkfifo(src / "pipe", 0o640)
    os.mknod(src / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    (src / "opq").mkdir()
    (src / "opq" / "kept").write_bytes(b"kept")
    os.setxattr(src / "opq", OPAQUE_XATTR, b"y")
    (src / "nul").write_bytes(bytes(range(256)) * 20)
    # integer mtimes (the layer stores whole seconds), children before parents
    paths = sorted(src.rglob("*"), key=lambda p: len(p.parts), reverse=True)
    for i, p in enumerate(paths):
        t = (1_600_000_000 + i) * 10**9
        os.utime(p, ns=(t, t), follow_symlinks=False)


def _describe(root: Path) -> dict[str, tuple]:
    out = {}
    inodes: dict[int, list[str]] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        st = p.lstat()
        mode = st.st_mode
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            out[rel] = ("whiteout",)
            continue
        extra: object = None
        if stat.S_ISLNK(mode):
            extra = os.readlink(p)
        elif stat.S_ISREG(mode):
            extra = p.read_bytes()
            inodes.setdefault(st.st_ino, []).append(rel)
        elif stat.S_ISDIR(mode):
            extra = os.getxattr(p, OPAQUE_XATTR) if OPAQUE_XATTR in os.listxattr(p) else None
        out[rel] = (stat.S_IFMT(mode), stat.S_IMODE(mode), st.st_uid, st.st_gid,
                    st.st_mtime_ns, extra)
    out["<hardlinks>"] = tuple(sorted(tuple(v) for v in inodes.values() if len(v) > 1))
    return out


@root_test
def test_round_trip_preserves_tree_and_is_deterministic(kernel, tmp_path, dest, host):
    host.siblings.add("src")
    src = tmp_path / "src"
    _make_tree(src)
    first, second = io.BytesIO(), io.BytesIO()
    n = write_layer(kernel, str(src), first)
    write_layer(kernel, str(src), second)
    assert first.getvalue() == second.getvalue()
    names = tarfile.open(fileobj=io.BytesIO(first.getvalue())).getnames()
    assert ".wh.gone" in names and "opq/" + OPAQUE_MARKER in names
    assert n == len(names)

    result = apply(kernel, first.getvalue(), dest)
    assert result.entries == n
    assert _describe(dest) == _describe(src)
    assert _describe(dest)["<hardlinks>"] == (("a.txt", "hl"),)
    host.assert_untouched()


@root_test
def test_round_trip_in_delete_mode_flattens_whiteouts(kernel, tmp_path, dest, host):
    host.siblings.add("src")
    src = tmp_path / "src"
    _make_tree(src)
    out = io.BytesIO()
    write_layer(kernel, str(src), out)
    (dest / "gone").write_bytes(b"from a lower layer")
    (dest / "opq").mkdir()
    (dest / "opq" / "lower").write_bytes(b"hidden by opaque")
    apply(kernel, out.getvalue(), dest, whiteouts="delete")
    got = tree(dest)
    assert "gone" not in got and "opq/lower" not in got
    assert got["opq/kept"] == b"kept"
    assert kernel.getxattr(str(dest / "opq"), OPAQUE_XATTR) is None


@root_test
def test_round_trip_keeps_plain_file_capability(kernel, tmp_path, dest, host):
    host.siblings.add("src")
    src = tmp_path / "src"
    src.mkdir()
    caps = _caps(1 << 10)                 # CAP_NET_BIND_SERVICE: every byte < 0x80
    (src / "bin").write_bytes(b"x")
    os.setxattr(src / "bin", "security.capability", caps)
    out = io.BytesIO()
    write_layer(kernel, str(src), out)
    apply(kernel, out.getvalue(), dest)
    assert os.getxattr(dest / "bin", "security.capability") == caps


@root_test
def test_round_trip_keeps_file_capability_with_high_bytes(kernel, tmp_path, dest, host):
    host.siblings.add("src")
    src = tmp_path / "src"
    src.mkdir()
    caps = _caps(1 << 7)                  # CAP_SETUID: permitted low byte is 0x80
    (src / "bin").write_bytes(b"x")
    os.setxattr(src / "bin", "security.capability", caps)
    out = io.BytesIO()
    write_layer(kernel, str(src), out)
    apply(kernel, out.getvalue(), dest)
    assert os.getxattr(dest / "bin", "security.capability") == caps

"""Layers: apply a layer tar to a directory safely, and write a layer tar from one.

Applying (``apply_layer``) is where hostile input meets the host filesystem,
so every path is resolved here as if chrooted into the layer root: ``..``
stops at the root, absolute symlinks point back into the root, and a
directory is entered with ``O_NOFOLLOW`` one component at a time, so nothing
outside the root is ever touched. Docker reaches the same guarantee by
extracting inside a chrooted helper; resolving in userspace gives it without
a fork or root, on descriptors the kernel cannot swap under us.

As root, in overlay mode and into an empty directory, ``apply_layer`` hands
the entries it has checked to a GNU ``tar -x`` child (``tarpipe``), so that
two cores share the work; ``_Applier`` takes over at the first entry whose
safety would depend on that resolution (a path through a symlink, a
replacement, a whiteout, ...).

Two whiteout modes:

* ``overlay``: OCI whiteouts become overlayfs's own form (``.wh.name`` → a
  character device 0/0, ``.wh..wh..opq`` → ``trusted.overlay.opaque=y``), so
  the directory can serve as one ``lowerdir`` among others.
* ``delete``: whiteouts delete what earlier layers put there, flattening a
  stack of layers into one directory (export, tools).

Writing (``write_layer``) turns an overlay upperdir back into an OCI layer:
char 0/0 → ``.wh.name``, opaque directories → ``.wh..wh..opq``; entries are
sorted and headers carry no user or group names, so the same tree always
gives the same bytes and the same digest.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import stat
from dataclasses import dataclass

from .. import config
from ..errors import MinidockerError, UnsafeArchive
from ..kernel.base import OVERLAY_OPAQUE_XATTR, Kernel
from ..fsroot import Root, rmtree_at
from . import tarstream as ts

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from typing import BinaryIO, Callable, Iterator

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# A layer may carry only file capabilities and user.* xattrs: trusted.overlay.*
# would let it forge whiteouts, opaque dirs or redirects in the overlay stack.
_COPY_CHUNK = 1 << 20


@dataclass
class ApplyResult:
    entries: int
    size: int          # bytes of the uncompressed tar stream


def _clean_name(name: str) -> tuple[str, ...]:
    """Split an entry name into components inside the root; reject escapes."""
    if ".." not in name:  # the common case: nothing can climb, so only drop "", "." parts
        parts = name.split("/")
        if "" in parts or "." in parts:
            return tuple([p for p in parts if p and p != "."])
        return tuple(parts)
    if _escapes(name.lstrip("/")):
        raise UnsafeArchive(f"tar entry {name!r} escapes the layer root")
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    return tuple(p for p in cleaned.split("/") if p and p != ".")


def _escapes(name: str) -> bool:
    depth = 0
    for part in name.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _remove(root: Root, parent: int, name: str, keep_dir: bool = False) -> bool:
    """Remove ``name`` in ``parent`` if present; returns whether a directory was kept."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return True
        rmtree_at(parent, name)
        root.forget()
    else:
        os.unlink(name, dir_fd=parent)
        if stat.S_ISLNK(st.st_mode):
            root.forget()
    return False


class _Applier:
    def __init__(self, kernel: Kernel, dest: str, whiteouts: str, allow_devices: bool):
        if whiteouts not in ("overlay", "delete"):
            raise ValueError(f"whiteouts must be 'overlay' or 'delete', not {whiteouts!r}")
        self.k = kernel
        self.root = Root(dest)
        self.mode = whiteouts
        self.allow_devices = allow_devices
        self.owner = kernel.privileged
        self.dir_times: dict[tuple[str, ...], int] = {}  # the last entry's mtime wins
        self.umask = os.umask(0o022)
        os.umask(self.umask)
        self.unpacked: set[tuple[str, ...]] = set()  # delete mode: what this layer made

    def apply(self, reader: ts.TarReader, entries: Iterator[ts.Entry]) -> None:
        for entry in entries:
            parts = _clean_name(entry.name)
            if parts and parts[0].startswith(WHITEOUT_PREFIX * 2) and parts[0] != OPAQUE_MARKER:
                continue  # AUFS metadata such as .wh..wh.plnk/: skipped, as Docker does
            self.entry(reader, entry, parts)
        self.root.release()
        for parts, mtime in self.dir_times.items():
            try:
                fd = self.root.dir(parts, create=False)
            except OSError:
                continue  # removed by a later entry
            os.utime(fd, ns=(mtime, mtime))

    def entry(self, reader: ts.TarReader, entry: ts.Entry, parts: tuple[str, ...]) -> None:
        """Apply one entry, named ``parts`` inside the root."""
        self.root.release()
        try:
            self._entry(reader, entry, parts)
        except MinidockerError:
            raise
        except OSError as e:
            raise UnsafeArchive(f"cannot apply tar entry {entry.name!r}: "
                                f"{e.strerror or e}") from None
        except (OverflowError, ValueError) as e:
            raise UnsafeArchive(f"cannot apply tar entry {entry.name!r}: {e}") from None

    def close(self) -> None:
        self.root.close()

    def _entry(self, reader: ts.TarReader, e: ts.Entry, parts: tuple[str, ...]) -> None:
        if not parts:  # the root itself ("./")
            if e.type == ts.DIRECTORY:
                self._metadata(self.root.fd, e)
                self.dir_times[()] = e.mtime_ns
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts)
            return
        parent = self.root.dir(parts[:-1])
        if self.mode == "delete":
            self.unpacked.add(parts)
        if e.type == ts.REGULAR:
            self._regular(reader, parent, base, e)
        elif e.type == ts.DIRECTORY:
            if not _remove(self.root, parent, base, keep_dir=True):
                os.mkdir(base, 0o700, dir_fd=parent)
            fd = self.root.dir(parts)
            self._metadata(fd, e)
            self.dir_times[parts] = e.mtime_ns
        elif e.type == ts.SYMLINK:
            _remove(self.root, parent, base)
            os.symlink(e.linkname, base, dir_fd=parent)
            if self.owner:
                self.k.chown(base, e.uid, e.gid, dir_fd=parent, follow_symlinks=False)
            os.utime(base, ns=(e.mtime_ns, e.mtime_ns), dir_fd=parent, follow_symlinks=False)
        elif e.type == ts.HARDLINK:
            self._hardlink(parent, base, e)
        elif e.type == ts.FIFO:
            _remove(self.root, parent, base)
            os.mkfifo(base, 0o600, dir_fd=parent)
            self._metadata_at(parent, base, e)
        elif e.type in (ts.CHAR, ts.BLOCKDEV):
            if not (self.allow_devices and self.k.privileged):
                raise UnsafeArchive(f"tar entry {e.name!r} is a device node; layers may not "
                                    "create devices unless explicitly allowed")
            _remove(self.root, parent, base)
            kind = stat.S_IFCHR if e.type == ts.CHAR else stat.S_IFBLK
            self.k.mknod(base, kind | 0o600, os.makedev(e.devmajor, e.devminor), dir_fd=parent)
            self._metadata_at(parent, base, e)

    def _regular(self, reader, parent, base, e) -> None:
        # Most files (0644, 0755 under umask 022) can be created with their final
        # mode, which saves an fchmod; set-id bits must wait until after fchown.
        final = not (e.mode & (0o7000 | self.umask))
        create_mode = e.mode if final else 0o600
        try:
            fd = os.open(base, _FILE_FLAGS, create_mode, dir_fd=parent)
        except FileExistsError:
            _remove(self.root, parent, base)
            fd = os.open(base, _FILE_FLAGS, create_mode, dir_fd=parent)
        try:
            if e.size:
                while chunk := reader.read(_COPY_CHUNK):
                    os.write(fd, chunk)
            self._metadata(fd, e, chmod=not final)
        finally:
            os.close(fd)

    def _hardlink(self, parent, base, e) -> None:
        target = _clean_name(e.linkname)
        if not target:
            raise UnsafeArchive(f"hard link {e.name!r} points at the layer root")
        tparent = self.root.dir(target[:-1], create=False)
        try:
            tst = os.stat(target[-1], dir_fd=tparent, follow_symlinks=False)
        except FileNotFoundError:
            raise UnsafeArchive(f"hard link {e.name!r} points at {e.linkname!r}, "
                                "which is not in this layer") from None
        if stat.S_ISDIR(tst.st_mode):
            raise UnsafeArchive(f"hard link {e.name!r} points at a directory")
        _remove(self.root, parent, base)
        os.link(target[-1], base, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)

    def _metadata(self, fd: int, e: ts.Entry, chmod: bool = True) -> None:
        if self.owner:
            self.k.chown(fd, e.uid, e.gid)
        if chmod:
            os.chmod(fd, e.mode)  # after chown, which clears set-id bits
        for key, value in e.xattrs.items():
            self._xattr(fd, key, value, e.name)
        os.utime(fd, ns=(e.mtime_ns, e.mtime_ns))

    def _metadata_at(self, parent: int, base: str, e: ts.Entry) -> None:
        if self.owner:
            self.k.chown(base, e.uid, e.gid, dir_fd=parent, follow_symlinks=False)
        os.chmod(base, e.mode, dir_fd=parent)
        os.utime(base, ns=(e.mtime_ns, e.mtime_ns), dir_fd=parent)

    def _xattr(self, fd: int, key: str, value: bytes, name: str) -> None:
        if not (key == "security.capability" or key.startswith("user.")):
            raise UnsafeArchive(f"tar entry {name!r} sets extended attribute {key!r}, "
                                "which a layer may not set")
        if key.startswith("security.") and not self.owner:
            return  # only root may set file capabilities
        self.k.setxattr(fd, key, value)

    def _whiteout(self, parts: tuple[str, ...]) -> None:
        base = parts[-1]
        parent_parts = parts[:-1]
        if base == OPAQUE_MARKER:
            fd = self.root.dir(parent_parts)
            if self.mode == "overlay":
                self.k.setxattr(fd, OVERLAY_OPAQUE_XATTR, b"y")
            else:
                self._delete_older_children(parent_parts, fd)
            return
        if base.startswith(WHITEOUT_PREFIX * 2):
            return  # other AUFS metadata (.wh..wh.plnk, ...): meaningless here, as in Docker
        victim = base[len(WHITEOUT_PREFIX):]
        if victim in ("", ".", ".."):
            raise UnsafeArchive(f"whiteout {'/'.join(parts)!r} names no file")
        parent = self.root.dir(parent_parts)
        _remove(self.root, parent, victim)
        if self.mode == "overlay":
            self.k.mknod(victim, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)

    def _delete_older_children(self, parent_parts, fd) -> None:
        for name in os.listdir(fd):
            if parent_parts + (name,) not in self.unpacked:
                _remove(self.root, fd, name)


def apply_layer(kernel: Kernel, stream: BinaryIO, dest: str, *, whiteouts: str = "overlay",
                allow_devices: bool = False, max_bytes: int | None = None,
                max_entries: int | None = None) -> ApplyResult:
    """Apply the uncompressed layer tar ``stream`` to directory ``dest``.

    On error ``dest`` is left partly written: callers apply into a staging
    directory and discard it (``snapshot``/``store`` do).
    """
    reader = ts.TarReader(stream, max_bytes=max_bytes or config.MAX_LAYER_BYTES,
                          max_entries=max_entries or config.MAX_LAYER_ENTRIES)
    applier = _Applier(kernel, dest, whiteouts, allow_devices)
    try:
        entries: Iterator[ts.Entry] = iter(reader)
        tar = _tar_for(kernel, dest, whiteouts)
        if tar:
            entries = _apply_with_tar(tar, reader, entries, dest, applier)
        applier.apply(reader, entries)
        reader.drain()
    finally:
        applier.close()
    return ApplyResult(entries=reader.entries, size=reader.total)


def _tar_for(kernel: Kernel, dest: str, whiteouts: str) -> str | None:
    """GNU tar, when the layer may be applied through it (see ``tarpipe``)."""
    # Only the plain Linux kernel: a TracingKernel must see (and may fail) every
    # chown, and the delete mode works on a tree that is not empty.
    if whiteouts != "overlay" or not kernel.delegates_to_host_tools or os.geteuid() != 0:
        return None
    with os.scandir(dest) as it:
        if next(it, None) is not None:
            return None
    from . import tarpipe  # subprocess and friends: only for applying a layer
    return tarpipe.gnu_tar()


def _apply_with_tar(tar: str, reader: ts.TarReader, entries: Iterator[ts.Entry], dest: str,
                    applier: _Applier) -> Iterator[ts.Entry]:
    """Feed entries to a tar child until one needs ``_Applier``; the entries left."""
    try:
        from . import tarpipe
        feed = tarpipe.TarFeed(tar, dest, applier.umask, applier.entry)
    except OSError:
        return entries  # tar cannot be started (no memory for a process, ...): all in userspace
    try:
        try:
            refused = tarpipe.feed_until_refused(feed, reader, entries, _clean_name)
        except BaseException:
            feed.abort()
            raise
        feed.finish()
    finally:
        feed.close()
    if refused is None:
        return iter(())
    applier.dir_times.update(feed.dir_times)  # tar set them, but later entries may touch them
    return itertools.chain([refused], entries)


# -- writing ---------------------------------------------------------------

def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo:
    import tarfile  # only writing needs it, and it takes longer to import than the rest

    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    return ti


def write_layer(kernel: Kernel, src: str, out: BinaryIO, *,
                progress: Callable[[int], None] | None = None) -> int:
    """Write directory ``src`` (an overlay upperdir or a plain tree) as a layer tar.

    Overlay whiteouts become OCI whiteouts. Returns the number of entries.
    """
    import tarfile

    count = 0
    seen_inodes: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        def add(ti, data=None):
            nonlocal count
            tar.addfile(ti, data)
            count += 1
            if progress:
                progress(ti.size)

        def walk(rel: str, path: str) -> None:
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                arc = f"{rel}{name}"
                st = kernel.lstat(full)  # the simulator keeps whiteouts and owners its own way
                mode = st.st_mode
                if stat.S_ISCHR(mode) and st.st_rdev == 0:
                    ti = _tarinfo(f"{rel}{WHITEOUT_PREFIX}{name}", st)
                    ti.mode, ti.uid, ti.gid = 0, 0, 0
                    add(ti)
                    continue
                ti = _tarinfo(arc, st)
                caps = kernel.getxattr(full, "security.capability", follow_symlinks=False) \
                    if not stat.S_ISLNK(mode) else None
                if caps is not None:
                    # tarfile writes PAX values as UTF-8; surrogateescape keeps raw bytes raw.
                    ti.pax_headers["SCHILY.xattr.security.capability"] = caps.decode("utf-8", "surrogateescape")
                if stat.S_ISDIR(mode):
                    ti.type = tarfile.DIRTYPE
                    ti.name = arc + "/"
                    add(ti)
                    if kernel.getxattr(full, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y":
                        marker = _tarinfo(f"{arc}/{OPAQUE_MARKER}", st)
                        marker.mode, marker.uid, marker.gid = 0, 0, 0
                        add(marker)
                    walk(arc + "/", full)
                elif stat.S_ISLNK(mode):
                    ti.type = tarfile.SYMTYPE
                    ti.linkname = os.readlink(full)
                    add(ti)
                elif stat.S_ISREG(mode):
                    key = (st.st_dev, st.st_ino)
                    if st.st_nlink > 1 and key in seen_inodes:
                        ti.type = tarfile.LNKTYPE
                        ti.linkname = seen_inodes[key]
                        add(ti)
                        continue
                    seen_inodes[key] = arc
                    ti.size = st.st_size
                    with open(full, "rb") as f:
                        add(ti, f)
                elif stat.S_ISFIFO(mode):
                    ti.type = tarfile.FIFOTYPE
                    add(ti)
                elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                    ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                    ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                    add(ti)
                # sockets are not archived, as in GNU tar

        walk("", src)
    return count

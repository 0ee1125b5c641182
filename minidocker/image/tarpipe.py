"""Applying a layer with GNU tar alongside: a validating front-end feeding ``tar -x``.

Applying a layer in Python alone costs about 12 µs of interpreter time per
entry on top of the kernel's work, all on one core. Here the work is split
over two processes: this front-end parses and checks every entry with
``tarstream`` (so limits, truncation and digests behave exactly as in
``layer._Applier``), writes the large files itself through ``_Applier``, and
streams everything else, re-written, into a GNU ``tar -x`` child, which
creates the many small files, directories and links on the other core.

Only what tar and ``_Applier`` are known to do identically goes to tar, and
only into an empty directory, so the safety argument does not rest on tar's
own defences:

* tar never sees the input's headers: each entry it gets was parsed by
  ``tarstream`` and written again here (GNU format, cleaned name, no PAX), so
  no field can mean one thing to us and another to tar;
* every name is cleaned (no ``..``, no leading ``/``) and each of its parent
  directories was made by this archive as a directory: no path can pass
  through a symlink, a file or anything that was there before;
* nothing is replaced: a second entry for a non-directory path, or a
  non-directory over a directory, is not sent;
* hard links must point at a regular file this archive made.

Anything else (whiteouts, xattrs, devices, names with ``..``, replacements,
paths through symlinks, sub-second or out-of-range numbers, very long names)
ends the tar part: tar finishes what it has, and ``_Applier`` applies the rest
of the stream onto the tree tar left, with its userspace resolution.

The tree is the one ``_Applier`` alone makes (test_layer_tarpipe.py compares
them), except for access times: tar leaves them at the time of extraction,
``_Applier`` sets them to the mtime.
"""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator

from ..errors import UnsafeArchive
from . import tarstream as ts

# ustar fields with GNU's magic: name mode uid gid size mtime chksum typeflag
# linkname magic+version uname gname devmajor devminor (and padding)
_GNU = struct.Struct("100s8s8s8s12s12s8s1s100s8s32s32s8s8s")
_TAIL = bytes(ts.BLOCK - _GNU.size)
_OCTAL_7 = 8 ** 7       # largest value + 1 of an 8-byte octal field
_OCTAL_11 = 8 ** 11     # of a 12-byte one
_NS = 1_000_000_000
_TYPES = {ts.REGULAR: b"0", ts.HARDLINK: b"1", ts.SYMLINK: b"2", ts.DIRECTORY: b"5",
          ts.FIFO: b"6"}
_FLUSH = 256 << 10      # batch small entries into pipe writes of this size
_PIPE_SIZE = 1 << 20
_IOV_MAX = 1024
_SELF_MIN = 64 << 10    # regular files this large are written by the front-end itself
_PAD = [bytes(n) for n in range(ts.BLOCK)]
# Longest path handed to tar: tar opens whole paths, _Applier goes one
# directory at a time and has no PATH_MAX limit.
_MAX_PATH = 3072
_TAR_ENV = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

EntryWriter = "Callable[[ts.TarReader, ts.Entry, tuple[str, ...]], None]"  # typing is not imported at run time

_tar_path: str | None | bool = False   # False: not looked up yet


def gnu_tar() -> str | None:
    """The path of GNU tar, or None when there is none (looked up once per process)."""
    global _tar_path
    if _tar_path is False:
        _tar_path = None
        # shutil.which would cost more to import than the whole search.
        for d in _TAR_ENV["PATH"].split(":"):
            path = os.path.join(d, "tar")
            if os.access(path, os.X_OK):
                break
        else:
            return None
        try:
            out = subprocess.run([path, "--version"], capture_output=True, env=_TAR_ENV,
                                 timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            out = b""
        if out.startswith(b"tar (GNU tar) "):
            _tar_path = path
    return _tar_path


def _header(name: bytes, type_: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
            link: bytes) -> bytes:
    block = _GNU.pack(name, b"%07o\0" % mode, b"%07o\0" % uid, b"%07o\0" % gid,
                      b"%011o\0" % size, b"%011o\0" % mtime, b"        ", type_, link,
                      b"ustar  \0", b"", b"", b"", b"")
    return b"%s%06o\0 %s%s" % (block[:148], ts.byte_sum(block), block[156:], _TAIL)


def _long(type_: bytes, value: bytes) -> bytes:
    """A GNU long name (L) or long link (K) header with its padded payload."""
    size = len(value) + 1
    return (_header(b"././@LongLink", type_, 0o644, 0, 0, size, 0, b"")
            + value + bytes(1 + -size % ts.BLOCK))


class TarFeed:
    """One ``tar -x`` child extracting into ``dest``, fed entry by entry."""

    def __init__(self, tar: str, dest: str, umask: int, write: EntryWriter):
        # tar's messages go to a file, not a pipe: a pipe could fill while we wait to write.
        self._err = os.fdopen(os.memfd_create("tar-stderr", os.MFD_CLOEXEC), "w+b")
        # Directories tar makes for missing parents get 0777 & ~umask, those
        # _Applier makes 0755 & ~umask: the same with group/other write masked.
        # Without --delay-directory-restore tar sets a directory's mtime when it
        # leaves the directory, and a later entry inside would change it again.
        # Records of _PIPE_SIZE: tar's default of 10 KiB costs it a read and a
        # wake-up for every 10 KiB that crosses the pipe.
        try:
            self.proc = subprocess.Popen(
                [tar, "-x", "-f", "-", f"--blocking-factor={_PIPE_SIZE // ts.BLOCK}",
                 "--numeric-owner", "--same-owner", "--same-permissions",
                 "--delay-directory-restore", "--no-xattrs", "--no-acls", "--no-selinux"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err, cwd=dest,
                env=_TAR_ENV, umask=umask | 0o022)
        except BaseException:
            self._err.close()
            raise
        self._fd = self.proc.stdin.fileno()
        try:
            fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass  # a smaller pipe only means more context switches
        self._write_self = write
        self._out: list[bytes] = []   # pieces queued for the next writev
        self._queued = 0
        self.dirs: set[str] = {""}         # made by this archive as directories
        self.others: dict[str, str] = {}   # every other path it made: its type
        # The last mtime of each directory entry, for _Applier if it takes over.
        self.dir_times: dict[tuple[str, ...], int] = {}

    def feed(self, reader: ts.TarReader, e: ts.Entry, parts: tuple[str, ...]) -> bool:
        """Send entry ``e`` (named ``parts``) with its data to tar, or return False."""
        type_ = _TYPES.get(e.type)
        mtime, frac = divmod(e.mtime_ns, _NS)
        if (type_ is None or e.xattrs or frac or not 0 <= mtime < _OCTAL_11
                or e.uid >= _OCTAL_7 or e.gid >= _OCTAL_7 or e.size >= _OCTAL_11):
            return False
        new_dirs = ()
        if not parts:  # the root itself
            if e.type != ts.DIRECTORY:
                return True  # _Applier ignores it too
            path = "."
        else:
            if parts[-1].startswith(".wh.") or parts[0].startswith(".wh..wh."):
                return False
            path = "/".join(parts)
            if path in self.others or (e.type != ts.DIRECTORY and path in self.dirs):
                return False
            parent = path.rpartition("/")[0]
            if parent not in self.dirs:
                new_dirs = []
                while parent not in self.dirs:
                    if parent in self.others:
                        return False
                    new_dirs.append(parent)
                    parent = parent.rpartition("/")[0]
        name = path.encode("utf-8", "surrogateescape")
        if len(name) > 255 and (len(name) > _MAX_PATH or any(
                len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts)):
            return False
        link = b""
        if e.type == ts.HARDLINK:
            if ".." in e.linkname:
                return False
            target = "/".join(p for p in e.linkname.split("/") if p and p != ".")
            if self.others.get(target) != ts.REGULAR:
                return False
            link = target.encode("utf-8", "surrogateescape")
        elif e.type == ts.SYMLINK:
            link = e.linkname.encode("utf-8", "surrogateescape")

        self.dirs.update(new_dirs)
        if e.type == ts.DIRECTORY:
            self.dirs.add(path)
            self.dir_times[parts] = e.mtime_ns
        else:
            # A hard link's inode is a regular file: it may be linked again.
            self.others[path] = ts.REGULAR if e.type == ts.HARDLINK else e.type
        if e.type == ts.REGULAR and e.size >= _SELF_MIN:
            # Large files are written here, while tar works through the small ones
            # (those queued so far go first): their bytes need not cross the pipe,
            # and both cores get work.
            self._flush()
            self._write_self(reader, e, parts)
            return True
        out = self._out
        if len(name) > 100:
            out.append(_long(b"L", name))
        if len(link) > 100:
            out.append(_long(b"K", link))
        size = e.size  # below _SELF_MIN
        out.append(_header(name[:100], type_, e.mode, e.uid, e.gid, size, mtime, link[:100]))
        if size:
            out.append(reader.read(size))
            if size % ts.BLOCK:
                out.append(_PAD[-size % ts.BLOCK])
        self._queued += ts.BLOCK + size
        if self._queued >= _FLUSH or len(out) >= _IOV_MAX - 4:
            self._flush()
        return True

    def _flush(self) -> None:
        """Write the queued pieces in one ``writev`` (no copy into a buffer)."""
        out = self._out
        if not out:
            return
        try:
            n = os.writev(self._fd, out)
            total = sum(map(len, out))
            if n < total:  # only when a signal interrupts a blocking pipe write
                rest = memoryview(b"".join(out))[n:]
                while rest:
                    rest = rest[os.write(self._fd, rest):]
        except BrokenPipeError:  # tar is gone: its own message says why
            self.proc.wait()
            raise UnsafeArchive(f"cannot apply layer: {self._error()}") from None
        out.clear()
        self._queued = 0

    def finish(self) -> None:
        """End the archive, wait for tar, and raise if it failed."""
        self._out.append(bytes(2 * ts.BLOCK))
        self._flush()
        self.proc.stdin.close()
        if self.proc.wait() != 0:
            raise UnsafeArchive(f"cannot apply layer: {self._error()}")

    def _error(self) -> str:
        self._err.seek(0)
        lines = self._err.read(4096).decode("utf-8", "replace").splitlines()
        errors = [ln for ln in lines if ln and "Exiting with failure status" not in ln]
        return (errors or [f"tar exited with status {self.proc.returncode}"])[0]

    def abort(self) -> None:
        """After an error on our side: let tar write out what it got, as _Applier would have."""
        try:
            self._flush()
        except UnsafeArchive:
            pass
        self.close()

    def close(self) -> None:
        """Close tar's input and wait for it (it stops at the end of its input)."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()
        self._err.close()


def feed_until_refused(feed: TarFeed, reader: ts.TarReader, entries: Iterator[ts.Entry],
                       clean) -> ts.Entry | None:
    """Feed entries (named by ``clean(entry.name)``) to tar until one is refused; that one."""
    for e in entries:
        if not feed.feed(reader, e, clean(e.name)):
            return e
    return None

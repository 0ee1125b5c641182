"""Paths inside a directory tree, resolved as if the tree were the root.

A layer being applied, a container's rootfs before ``pivot_root``: in both,
a path named by untrusted input (a tar entry, ``-w``, ``-v HOST:CTR``) must
land inside the tree even when the tree holds symlinks pointing anywhere.
``Root`` walks one component at a time with ``O_NOFOLLOW``, follows symlinks
itself with chroot semantics (absolute targets restart at the tree's root,
``..`` stops there) and hands out directory descriptors, so nothing outside
the tree is ever opened and nothing can be swapped in between check and use.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import deque

MAX_SYMLINK_HOPS = 40
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def split(path: str) -> tuple[str, ...]:
    """Components of ``path`` relative to the root (no "", "." entries)."""
    return tuple(p for p in path.split("/") if p and p != ".")


class Root:
    """A directory tree entered only by descriptors, resolving paths as if chrooted.

    ``fs`` performs the calls: ``os`` for the host's files, ``kernel.fs`` for a
    container's own process (the simulated kernel has its own descriptors).
    """

    def __init__(self, path: str, fs=os):
        self.fs = fs
        self.fd = fs.open(path, DIR_FLAGS)
        self._cache: dict[tuple[str, ...], int] = {}
        self._retired: list[int] = []

    def close(self) -> None:
        self.forget()
        self.release()
        self.fs.close(self.fd)

    def forget(self) -> None:
        """Drop cached directory descriptors (after a directory or symlink is replaced).

        They are closed only by ``release``, between entries, because the
        entry being applied may still hold one of them.
        """
        self._retired.extend(self._cache.values())
        self._cache.clear()

    def release(self) -> None:
        for fd in self._retired:
            self.fs.close(fd)
        self._retired.clear()

    def dir(self, parts: tuple[str, ...], create: bool = True) -> int:
        """A descriptor of directory ``parts``, resolved inside the root.

        Missing directories are created (tar archives may omit parents).
        """
        if not parts:
            return self.fd
        fd = self._cache.get(parts)
        if fd is None:
            fd = self._resolve(parts, create)
            if len(self._cache) >= 512:
                self.forget()
            self._cache[parts] = fd
        return fd

    def _resolve(self, parts: tuple[str, ...], create: bool) -> int:
        # Only the current directory is held open, with its depth below the
        # root: ".." re-opens the real parent (every step was entered with
        # O_NOFOLLOW) and stops at depth 0, as in a chroot.
        fs = self.fs
        pending = deque(parts)
        cur, depth, hops = fs.dup(self.fd), 0, 0
        try:
            while pending:
                name = pending.popleft()
                if name in ("", "."):
                    continue
                if name == "..":
                    if depth:
                        cur = _step(fs, cur, "..")
                        depth -= 1
                    continue
                try:
                    cur = _step(fs, cur, name)
                    depth += 1
                    continue
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        fs.mkdir(name, 0o755, dir_fd=cur)
                    except FileExistsError:
                        pass  # made meanwhile (by the tar child applying the same layer)
                    cur = _step(fs, cur, name)
                    depth += 1
                    continue
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                st = fs.stat(name, dir_fd=cur, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, "not a directory", name)
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", name)
                target = fs.readlink(name, dir_fd=cur)
                if target.startswith("/"):
                    fs.close(cur)
                    cur, depth = fs.dup(self.fd), 0
                pending.extendleft(reversed(target.split("/")))
            return cur
        except BaseException:
            fs.close(cur)
            raise


def _step(fs, cur: int, name: str) -> int:
    """Enter ``name`` below ``cur``, closing ``cur``; refuses symlinks."""
    fd = fs.open(name, DIR_FLAGS, dir_fd=cur)
    fs.close(cur)
    return fd


def rmtree_at(parent: int, name: str) -> None:
    """Delete directory ``name`` and everything in it, without recursion.

    ``shutil.rmtree`` recurses once per level before Python 3.13, so a layer
    with a few thousand nested directories could crash it. Here only the
    directory being emptied is open; going up re-opens ".." (each level was
    entered with O_NOFOLLOW, so ".." is its real parent).
    """
    names = [name]
    cur = os.open(name, DIR_FLAGS, dir_fd=parent)
    try:
        while names:
            child = None
            with os.scandir(cur) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        child = entry.name
                        break
                    os.unlink(entry.name, dir_fd=cur)
            if child is not None:
                cur = _step(os, cur, child)
                names.append(child)
                continue
            done = names.pop()
            if names:
                cur = _step(os, cur, "..")
                os.rmdir(done, dir_fd=cur)
            else:
                os.rmdir(done, dir_fd=parent)
    finally:
        os.close(cur)

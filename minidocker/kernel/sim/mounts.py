"""Mount namespaces and path lookup, as the Linux VFS does them.

A mount namespace is a tree of mounts: each mount shows one filesystem (or,
for a bind mount, a subtree of it) on a place of its parent mount. A path is
looked up one name at a time from the process's root or working directory;
entering a place where something is mounted continues in the topmost mount
there; ``..`` at the root of a mount climbs to where that mount sits, and
``..`` at the process's root stays there (that is what makes a root a root).
Symbolic links are followed with the same rules (40 at most, ELOOP after).

``unshare(CLONE_NEWNS)`` copies the tree; ``pivot_root(new, old)`` makes
``new`` the namespace's root and moves the old root to ``old``; ``umount``
with ``MNT_DETACH`` takes a mount and everything below it away.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from dataclasses import dataclass, field

from .fs import FS

MAX_SYMLINKS = 40
_mount_ids = itertools.count(20)


def _err(code: int, name: str = "") -> OSError:
    return OSError(code, os.strerror(code), name) if name else OSError(code, os.strerror(code))


@dataclass(eq=False)
class MountEntry:
    """One mount: ``fs`` (from ``root_key`` down) shown at ``where`` in ``parent``."""

    fs: FS
    root_key: object
    parent: "MountEntry | None" = None
    where: object = None            # the key, in the parent's filesystem, it is mounted on
    source: str = "none"
    options: tuple[str, ...] = ()
    readonly: bool = False
    fstype: str = ""                # as /proc/mounts names it (a bind shows its source's)
    id: int = field(default_factory=lambda: next(_mount_ids))


@dataclass(frozen=True)
class Loc:
    """A place in the tree: a mount and a key in its filesystem."""

    mount: MountEntry
    key: object

    @property
    def fs(self) -> FS:
        return self.mount.fs


class MountNamespace:
    """The mount tree one or more processes see."""

    def __init__(self, root: MountEntry):
        from .process import Namespace
        self.root = root
        self.mounts: list[MountEntry] = [root]
        self.identity = Namespace("mnt")   # what /proc/PID/ns/mnt shows

    def copy(self) -> tuple["MountNamespace", dict[int, MountEntry]]:
        """``unshare(CLONE_NEWNS)``: the same mounts, as new mount objects."""
        mapping: dict[int, MountEntry] = {}
        for m in self.mounts:  # parents always come before their children
            new = MountEntry(m.fs, m.root_key, mapping[m.parent.id] if m.parent else None, m.where,
                             m.source, m.options, m.readonly, m.fstype)
            mapping[m.id] = new
        ns = MountNamespace(mapping[self.root.id])
        ns.mounts = [mapping[m.id] for m in self.mounts]
        return ns, mapping

    # -- the tree ---------------------------------------------------------------------
    def mounted_on(self, loc: Loc) -> MountEntry | None:
        """The topmost mount on ``loc``."""
        on = [m for m in self.mounts if m.parent is loc.mount and m.where == loc.key]
        return on[-1] if on else None

    def cross(self, loc: Loc) -> Loc:
        """Go down through everything mounted on ``loc``."""
        while (m := self.mounted_on(loc)) is not None:
            loc = Loc(m, m.root_key)
        return loc

    def attach(self, entry: MountEntry, at: Loc) -> None:
        entry.parent, entry.where = at.mount, at.key
        self.mounts.append(entry)

    def detach(self, entry: MountEntry) -> None:
        """Remove ``entry`` and every mount below it (MNT_DETACH)."""
        gone = {entry.id}
        for m in self.mounts:
            if m.parent is not None and m.parent.id in gone:
                gone.add(m.id)
        self.mounts = [m for m in self.mounts if m.id not in gone]

    def path_of(self, loc: Loc, root: Loc) -> str:
        """The path of ``loc`` as seen from ``root`` (as /proc/PID/mountinfo shows it)."""
        parts: list[str] = []
        while loc != root:
            m = loc.mount
            if loc.key == m.root_key:
                if m.parent is None:
                    return "(unreachable)" + ("/" + "/".join(reversed(parts)) if parts else "/")
                loc = Loc(m.parent, m.where)
                continue
            name, parent_key = _split_key(m.fs, loc.key, m.root_key)
            parts.append(name)
            loc = Loc(m, parent_key)
        return "/" + "/".join(reversed(parts))

    # -- lookup -----------------------------------------------------------------------
    def resolve(self, path: str, root: Loc, cwd: Loc, *, follow: bool = True,
                parent: bool = False, magic=None) -> Loc | tuple[Loc, str]:
        """Look ``path`` up; with ``parent``, return (directory, last name) instead.

        ``magic(loc)`` turns a /proc "magic link" (``/proc/self/fd/N``,
        ``/proc/PID/root``) into the place it stands for; it returns None for
        ordinary entries.
        """
        if not path:
            raise _err(errno.ENOENT)
        names = [n for n in path.split("/") if n and n != "."]
        trailing_dot = path.endswith("/.") or path in (".",)
        cur = root if path.startswith("/") else cwd
        cur = self.cross(cur) if cur is root else cur
        hops = 0
        todo = list(reversed(names))
        if parent:
            if not todo:
                raise _err(errno.EBUSY if path.startswith("/") else errno.EINVAL, path)
            last = todo.pop(0)
        while todo:
            name = todo.pop()
            final = not todo
            if name == "..":
                cur = self._up(cur, root)
                continue
            st = cur.fs.stat(cur.key)
            if not stat.S_ISDIR(st.st_mode):
                raise _err(errno.ENOTDIR, path)
            key = cur.fs.lookup(cur.key, name)
            if key is None:
                raise _err(errno.ENOENT, path)
            nxt = self.cross(Loc(cur.mount, key))
            if magic is not None and (jump := magic(nxt)) is not None:
                if final and not follow:
                    return nxt
                cur = jump
                continue
            if stat.S_ISLNK(nxt.fs.stat(nxt.key).st_mode) and (follow or not final):
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise _err(errno.ELOOP, path)
                target = nxt.fs.readlink(nxt.key)
                if target.startswith("/"):
                    cur = self.cross(root)
                todo.extend(reversed([n for n in target.split("/") if n and n != "."]))
                continue
            cur = nxt
        if parent:
            if not stat.S_ISDIR(cur.fs.stat(cur.key).st_mode):
                raise _err(errno.ENOTDIR, path)
            return cur, last
        del trailing_dot
        return cur

    def _up(self, cur: Loc, root: Loc) -> Loc:
        while True:
            if cur == root or self.cross(root) == cur:
                return cur
            m = cur.mount
            if cur.key == m.root_key:
                if m.parent is None:
                    return cur
                cur = Loc(m.parent, m.where)
                continue
            _, parent_key = _split_key(m.fs, cur.key, m.root_key)
            return Loc(m, parent_key)


def _split_key(fs: FS, key, root_key) -> tuple[str, object]:
    """(name, parent key) of ``key`` in ``fs``."""
    if isinstance(key, tuple):          # OverlayFS: names below the merged root
        return key[-1], key[:-1]
    if isinstance(key, str):            # HostFS: real paths
        return os.path.basename(key), os.path.dirname(key)
    parent = getattr(fs, "parent_of", None)
    if parent is None:
        raise _err(errno.EINVAL)
    return parent(key, root_key)

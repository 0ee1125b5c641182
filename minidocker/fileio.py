"""Durable file writes and inter-process locks for everything under the state root.

Every write of state goes through ``atomic_write`` or ``AtomicFile``: the data
lands in a temporary file in the same directory, is fsynced, renamed over the
target and the directory fsynced, so a crash leaves either the old or the new
file, never half of one. A write with ``durable=False`` is still atomic for every
reader (the rename), but skips both fsyncs: for state that a crash makes
meaningless anyway and that is re-derived after one, such as whether a container
runs (after a crash, none does). runc writes its state that way too.

``FileLock`` serialises concurrent ``minidocker`` processes with ``flock(2)``,
which the kernel releases if a process dies.

``discard`` removes a directory tree the same way, all or nothing for readers: it
is renamed to a hidden sibling first (``.trash-…``, which listings skip), then
emptied. A long-running process (the daemon) may have the emptying done by a
thread of its own (``remove_in_background``), as containerd's snapshotter
removes in the background: what is gone for readers need not hold up the
answer. ``sweep_trash`` finishes removals that a crash cut short.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading
from pathlib import Path

TRASH_PREFIX = ".trash-"


def fsync_dir(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_temp(directory: Path) -> tuple[int, str]:
    """A new, empty, private file in ``directory`` (what ``tempfile.mkstemp`` does,
    without the ~2 ms its import costs every CLI start)."""
    while True:
        path = os.path.join(directory, f".tmp-{os.urandom(6).hex()}")
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                           0o600), path
        except FileExistsError:
            continue


class AtomicFile:
    """A file written in place of ``path`` only when ``commit`` is called."""

    def __init__(self, path: str | os.PathLike, mode: int = 0o644, tmp_dir: str | os.PathLike | None = None,
                 durable: bool = True):
        self.path = Path(path)
        self.durable = durable
        directory = Path(tmp_dir) if tmp_dir else self.path.parent
        fd, self.tmp = _create_temp(directory)
        os.fchmod(fd, mode)
        self.file = os.fdopen(fd, "wb")

    def write(self, data) -> int:
        return self.file.write(data)

    def commit(self, target: str | os.PathLike | None = None) -> Path:
        """Flush, fsync (if durable) and rename into place (``target`` overrides ``path``)."""
        dest = Path(target) if target else self.path
        self.file.flush()
        if self.durable:
            os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, dest)
        if self.durable:
            fsync_dir(dest.parent)
        return dest

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "AtomicFile":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self.file.closed:
            self.abort()


def atomic_write(path: str | os.PathLike, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    with AtomicFile(path, mode, durable=durable) as f:
        f.write(data)
        f.commit()


class FileLock:
    """An ``flock(2)`` lock on a file; re-entrant within one process.

    Shared holders exclude an exclusive holder and vice versa. Re-entrance is
    counted per thread-safe lock object, so nested ``with`` blocks are fine;
    asking for exclusive while holding shared is a programming error.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._mutex = threading.RLock()
        self._fd: int | None = None
        self._depth = 0
        self._shared = False

    def acquire(self, shared: bool = False) -> None:
        self._mutex.acquire()
        if self._depth:
            if self._shared and not shared:
                self._mutex.release()
                raise RuntimeError(f"lock {self.path}: cannot upgrade a shared lock")
            self._depth += 1
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            self._mutex.release()
            raise
        self._fd, self._depth, self._shared = fd, 1, shared

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
        self._mutex.release()

    def __call__(self, shared: bool = False) -> "_Held":
        return _Held(self, shared)


class _Held:
    def __init__(self, lock: FileLock, shared: bool):
        self.lock, self.shared = lock, shared

    def __enter__(self):
        self.lock.acquire(self.shared)
        return self.lock

    def __exit__(self, *exc):
        self.lock.release()


_background: "tuple[queue.SimpleQueue[Path | None], threading.Event] | None" = None
_background_lock = threading.Lock()


def discard(path: str | os.PathLike) -> None:
    """Remove the directory tree ``path`` (nothing if it is gone already).

    It is renamed at once to ``<parent>/.trash-<name>-<random>``, so no reader
    sees it half-removed; the tree is then removed here or, after
    ``remove_in_background``, by this process's remover thread. What cannot be
    removed (a busy mount point) stays for ``sweep_trash``."""
    path = Path(path)
    trash = path.parent / f"{TRASH_PREFIX}{path.name}-{os.urandom(4).hex()}"
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    background = _background
    if background is not None:
        background[0].put(trash)
    else:
        _remove(trash)


def _remove(path: Path) -> None:
    from .fsroot import rmtree_at   # no recursion limit, and symlinks are never followed
    try:
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        rmtree_at(fd, path.name)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_in_background() -> None:
    """From now on, ``discard`` leaves the emptying to a thread of this process (one, in
    order). For a long-running process: ``finish_removals`` before it exits."""
    global _background
    with _background_lock:
        if _background is not None:
            return
        _background = (queue.SimpleQueue(), threading.Event())
        threading.Thread(target=_remover, args=_background, name="minidocker-remover",
                         daemon=True).start()


def _remover(work: "queue.SimpleQueue[Path | None]", done: threading.Event) -> None:
    while (path := work.get()) is not None:
        _remove(path)
    done.set()


def finish_removals(timeout: float = 30.0) -> None:
    """Wait (up to ``timeout`` s) for what was discarded in the background; from now on
    ``discard`` removes synchronously again."""
    global _background
    with _background_lock:
        background, _background = _background, None
    if background is not None:
        background[0].put(None)
        background[1].wait(timeout)


def sweep_trash(directory: str | os.PathLike) -> list[str]:
    """Remove what ``discard`` left in ``directory`` when its process stopped; their paths."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(TRASH_PREFIX)]
    except FileNotFoundError:
        return []
    for name in names:
        _remove(Path(directory) / name)
    return [os.path.join(directory, n) for n in names]

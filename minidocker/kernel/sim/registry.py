"""Simulated processes that other minidocker processes must reach.

A detached container runs in its supervisor, a real process; ``minidocker
ps``, ``stop`` or ``kill`` run in other real processes with their own copy
of the simulator. So each simulated process that a supervisor hosts is
recorded under the state root (``sim/procs/PID``: the real PID hosting it,
created with O_EXCL, which also keeps simulated PIDs unique across
processes), and a signal for it is left as a file in ``sim/signals`` with
a real SIGUSR1 to its host, which delivers it. This is how the simulator
stands in for the one kernel that real processes share.
"""

from __future__ import annotations

import os
import signal

NOTIFY = signal.SIGUSR1


class Registry:
    def __init__(self, root: str):
        self.procs = os.path.join(root, "sim", "procs")
        self.signals = os.path.join(root, "sim", "signals")
        os.makedirs(self.procs, mode=0o700, exist_ok=True)
        os.makedirs(self.signals, mode=0o700, exist_ok=True)

    def claim(self, pid: int) -> bool:
        """Record ``pid`` as hosted here; False when another process has it."""
        try:
            fd = os.open(os.path.join(self.procs, str(pid)), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if self.host_of(pid) is not None:
                return False
            os.unlink(os.path.join(self.procs, str(pid)))   # its host died without cleaning up
            return self.claim(pid)
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True

    def release(self, pid: int) -> None:
        try:
            os.unlink(os.path.join(self.procs, str(pid)))
        except FileNotFoundError:
            pass

    def host_of(self, pid: int) -> int | None:
        """The live real process that hosts simulated ``pid``, if any."""
        try:
            with open(os.path.join(self.procs, str(pid))) as f:
                host = int(f.read() or 0)
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(host, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return host

    def send(self, pid: int, sig: int) -> bool:
        """Ask ``pid``'s host to deliver ``sig``; False when nobody hosts it."""
        host = self.host_of(pid)
        if host is None:
            return False
        name = os.path.join(self.signals, f"{pid}.{os.getpid()}.{os.urandom(4).hex()}")
        with open(name + ".tmp", "w") as f:
            f.write(str(sig))
        os.rename(name + ".tmp", name)
        os.kill(host, NOTIFY)
        return True

    def take(self, pids: set[int]) -> list[tuple[int, int]]:
        """The signals waiting for ``pids`` (consumed)."""
        out = []
        for name in sorted(os.listdir(self.signals)):
            if name.endswith(".tmp"):
                continue
            pid = int(name.split(".", 1)[0])
            if pid not in pids:
                continue
            path = os.path.join(self.signals, name)
            try:
                with open(path) as f:
                    out.append((pid, int(f.read())))
                os.unlink(path)
            except (FileNotFoundError, ValueError):
                continue
        return out

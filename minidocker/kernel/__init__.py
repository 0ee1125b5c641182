"""The boundary to the host: the only package that mounts, makes device nodes,
sets extended attributes or changes ownership (see DESIGN.md).

``get_kernel`` picks the real Linux kernel where it can work (Linux, root,
overlayfs) and the simulated one elsewhere; ``MINIDOCKER_KERNEL=linux|sim``
decides instead.
"""

from __future__ import annotations

import os
import sys

from ..errors import MinidockerError
from .base import Kernel, Mount

__all__ = ["Kernel", "Mount", "get_kernel", "choice"]

_default: Kernel | None = None


def host_process_alive(pid: int) -> bool:
    """Whether the host's process ``pid`` still runs. A zombie has ended: it only waits
    to be reaped (where /proc can tell)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, it is just not ours
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (ProcessLookupError, IndexError):
        return False  # ESRCH: it was reaped between the open and the read
    except FileNotFoundError:
        return not os.path.isdir("/proc/self")  # gone; or no /proc here to ask (not Linux)


def _linux_can_work() -> str | None:
    """Why the real kernel cannot run containers here (None when it can)."""
    if not sys.platform.startswith("linux"):
        return f"this is {sys.platform}, not Linux"
    if os.geteuid() != 0:
        return "not root"
    if not _has_cap_sys_admin():
        return "root without CAP_SYS_ADMIN, as in an unprivileged container"
    try:
        with open("/proc/filesystems") as f:
            if "overlay" not in f.read():
                return "no overlayfs"
    except OSError:
        return "no /proc"
    return None


def _has_cap_sys_admin() -> bool:
    """Whether this process may mount (capability 21 in its effective set)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> 21 & 1)
    except (OSError, ValueError):
        pass
    return True  # no way to tell: let the real kernel say what it refuses


def choice() -> tuple[str, str | None]:
    """(kernel name, why it was chosen automatically, or None when the user chose)."""
    name = os.environ.get("MINIDOCKER_KERNEL", "")
    if name in ("linux", "sim"):
        return name, None
    if name:
        raise MinidockerError(f"unknown MINIDOCKER_KERNEL {name!r}: choose linux or sim")
    why = _linux_can_work()
    return ("sim", why) if why else ("linux", None)


def get_kernel() -> Kernel:
    """The kernel ``choice`` names (one per process)."""
    global _default
    if _default is None:
        name, _ = choice()
        if name == "sim":
            from .sim.kernel import SimKernel
            _default = SimKernel()
        else:
            if not sys.platform.startswith("linux"):
                raise MinidockerError("the real kernel needs Linux; this is " + sys.platform
                                      + " (MINIDOCKER_KERNEL=sim runs the simulated one)")
            from .linux import LinuxKernel
            _default = LinuxKernel()
    return _default

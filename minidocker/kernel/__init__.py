"""The boundary to the host: the only package that mounts, makes device nodes,
sets extended attributes or changes ownership (see DESIGN.md)."""

from __future__ import annotations

import os
import sys

from ..errors import MinidockerError
from .base import Kernel, Mount

__all__ = ["Kernel", "Mount", "get_kernel"]

_default: Kernel | None = None


def get_kernel() -> Kernel:
    """The kernel chosen by ``MINIDOCKER_KERNEL`` (``linux`` for now)."""
    global _default
    if _default is None:
        choice = os.environ.get("MINIDOCKER_KERNEL", "linux")
        if choice != "linux":
            raise MinidockerError(f"unknown MINIDOCKER_KERNEL {choice!r}: only 'linux' is available")
        if not sys.platform.startswith("linux"):
            raise MinidockerError("the real kernel needs Linux; this is " + sys.platform)
        from .linux import LinuxKernel
        _default = LinuxKernel()
    return _default

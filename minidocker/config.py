"""Where minidocker keeps its state, and the limits it applies to input.

The state root is ``$MINIDOCKER_ROOT`` when set, ``/var/lib/minidocker`` for
root and ``~/.local/share/minidocker`` for anyone else (as DESIGN.md says).
The simulated kernel keeps its own root beside it (``minidocker-sim``): its
layers record ownership and whiteouts in its own way, so the two never mix.
"""

import os
from pathlib import Path


def state_root() -> Path:
    env = os.environ.get("MINIDOCKER_ROOT")
    if env:
        return Path(env).absolute()
    from .kernel import choice
    name = "minidocker-sim" if choice()[0] == "sim" else "minidocker"
    if os.geteuid() == 0:
        return Path("/var/lib") / name
    data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data) / name


def _size_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# Bounds on what one layer may expand to: a decompression bomb stops here with
# a clear error instead of filling the disk. Generous for real images.
MAX_LAYER_BYTES = _size_env("MINIDOCKER_MAX_LAYER_BYTES", 64 << 30)
MAX_LAYER_ENTRIES = _size_env("MINIDOCKER_MAX_LAYER_ENTRIES", 4_000_000)

"""A foreground container's stdio: which descriptors it uses, and the terminal's raw mode.

Kept apart from the supervisor so that the CLI, run against a daemon (``-H``),
imports neither the runtime nor its dependencies.
"""

from __future__ import annotations

import os


class Attach:
    """The terminal (or pipes) of a foreground ``run``. (A plain class: a dataclass
    would cost the daemon's client ~5 ms of imports.)"""

    __slots__ = ("stdin", "stdout", "stderr")

    def __init__(self, stdin: int | None, stdout: int, stderr: int):
        self.stdin = stdin      # our stdin, when -i
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self) -> str:
        return f"Attach(stdin={self.stdin}, stdout={self.stdout}, stderr={self.stderr})"


def restore_terminal_settings(fd: int):
    """Put a terminal in raw mode for ``-it``; returns a function that restores it."""
    import termios
    import tty as ttymod
    if not os.isatty(fd):
        return lambda: None
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd, termios.TCSANOW)  # not TCSAFLUSH: keep what was typed ahead
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)

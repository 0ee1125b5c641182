"""Helpers the benchmark scripts share: output, failures, process and host facts, commands."""

from __future__ import annotations

import os
import subprocess
from subprocess import DEVNULL


def log(msg: str = "") -> None:
    print(msg, flush=True)


class Failed(SystemExit):
    """A contender or a set-up step failed: the benchmark stops with its output."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def version(argv: list[str]) -> str:
    """The first line a program prints about its version ("?" when it cannot say)."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.strip().splitlines()[0] if out.strip() else "?"


def cgroup_layout() -> str:
    v1 = v2 = False
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fstype = line.partition(" - ")[2].split(" ", 1)[0]
            v1 |= fstype == "cgroup"
            v2 |= fstype == "cgroup2"
    return "hybrid (v1 + v2)" if v1 and v2 else "v1" if v1 else "v2" if v2 else "none"


def check(argv: list[str], env, what: str, cwd=None, timeout: float | None = 600) -> str:
    """Run a set-up command; its output, or ``Failed`` with everything it printed."""
    p = subprocess.run(argv, env=env, cwd=cwd, stdin=DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise Failed(f"{what} failed (exit {p.returncode}): {' '.join(map(str, argv))}\n{p.stdout}{p.stderr}")
    return p.stdout + p.stderr

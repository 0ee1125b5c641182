"""The programs a simulated ``execve`` can run, and how the kernel finds them.

``PROGRAMS`` maps a program name to ``main(sys, argv) -> int`` (the contract
is ``api.System``): the busybox applets and ``sh`` (``applets``, ``sh``),
``busybox`` itself, the package managers and the programs their packages
install (``packages``), and ``memhog``/``stress``/``curl``.

How the kernel runs a file (as ``execve`` does):

1. it resolves the path (PATH lookup for a bare name) in the process's
   filesystem; nothing there → it prints ``missing(caller, name)`` (busybox
   sh's ``sh: X: not found``) on the child's stderr and the status is 127;
2. it reads the file's first bytes and asks ``identify(path, head)``:
   ``#!minidocker-sim NAME`` runs program NAME; ``#!/bin/sh`` (any ``#!``
   interpreter) runs the interpreter's program with the script, as the
   kernel's ``binfmt_script`` does;
3. otherwise (busybox's ELF binary and its hard links, ``/bin/ls`` …) it
   runs ``lookup(basename(path))``; None → ``not_found`` and 127.
"""

from __future__ import annotations

import functools
import posixpath

from .applets import APPLETS, EXTRA, busybox
from .common import err, strerror
from .packages import PACKAGE_PROGRAMS


def _guarded(name: str, main):
    """``main`` that never lets a Python exception out: an unexpected OSError becomes busybox's
    ``PROG: MESSAGE`` and status 1, anything else an ``internal error`` line. ``Killed`` passes
    (it is how the kernel ends a program)."""
    @functools.wraps(main)
    def run(sys, argv):
        try:
            return main(sys, argv)
        except RecursionError:
            err(sys, name, "recursion too deep")
            return 2
        except OSError as e:
            err(sys, name, strerror(e))
            return 1
        except Exception as e:
            err(sys, name, f"internal error: {type(e).__name__}: {e}")
            return 1
    return run


PROGRAMS: dict = {}
PROGRAMS.update(APPLETS)
PROGRAMS["busybox"] = busybox
PROGRAMS.update(EXTRA)
PROGRAMS.update(PACKAGE_PROGRAMS)
PROGRAMS = {name: _guarded(name, main) for name, main in PROGRAMS.items()}

# Debian images start `bash`; the simulator's bash is its ash (say so in lessons).
PROGRAMS.setdefault("bash", PROGRAMS["sh"])

COMMANDS: list[str] = sorted(PROGRAMS)
SIM_MARKER = b"#!minidocker-sim"


def lookup(name: str):
    """The ``main`` of program ``name`` (a basename), or None."""
    return PROGRAMS.get(name)


def not_found(name: str) -> str:
    """What the kernel prints (with a newline, exit status 127) for a file that exists but
    that the simulator cannot run (a real binary of a loaded image, say)."""
    return f"sim: command not found: {name} (supported: {', '.join(COMMANDS)})"


def missing(caller: str, name: str) -> str:
    """What a command that is nowhere on PATH gets: busybox sh's own words (exit status 127)."""
    return f"{caller or 'sh'}: {name}: not found"


NOT_FOUND = not_found


def identify(path: str, head: bytes) -> tuple[str, list[str]] | None:
    """(program name, argv prefix) for a file that names its program in its first line.

    The kernel runs the program with ``prefix + argv[1:]``:

    * ``#!minidocker-sim NAME`` → ``(NAME, [path])``;
    * ``#!INTERPRETER [ARG]`` → ``(basename(INTERPRETER), [INTERPRETER, ARG, path])``,
      e.g. ``#!/bin/sh`` → ``("sh", ["/bin/sh", path])`` and
      ``#!/usr/bin/env node`` → ``("env", ["/usr/bin/env", "node", path])``;
    * anything else (an ELF binary, text without ``#!``) → None.
    """
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    if head.startswith(SIM_MARKER):
        words = line.split()
        return (words[1], [path]) if len(words) > 1 else None
    words = line.split(None, 1)
    if not words:
        return None
    interp = words[0]
    return posixpath.basename(interp), [interp] + words[1:] + [path]


__all__ = ["PROGRAMS", "COMMANDS", "lookup", "not_found", "missing", "NOT_FOUND", "identify",
           "SIM_MARKER"]

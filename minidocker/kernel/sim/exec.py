"""``execve`` of the simulator: which program a file is, and running it in a process.

The rules are those of ``userland/__init__.py`` (as the kernel's binfmt
handlers do): a ``#!`` first line names an interpreter, busybox's binary and
its links are known by name, anything else cannot run here and says so with
status 127. A program runs in the calling thread with a ``SimSystem`` for
its process; its return value or the signal that ended it becomes the
process's wait status.
"""

from __future__ import annotations

import posixpath

from . import userland
from .process import SimProcess
from .system import SimSystem, fd_streams
from .userland.api import Killed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .kernel import SimKernel


def program_for(path: str, head: bytes, argv: list[str]):
    """(main, argv) for the file at ``path``; main is None when nothing can run it."""
    ident = userland.identify(path, head)
    if ident is not None:
        name, prefix = ident
        return userland.lookup(name), prefix + list(argv[1:]), name
    name = posixpath.basename(path)
    return userland.lookup(name), list(argv), name


def run_program(k: "SimKernel", p: SimProcess, path: str, head: bytes, argv: list[str],
                streams=None) -> int:
    """Run the program of ``path`` as process ``p``; its wait status."""
    main, argv, name = program_for(path, head, argv)
    return run_main(k, p, main, name, argv, streams, path)


def run_applet(k: "SimKernel", p: SimProcess, name: str, argv: list[str], streams) -> int:
    """A busybox applet the shell runs in a forked copy of itself, without exec
    (FEATURE_PREFER_APPLETS): the command line stays the shell's, the name is the applet's."""
    p.comm = name[:15]
    return run_main(k, p, userland.lookup(name), name, argv, streams, None)


def run_main(k, p, main, name, argv, streams, path) -> int:
    stdin, stdout, stderr = streams or fd_streams(k, p)
    if main is None:
        stderr.write((userland.not_found(name) + "\n").encode())
        stderr.flush()
        return 127 << 8
    if path is not None:
        p.argv = tuple(argv)
        p.comm = posixpath.basename(path)[:15]
    system = SimSystem(k, p, stdin, stdout, stderr)
    try:
        code = main(system, list(argv))
    except Killed as e:
        return e.signal
    finally:
        for s in (stdout, stderr):
            try:
                s.flush()
            except OSError:
                pass
    return (int(code or 0) & 0xFF) << 8

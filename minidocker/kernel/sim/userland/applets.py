"""The busybox applets, gathered: ``APPLETS`` maps an applet name to its
``main(sys, argv)``, and ``busybox`` is the multi-call binary itself
(``busybox APPLET ARGS``, ``busybox --list``, ``busybox`` alone for the banner).

The applets live by concern in ``coreutils`` (files), ``textutils`` (text),
``procutils`` (processes, identity, the machine) and ``netutils`` (the network).
``EXTRA`` holds programs that are not busybox's but that lessons need
(``memhog``, ``stress``, ``curl``): they run only where a file for them is
installed (a package, or a ``#!minidocker-sim NAME`` file).
"""

from __future__ import annotations

from . import coreutils, netutils, procutils, textutils
from .common import BUSYBOX_VERSION, enc, out, progname

APPLETS: dict = {}
APPLETS.update(coreutils.APPLETS)
APPLETS.update(textutils.APPLETS)
APPLETS.update(procutils.APPLETS)
APPLETS.update(netutils.APPLETS)

EXTRA: dict = dict(procutils.EXTRA)
EXTRA.update(netutils.EXTRA)


def _shell(sys, argv):
    from .sh import main
    return main(sys, argv)


APPLETS["sh"] = _shell
APPLETS["ash"] = _shell


def busybox(sys, argv: list[str]) -> int:
    """busybox [--list | APPLET [ARGS]...]"""
    args = argv[1:]
    if not args or args[0] in ("--help", "-h"):
        out(sys, f"BusyBox v{BUSYBOX_VERSION} (simulated) multi-call binary.\n"
                 "BusyBox is copyrighted by many authors between 1998-2015.\n"
                 "Licensed under GPLv2. See source distribution for detailed\ncopyright notices.\n\n"
                 "Usage: busybox [function [arguments]...]\n   or: busybox --list\n"
                 "   or: function [arguments]...\n\n"
                 "\tBusyBox is a multi-call binary that combines many common Unix\n"
                 "\tutilities into a single executable.\n\nCurrently defined functions:\n\t"
                 + ", ".join(sorted(APPLETS)) + "\n")
        return 0
    if args[0] in ("--list", "--list-full"):
        full = args[0] == "--list-full"
        out(sys, "".join((("bin/" if full else "") + n + "\n") for n in sorted(APPLETS)))
        return 0
    name = progname(args)
    main = APPLETS.get(name)
    if main is None:
        sys.stderr.write(enc(f"{name}: applet not found\n"))
        return 127
    return main(sys, args)



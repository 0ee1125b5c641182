"""What every simulated program shares: text on byte streams, busybox's error
wording, busybox-style option parsing, the user and group databases.

Busybox prints errors as ``PROG: MESSAGE`` with the C library's ``strerror``
text; the table below pins those texts so that the output is the same on
every host (macOS words some of them differently).
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import stat as st

from .api import Stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .api import System

ERRNO_TEXT = {
    errno.ENOENT: "No such file or directory",
    errno.EEXIST: "File exists",
    errno.ENOTDIR: "Not a directory",
    errno.EISDIR: "Is a directory",
    errno.ENOTEMPTY: "Directory not empty",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
    errno.EROFS: "Read-only file system",
    errno.EXDEV: "Invalid cross-device link",
    errno.EINVAL: "Invalid argument",
    errno.ELOOP: "Symbolic link loop",
    errno.ESRCH: "No such process",
    errno.EBUSY: "Resource busy",
    errno.ENOSPC: "No space left on device",
    errno.ENAMETOOLONG: "File name too long",
    errno.EBADF: "Bad file descriptor",
    errno.ENOEXEC: "Exec format error",
    errno.ENODEV: "No such device",
    errno.EPIPE: "Broken pipe",
    errno.ECONNREFUSED: "Connection refused",
    errno.ECONNRESET: "Connection reset by peer",
    errno.ENETUNREACH: "Network is unreachable",
    errno.EHOSTUNREACH: "No route to host",
    errno.ETIMEDOUT: "Connection timed out",
    errno.EADDRINUSE: "Address already in use",
    errno.EADDRNOTAVAIL: "Cannot assign requested address",
}

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_VERSION = "1.36.1"


def strerror(e: BaseException) -> str:
    code = getattr(e, "errno", None)
    if code in ERRNO_TEXT:
        return ERRNO_TEXT[code]
    if code:
        return os.strerror(code)
    text = getattr(e, "strerror", None) or str(e)
    return text or type(e).__name__


def enc(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def dec(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def out(sys: System, text: str) -> None:
    sys.stdout.write(enc(text))


def err(sys: System, prog: str, msg: str) -> None:
    sys.stderr.write(enc(f"{prog}: {msg}\n"))


def progname(argv: list[str]) -> str:
    return posixpath.basename(argv[0]) if argv and argv[0] else "busybox"


class UsageError(Exception):
    """A bad option; the program prints it and exits 1, as busybox's getopt32 does."""


def parse_opts(argv: list[str], flags: str = "", with_arg: str = "",
               longs: dict[str, str] | None = None) -> tuple[dict[str, object], list[str]]:
    """Split ``argv[1:]`` into options and operands like busybox's getopt32.

    ``flags`` are single-letter switches (counted: ``-vv`` gives 2), ``with_arg``
    letters take a value (``-n 5`` or ``-n5``; the last one wins, except that
    every value is also kept in a list under ``KEY + '*'``). ``longs`` maps
    ``--name`` (or ``--name=``, taking a value) to a letter. Options and
    operands may be mixed (glibc getopt permutes); ``--`` ends the options.
    """
    opts: dict[str, object] = {}
    args: list[str] = []
    longs = longs or {}
    i = 1
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            args.extend(argv[i:])
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a.partition("=")
            if name + "=" in longs:
                key = longs[name + "="]
                if not eq:
                    if i >= len(argv):
                        raise UsageError(f"option '{name}' requires an argument")
                    value = argv[i]
                    i += 1
                _put(opts, key, value)
            elif name in longs and not eq:
                key = longs[name]
                opts[key] = int(opts.get(key, 0)) + 1
            else:
                raise UsageError(f"unrecognized option '{a}'")
            continue
        if len(a) < 2 or a[0] != "-":
            args.append(a)
            continue
        j = 1
        while j < len(a):
            c = a[j]
            j += 1
            if c in with_arg:
                value = a[j:]
                if not value:
                    if i >= len(argv):
                        raise UsageError(f"option requires an argument -- '{c}'")
                    value = argv[i]
                    i += 1
                _put(opts, c, value)
                break
            if c in flags:
                opts[c] = int(opts.get(c, 0)) + 1
            else:
                raise UsageError(f"invalid option -- '{c}'")
    return opts, args


def _put(opts: dict[str, object], key: str, value: str) -> None:
    opts[key] = value
    opts.setdefault(key + "*", [])
    opts[key + "*"].append(value)  # type: ignore[union-attr]


def usage(sys: System, prog: str, e: UsageError, synopsis: str = "") -> int:
    err(sys, prog, str(e))
    lines = f"BusyBox v{BUSYBOX_VERSION} (simulated) multi-call binary.\n"
    if synopsis:
        lines += f"\nUsage: {prog} {synopsis}\n"
    sys.stderr.write(enc(lines))
    return 1


# -- the user and group databases ------------------------------------------------

def read_db(sys: System, path: str) -> list[list[str]]:
    """The colon-separated records of /etc/passwd or /etc/group (none if missing)."""
    try:
        text = dec(sys.read(path))
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def user_name(sys: System, uid: int, db: list[list[str]] | None = None) -> str | None:
    for rec in db if db is not None else read_db(sys, "/etc/passwd"):
        if len(rec) > 2 and rec[2] == str(uid):
            return rec[0]
    return None


def group_name(sys: System, gid: int, db: list[list[str]] | None = None) -> str | None:
    for rec in db if db is not None else read_db(sys, "/etc/group"):
        if len(rec) > 2 and rec[2] == str(gid):
            return rec[0]
    return None


def lookup_user(sys: System, name: str) -> list[str] | None:
    """The passwd record of a user given by name or number."""
    for rec in read_db(sys, "/etc/passwd"):
        if len(rec) > 3 and (rec[0] == name or rec[2] == name):
            return rec
    return None


def lookup_group(sys: System, name: str) -> int | None:
    for rec in read_db(sys, "/etc/group"):
        if len(rec) > 2 and (rec[0] == name or rec[2] == name):
            return int(rec[2]) if rec[2].isdigit() else None
    return int(name) if name.isdigit() else None


# -- files ------------------------------------------------------------------------

def lstat_or_none(sys: System, path: str, follow: bool = False) -> Stat | None:
    try:
        return sys.stat(path, follow_symlinks=follow)
    except OSError:
        return None


def is_dir(sys: System, path: str) -> bool:
    s = lstat_or_none(sys, path, follow=True)
    return s is not None and st.S_ISDIR(s.mode)


def join(a: str, b: str) -> str:
    return b if b.startswith("/") else (a.rstrip("/") + "/" + b if a not in ("", "/") else ("/" + b if a == "/" else b))


def resolve_links(path: str, link_target, loop_error) -> str:
    """An absolute ``path`` with ``.``, ``..`` and every symlink resolved, name by name, as
    realpath(3) does. ``link_target(prefix)`` gives the target of the symlink at ``prefix``, or
    None for anything else (and raises if the caller wants a missing name to be an error);
    ``loop_error(prefix)`` is raised past 40 links, the kernel's limit."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        p = parts.pop(0)
        if p == ".":
            continue
        if p == "..":
            if resolved:
                resolved.pop()
            continue
        cur = "/" + "/".join(resolved + [p])
        target = link_target(cur)
        if target is None:
            resolved.append(p)
            continue
        hops += 1
        if hops > 40:
            raise loop_error(cur)
        if target.startswith("/"):
            resolved = []
        parts = [x for x in target.split("/") if x] + parts
    return "/" + "/".join(resolved)


BRACKET_CLASSES = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
                   "space": r" \t\n\r\f\v", "blank": r" \t", "punct": r"!-/:-@\[-`{-~", "xdigit": "0-9A-Fa-f",
                   "print": " -~", "graph": "!-~", "cntrl": r"\x00-\x1f"}


def bracket_body(body: str) -> str:
    """The inside of a POSIX bracket expression (``[`` ``]`` and a leading ``!``/``^`` taken
    off) for a Python regex class: ``[:name:]`` spelled out in ASCII, a backslash literal
    (POSIX brackets have no escapes), a leading ``]`` literal. Shell globs and BRE/ERE share it."""
    body = re.sub(r"\[:(\w+):\]", lambda m: BRACKET_CLASSES.get(m.group(1), ""), body)
    body = body.replace("\\", "\\\\")
    if body.startswith("]"):
        body = "\\" + body
    return body


def read_input(sys: System, path: str) -> bytes:
    """A file's bytes, or standard input for ``-``."""
    if path == "-":
        return sys.stdin.read()
    return sys.read(path)


def human(n: float) -> str:
    """Sizes as busybox's ``-h`` prints them: ``512``, ``4.0K``, ``16.0K``, ``1.2M`` (one decimal)."""
    units = "KMGTPE"
    if n < 1024:
        return str(int(n))
    value = float(n)
    for unit in units:
        value /= 1024
        if value < 1024 or unit == units[-1]:
            return f"{value:.1f}{unit}"
    return str(n)


SIZE_SUFFIX = {"": 1, "b": 512, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4,
               "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_size(text: str) -> int | None:
    """``256M``, ``1g``, ``512k``, ``100`` → bytes (None if unreadable)."""
    t = text.strip().lower()
    num = t.rstrip("abcdefghijklmnopqrstuvwxyz")
    try:
        value = float(num)
    except ValueError:
        return None
    factor = SIZE_SUFFIX.get(t[len(num):])
    if factor is None or value < 0:
        return None
    return int(value * factor)


def readline(stream) -> bytes:
    """One line from a binary stream, for streams without ``readline``."""
    rl = getattr(stream, "readline", None)
    if rl is not None:
        return rl()
    chunks = []
    while True:
        c = stream.read(1)
        if not c:
            break
        chunks.append(c)
        if c == b"\n":
            break
    return b"".join(chunks)


def isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False

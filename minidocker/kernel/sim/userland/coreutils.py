"""Busybox's file applets, simulated: ls, mkdir, rm, rmdir, cp, mv, touch, ln,
chmod, chown, chgrp, find, du, df, stat, basename, dirname, pwd, readlink,
realpath.

Output copies busybox 1.36: ``ls -l`` columns (mode, links ``%4u``, owner
and group ``%-8.8s``, size ``%9u`` or ``major, minor`` for devices, date as
``Mon dd HH:MM`` or ``Mon dd  YYYY`` beyond six months, ``name -> target`` for
links, ``total`` in 1K blocks); one name per line when stdout is not a
terminal. Dates are UTC (containers have no TZ). Block counts are derived
from sizes (4 KiB allocation units), since ``Stat`` has no ``st_blocks``.
"""

from __future__ import annotations

import errno
import fnmatch
import posixpath
import re
import stat as st
import time

from .api import Stat
from .common import (UsageError, err, group_name, human, is_dir, isatty, lookup_group, lookup_user,
                     out, parse_opts, read_db, resolve_links, strerror, usage, user_name)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SIX_MONTHS = 6 * 30 * 24 * 3600
# df: a simulated disk (1K blocks) for the container's root filesystem
SIM_DISK_BLOCKS = 61_255_492
SIM_DISK_USED = 9_843_424


def mode_string(mode: int) -> str:
    kinds = {st.S_IFDIR: "d", st.S_IFLNK: "l", st.S_IFCHR: "c", st.S_IFBLK: "b", st.S_IFIFO: "p",
             st.S_IFSOCK: "s", st.S_IFREG: "-"}
    chars = [kinds.get(st.S_IFMT(mode), "?")]
    for shift, special, letter in ((6, st.S_ISUID, "s"), (3, st.S_ISGID, "s"), (0, st.S_ISVTX, "t")):
        bits = (mode >> shift) & 7
        chars.append("r" if bits & 4 else "-")
        chars.append("w" if bits & 2 else "-")
        x = bool(bits & 1)
        if mode & special:
            chars.append(letter if x else letter.upper())
        else:
            chars.append("x" if x else "-")
    return "".join(chars)


def blocks(s: Stat) -> int:
    """1K blocks a file occupies (4 KiB units; symlinks and devices none)."""
    if st.S_ISREG(s.mode) or st.S_ISDIR(s.mode):
        return (s.size + 4095) // 4096 * 4
    return 0


def ls_time(mtime: float, now: float) -> str:
    t = time.gmtime(mtime)
    if now - mtime > SIX_MONTHS or mtime - now > 3600:
        return f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d}  {t.tm_year}"
    return f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}"


def _path(d: str, name: str) -> str:
    if d == "":
        return name
    return d + name if d.endswith("/") else f"{d}/{name}"


# -- ls ---------------------------------------------------------------------------------

class _Ls:
    def __init__(self, sys, opts: dict):
        self.sys = sys
        self.opts = opts
        self.now = sys.time()
        self.passwd = read_db(sys, "/etc/passwd")
        self.group = read_db(sys, "/etc/group")
        self.status = 0

    def owner(self, s: Stat) -> tuple[str, str]:
        if "n" in self.opts:
            return str(s.uid), str(s.gid)
        return (user_name(self.sys, s.uid, self.passwd) or str(s.uid),
                group_name(self.sys, s.gid, self.group) or str(s.gid))

    def suffix(self, s: Stat) -> str:
        if "F" in self.opts:
            if st.S_ISDIR(s.mode):
                return "/"
            if st.S_ISLNK(s.mode):
                return "@"
            if st.S_ISREG(s.mode) and s.mode & 0o111:
                return "*"
        elif "p" in self.opts and st.S_ISDIR(s.mode):
            return "/"
        return ""

    def line(self, name: str, path: str, s: Stat) -> str:
        o = self.opts
        prefix = f"{s.ino:7d} " if "i" in o else ""
        if "l" not in o:
            return prefix + name + self.suffix(s)
        user, group = self.owner(s)
        if st.S_ISCHR(s.mode) or st.S_ISBLK(s.mode):
            size = f"{s.rdev >> 8 & 0xfff:4d}, {s.rdev & 0xff:3d}"
        elif "h" in o:
            size = f"{human(s.size):>9}"
        else:
            size = f"{s.size:9d}"
        text = (f"{mode_string(s.mode):<10} {s.nlink:4d} {user:<8.8} {group:<8.8} {size} "
                f"{ls_time(s.mtime, self.now)} {name}")
        if st.S_ISLNK(s.mode):
            try:
                text += " -> " + self.sys.readlink(path)
            except OSError:
                pass
        else:
            text += self.suffix(s)
        return prefix + text

    def order(self, entries: list[tuple[str, str, Stat]]) -> list[tuple[str, str, Stat]]:
        if "t" in self.opts:
            entries.sort(key=lambda e: (-e[2].mtime, e[0]))
        elif "S" in self.opts:
            entries.sort(key=lambda e: (-e[2].size, e[0]))
        else:
            entries.sort(key=lambda e: e[0])
        if "r" in self.opts:
            entries.reverse()
        return entries

    def emit(self, entries: list[tuple[str, str, Stat]]) -> None:
        lines = [self.line(name, path, s) for name, path, s in entries]
        if "l" in self.opts or "1" in self.opts or not isatty(self.sys.stdout) or not lines:
            out(self.sys, "".join(x + "\n" for x in lines))
            return
        # columns, filled top to bottom as busybox does on a terminal
        try:
            width = int(self.sys.environ.get("COLUMNS", "80"))
        except ValueError:
            width = 80
        col = max(len(x) for x in lines) + 2
        ncols = max(1, width // col)
        nrows = (len(lines) + ncols - 1) // ncols
        rows = []
        for r in range(nrows):
            cells = [lines[c * nrows + r] for c in range(ncols) if c * nrows + r < len(lines)]
            rows.append("".join(x.ljust(col) for x in cells[:-1]) + cells[-1])
        out(self.sys, "\n".join(rows) + "\n")

    def listing(self, d: str) -> list[tuple[str, str, Stat]]:
        try:
            names = self.sys.listdir(d)
        except OSError as e:
            err(self.sys, "ls", f"can't open '{d}': {strerror(e)}")
            self.status = 2
            return []
        if "a" not in self.opts and "A" not in self.opts:
            names = [n for n in names if not n.startswith(".")]
        entries = []
        if "a" in self.opts:
            for dot in (".", ".."):
                try:
                    entries.append((dot, _path(d, dot), self.sys.stat(_path(d, dot))))
                except OSError:
                    pass
        for n in names:
            p = _path(d, n)
            try:
                entries.append((n, p, self.sys.stat(p, follow_symlinks=False)))
            except OSError as e:
                err(self.sys, "ls", f"{p}: {strerror(e)}")
                self.status = 1
        return self.order(entries)

    def show_dir(self, d: str, header: bool, first: bool) -> None:
        entries = self.listing(d)
        if header:
            out(self.sys, ("" if first else "\n") + f"{d}:\n")
        if "l" in self.opts:
            out(self.sys, f"total {sum(blocks(s) for _, _, s in entries)}\n")
        self.emit(entries)
        if "R" in self.opts:
            for name, path, s in entries:
                if st.S_ISDIR(s.mode) and name not in (".", ".."):
                    self.show_dir(path, True, False)


def ls(sys, argv: list[str]) -> int:
    """ls [-1aAdlRnhiFprtS] [FILE]..."""
    try:
        opts, args = parse_opts(argv, "1aAdlRnhiFprtSCxLHeg")
    except UsageError as e:
        return usage(sys, "ls", e, "[-1AaCxdLHRFplinshrSXvctu] [-w WIDTH] [FILE]...")
    if "n" in opts or "g" in opts:
        opts["l"] = 1
    ls_ = _Ls(sys, opts)
    files, dirs = [], []
    for a in args or ["."]:
        try:
            follow = "l" not in opts and "d" not in opts or "L" in opts
            s = sys.stat(a, follow_symlinks=follow)
            if st.S_ISLNK(s.mode) and "d" not in opts and "l" in opts and a.endswith("/"):
                s = sys.stat(a)
        except OSError as e:
            err(sys, "ls", f"{a}: {strerror(e)}")
            ls_.status = 1
            continue
        if st.S_ISDIR(s.mode) and "d" not in opts:
            dirs.append(a)
        else:
            files.append((a, a, s))
    if files:
        ls_.emit(ls_.order(files))
    header = len(args) > 1 or "R" in opts
    for k, d in enumerate(sorted(dirs, reverse="r" in opts)):
        ls_.show_dir(d, header, first=not files and k == 0)
    return ls_.status


# -- making and removing -----------------------------------------------------------------

def mkdir(sys, argv: list[str]) -> int:
    """mkdir [-p] [-m MODE] DIR..."""
    try:
        opts, args = parse_opts(argv, "pv", "m", longs={"--parents": "p"})
    except UsageError as e:
        return usage(sys, "mkdir", e, "[-m MODE] [-p] DIRECTORY...")
    if not args:
        return usage(sys, "mkdir", UsageError("missing operand"), "[-m MODE] [-p] DIRECTORY...")
    mode = 0o755
    if "m" in opts:
        parsed = parse_mode(str(opts["m"]), 0o777)
        if parsed is None:
            err(sys, "mkdir", f"invalid mode '{opts['m']}'")
            return 1
        mode = parsed
    status = 0
    for d in args:
        try:
            if "p" in opts:
                make_dirs(sys, d, mode)
            else:
                sys.mkdir(d, mode)
                if "m" in opts:
                    sys.chmod(d, mode)
        except OSError as e:
            err(sys, "mkdir", f"can't create directory '{d}': {strerror(e)}")
            status = 1
    return status


def make_dirs(sys, path: str, mode: int = 0o755) -> None:
    """mkdir -p: every missing component; an existing directory is fine."""
    parts = [p for p in path.split("/") if p]
    cur = "/" if path.startswith("/") else ""
    for k, p in enumerate(parts):
        cur = _path(cur, p) if cur else p
        try:
            s = sys.stat(cur)
            if not st.S_ISDIR(s.mode):
                raise NotADirectoryError(errno.ENOTDIR, "Not a directory", cur)
            continue
        except FileNotFoundError:
            pass
        try:
            sys.mkdir(cur, mode if k == len(parts) - 1 else 0o755)
        except FileExistsError:
            if not is_dir(sys, cur):
                raise


def remove_tree(sys, path: str) -> None:
    s = sys.stat(path, follow_symlinks=False)
    if st.S_ISDIR(s.mode):
        for name in sys.listdir(path):
            remove_tree(sys, _path(path, name))
        sys.rmdir(path)
    else:
        sys.unlink(path)


def rm(sys, argv: list[str]) -> int:
    """rm [-rRfiv] FILE..."""
    try:
        opts, args = parse_opts(argv, "rRfiv", longs={"--recursive": "r", "--force": "f"})
    except UsageError as e:
        return usage(sys, "rm", e, "[-irf] FILE...")
    if not args and "f" not in opts:
        return usage(sys, "rm", UsageError("missing operand"), "[-irf] FILE...")
    recursive = "r" in opts or "R" in opts
    status = 0
    for path in args:
        if posixpath.basename(path.rstrip("/")) in (".", ".."):
            err(sys, "rm", "can't remove '.' or '..'")
            status = 1
            continue
        try:
            s = sys.stat(path, follow_symlinks=False)
        except OSError as e:
            if "f" not in opts:
                err(sys, "rm", f"can't remove '{path}': {strerror(e)}")
                status = 1
            continue
        try:
            if st.S_ISDIR(s.mode):
                if not recursive:
                    err(sys, "rm", f"'{path}' is a directory")
                    status = 1
                    continue
                remove_tree(sys, path)
            else:
                sys.unlink(path)
            if "v" in opts:
                out(sys, f"removed '{path}'\n")
        except OSError as e:
            err(sys, "rm", f"can't remove '{path}': {strerror(e)}")
            status = 1
    return status


def rmdir(sys, argv: list[str]) -> int:
    """rmdir [-p] DIR..."""
    try:
        opts, args = parse_opts(argv, "p", longs={"--ignore-fail-on-non-empty": "I"})
    except UsageError as e:
        return usage(sys, "rmdir", e, "[-p] DIRECTORY...")
    status = 0
    for d in args:
        targets = [d]
        if "p" in opts:
            p = d.rstrip("/")
            while "/" in p.strip("/"):
                p = posixpath.dirname(p)
                targets.append(p)
        for t in targets:
            try:
                sys.rmdir(t)
            except OSError as e:
                if not (e.errno == errno.ENOTEMPTY and "I" in opts):
                    err(sys, "rmdir", f"'{t}': {strerror(e)}")
                    status = 1
                break
    return status


def touch(sys, argv: list[str]) -> int:
    """touch [-c] FILE... (times are always "now": -d/-t/-r are accepted and ignored)"""
    try:
        opts, args = parse_opts(argv, "cam", "dtr")
    except UsageError as e:
        return usage(sys, "touch", e, "[-c] [-d DATE] [-t DATE] [-r FILE] FILE...")
    status = 0
    for path in args:
        try:
            sys.stat(path)
            sys.utime(path)
        except FileNotFoundError:
            if "c" in opts:
                continue
            try:
                sys.write(path, b"", append=True)
            except OSError as e:
                err(sys, "touch", f"{path}: {strerror(e)}")
                status = 1
        except OSError as e:
            err(sys, "touch", f"{path}: {strerror(e)}")
            status = 1
    return status


# -- copying, moving, linking ---------------------------------------------------------------

def _copy(sys, src: str, dst: str, opts: dict, top: bool = True) -> int:
    keep_links = "d" in opts or "P" in opts or "a" in opts
    preserve = "p" in opts or "a" in opts
    recursive = "r" in opts or "R" in opts or "a" in opts
    try:
        s = sys.stat(src, follow_symlinks=not keep_links)
    except OSError as e:
        err(sys, "cp", f"can't stat '{src}': {strerror(e)}")
        return 1
    try:
        d = sys.stat(dst)
        if d.ino and d.ino == s.ino and st.S_IFMT(d.mode) == st.S_IFMT(s.mode):
            err(sys, "cp", f"'{src}' and '{dst}' are the same file")
            return 1
    except OSError:
        d = None
    try:
        if st.S_ISLNK(s.mode):
            if d is not None or _lexists(sys, dst):
                sys.unlink(dst)
            sys.symlink(sys.readlink(src), dst)
            return 0
        if st.S_ISDIR(s.mode):
            if not recursive:
                err(sys, "cp", f"omitting directory '{src}'")
                return 1
            if d is None:
                sys.mkdir(dst, s.mode & 0o7777)
            elif not st.S_ISDIR(d.mode):
                err(sys, "cp", f"can't create directory '{dst}': File exists")
                return 1
            status = 0
            for name in sys.listdir(src):
                status |= _copy(sys, _path(src, name), _path(dst, name), opts, False)
            if preserve:
                sys.chmod(dst, s.mode & 0o7777)
                sys.chown(dst, s.uid, s.gid)
            return status
        mode = s.mode & 0o7777 if preserve else s.mode & 0o777 & ~0o022
        if "f" in opts and d is not None:
            try:
                sys.unlink(dst)
            except OSError:
                pass
        sys.write(dst, sys.read(src), mode=mode)
        if preserve or d is None:
            sys.chmod(dst, mode)
        if preserve:
            sys.chown(dst, s.uid, s.gid)
        return 0
    except OSError as e:
        err(sys, "cp", f"can't create '{dst}': {strerror(e)}")
        return 1


def _lexists(sys, path: str) -> bool:
    try:
        sys.stat(path, follow_symlinks=False)
        return True
    except OSError:
        return False


def _targets(sys, prog: str, args: list[str], syn: str):
    """(sources, dest, into_dir) with the checks cp, mv and ln share."""
    if len(args) < 2:
        usage(sys, prog, UsageError("missing operand" if not args else f"missing destination file operand after '{args[0]}'"), syn)
        return None
    dest = args[-1]
    into = is_dir(sys, dest)
    if len(args) > 2 and not into:
        err(sys, prog, f"'{dest}' is not a directory")
        return None
    return args[:-1], dest, into


def cp(sys, argv: list[str]) -> int:
    """cp [-rRapdPf] SOURCE... DEST (-p/-a keep mode and owner; times become "now")"""
    try:
        opts, args = parse_opts(argv, "rRapdPfiLHTuv", longs={"--recursive": "r", "--archive": "a"})
    except UsageError as e:
        return usage(sys, "cp", e, "[-arPLHpfinlsTu] SOURCE... DEST")
    t = _targets(sys, "cp", args, "[-arPLHpfinlsTu] SOURCE... DEST")
    if t is None:
        return 1
    sources, dest, into = t
    status = 0
    for src in sources:
        target = _path(dest, posixpath.basename(src.rstrip("/")) or src) if into else dest
        status |= _copy(sys, src, target, opts)
    return status


def mv(sys, argv: list[str]) -> int:
    """mv [-fin] SOURCE... DEST"""
    try:
        opts, args = parse_opts(argv, "finvT")
    except UsageError as e:
        return usage(sys, "mv", e, "[-fin] SOURCE... DEST")
    t = _targets(sys, "mv", args, "[-fin] SOURCE... DEST")
    if t is None:
        return 1
    sources, dest, into = t
    status = 0
    for src in sources:
        target = _path(dest, posixpath.basename(src.rstrip("/"))) if into else dest
        if "n" in opts and _lexists(sys, target):
            continue
        try:
            sys.rename(src, target)
        except OSError as e:
            if e.errno == errno.EXDEV:     # across mounts: copy, then remove
                if _copy(sys, src, target, {"a": 1}) == 0:
                    remove_tree(sys, src)
                    continue
            err(sys, "mv", f"can't rename '{src}': {strerror(e)}")
            status = 1
    return status


def ln(sys, argv: list[str]) -> int:
    """ln [-sfnv] TARGET [LINK] | TARGET... DIR"""
    try:
        opts, args = parse_opts(argv, "sfnvT")
    except UsageError as e:
        return usage(sys, "ln", e, "[-sfnbtv] [-S SUF] TARGET... LINK|DIR")
    if not args:
        return usage(sys, "ln", UsageError("missing operand"), "[-sfnbtv] TARGET... LINK|DIR")
    if len(args) == 1:
        args = args + [posixpath.basename(args[0].rstrip("/")) or args[0]]
    dest = args[-1]
    into = is_dir(sys, dest) and not ("n" in opts and _is_link(sys, dest))
    if len(args) > 2 and not into:
        err(sys, "ln", f"'{dest}' is not a directory")
        return 1
    status = 0
    for target in args[:-1]:
        link = _path(dest, posixpath.basename(target.rstrip("/"))) if into else dest
        try:
            if "f" in opts and _lexists(sys, link):
                sys.unlink(link)
            if "s" in opts:
                sys.symlink(target, link)
            else:
                sys.link(target, link)
        except OSError as e:
            err(sys, "ln", f"{link}: {strerror(e)}")
            status = 1
    return status


def _is_link(sys, path: str) -> bool:
    try:
        return st.S_ISLNK(sys.stat(path, follow_symlinks=False).mode)
    except OSError:
        return False


# -- permissions and owners ---------------------------------------------------------------

def parse_mode(spec: str, current: int, is_directory: bool = False, umask: int = 0o022) -> int | None:
    """An octal mode or symbolic clauses (``u+x``, ``go-w``, ``a=r,u+w``, ``+x``) applied to ``current``."""
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = current & 0o7777
    for clause in spec.split(","):
        m = re.fullmatch(r"([ugoa]*)((?:[-+=][rwxXstugo]*)+)", clause)
        if not m:
            return None
        who = m.group(1) or "a"
        masked = not m.group(1)
        whobits = 0
        for w in who:
            whobits |= {"u": 0o4700, "g": 0o2070, "o": 0o1007, "a": 0o7777}[w]
        for op, perms in re.findall(r"([-+=])([rwxXstugo]*)", m.group(2)):
            bits = 0
            for p in perms:
                if p == "r":
                    bits |= 0o444
                elif p == "w":
                    bits |= 0o222
                elif p == "x":
                    bits |= 0o111
                elif p == "X":
                    if is_directory or mode & 0o111:
                        bits |= 0o111
                elif p == "s":
                    bits |= 0o6000
                elif p == "t":
                    bits |= 0o1000
                elif p in "ugo":
                    shift = {"u": 6, "g": 3, "o": 0}[p]
                    b = (current >> shift) & 7
                    bits |= b << 6 | b << 3 | b
            bits &= whobits
            if masked and op != "-":
                bits &= ~umask | 0o7000
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~(whobits & 0o7777)) | bits
    return mode


def walk(sys, path: str, files_only: bool = False, follow_top: bool = True) -> list[str]:
    """``path`` and everything below it, parents first (for -R options and grep -r)."""
    result = []
    try:
        s = sys.stat(path, follow_symlinks=follow_top)
    except OSError:
        return [path]
    if not files_only or not st.S_ISDIR(s.mode):
        result.append(path)
    if st.S_ISDIR(s.mode):
        try:
            names = sys.listdir(path)
        except OSError:
            return result
        for n in names:
            result.extend(walk(sys, _path(path, n), files_only, follow_top=False))
    return result


def chmod(sys, argv: list[str]) -> int:
    """chmod [-R] MODE FILE... — octal or symbolic (``u+x``, ``go-w``, ``a=rX``)."""
    args = argv[1:]
    recursive = False
    while args and args[0] in ("-R", "-v", "-f", "-c"):
        recursive = recursive or args.pop(0) == "-R"
    if len(args) < 2:
        return usage(sys, "chmod", UsageError("missing operand"), "[-Rcvf] MODE[,MODE]... FILE...")
    spec, paths = args[0], args[1:]
    status = 0
    for top in paths:
        for path in walk(sys, top) if recursive else [top]:
            try:
                s = sys.stat(path)
            except OSError as e:
                err(sys, "chmod", f"{path}: {strerror(e)}")
                status = 1
                continue
            mode = parse_mode(spec, s.mode, st.S_ISDIR(s.mode))
            if mode is None:
                err(sys, "chmod", f"invalid mode '{spec}'")
                return 1
            try:
                sys.chmod(path, mode)
            except OSError as e:
                err(sys, "chmod", f"{path}: {strerror(e)}")
                status = 1
    return status


def _owner_spec(sys, prog: str, spec: str) -> tuple[int | None, int | None] | None:
    user, sep, group = spec.replace(".", ":", 1).partition(":") if ":" not in spec else spec.partition(":")
    uid = gid = None
    if user:
        rec = lookup_user(sys, user)
        if rec is not None:
            uid = int(rec[2])
            if sep and not group:
                gid = int(rec[3])
        elif user.isdigit():
            uid = int(user)
        else:
            err(sys, prog, f"unknown user {user}")
            return None
    if group:
        gid = lookup_group(sys, group)
        if gid is None:
            err(sys, prog, f"unknown group {group}")
            return None
    return uid, gid


def _chown_paths(sys, prog: str, uid, gid, paths: list[str], recursive: bool) -> int:
    status = 0
    for top in paths:
        for path in walk(sys, top) if recursive else [top]:
            try:
                s = sys.stat(path)
                sys.chown(path, s.uid if uid is None else uid, s.gid if gid is None else gid)
            except OSError as e:
                err(sys, prog, f"{path}: {strerror(e)}")
                status = 1
    return status


def chown(sys, argv: list[str]) -> int:
    """chown [-R] USER[:GROUP] FILE... — names from /etc/passwd and /etc/group, or numbers
    (-h is accepted; the simulated kernel's chown follows links)."""
    try:
        opts, args = parse_opts(argv, "RhfvcLHP")
    except UsageError as e:
        return usage(sys, "chown", e, "[-RhLHPcvf] USER[:[GRP]] FILE...")
    if len(args) < 2:
        return usage(sys, "chown", UsageError("missing operand"), "[-RhLHPcvf] USER[:[GRP]] FILE...")
    ids = _owner_spec(sys, "chown", args[0])
    if ids is None:
        return 1
    return _chown_paths(sys, "chown", ids[0], ids[1], args[1:], "R" in opts)


def chgrp(sys, argv: list[str]) -> int:
    """chgrp [-R] GROUP FILE..."""
    try:
        opts, args = parse_opts(argv, "RhfvcLHP")
    except UsageError as e:
        return usage(sys, "chgrp", e, "[-RhLHPcvf] GROUP FILE...")
    if len(args) < 2:
        return usage(sys, "chgrp", UsageError("missing operand"), "[-RhLHPcvf] GROUP FILE...")
    gid = lookup_group(sys, args[0])
    if gid is None:
        err(sys, "chgrp", f"unknown group {args[0]}")
        return 1
    return _chown_paths(sys, "chgrp", None, gid, args[1:], "R" in opts)


# -- finding and measuring ------------------------------------------------------------------

_TYPES = {"f": st.S_IFREG, "d": st.S_IFDIR, "l": st.S_IFLNK, "c": st.S_IFCHR, "b": st.S_IFBLK,
          "p": st.S_IFIFO, "s": st.S_IFSOCK}


def find(sys, argv: list[str]) -> int:
    """find [PATH]... [-name PAT] [-iname PAT] [-path PAT] [-type f|d|l|c|b|p|s] [-maxdepth N]
    [-mindepth N] [-empty] [! | -not] [-o] [-print] [-exec CMD {} ;|+] [-delete]"""
    args = argv[1:]
    roots = []
    while args and not args[0].startswith("-") and args[0] not in ("!", "("):
        roots.append(args.pop(0))
    roots = roots or ["."]
    groups: list[list] = [[]]        # OR of ANDs of (negated, test)
    maxdepth, mindepth = None, 0
    actions: list = []
    negate = False
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a in ("!", "-not"):
            negate = not negate
            continue
        if a in ("-o", "-or"):
            groups.append([])
            continue
        if a in ("-a", "-and", "-print", "-depth", "-xdev"):
            if a == "-print":
                actions.append(("print",))
            continue
        if a in ("-delete", "-empty"):
            if a == "-delete":
                actions.append(("delete",))
            else:
                groups[-1].append((negate, ("empty",)))
            negate = False
            continue
        if a == "-exec":
            cmd = []
            while i < len(args) and args[i] not in (";", "+"):
                cmd.append(args[i])
                i += 1
            if i >= len(args):
                err(sys, "find", "-exec requires an argument")
                return 1
            actions.append(("exec", cmd, args[i]))
            i += 1
            continue
        if i >= len(args):
            err(sys, "find", f"{a} requires an argument" if a.startswith("-") else f"unrecognized: {a}")
            return 1
        value = args[i]
        i += 1
        if a in ("-name", "-iname", "-path", "-wholename"):
            groups[-1].append((negate, (a, value)))
        elif a == "-type":
            if value not in _TYPES:
                err(sys, "find", f"invalid argument '{value}' to '-type'")
                return 1
            groups[-1].append((negate, ("type", _TYPES[value])))
        elif a in ("-maxdepth", "-mindepth"):
            if not value.isdigit():
                err(sys, "find", f"invalid number '{value}'")
                return 1
            if a == "-maxdepth":
                maxdepth = int(value)
            else:
                mindepth = int(value)
        else:
            err(sys, "find", f"unrecognized: {a}")
            return 1
        negate = False
    status = 0
    plus_batch: list[str] = []

    def test(path: str, s: Stat, t) -> bool:
        kind = t[0]
        base = posixpath.basename(path.rstrip("/")) or path
        if kind == "-name":
            return fnmatch.fnmatchcase(base, t[1])
        if kind == "-iname":
            return fnmatch.fnmatchcase(base.lower(), t[1].lower())
        if kind in ("-path", "-wholename"):
            return fnmatch.fnmatchcase(path, t[1])
        if kind == "type":
            return st.S_IFMT(s.mode) == t[1]
        if kind == "empty":
            if st.S_ISDIR(s.mode):
                try:
                    return not sys.listdir(path)
                except OSError:
                    return False
            return st.S_ISREG(s.mode) and s.size == 0
        return False

    def visit(path: str, depth: int) -> None:
        nonlocal status
        try:
            s = sys.stat(path, follow_symlinks=False)
        except OSError as e:
            err(sys, "find", f"{path}: {strerror(e)}")
            status = 1
            return
        if depth >= mindepth and any(all(test(path, s, t) != neg for neg, t in g) for g in groups):
            for act in actions or [("print",)]:
                if act[0] == "print":
                    out(sys, path + "\n")
                elif act[0] == "exec":
                    if act[2] == "+":
                        plus_batch.append(path)
                    else:
                        cmd = [path if x == "{}" else x.replace("{}", path) for x in act[1]]
                        if sys.run(cmd, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr,
                                   env=dict(sys.environ)):
                            status = 1
        is_d = st.S_ISDIR(s.mode)
        if is_d and (maxdepth is None or depth < maxdepth):
            try:
                names = sys.listdir(path)
            except OSError as e:
                err(sys, "find", f"{path}: {strerror(e)}")
                status = 1
                names = []
            for n in names:
                visit(_path(path, n), depth + 1)
        if depth >= mindepth and any(a[0] == "delete" for a in actions) and \
                any(all(test(path, s, t) != neg for neg, t in g) for g in groups):
            try:
                (sys.rmdir if is_d else sys.unlink)(path)
            except OSError as e:
                err(sys, "find", f"{path}: {strerror(e)}")
                status = 1

    for r in roots:
        visit(r, 0)
    for act in actions:
        if act[0] == "exec" and act[2] == "+" and plus_batch:
            cmd = []
            for x in act[1]:
                cmd.extend(plus_batch if x == "{}" else [x])
            if sys.run(cmd, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr, env=dict(sys.environ)):
                status = 1
    return status


def du(sys, argv: list[str]) -> int:
    """du [-s] [-h|-k|-m] [-a] [-c] [-d N] [FILE]... — sizes in 1K blocks (4 KiB allocation units),
    hard links counted once."""
    try:
        opts, args = parse_opts(argv, "shkmacxL", "d")
    except UsageError as e:
        return usage(sys, "du", e, "[-aHLdclsxhmk] [FILE]...")
    seen: set[int] = set()
    maxdepth = 0 if "s" in opts else (int(opts["d"]) if str(opts.get("d", "")).isdigit() else None)
    status = 0

    def fmt(kb: int) -> str:
        if "h" in opts:
            return human(kb * 1024)
        if "m" in opts:
            return str((kb + 1023) // 1024)
        return str(kb)

    def visit(path: str, depth: int) -> int:
        nonlocal status
        try:
            s = sys.stat(path, follow_symlinks=False)
        except OSError as e:
            err(sys, "du", f"{path}: {strerror(e)}")
            status = 1
            return 0
        if s.ino and s.nlink > 1 and not st.S_ISDIR(s.mode):
            if s.ino in seen:
                return 0
            seen.add(s.ino)
        total = blocks(s)
        if st.S_ISDIR(s.mode):
            try:
                names = sys.listdir(path)
            except OSError:
                names = []
            for n in names:
                total += visit(_path(path, n), depth + 1)
            if maxdepth is None or depth <= maxdepth:
                out(sys, f"{fmt(total)}\t{path}\n")
        elif ("a" in opts and (maxdepth is None or depth <= maxdepth)) or depth == 0:
            out(sys, f"{fmt(total)}\t{path}\n")
        return total

    grand = 0
    for path in args or ["."]:
        grand += visit(path, 0)
    if "c" in opts:
        out(sys, f"{fmt(grand)}\ttotal\n")
    return status


def df(sys, argv: list[str]) -> int:
    """df [-h] [-k] [-T] [-a] [PATH]... — the mount table is real, the sizes are simulated
    (a 58 GiB disk for disk-backed mounts; tmpfs from its size= option)."""
    try:
        opts, args = parse_opts(argv, "hkmTaPi")
    except UsageError as e:
        return usage(sys, "df", e, "[-PkmhTai] [FILESYSTEM]...")
    rows = []
    for line in sys.mounts().splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        dev, mnt, fstype, mopts = fields[:4]
        if fstype in ("proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs", "debugfs"):
            if "a" not in opts:
                continue
            total = used = 0
        elif fstype in ("tmpfs", "devtmpfs", "shm"):
            m = re.search(r"size=(\d+)([kmg]?)", mopts)
            total = int(m.group(1)) * {"": 1, "k": 1, "m": 1024, "g": 1024 ** 2}[m.group(2)] // (
                1024 if not m.group(2) else 1) if m else 65536
            used = 0
        else:
            total, used = SIM_DISK_BLOCKS, SIM_DISK_USED
        rows.append((dev, fstype, total, used, mnt))
    if args:
        wanted = []
        for a in args:
            best = None
            for r in rows:
                if a == r[4] or a.startswith(r[4].rstrip("/") + "/") or r[4] == "/":
                    if best is None or len(r[4]) > len(best[4]):
                        best = r
            if best:
                wanted.append(best)
        rows = wanted
    if "h" in opts:
        head = f"{'Filesystem':<20}{'  Type' if 'T' in opts else ''}{'Size':>9}{'Used':>9}{'Available':>10} Use% Mounted on\n"
    else:
        head = f"{'Filesystem':<20}{'  Type' if 'T' in opts else ''}{'1K-blocks':>10}{'Used':>10}{'Available':>10} Use% Mounted on\n"
    text = [head]
    for dev, fstype, total, used, mnt in rows:
        avail = total - used
        pct = f"{(used * 100 + total - 1) // total}%" if total else "0%"
        typ = f"  {fstype:<8}" if "T" in opts else ""
        if "h" in opts:
            text.append(f"{dev:<20}{typ}{human(total * 1024):>9}{human(used * 1024):>9}{human(avail * 1024):>10}"
                        f"{pct:>5} {mnt}\n")
        else:
            text.append(f"{dev:<20}{typ}{total:>10}{used:>10}{avail:>10}{pct:>5} {mnt}\n")
    out(sys, "".join(text))
    return 0


def _file_type(s: Stat) -> str:
    if st.S_ISREG(s.mode):
        return "regular file" if s.size else "regular empty file"
    return {st.S_IFDIR: "directory", st.S_IFLNK: "symbolic link", st.S_IFCHR: "character special file",
            st.S_IFBLK: "block special file", st.S_IFIFO: "fifo", st.S_IFSOCK: "socket"}.get(st.S_IFMT(s.mode), "unknown")


def stat_(sys, argv: list[str]) -> int:
    """stat [-L] [-c FORMAT] FILE... (format: %n %N %s %a %A %u %U %g %G %F %i %h %b %Y %y %t %T %%)"""
    try:
        opts, args = parse_opts(argv, "Lft", "c")
    except UsageError as e:
        return usage(sys, "stat", e, "[-ltf] [-c FMT] FILE...")
    if not args:
        return usage(sys, "stat", UsageError("missing operand"), "[-ltf] [-c FMT] FILE...")
    status = 0
    for path in args:
        try:
            s = sys.stat(path, follow_symlinks="L" in opts)
        except OSError as e:
            err(sys, "stat", f"can't stat '{path}': {strerror(e)}")
            status = 1
            continue
        user = user_name(sys, s.uid) or "UNKNOWN"
        group = group_name(sys, s.gid) or "UNKNOWN"
        link = ""
        if st.S_ISLNK(s.mode):
            try:
                link = sys.readlink(path)
            except OSError:
                pass
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s.mtime)) + f".{int(s.mtime % 1 * 1e9):09d} +0000"
        if "c" in opts:
            table = {"n": path, "N": f"'{path}'" + (f" -> '{link}'" if link else ""), "s": str(s.size),
                     "a": f"{s.mode & 0o7777:o}", "A": mode_string(s.mode), "u": str(s.uid), "U": user,
                     "g": str(s.gid), "G": group, "F": _file_type(s), "i": str(s.ino), "h": str(s.nlink),
                     "b": str(blocks(s) * 2), "Y": str(int(s.mtime)), "y": stamp, "X": str(int(s.mtime)),
                     "Z": str(int(s.mtime)), "t": f"{s.rdev >> 8 & 0xfff:x}", "T": f"{s.rdev & 0xff:x}",
                     "%": "%", "o": "4096", "f": f"{s.mode:x}"}
            fmt = str(opts["c"])
            out(sys, re.sub(r"%(.)", lambda m: table.get(m.group(1), m.group()), fmt) + "\n")
            continue
        name = f"'{path}' -> '{link}'" if link else f"'{path}'"
        dev = ""
        if st.S_ISCHR(s.mode) or st.S_ISBLK(s.mode):
            dev = f" Device type: {s.rdev >> 8 & 0xfff:x},{s.rdev & 0xff:x}"
        out(sys, f"  File: {name}\n"
                 f"  Size: {s.size:<10}\tBlocks: {blocks(s) * 2:<10} IO Block: 4096   {_file_type(s)}\n"
                 f"Device: 2fh/47d\tInode: {s.ino:<11} Links: {s.nlink:<5}{dev}\n"
                 f"Access: ({s.mode & 0o7777:04o}/{mode_string(s.mode)})  Uid: ({s.uid:5d}/{user:>8})"
                 f"   Gid: ({s.gid:5d}/{group:>8})\n"
                 f"Access: {stamp}\nModify: {stamp}\nChange: {stamp}\n")
    return status


# -- names -----------------------------------------------------------------------------------

def basename(sys, argv: list[str]) -> int:
    """basename NAME [SUFFIX]"""
    args = [a for a in argv[1:] if a != "--"]
    if not args:
        return usage(sys, "basename", UsageError("missing operand"), "FILE [SUFFIX]")
    name = args[0].rstrip("/")
    base = posixpath.basename(name) if name else ("/" if args[0] else "")
    if len(args) > 1 and base.endswith(args[1]) and base != args[1]:
        base = base[: -len(args[1])]
    out(sys, base + "\n")
    return 0


def dirname(sys, argv: list[str]) -> int:
    """dirname NAME"""
    args = [a for a in argv[1:] if a != "--"]
    if not args:
        return usage(sys, "dirname", UsageError("missing operand"), "FILENAME")
    name = args[0].rstrip("/") or ("/" if args[0].startswith("/") else "")
    d = posixpath.dirname(name).rstrip("/") if "/" in name else "."
    out(sys, (d or "/") + "\n")
    return 0


def pwd(sys, argv: list[str]) -> int:
    """pwd [-L|-P]"""
    try:
        out(sys, sys.getcwd() + "\n")
    except OSError as e:
        err(sys, "pwd", f"getcwd: {strerror(e)}")
        return 1
    return 0


def canonical(sys, path: str, must_exist: bool = True) -> str:
    """readlink -f: an absolute path with every symlink resolved (through the kernel)."""
    if not path.startswith("/"):
        path = posixpath.join(sys.getcwd(), path)

    def link_target(cur: str) -> str | None:
        try:
            s = sys.stat(cur, follow_symlinks=False)
        except OSError:
            if must_exist:
                raise
            return None
        return sys.readlink(cur) if st.S_ISLNK(s.mode) else None

    return resolve_links(path, link_target, lambda cur: OSError(errno.ELOOP, "Symbolic link loop", cur))


def readlink(sys, argv: list[str]) -> int:
    """readlink [-f -e -n] FILE"""
    try:
        opts, args = parse_opts(argv, "fenqsv")
    except UsageError as e:
        return usage(sys, "readlink", e, "[-fnv] FILE")
    status = 0
    for path in args:
        try:
            text = canonical(sys, path) if ("f" in opts or "e" in opts) else sys.readlink(path)
        except OSError:
            status = 1
            continue
        out(sys, text + ("" if "n" in opts else "\n"))
    return status


def realpath(sys, argv: list[str]) -> int:
    """realpath FILE..."""
    status = 0
    for path in argv[1:] or ["."]:
        try:
            out(sys, canonical(sys, path) + "\n")
        except OSError as e:
            err(sys, "realpath", f"{path}: {strerror(e)}")
            status = 1
    return status


APPLETS = {
    "ls": ls, "mkdir": mkdir, "rm": rm, "rmdir": rmdir, "touch": touch, "cp": cp, "mv": mv, "ln": ln,
    "chmod": chmod, "chown": chown, "chgrp": chgrp, "find": find, "du": du, "df": df, "stat": stat_,
    "basename": basename, "dirname": dirname, "pwd": pwd, "readlink": readlink, "realpath": realpath,
}


def dd(sys, argv: list[str]) -> int:
    """dd [if=F] [of=F] [bs=N] [count=N] — copies blocks; busybox's summary on stderr.

    Streams through ``System.open``, so ``if=/dev/zero`` works and a tmpfs
    ``of=`` is charged to the memory cgroup as it grows (the OOM lesson).
    """
    from .common import parse_size
    args = {}
    for a in argv[1:]:
        key, eq, value = a.partition("=")
        if not eq or key not in ("if", "of", "bs", "count", "status"):
            err(sys, "dd", f"unknown operand {a}")
            return 1
        args[key] = value
    bs = parse_size(args.get("bs", "512"))
    count = int(args["count"]) if args.get("count", "").isdigit() else None
    if not bs:
        err(sys, "dd", f"invalid number '{args.get('bs')}'")
        return 1
    src = sys.open(args["if"], "rb") if "if" in args else sys.stdin
    dst = sys.open(args["of"], "wb") if "of" in args else sys.stdout
    started, full, total = sys.time(), 0, 0
    try:
        while count is None or full < count:
            block = src.read(bs)
            if not block:
                break
            dst.write(block)
            full += 1
            total += len(block)
    except OSError as e:
        err(sys, "dd", f"error writing '{args.get('of', 'standard output')}': {strerror(e)}")
        return 1
    finally:
        for stream in (src, dst):
            if stream not in (sys.stdin, sys.stdout):
                stream.close()
    if args.get("status") != "none":
        took = max(sys.time() - started, 1e-6)
        sys.stderr.write(f"{full}+0 records in\n{full}+0 records out\n{total} bytes ({human(total)}B) "
                         f"copied, {took:.6f} seconds, {human(total / took)}B/s\n".encode())
    return 0


APPLETS["dd"] = dd

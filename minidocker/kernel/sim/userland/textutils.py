"""Busybox's text applets, simulated: echo, printf, test/[, true, false, cat,
wc, head, tail, grep, sed, cut, tr, sort, uniq, tee, seq, yes, xargs, rev,
md5sum, sha256sum.

Each imitates busybox 1.36's output and messages for the options listed in
its docstring; other options are refused with busybox's ``invalid option``
message. Regular expressions go through Python's ``re`` after translating
POSIX basic (BRE) and extended (ERE) syntax for the common cases:
``\\( \\) \\{ \\} \\| \\+ \\?`` in BRE, bracket classes like ``[[:digit:]]``,
a leading ``*`` as a literal.
"""

from __future__ import annotations

import hashlib
import re

from .common import (UsageError, bracket_body, dec, enc, err, out, parse_opts, progname, read_input, strerror,
                     usage)

YES_LIMIT = 10_000   # pipelines run stage by stage, so yes stops by itself after this many lines


# -- echo, printf ---------------------------------------------------------------------

_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\"}


def backslash_escapes(text: str, octal_zero: bool) -> tuple[str, bool]:
    """echo -e / printf %b / printf format escapes; returns (text, stop) — ``\\c`` stops output.
    ``octal_zero``: octal needs a leading 0 (``\\0NNN``, echo and %b) rather than ``\\NNN``."""
    res: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "\\" or i + 1 >= n:
            res.append(c)
            i += 1
            continue
        d = text[i + 1]
        i += 2
        if d in _ESCAPES:
            res.append(_ESCAPES[d])
        elif d == "c":
            return "".join(res), True
        elif d == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", text[i:])
            if m:
                res.append(chr(int(m.group(), 16)))
                i += m.end()
            else:
                res.append("\\x")
        elif d == "0" and octal_zero:
            m = re.match(r"[0-7]{0,3}", text[i:])
            res.append(chr(int(m.group() or "0", 8) & 0xFF))
            i += m.end()
        elif d in "01234567" and not octal_zero:
            m = re.match(r"[0-7]{1,3}", text[i - 1:])
            res.append(chr(int(m.group(), 8) & 0xFF))
            i += m.end() - 1
        elif not octal_zero and d in "\"'":
            res.append(d)
        else:
            res.append("\\" + d)
    return "".join(res), False


def echo(sys, argv: list[str]) -> int:
    """echo [-neE] ARGS — no escapes unless -e, like busybox (not like dash)."""
    args = argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for c in args.pop(0)[1:]:
            if c == "n":
                newline = False
            else:
                escapes = c == "e"
    text = " ".join(args)
    if escapes:
        text, stop = backslash_escapes(text, True)
        if stop:
            newline = False
    out(sys, text + ("\n" if newline else ""))
    return 0


_FMT_SPEC = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d*))?([diouxXcsbfFeEgG%])")


def _printf_number(sys, text: str, prog: str, state: dict) -> int:
    if text[:1] in ("'", '"'):
        return ord(text[1]) if len(text) > 1 else 0
    t = text.strip()
    try:
        if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", t):
            return int(t, 16)
        if re.fullmatch(r"[-+]?0[0-7]+", t):
            return int(t, 8)
        return int(t) if t else 0
    except ValueError:
        err(sys, prog, f"invalid number '{text}'")
        state["status"] = 1
        m = re.match(r"[-+]?\d+", t)
        return int(m.group()) if m else 0


def printf_format(sys, fmt: str, args: list[str], prog: str = "printf") -> tuple[str, int]:
    state = {"status": 0}
    res: list[str] = []
    args = list(args)
    while True:
        used = False
        i = 0
        while i < len(fmt):
            c = fmt[i]
            if c == "\\":
                m = re.match(r"\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)", fmt[i:], re.S)
                text, stop = backslash_escapes(m.group() if m else "\\", False)
                if stop:
                    return "".join(res), state["status"]
                res.append(text)
                i += m.end() if m else 1
                continue
            if c != "%":
                res.append(c)
                i += 1
                continue
            m = _FMT_SPEC.match(fmt, i)
            if not m:
                res.append(fmt[i:])
                err(sys, prog, f"{fmt[i:]}: invalid format")
                return "".join(res), 1
            i = m.end()
            flags, width, prec, conv = m.groups()
            if conv == "%":
                res.append("%")
                continue
            if width == "*":
                width = str(_printf_number(sys, args.pop(0), prog, state) if args else 0)
                used = True
            if prec == "*":
                prec = str(_printf_number(sys, args.pop(0), prog, state) if args else 0)
                used = True
            arg = args.pop(0) if args else None
            used = used or arg is not None
            spec = "%" + flags + (width or "") + ("." + prec if prec is not None else "")
            if conv in "sb":
                text = arg or ""
                if conv == "b":
                    text, stop = backslash_escapes(text, True)
                    if stop:
                        res.append(text)
                        return "".join(res), state["status"]
                res.append((spec + "s") % text)
            elif conv == "c":
                res.append((spec + "s") % ((arg or "")[:1]))
            elif conv in "diouxX":
                v = _printf_number(sys, arg, prog, state) if arg is not None else 0
                if conv == "u" and v < 0:
                    v += 1 << 64
                res.append((spec + ("d" if conv in "iu" else conv)) % v)
            else:
                try:
                    v = float(arg) if arg else 0.0
                except ValueError:
                    err(sys, prog, f"invalid number '{arg}'")
                    state["status"] = 1
                    v = 0.0
                res.append((spec + conv) % v)
        if not args or not used:
            break
    return "".join(res), state["status"]


def printf(sys, argv: list[str]) -> int:
    """printf FORMAT [ARGS] — %s %b %c %d %i %o %u %x %X %f %e %g, widths, precisions, ``*``, escapes;
    the format is reused while arguments remain."""
    args = argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        return usage(sys, "printf", UsageError("missing format"), "FORMAT [ARG]...")
    text, status = printf_format(sys, args[0], args[1:])
    out(sys, text)
    return status


def true(sys, argv: list[str]) -> int:
    return 0


def false(sys, argv: list[str]) -> int:
    return 1


# -- test ----------------------------------------------------------------------------

class _TestError(Exception):
    pass


def _file_test(sys, op: str, path: str) -> bool:
    import stat as st
    try:
        s = sys.stat(path, follow_symlinks=op not in ("-h", "-L"))
    except OSError:
        return False
    mode = s.mode
    checks = {
        "-e": lambda: True, "-f": lambda: st.S_ISREG(mode), "-d": lambda: st.S_ISDIR(mode),
        "-h": lambda: st.S_ISLNK(mode), "-L": lambda: st.S_ISLNK(mode), "-b": lambda: st.S_ISBLK(mode),
        "-c": lambda: st.S_ISCHR(mode), "-p": lambda: st.S_ISFIFO(mode), "-S": lambda: st.S_ISSOCK(mode),
        "-s": lambda: s.size > 0, "-u": lambda: bool(mode & st.S_ISUID), "-g": lambda: bool(mode & st.S_ISGID),
        "-k": lambda: bool(mode & st.S_ISVTX),
        "-r": lambda: _access(sys, s, 4), "-w": lambda: _access(sys, s, 2), "-x": lambda: _access(sys, s, 1),
    }
    return checks[op]()


def _access(sys, s, bit: int) -> bool:
    if sys.uid == 0:
        return bit != 1 or bool(s.mode & 0o111) or (s.mode & 0o170000) == 0o040000
    if s.uid == sys.uid:
        return bool(s.mode & (bit << 6))
    if s.gid == sys.gid:
        return bool(s.mode & (bit << 3))
    return bool(s.mode & bit)


_UNARY_FILE = ("-e", "-f", "-d", "-h", "-L", "-b", "-c", "-p", "-S", "-s", "-u", "-g", "-k", "-r", "-w", "-x")
_INT_OPS = {"-eq": lambda a, b: a == b, "-ne": lambda a, b: a != b, "-lt": lambda a, b: a < b,
            "-le": lambda a, b: a <= b, "-gt": lambda a, b: a > b, "-ge": lambda a, b: a >= b}
_STR_OPS = {"=": lambda a, b: a == b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b, ">": lambda a, b: a > b}


class _Test:
    def __init__(self, sys, args: list[str]):
        self.sys, self.args, self.i = sys, args, 0

    def _int(self, text: str) -> int:
        t = text.strip()
        if not re.fullmatch(r"[-+]?\d+", t):
            raise _TestError(f"{text}: bad number")
        return int(t)

    def binary(self, a: str, op: str, b: str) -> bool:
        if op in _STR_OPS:
            return _STR_OPS[op](a, b)
        if op in _INT_OPS:
            return _INT_OPS[op](self._int(a), self._int(b))
        if op in ("-nt", "-ot", "-ef"):
            try:
                sa, sb = self.sys.stat(a), self.sys.stat(b)
            except OSError:
                return False
            if op == "-ef":
                return sa.ino == sb.ino and sa.ino != 0
            return sa.mtime > sb.mtime if op == "-nt" else sa.mtime < sb.mtime
        raise _TestError(f"{op}: unknown operand")

    def unary(self, op: str, a: str) -> bool:
        if op == "-n":
            return a != ""
        if op == "-z":
            return a == ""
        if op == "-t":
            return False
        return _file_test(self.sys, op, a)

    # general grammar: expr := and ('-o' and)* ; and := not ('-a' not)* ; not := '!' not | primary
    def expr(self) -> bool:
        v = self.conj()
        while self.i < len(self.args) and self.args[self.i] == "-o":
            self.i += 1
            v = self.conj() or v
        return v

    def conj(self) -> bool:
        v = self.neg()
        while self.i < len(self.args) and self.args[self.i] == "-a":
            self.i += 1
            v = self.neg() and v
        return v

    def neg(self) -> bool:
        if self.i < len(self.args) and self.args[self.i] == "!" and self.i + 1 < len(self.args):
            self.i += 1
            return not self.neg()
        return self.primary()

    def primary(self) -> bool:
        args, i = self.args, self.i
        if i >= len(args):
            raise _TestError("argument expected")
        a = args[i]
        if a == "(" and i + 1 < len(args):
            # "( x )" where x is a single word, else a nested expression
            if i + 2 < len(args) and args[i + 2] == ")" and args[i + 1] not in _UNARY_FILE + ("-n", "-z"):
                self.i = i + 3
                return args[i + 1] != ""
            self.i += 1
            v = self.expr()
            if self.i >= len(args) or args[self.i] != ")":
                raise _TestError("')' expected")
            self.i += 1
            return v
        if i + 2 < len(args) + 0 and i + 1 < len(args) and (args[i + 1] in _STR_OPS or args[i + 1] in _INT_OPS
                                                            or args[i + 1] in ("-nt", "-ot", "-ef")):
            if i + 2 >= len(args):
                raise _TestError("argument expected")
            self.i = i + 3
            return self.binary(a, args[i + 1], args[i + 2])
        if a in _UNARY_FILE + ("-n", "-z", "-t") and i + 1 < len(args):
            self.i = i + 2
            return self.unary(a, args[i + 1])
        self.i = i + 1
        return a != ""

    def run(self) -> bool:
        args = self.args
        n = len(args)
        # POSIX's rules by argument count come first (they make "[ = ]", "[ ! -z ]" work)
        if n == 0:
            return False
        if n == 1:
            return args[0] != ""
        if n == 2:
            if args[0] == "!":
                return args[1] == ""
            if args[0] in _UNARY_FILE + ("-n", "-z", "-t"):
                return self.unary(args[0], args[1])
            raise _TestError(f"{args[0]}: unary operator expected")
        if n == 3:
            if args[1] in _STR_OPS or args[1] in _INT_OPS or args[1] in ("-nt", "-ot", "-ef"):
                return self.binary(args[0], args[1], args[2])
            if args[0] == "!":
                self.args = args[1:]
                return not self.run()
            if args[0] == "(" and args[2] == ")":
                return args[1] != ""
        v = self.expr()
        if self.i != len(self.args):
            raise _TestError(f"{self.args[self.i]}: unknown operand")
        return v


def test(sys, argv: list[str]) -> int:
    """test EXPR / [ EXPR ] — strings, integers (-eq …), files (-e -f -d -h -L -r -w -x -s -c -b -p -S),
    ``!``, ``-a``, ``-o``, parentheses; status 2 and a message on a malformed expression."""
    prog = progname(argv)
    args = argv[1:]
    if prog == "[":
        if not args or args[-1] != "]":
            err(sys, "[", "missing ]")
            return 2
        args = args[:-1]
    try:
        return 0 if _Test(sys, args).run() else 1
    except _TestError as e:
        err(sys, prog, str(e))
        return 2


# -- files as text ---------------------------------------------------------------------

def _inputs(sys, prog: str, paths: list[str]):
    """(name, bytes) of each input; ``-`` or none is stdin; errors printed, status collected."""
    status = 0
    result = []
    for path in paths or ["-"]:
        try:
            result.append((path, read_input(sys, path)))
        except IsADirectoryError:
            err(sys, prog, "read error: Is a directory")
            status = 1
        except OSError as e:
            err(sys, prog, f"can't open '{path}': {strerror(e)}")
            status = 1
    return result, status


def cat(sys, argv: list[str]) -> int:
    """cat [-n] [FILE]..."""
    try:
        opts, paths = parse_opts(argv, "nbuvteA")
    except UsageError as e:
        return usage(sys, "cat", e, "[-nbvteA] [FILE]...")
    status = 0
    lineno = 0
    for path in paths or ["-"]:
        try:
            data = read_input(sys, path)
        except IsADirectoryError:
            err(sys, "cat", "read error: Is a directory")
            status = 1
            continue
        except OSError as e:
            err(sys, "cat", f"can't open '{path}': {strerror(e)}")
            status = 1
            continue
        if "n" in opts or "b" in opts:
            lines = data.split(b"\n")
            tail = lines.pop() if lines else b""
            buf = []
            for line in lines:
                if "b" in opts and not line:
                    buf.append(b"\n")
                    continue
                lineno += 1
                buf.append(enc(f"{lineno:6d}\t") + line + b"\n")
            if tail:
                lineno += 1
                buf.append(enc(f"{lineno:6d}\t") + tail)
            data = b"".join(buf)
        sys.stdout.write(data)
    return status


def wc(sys, argv: list[str]) -> int:
    """wc [-l -w -c -m -L] [FILE]... — one count alone is printed bare, several in columns."""
    try:
        opts, paths = parse_opts(argv, "lwcmL")
    except UsageError as e:
        return usage(sys, "wc", e, "[-cmlwL] [FILE]...")
    order = [k for k in "lwcL" if k in opts or (k == "c" and "m" in opts)] or ["l", "w", "c"]
    inputs, status = _inputs(sys, "wc", paths)
    totals = dict.fromkeys(order, 0)
    rows = []
    for name, data in inputs:
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data) if "m" not in opts else len(dec(data)),
                  "L": max((len(x) for x in dec(data).split("\n")), default=0)}
        rows.append(([counts[k] for k in order], name if paths else None))
        for k in order:
            totals[k] = max(totals[k], counts[k]) if k == "L" else totals[k] + counts[k]
    if len(rows) > 1:
        rows.append(([totals[k] for k in order], "total"))
    for counts, name in rows:
        if len(order) == 1:
            text = str(counts[0])
        else:
            text = " ".join(f"{c:9d}" for c in counts)
        out(sys, text + (f" {name}" if name is not None else "") + "\n")
    return status


def _count_arg(argv: list[str]) -> list[str]:
    """head -5 / tail -5 / tail +5: the old forms become -n."""
    res = [argv[0]]
    for a in argv[1:]:
        after_option = res[-1] in ("-n", "-c")
        if re.fullmatch(r"-\d+", a) and not after_option:
            res += ["-n", a[1:]]
        elif re.fullmatch(r"\+\d+", a) and progname(argv) == "tail" and not after_option:
            res += ["-n", a]
        else:
            res.append(a)
    return res


def head(sys, argv: list[str]) -> int:
    """head [-n N] [-c N] [-q -v] [FILE]..."""
    try:
        opts, paths = parse_opts(_count_arg(argv), "qv", "nc")
    except UsageError as e:
        return usage(sys, "head", e, "[-n N] [-c N] [-qv] [FILE]...")
    return _head_tail(sys, "head", opts, paths)


def tail(sys, argv: list[str]) -> int:
    """tail [-n [+]N] [-c N] [-f: refused] [FILE]..."""
    try:
        opts, paths = parse_opts(_count_arg(argv), "qvfF", "nc")
    except UsageError as e:
        return usage(sys, "tail", e, "[-n [+]N] [-c N] [-qv] [FILE]...")
    if "f" in opts or "F" in opts:
        err(sys, "tail", "simulated: -f would wait forever; printing the file once")
    return _head_tail(sys, "tail", opts, paths)


def _head_tail(sys, prog: str, opts: dict, paths: list[str]) -> int:
    raw = str(opts.get("c", opts.get("n", "10")))
    by_bytes = "c" in opts
    from_start = raw.startswith("+")
    try:
        count = int(raw.lstrip("+-") or "0")
    except ValueError:
        err(sys, prog, f"invalid number '{raw}'")
        return 1
    inputs, status = _inputs(sys, prog, paths)
    show = (len(inputs) > 1 or "v" in opts) and "q" not in opts
    for k, (name, data) in enumerate(inputs):
        if show:
            out(sys, ("\n" if k else "") + f"==> {'standard input' if name == '-' else name} <==\n")
        if by_bytes:
            piece = data[:count] if prog == "head" else (data[count - 1:] if from_start else data[-count:] if count else b"")
        else:
            lines = data.splitlines(keepends=True)
            if prog == "head":
                lines = lines[:count]
            elif from_start:
                lines = lines[max(count - 1, 0):]
            else:
                lines = lines[-count:] if count else []
            piece = b"".join(lines)
        sys.stdout.write(piece)
    return status


# -- regular expressions ---------------------------------------------------------------

def posix_regex(pattern: str, extended: bool) -> str:
    """A POSIX BRE or ERE as a Python regex (the common cases)."""
    res: list[str] = []
    i, n = 0, len(pattern)
    at_start = True
    while i < n:
        c = pattern[i]
        if c == "[":
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                if pattern.startswith("[:", j):
                    k = pattern.find(":]", j + 2)
                    j = k + 2 if k >= 0 else j + 1
                else:
                    j += 1
            if j >= n:
                res.append(re.escape(pattern[i:]))
                break
            body = pattern[i + 1:j]
            neg = body.startswith("^")
            if neg:
                body = body[1:]
            res.append("[" + ("^" if neg else "") + bracket_body(body).replace("[", "\\[") + "]")
            i = j + 1
            at_start = False
            continue
        if c == "\\" and i + 1 < n:
            d = pattern[i + 1]
            i += 2
            if not extended and d in "(){}|+?":
                res.append(d)
            elif d in "<>":
                res.append(r"\b")
            elif d.isdigit() or d in "wWsSbB":
                res.append("\\" + d)
            else:
                res.append(re.escape(d))
            at_start = d == "(" and not extended
            continue
        if c == "*" and at_start:
            res.append(r"\*")
        elif not extended and c in "(){}|+?":
            res.append("\\" + c)
        elif extended and c == "{" and not re.match(r"\{\d*(,\d*)?\}", pattern[i:]):
            res.append(r"\{")
        else:
            res.append(c)
        at_start = (c == "^" and at_start) or (extended and c in "(|")
        i += 1
    return "".join(res)


def compile_regex(sys, prog: str, pattern: str, extended: bool, icase: bool = False, fixed: bool = False):
    try:
        rx = re.escape(pattern) if fixed else posix_regex(pattern, extended)
        return re.compile(rx, re.I if icase else 0)
    except re.error as e:
        err(sys, prog, f"bad regex '{pattern}': {e}")
        return None


def grep(sys, argv: list[str]) -> int:
    """grep [-vicqnlLhHswxoEFr] [-e PAT]... PATTERN [FILE]... — BRE by default, -E ERE, -F fixed."""
    prog = progname(argv)
    try:
        opts, args = parse_opts(argv, "vicqnlLhHswxoEFrRsa", "em")
    except UsageError as e:
        return usage(sys, "grep", e, "[-HhnlLoqvsrRiwFE] [-m N] [-e PATTERN]... PATTERN [FILE]...")
    patterns = list(opts.get("e*", []))
    if not patterns:
        if not args:
            return usage(sys, "grep", UsageError("no pattern given"), "[OPTIONS] PATTERN [FILE]...")
        patterns = [args.pop(0)]
    extended = "E" in opts or prog == "egrep"
    fixed = "F" in opts or prog == "fgrep"
    parts = []
    for p in patterns:
        for line in p.split("\n"):
            rx = re.escape(line) if fixed else posix_regex(line, extended)
            if "x" in opts:
                rx = f"(?:{rx})$"
            if "w" in opts:
                rx = rf"(?<!\w)(?:{rx})(?!\w)"
            parts.append(rx)
    try:
        rx = re.compile("|".join(f"(?:{p})" for p in parts), re.I if "i" in opts else 0)
    except re.error as e:
        err(sys, prog, f"bad regex '{patterns[0]}': {e}")
        return 2
    paths = args
    if ("r" in opts or "R" in opts) and paths:
        from .coreutils import walk
        expanded = []
        for p in paths:
            expanded.extend(walk(sys, p, files_only=True))
        paths = expanded
    status = 1
    errors = 0
    show_name = ("H" in opts or len(paths) > 1 or "r" in opts or "R" in opts) and "h" not in opts
    limit = int(opts["m"]) if "m" in opts and str(opts["m"]).isdigit() else None
    for path in paths or ["-"]:
        try:
            data = read_input(sys, path)
        except OSError as e:
            if "s" not in opts:
                err(sys, prog, f"{path}: {strerror(e)}")
            errors = 2
            continue
        name = "(standard input)" if path == "-" else path
        count = 0
        for lineno, line in enumerate(dec(data).splitlines(), 1):
            m = rx.search(line) if "x" not in opts else rx.match(line)
            if bool(m) == ("v" in opts):
                continue
            count += 1
            status = 0
            if "q" in opts:
                return 0
            if "l" in opts or "L" in opts or "c" in opts:
                if limit is not None and count >= limit:
                    break
                continue
            prefix = (f"{name}:" if show_name else "") + (f"{lineno}:" if "n" in opts else "")
            if "o" in opts and "v" not in opts:
                for mm in rx.finditer(line):
                    if mm.group():
                        out(sys, prefix + mm.group() + "\n")
            else:
                out(sys, prefix + line + "\n")
            if limit is not None and count >= limit:
                break
        if "c" in opts:
            out(sys, (f"{name}:" if show_name else "") + f"{count}\n")
        if "l" in opts and count:
            out(sys, name + "\n")
        if "L" in opts and not count:
            out(sys, name + "\n")
            status = 0
    return errors if errors and status else status


# -- sed -------------------------------------------------------------------------------

class _SedError(Exception):
    pass


def _sed_split(text: str, i: int, delim: str) -> tuple[str, int]:
    """Text up to the next unescaped ``delim`` (``\\delim`` becomes ``delim``)."""
    buf = []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            if text[i + 1] == delim:
                buf.append(delim)
            else:
                buf.append(text[i:i + 2])
            i += 2
            continue
        if c == delim:
            return "".join(buf), i + 1
        buf.append(c)
        i += 1
    raise _SedError("unterminated `s' command")


def _sed_address(script: str, i: int, extended: bool):
    if i < len(script) and script[i].isdigit():
        m = re.match(r"\d+", script[i:])
        return ("line", int(m.group())), i + m.end()
    if i < len(script) and script[i] == "$":
        return ("last", None), i + 1
    if i < len(script) and script[i] in "/\\":
        delim = "/"
        if script[i] == "\\":
            delim = script[i + 1]
            i += 1
        pat, i = _sed_split(script, i + 1, delim)
        return ("re", re.compile(posix_regex(pat, extended))), i
    return None, i


def _sed_parse(script: str, extended: bool) -> list:
    cmds = []
    i = 0
    while i < len(script):
        while i < len(script) and script[i] in " \t\n;":
            i += 1
        if i >= len(script):
            break
        a1, i = _sed_address(script, i, extended)
        a2 = None
        if a1 and i < len(script) and script[i] == ",":
            a2, i = _sed_address(script, i + 1, extended)
        while i < len(script) and script[i] == " ":
            i += 1
        neg = False
        if i < len(script) and script[i] == "!":
            neg = True
            i += 1
        if i >= len(script):
            raise _SedError("missing command")
        c = script[i]
        i += 1
        if c == "s":
            if i >= len(script):
                raise _SedError("unterminated `s' command")
            delim = script[i]
            pat, i = _sed_split(script, i + 1, delim)
            repl, i = _sed_split(script, i, delim)
            m = re.match(r"[gpiI0-9]*", script[i:])
            flags = m.group()
            i += m.end()
            try:
                rx = re.compile(posix_regex(pat, extended), re.I if ("i" in flags or "I" in flags) else 0)
            except re.error as e:
                raise _SedError(f"bad regex '{pat}': {e}") from None
            nth = int("".join(ch for ch in flags if ch.isdigit()) or "0")
            cmds.append((a1, a2, neg, "s", (rx, repl, "g" in flags, "p" in flags, nth)))
        elif c in "pdq=":
            cmds.append((a1, a2, neg, c, None))
        else:
            raise _SedError(f"unsupported command {c} (simulated sed: s, p, d, q, =)")
    return cmds


def _sed_repl(repl: str, m: re.Match) -> str:
    res = []
    i = 0
    while i < len(repl):
        c = repl[i]
        if c == "\\" and i + 1 < len(repl):
            d = repl[i + 1]
            i += 2
            if d.isdigit():
                res.append(m.group(int(d)) or "" if int(d) <= (m.re.groups or 0) else "")
            elif d == "n":
                res.append("\n")
            elif d == "t":
                res.append("\t")
            else:
                res.append(d)
            continue
        res.append(m.group() if c == "&" else c)
        i += 1
    return "".join(res)


def _sed_run(cmds: list, text: str, quiet: bool) -> tuple[str, bool]:
    lines = text.split("\n")
    trailing = lines and lines[-1] == ""
    if trailing:
        lines.pop()
    out_lines: list[str] = []
    active: dict[int, bool] = {}

    def matches(addr, lineno, line, last):
        kind, val = addr
        return (kind == "line" and lineno == val) or (kind == "last" and last) or (kind == "re" and val.search(line))

    quit_now = False
    for lineno, line in enumerate(lines, 1):
        last = lineno == len(lines)
        deleted = False
        for k, (a1, a2, neg, c, arg) in enumerate(cmds):
            if a1 is None:
                hit = True
            elif a2 is None:
                hit = bool(matches(a1, lineno, line, last))
            elif active.get(k):
                hit = True
                if matches(a2, lineno, line, last) or (a2[0] == "line" and lineno >= a2[1]):
                    active[k] = False
            else:
                hit = bool(matches(a1, lineno, line, last))
                if hit and not (a2[0] == "line" and a2[1] <= lineno):
                    active[k] = True
            if hit == neg:
                continue
            if c == "s":
                rx, repl, glob, pflag, nth = arg
                count = [0]

                def sub(m, repl=repl, nth=nth):
                    count[0] += 1
                    if nth and count[0] != nth:
                        return m.group()
                    return _sed_repl(repl, m)
                new = rx.sub(sub, line, count=0 if (glob or nth) else 1)
                changed = new != line or count[0] > 0 and (not nth or count[0] >= nth)
                line = new
                if pflag and changed:
                    out_lines.append(line)
            elif c == "p":
                out_lines.append(line)
            elif c == "=":
                out_lines.append(str(lineno))
            elif c == "d":
                deleted = True
                break
            elif c == "q":
                quit_now = True
                break
        if not deleted and not quiet:
            out_lines.append(line)
        if quit_now:
            break
    result = "\n".join(out_lines)
    if out_lines and (trailing or quit_now or len(out_lines) != len(lines)):
        result += "\n"
    elif out_lines and not trailing:
        pass
    return result, True


def sed(sys, argv: list[str]) -> int:
    """sed [-n] [-i] [-E|-r] [-e SCRIPT]... [SCRIPT] [FILE]... — the subset: commands ``s/RE/REPL/[g][p][N][I]``
    (any delimiter, ``&`` and ``\\1``-``\\9``), ``p``, ``d``, ``q``, ``=``; addresses N, ``$``, ``/RE/`` and
    ranges ``A,B``; ``!``. No hold space, no ``a``/``i``/``c``, no branches."""
    try:
        opts, args = parse_opts(argv, "niErs", "ef", longs={"--in-place": "i", "--quiet": "n"})
    except UsageError as e:
        return usage(sys, "sed", e, "[-inrE] [-e CMD]... [FILE]...")
    scripts = list(opts.get("e*", []))
    for f in opts.get("f*", []):
        try:
            scripts.append(dec(sys.read(f)))
        except OSError as e:
            err(sys, "sed", f"can't open '{f}': {strerror(e)}")
            return 1
    if not scripts:
        if not args:
            return usage(sys, "sed", UsageError("no script"), "[-inrE] [-e CMD]... [FILE]...")
        scripts = [args.pop(0)]
    try:
        cmds = _sed_parse("\n".join(scripts), "E" in opts or "r" in opts)
    except _SedError as e:
        err(sys, "sed", str(e))
        return 1
    quiet = "n" in opts
    if "i" in opts:
        status = 0
        for path in args:
            try:
                data = dec(sys.read(path))
            except OSError as e:
                err(sys, "sed", f"can't open '{path}': {strerror(e)}")
                status = 1
                continue
            result, _ = _sed_run(cmds, data, quiet)
            sys.write(path, enc(result))
        return status
    inputs, status = _inputs(sys, "sed", args)
    text = "".join(dec(d) for _, d in inputs)
    result, _ = _sed_run(cmds, text, quiet)
    out(sys, result)
    return status


# -- cut, tr, sort, uniq, tee, rev -------------------------------------------------------

def _ranges(spec: str) -> list[tuple[int, int]] | None:
    res = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d*)-(\d*)|(\d+)", part)
        if not m:
            return None
        if m.group(3):
            n = int(m.group(3))
            res.append((n, n))
        else:
            lo = int(m.group(1) or 1)
            hi = int(m.group(2)) if m.group(2) else 1 << 30
            res.append((lo, hi))
    return res


def cut(sys, argv: list[str]) -> int:
    """cut -f LIST [-d DELIM] [-s] | -c LIST | -b LIST [FILE]..."""
    try:
        opts, paths = parse_opts(argv, "sn", "fdcb")
    except UsageError as e:
        return usage(sys, "cut", e, "[OPTIONS] [FILE]...")
    spec = opts.get("f") or opts.get("c") or opts.get("b")
    if not spec:
        err(sys, "cut", "expected a list of bytes, characters, or fields")
        return 1
    ranges = _ranges(str(spec))
    if ranges is None or any(lo < 1 for lo, _ in ranges):
        err(sys, "cut", f"invalid byte or field list '{spec}'")
        return 1
    delim = str(opts.get("d", "\t"))
    if len(delim) != 1:
        err(sys, "cut", "the delimiter must be a single character")
        return 1

    def pick(n: int) -> bool:
        return any(lo <= n <= hi for lo, hi in ranges)

    inputs, status = _inputs(sys, "cut", paths)
    for _, data in inputs:
        for line in dec(data).splitlines():
            if "f" in opts:
                if delim not in line:
                    if "s" not in opts:
                        out(sys, line + "\n")
                    continue
                fields = line.split(delim)
                out(sys, delim.join(f for k, f in enumerate(fields, 1) if pick(k)) + "\n")
            else:
                out(sys, "".join(ch for k, ch in enumerate(line, 1) if pick(k)) + "\n")
    return status


def _tr_set(spec: str) -> list[str]:
    text, _ = backslash_escapes(spec, False)
    classes = {"upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "lower": "abcdefghijklmnopqrstuvwxyz",
               "digit": "0123456789", "space": " \t\n\r\f\v", "blank": " \t",
               "alpha": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
               "alnum": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
               "punct": "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()),
               "xdigit": "0123456789ABCDEFabcdef"}
    res: list[str] = []
    i = 0
    while i < len(text):
        m = re.match(r"\[:(\w+):\]", text[i:])
        if m and m.group(1) in classes:
            res.extend(classes[m.group(1)])
            i += m.end()
            continue
        if i + 2 < len(text) and text[i + 1] == "-":
            lo, hi = ord(text[i]), ord(text[i + 2])
            res.extend(chr(c) for c in range(lo, hi + 1))
            i += 3
            continue
        res.append(text[i])
        i += 1
    return res


def tr(sys, argv: list[str]) -> int:
    """tr [-d] [-s] [-c] SET1 [SET2] — ranges ``a-z``, classes ``[:upper:]``, escapes ``\\n``."""
    try:
        opts, args = parse_opts(argv, "dscC")
    except UsageError as e:
        return usage(sys, "tr", e, "[-cds] STRING1 [STRING2]")
    if not args or (len(args) < 2 and "d" not in opts and "s" not in opts):
        return usage(sys, "tr", UsageError("missing operand"), "[-cds] STRING1 [STRING2]")
    data = dec(sys.stdin.read())
    set1 = _tr_set(args[0])
    set2 = _tr_set(args[1]) if len(args) > 1 else []
    comp = "c" in opts or "C" in opts
    s1 = set(set1)
    in1 = (lambda ch: ch not in s1) if comp else (lambda ch: ch in s1)
    if "d" in opts:
        data = "".join(ch for ch in data if not in1(ch))
        squeeze = set(set2)
    elif set2:
        if comp:
            data = "".join(set2[-1] if in1(ch) else ch for ch in data)
        else:
            table = {}
            for k, ch in enumerate(set1):
                table[ord(ch)] = set2[min(k, len(set2) - 1)]
            data = data.translate(table)
        squeeze = set(set2)
    else:
        squeeze = s1
    if "s" in opts:
        res = []
        for ch in data:
            if res and res[-1] == ch and ch in squeeze:
                continue
            res.append(ch)
        data = "".join(res)
    out(sys, data)
    return 0


def sort(sys, argv: list[str]) -> int:
    """sort [-n -r -u -f -b] [-k N[,M]] [-t SEP] [FILE]..."""
    try:
        opts, paths = parse_opts(argv, "nrufbsgh", "kto")
    except UsageError as e:
        return usage(sys, "sort", e, "[-nrufb] [-k N] [-t SEP] [FILE]...")
    inputs, status = _inputs(sys, "sort", paths)
    lines = [line for _, d in inputs for line in dec(d).splitlines()]
    sep = opts.get("t")
    key_spec = opts.get("k")

    def field(line: str) -> str:
        if not key_spec:
            return line
        m = re.match(r"(\d+)(?:\.\d+)?[a-z]*(?:,(\d+))?", str(key_spec))
        if not m:
            return line
        lo = int(m.group(1)) - 1
        hi = int(m.group(2)) if m.group(2) else None
        parts = line.split(sep) if sep else line.split()
        chosen = parts[lo:hi] if hi else parts[lo:]
        return (sep or " ").join(chosen)

    def key(line: str):
        k = field(line)
        if "b" in opts:
            k = k.lstrip()
        if "n" in opts or "g" in opts or "h" in opts:
            m = re.match(r"\s*(-?\d+(?:\.\d*)?)", k)
            return (float(m.group(1)) if m else 0.0, line)
        return (k.lower(), line) if "f" in opts else (k, "")

    lines.sort(key=key, reverse="r" in opts)
    if "u" in opts:
        seen = set()
        uniq_lines = []
        for line in lines:
            k = key(line)[0]
            if k not in seen:
                seen.add(k)
                uniq_lines.append(line)
        lines = uniq_lines
    text = "".join(line + "\n" for line in lines)
    if "o" in opts:
        sys.write(str(opts["o"]), enc(text))
    else:
        out(sys, text)
    return status


def uniq(sys, argv: list[str]) -> int:
    """uniq [-c -d -u -i] [INPUT [OUTPUT]]"""
    try:
        opts, args = parse_opts(argv, "cdui")
    except UsageError as e:
        return usage(sys, "uniq", e, "[-cdui] [INPUT [OUTPUT]]")
    inputs, status = _inputs(sys, "uniq", args[:1])
    lines = [line for _, d in inputs for line in dec(d).splitlines()]
    groups: list[list[str]] = []
    for line in lines:
        if groups and (groups[-1][0].lower() == line.lower() if "i" in opts else groups[-1][0] == line):
            groups[-1].append(line)
        else:
            groups.append([line])
    res = []
    for g in groups:
        if "d" in opts and len(g) < 2 or "u" in opts and len(g) > 1:
            continue
        res.append((f"{len(g):7d} " if "c" in opts else "") + g[0] + "\n")
    text = "".join(res)
    if len(args) > 1:
        sys.write(args[1], enc(text))
    else:
        out(sys, text)
    return status


def tee(sys, argv: list[str]) -> int:
    """tee [-a] [FILE]..."""
    try:
        opts, paths = parse_opts(argv, "ai")
    except UsageError as e:
        return usage(sys, "tee", e, "[-ai] [FILE]...")
    data = sys.stdin.read()
    status = 0
    for path in paths:
        try:
            sys.write(path, data, append="a" in opts)
        except OSError as e:
            err(sys, "tee", f"can't open '{path}': {strerror(e)}")
            status = 1
    sys.stdout.write(data)
    return status


def rev(sys, argv: list[str]) -> int:
    inputs, status = _inputs(sys, "rev", argv[1:])
    for _, data in inputs:
        out(sys, "".join(line[::-1] + "\n" for line in dec(data).splitlines()))
    return status


# -- generators --------------------------------------------------------------------------

def seq(sys, argv: list[str]) -> int:
    """seq [-w] [-s SEP] [FIRST [INC]] LAST"""
    args = argv[1:]
    sep, width = "\n", False
    while args and args[0] in ("-w", "-s") or (args and args[0].startswith("-s") and len(args[0]) > 2):
        a = args.pop(0)
        if a == "-w":
            width = True
        elif a == "-s":
            sep = args.pop(0) if args else "\n"
        else:
            sep = a[2:]
    if not 1 <= len(args) <= 3:
        return usage(sys, "seq", UsageError("missing operand" if not args else "extra operand"),
                     "[-w] [-s SEP] [FIRST [INC]] LAST")
    try:
        nums = [float(a) for a in args]
    except ValueError:
        bad = next(a for a in args if not re.fullmatch(r"-?\d+(\.\d*)?", a))
        err(sys, "seq", f"invalid number '{bad}'")
        return 1
    first, inc, last = (1.0, 1.0, nums[0]) if len(nums) == 1 else (
        (nums[0], 1.0, nums[1]) if len(nums) == 2 else (nums[0], nums[1], nums[2]))
    decimals = max((len(a.split(".")[1]) if "." in a else 0) for a in args)
    if inc == 0:
        return 0
    values = []
    k = 0
    while True:
        v = first + k * inc
        if (inc > 0 and v > last + 1e-9) or (inc < 0 and v < last - 1e-9):
            break
        values.append(f"{v:.{decimals}f}")
        k += 1
    if width and values:
        w = max(len(x) for x in values)
        values = [x.zfill(w) for x in values]
    if values:
        out(sys, sep.join(values) + "\n")
    return 0


def yes(sys, argv: list[str]) -> int:
    """yes [STRING] — stops after ``YES_LIMIT`` lines (pipelines here run stage by stage,
    so no reader can stop it the way SIGPIPE does)."""
    line = enc((" ".join(argv[1:]) if len(argv) > 1 else "y") + "\n")
    sys.stdout.write(line * YES_LIMIT)
    return 0


def xargs(sys, argv: list[str]) -> int:
    """xargs [-n N] [-I REPL] [-0] [-t] [-r] [COMMAND [ARGS]...] — runs COMMAND (echo by default)."""
    args = argv[1:]
    n = None
    repl = None
    nul = trace = no_run_empty = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        a = args.pop(0)
        if a == "--":
            break
        if a.startswith("-n"):
            value = a[2:] or (args.pop(0) if args else "")
            if not value.isdigit() or int(value) < 1:
                err(sys, "xargs", f"invalid number '{value}'")
                return 1
            n = int(value)
        elif a.startswith("-I"):
            repl = a[2:] or (args.pop(0) if args else "{}")
        elif a == "-0":
            nul = True
        elif a == "-t":
            trace = True
        elif a == "-r":
            no_run_empty = True
        else:
            return usage(sys, "xargs", UsageError(f"invalid option -- '{a[1:]}'"), "[OPTIONS] [PROG ARGS]")
    cmd = args or ["echo"]
    data = dec(sys.stdin.read())
    if repl is not None:
        items = [line for line in data.split("\n") if line.strip()]
    elif nul:
        items = [x for x in data.split("\0") if x]
    else:
        items = [m.group(1) or m.group(2) or m.group(3).replace("\\", "")
                 for m in re.finditer(r"'([^']*)'|\"([^\"]*)\"|((?:\\.|[^\s'\"])+)", data)]
    if not items and no_run_empty:
        return 0
    batches: list[list[str]]
    if repl is not None:
        batches = [[a.replace(repl, item) for a in cmd] for item in items]
    else:
        size = n or max(len(items), 1)
        batches = [cmd + items[i:i + size] for i in range(0, max(len(items), 1), size)]
    status = 0
    for b in batches:
        if trace:
            sys.stderr.write(enc(" ".join(b) + "\n"))
        rc = sys.run(b, stdin=_EmptyIn(), stdout=sys.stdout, stderr=sys.stderr, env=dict(sys.environ))
        if rc == 127:
            return 127
        if rc == 255:
            err(sys, "xargs", f"{b[0]}: exited with status 255; aborting")
            return 124
        if rc:
            status = 123
    return status


class _EmptyIn:
    def read(self, n: int = -1) -> bytes:
        return b""

    def readline(self) -> bytes:
        return b""

    def isatty(self) -> bool:
        return False


def _digest(name: str):
    def main(sys, argv: list[str]) -> int:
        """md5sum / sha256sum [FILE]... (no -c)"""
        inputs, status = _inputs(sys, name, argv[1:])
        for path, data in inputs:
            out(sys, f"{hashlib.new(name.replace('sum', ''), data).hexdigest()}  {path}\n")
        return status
    return main


APPLETS = {
    "echo": echo, "printf": printf, "true": true, "false": false, "test": test, "[": test,
    "cat": cat, "wc": wc, "head": head, "tail": tail, "grep": grep, "egrep": grep, "fgrep": grep,
    "sed": sed, "cut": cut, "tr": tr, "sort": sort, "uniq": uniq, "tee": tee, "rev": rev,
    "seq": seq, "yes": yes, "xargs": xargs, "md5sum": _digest("md5sum"), "sha256sum": _digest("sha256sum"),
    "sha1sum": _digest("sha1sum"),
}

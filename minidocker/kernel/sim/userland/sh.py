"""The simulated ``sh``: a POSIX shell subset that behaves like busybox ``ash``.

``sh -c CMD [NAME [ARGS…]]``, ``sh FILE [ARGS…]``, or commands read line by
line from standard input (with a ``/ # `` prompt on stderr when stdin says
it is a terminal). Parsing lives in ``shparse``; this module expands words
and runs the tree.

What differs from a real ash, on purpose:

* **Pipelines run one stage after the other**: each stage's output is
  collected in memory (at most ``PIPE_LIMIT`` bytes — past it the writer is
  stopped as if by SIGPIPE, status 141, with a message) and becomes the next
  stage's input. Every stage runs in a subshell, as in ash, so ``echo x |
  read v`` leaves ``v`` alone. ``yes`` stops by itself (see ``applets``).
* **Background jobs** (``cmd &``) run to completion before the next command;
  ``wait`` has nothing to wait for, ``$!`` stays empty.
* **Commands not found**: the kernel's ``run`` prints ``sim: command not
  found: X (supported: …)`` and returns 127; the shell adds nothing.
* **Limits**: nested function calls, ``eval``/``.``, subshells and command
  substitutions stop at ``MAX_DEPTH`` with ``recursion too deep``; output
  kept in memory (pipes, ``$(…)``) stops at ``PIPE_LIMIT``. No loop limit.
* ``trap`` is accepted for every signal but only an ``EXIT`` trap runs.

Exit statuses follow ash: 2 for syntax errors and bad expansions, 1 for a
failed redirection, 127 not found, 128+N for a command killed by signal N.
"""

from __future__ import annotations

import copy
import io
import posixpath
import re
import stat as st

from . import shparse as P
from .api import Killed
from .common import DEFAULT_PATH, bracket_body, dec, enc, isatty, readline, strerror

MAX_DEPTH = 50
PIPE_LIMIT = 64 << 20
SIGNAL_TEXT = {9: "Killed", 15: "Terminated", 6: "Aborted", 11: "Segmentation fault", 1: "Hangup",
               3: "Quit", 10: "User defined signal 1", 12: "User defined signal 2", 14: "Alarm clock"}
SPECIAL_BUILTINS = frozenset((":", ".", "break", "continue", "eval", "exec", "exit", "export",
                              "readonly", "return", "set", "shift", "source", "trap", "unset", "local"))


# -- control flow ----------------------------------------------------------------------

class _Exit(Exception):
    def __init__(self, status: int):
        self.status = status


class _Return(Exception):
    def __init__(self, status: int):
        self.status = status


class _Break(Exception):
    def __init__(self, n: int):
        self.n = n


class _Continue(Exception):
    def __init__(self, n: int):
        self.n = n


class ShellError(Exception):
    """An error that ends a non-interactive shell (bad expansion, ``${x?}``, set -u …)."""

    def __init__(self, msg: str, status: int = 2):
        super().__init__(msg)
        self.msg = msg
        self.status = status


class _RedirError(Exception):
    pass


class PipeFull(Killed):
    """The writer of a full in-memory pipe is stopped the way SIGPIPE stops it."""

    def __init__(self):
        super().__init__(13)


# -- streams ---------------------------------------------------------------------------

class PipeBuffer(io.BytesIO):
    """An in-memory pipe (or ``$(…)`` capture) that holds at most ``PIPE_LIMIT`` bytes."""

    def __init__(self, shell: Shell, limit: int | None = None):
        super().__init__()
        self.shell = shell
        self.limit = PIPE_LIMIT if limit is None else limit

    def write(self, data) -> int:
        if self.tell() + len(data) > self.limit:
            room = max(0, self.limit - self.tell())
            super().write(bytes(data[:room]))
            self.shell.msg(f"output kept in memory exceeds {self.limit} bytes: writer stopped (simulated SIGPIPE)")
            raise PipeFull()
        return super().write(data)

    def isatty(self) -> bool:
        return False


class FileSink:
    """``> file``: created or truncated when opened, every write appended through the kernel."""

    def __init__(self, sys, path: str, append: bool):
        self.sys = sys
        self.path = path
        sys.write(path, b"", append=append)

    def write(self, data) -> int:
        if data:
            self.sys.write(self.path, bytes(data), append=True)
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        pass


class NullSink(FileSink):
    """``/dev/null`` without a kernel call per write."""

    def __init__(self):
        pass

    def write(self, data) -> int:
        return len(data)


class _View:
    """The shell's ``System`` with the streams of its current redirections: builtins that
    are applets too (echo, printf, test …) run on it."""

    def __init__(self, base, stdin, stdout, stderr, environ):
        self._base = base
        self.stdin, self.stdout, self.stderr, self.environ = stdin, stdout, stderr, environ

    def __getattr__(self, name):
        return getattr(self._base, name)


_CLOSED = object()


# -- patterns --------------------------------------------------------------------------

def glob_regex(chunks: list[tuple[str, bool]]) -> str:
    """A shell pattern as a regex; chunks are (text, active) — quoted text matches itself."""
    out: list[str] = []
    for text, active in chunks:
        if not active:
            out.append(re.escape(text))
            continue
        i, n = 0, len(text)
        while i < n:
            c = text[i]
            i += 1
            if c == "*":
                out.append(".*")
            elif c == "?":
                out.append(".")
            elif c == "[":
                j = i
                if j < n and text[j] in "!^":
                    j += 1
                if j < n and text[j] == "]":
                    j += 1
                while j < n and text[j] != "]":
                    j += 1
                if j >= n:
                    out.append("\\[")
                    continue
                body = text[i:j]
                i = j + 1
                neg = body[:1] in ("!", "^")
                if neg:
                    body = body[1:]
                out.append("[" + ("^" if neg else "") + bracket_body(body) + "]")
            else:
                out.append(re.escape(c))
    return "".join(out)


def has_glob(chunks) -> bool:
    return any(active and any(c in text for c in "*?[") for text, active in chunks)


def pattern_match(chunks, text: str) -> bool:
    try:
        return re.fullmatch(glob_regex(chunks), text, re.S) is not None
    except re.error:
        return "".join(t for t, _ in chunks) == text


def quote(s: str) -> str:
    """How ``set -x`` and ``export -p`` show a word: bare when safe, else in single quotes."""
    if s and re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", s):
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


# -- arithmetic ------------------------------------------------------------------------

_ARITH_TOK = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|[0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|"
                        r"(<<=|>>=|\*\*|&&|\|\||<<|>>|<=|>=|==|!=|\+\+|--|[-+*/%&|^]=|[-+*/%()<>=!~&|^?:,]))")
_BINARY = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", "<=", ">", ">="),
           ("<<", ">>"), ("+", "-"), ("*", "/", "%")]


def _wrap(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >> 63 else v


class Arith:
    """``$(( ))``: C integer expressions on 64-bit signed numbers, as ash's math.c."""

    def __init__(self, shell: Shell, text: str, depth: int = 0):
        self.shell = shell
        self.toks: list[tuple[str, str]] = []
        self.depth = depth
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _ARITH_TOK.match(text, pos)
            if not m or m.end() == pos:
                raise ShellError("arithmetic syntax error")
            pos = m.end()
            if m.group(1):
                self.toks.append(("num", m.group(1)))
            elif m.group(2):
                self.toks.append(("var", m.group(2)))
            elif m.group(3):
                self.toks.append(("op", m.group(3)))
        self.i = 0

    def value(self) -> int:
        if not self.toks:
            return 0
        v = self.assign(True)
        while self._peek(","):
            self.i += 1
            v = self.assign(True)
        if self.i != len(self.toks):
            raise ShellError("arithmetic syntax error")
        return v

    def _peek(self, op: str) -> bool:
        return self.i < len(self.toks) and self.toks[self.i] == ("op", op)

    def _num(self, text: str) -> int:
        try:
            if text[:2] in ("0x", "0X"):
                return int(text, 16)
            if len(text) > 1 and text[0] == "0":
                return int(text, 8)
            return int(text)
        except ValueError:
            raise ShellError("arithmetic syntax error") from None

    def var(self, name: str) -> int:
        raw = self.shell.getvar(name)
        if raw is None:
            if "u" in self.shell.opts:
                raise ShellError(f"{name}: parameter not set")
            return 0
        raw = raw.strip()
        if not raw:
            return 0
        if re.fullmatch(r"-?(0[xX][0-9a-fA-F]+|[0-9]+)", raw):
            return -self._num(raw[1:]) if raw[0] == "-" else self._num(raw)
        if self.depth > 10:
            raise ShellError("expression recursion loop detected")
        return Arith(self.shell, raw, self.depth + 1).value()

    def assign(self, ev: bool) -> int:
        if (self.i + 1 < len(self.toks) and self.toks[self.i][0] == "var"
                and self.toks[self.i + 1][0] == "op"
                and self.toks[self.i + 1][1] in ("=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^=")):
            name = self.toks[self.i][1]
            op = self.toks[self.i + 1][1]
            self.i += 2
            rhs = self.assign(ev)
            if not ev:
                return 0
            v = rhs if op == "=" else self._apply(op[:-1], self.var(name), rhs)
            self.shell.setvar(name, str(v))
            return v
        return self.cond(ev)

    def cond(self, ev: bool) -> int:
        c = self.binary(0, ev)
        if self._peek("?"):
            self.i += 1
            a = self.assign(ev and c != 0)
            if not self._peek(":"):
                raise ShellError("arithmetic syntax error")
            self.i += 1
            b = self.cond(ev and c == 0)
            return a if c else b
        return c

    def binary(self, level: int, ev: bool) -> int:
        if level == len(_BINARY):
            return self.power(ev)
        left = self.binary(level + 1, ev)
        while self.i < len(self.toks) and self.toks[self.i][0] == "op" and self.toks[self.i][1] in _BINARY[level]:
            op = self.toks[self.i][1]
            self.i += 1
            if op == "&&":
                right = self.binary(level + 1, ev and left != 0)
                left = int(bool(left) and bool(right))
            elif op == "||":
                right = self.binary(level + 1, ev and left == 0)
                left = int(bool(left) or bool(right))
            else:
                right = self.binary(level + 1, ev)
                left = self._apply(op, left, right) if ev else 0
        return left

    def power(self, ev: bool) -> int:
        base = self.unary(ev)
        if self._peek("**"):
            self.i += 1
            exp = self.power(ev)
            if not ev:
                return 0
            if exp < 0:
                raise ShellError("exponent less than 0")
            return _wrap(pow(base, exp, 1 << 64))
        return base

    def unary(self, ev: bool) -> int:
        if self.i >= len(self.toks):
            raise ShellError("arithmetic syntax error")
        kind, text = self.toks[self.i]
        if kind == "op" and text in ("++", "--") and self.i + 1 < len(self.toks) and self.toks[self.i + 1][0] == "var":
            name = self.toks[self.i + 1][1]
            self.i += 2
            v = self.var(name) + (1 if text == "++" else -1)
            if ev:
                self.shell.setvar(name, str(v))
            return v
        if kind == "op" and text in ("-", "+", "!", "~"):
            self.i += 1
            v = self.unary(ev)
            return {"-": -v, "+": v, "!": int(not v), "~": ~v}[text]
        return self.primary(ev)

    def primary(self, ev: bool) -> int:
        kind, text = self.toks[self.i]
        self.i += 1
        if kind == "num":
            return _wrap(self._num(text))
        if kind == "var":
            if self._peek("++") or self._peek("--"):
                op = self.toks[self.i][1]
                self.i += 1
                v = self.var(text)
                if ev:
                    self.shell.setvar(text, str(v + (1 if op == "++" else -1)))
                return v
            return self.var(text) if ev else 0
        if text == "(":
            v = self.assign(ev)
            if not self._peek(")"):
                raise ShellError("arithmetic syntax error")
            self.i += 1
            return v
        raise ShellError("arithmetic syntax error")

    @staticmethod
    def _apply(op: str, a: int, b: int) -> int:
        if op in ("/", "%"):
            if b == 0:
                raise ShellError("divide by zero")
            q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
            return _wrap(q if op == "/" else a - b * q)
        fn = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "<<": lambda: a << (b & 63),
              ">>": lambda: a >> (b & 63), "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
              "==": lambda: int(a == b), "!=": lambda: int(a != b), "<": lambda: int(a < b),
              "<=": lambda: int(a <= b), ">": lambda: int(a > b), ">=": lambda: int(a >= b)}[op]
        return _wrap(fn())


# -- expansion -------------------------------------------------------------------------

class _Fields:
    """Fields being built from a word: each a list of (text, active) chunks; ``active``
    text came from unquoted places and is open to globbing."""

    def __init__(self, ifs: str | None):
        self.ifs = ifs               # None: no field splitting
        self.fields: list[list[tuple[str, bool]]] = []
        self.cur: list[tuple[str, bool]] = []
        self.present = False

    def add(self, text: str, quoted: bool) -> None:
        if text:
            self.cur.append((text, not quoted))
        if quoted:
            self.present = True

    def end(self) -> None:
        if self.cur or self.present:
            self.fields.append(self.cur)
        self.cur = []
        self.present = False

    def add_split(self, text: str) -> None:
        """An unquoted expansion's result: split on IFS."""
        ifs = self.ifs
        if ifs is None or ifs == "":
            self.add(text, False)
            return
        white = "".join(c for c in ifs if c in " \t\n")
        i, n = 0, len(text)
        while i < n:
            if text[i] in ifs:
                j = i
                while j < n and text[j] in white:
                    j += 1
                hard = False
                if j < n and text[j] in ifs and text[j] not in white:
                    hard = True
                    j += 1
                    while j < n and text[j] in white:
                        j += 1
                if self.cur or self.present or hard:
                    self.fields.append(self.cur)
                    self.cur = []
                    self.present = False
                i = j
            else:
                j = i
                while j < n and text[j] not in ifs:
                    j += 1
                self.cur.append((text[i:j], True))
                i = j


class Shell:
    def __init__(self, sys, arg0: str = "sh", params: list[str] | None = None):
        self.sys = sys
        self.arg0 = arg0              # prefixes messages, as ash's arg0
        self.dollar0 = arg0           # $0: the NAME after -c CMD, or the script
        self.params = list(params or [])
        self.vars: dict[str, str] = dict(sys.environ)
        self.exported: set[str] = set(sys.environ)
        self.vars.setdefault("PATH", DEFAULT_PATH)
        self.vars["IFS"] = " \t\n"
        self.vars.setdefault("PS1", "\\w \\$ ")
        try:
            self.vars["PWD"] = sys.getcwd()
        except OSError:
            pass
        self.exported.add("PATH")
        self.readonly: set[str] = set()
        self.funcs: dict[str, object] = {}
        self.opts: set[str] = set()
        self.traps: dict[str, str] = {}
        self.exec_last = False        # `sh -c`: the last command replaces the shell (ash's EV_EXIT)
        self.jobs: list[int] = []     # background children not yet waited for
        self.last_bg: int | None = None
        self.dollar_pid: int | None = None   # $$ of a forked copy: its parent shell's
        self.exec_candidate = None
        self.exec_now = False
        self.status = 0
        self.fds: dict[int, object] = {0: sys.stdin, 1: sys.stdout, 2: sys.stderr}
        self.depth = 0
        self.loops = 0
        self.funcs_active = 0
        self.sourcing = 0
        self.suppress = 0
        self.cmdsub_status: int | None = None
        self.script: str | None = None
        self.lineno = 0
        self.interactive = False
        self.locals: list[dict[str, str | None]] = []

    # -- messages -------------------------------------------------------------------
    def msg(self, text: str) -> None:
        where = f"{self.script}: line {self.lineno}: " if self.script else ""
        stream = self.fds.get(2)
        if stream is not None:
            try:
                stream.write(enc(f"{self.arg0}: {where}{text}\n"))
            except Killed:
                raise
            except Exception:
                pass

    # -- variables ------------------------------------------------------------------
    def getvar(self, name: str) -> str | None:
        if name.isdigit():
            k = int(name)
            if k == 0:
                return self.dollar0
            return self.params[k - 1] if k <= len(self.params) else None
        special = _SPECIAL_GET.get(name)
        if special is not None:
            return special(self)
        return self.vars.get(name)

    def setvar(self, name: str, value: str, export: bool = False) -> None:
        if name in self.readonly:
            raise ShellError(f"{name}: is read only")
        if not P.is_name(name):
            raise ShellError(f"{name}: bad variable name")
        self.vars[name] = value
        if export or "a" in self.opts:
            self.exported.add(name)

    def unsetvar(self, name: str) -> None:
        if name in self.readonly:
            raise ShellError(f"{name}: is read only", 1)
        self.vars.pop(name, None)
        self.exported.discard(name)

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: self.vars[k] for k in self.exported if k in self.vars}
        if extra:
            env.update(extra)
        return env

    # -- expansion ------------------------------------------------------------------
    def expand_words(self, words: list) -> list[str]:
        out: list[str] = []
        for w in words:
            out.extend(self.expand(w))
        return out

    def expand(self, parts: list, split: bool = True, glob: bool = True) -> list[str]:
        f = _Fields(self.vars.get("IFS", " \t\n") if split else None)
        self._parts(parts, f)
        f.end()
        result: list[str] = []
        for chunks in f.fields:
            if glob and "f" not in self.opts and has_glob(chunks):
                matches = self.glob(chunks)
                if matches:
                    result.extend(matches)
                    continue
            result.append("".join(t for t, _ in chunks))
        return result

    def expand_str(self, parts: list) -> str:
        """Without splitting or globbing: assignments, case words, redirection targets."""
        f = _Fields(None)
        self._parts(parts, f, join_at=True)
        f.end()
        return " ".join("".join(t for t, _ in chunks) for chunks in f.fields)

    def expand_pattern(self, parts: list) -> list[tuple[str, bool]]:
        f = _Fields(None)
        self._parts(parts, f, join_at=True)
        f.end()
        return [c for chunks in f.fields for c in chunks]

    def _parts(self, parts: list, f: _Fields, join_at: bool = False) -> None:
        for p in parts:
            t = type(p)
            if t is P.Lit:
                f.add(p.text, p.quoted)
            elif t is P.Param:
                self._param(p, f, join_at)
            elif t is P.CmdSub:
                self._result(self.command_subst(p.body), p.quoted, f)
            elif t is P.Arith:
                text = self.expand_str(p.parts)
                self._result(str(Arith(self, text).value()), p.quoted, f)
            elif t is P.Tilde:
                self._tilde(p, f)

    def _result(self, text: str, quoted: bool, f: _Fields) -> None:
        if quoted:
            f.add(text, True)
        else:
            f.add_split(text)

    def _tilde(self, p: P.Tilde, f: _Fields) -> None:
        if not p.user:
            f.add(self.vars.get("HOME", "~"), True)
            return
        from .common import lookup_user
        rec = lookup_user(self.sys, p.user)
        f.add(rec[5] if rec and len(rec) > 5 else "~" + p.user, True)

    def _param(self, p: P.Param, f: _Fields, join_at: bool) -> None:
        name, op = p.name, p.op
        if name in ("@", "*") and op is None:
            self._positional(p, f, join_at)
            return
        value = self.getvar(name)
        if op is None:
            if value is None and "u" in self.opts:
                raise ShellError(f"{name}: parameter not set")
            self._result(value or "", p.quoted, f)
            return
        if op == "len":
            if value is None and "u" in self.opts:
                raise ShellError(f"{name}: parameter not set")
            self._result(str(len(value or "")), p.quoted, f)
            return
        colon = op.startswith(":")
        base = op.lstrip(":")
        missing = value is None or (colon and value == "")
        if base == "-":
            if missing:
                self._parts(p.arg, f, join_at)
            else:
                self._result(value, p.quoted, f)
        elif base == "+":
            if not missing:
                self._parts(p.arg, f, join_at)
        elif base == "=":
            if missing:
                if not P.is_name(name):
                    raise ShellError(f"{name}: bad variable name")
                value = self.expand_str(p.arg)
                self.setvar(name, value)
            self._result(value, p.quoted, f)
        elif base == "?":
            if missing:
                text = self.expand_str(p.arg) if p.arg else ("parameter not set" if value is None or not colon
                                                              else "parameter null or not set")
                raise ShellError(f"{name}: {text}")
            self._result(value, p.quoted, f)
        else:  # # ## % %%: remove a prefix or suffix matching a pattern
            if value is None and "u" in self.opts:
                raise ShellError(f"{name}: parameter not set")
            self._result(self._trim(value or "", op, self.expand_pattern(p.arg)), p.quoted, f)

    @staticmethod
    def _trim(value: str, op: str, chunks) -> str:
        try:
            rx = re.compile(glob_regex(chunks), re.S)
        except re.error:
            return value
        n = len(value)
        if op in ("#", "##"):
            rng = range(n + 1) if op == "#" else range(n, -1, -1)
            for i in rng:
                if rx.fullmatch(value, 0, i):
                    return value[i:]
        else:
            rng = range(n, -1, -1) if op == "%" else range(n + 1)
            for i in rng:
                if rx.fullmatch(value, i, n):
                    return value[:i]
        return value

    def _positional(self, p: P.Param, f: _Fields, join_at: bool) -> None:
        params = self.params
        if p.quoted and p.name == "@" and not join_at:
            for k, v in enumerate(params):
                if k:
                    f.fields.append(f.cur)
                    f.cur = []
                f.add(v, True)
            return
        if p.quoted or join_at:
            sep = " " if p.name == "@" else self.vars.get("IFS", " \t\n")[:1]
            f.add(sep.join(params), p.quoted)
            return
        for k, v in enumerate(params):
            if k and (f.cur or f.present):
                f.end()
            f.add_split(v)

    def glob(self, chunks: list[tuple[str, bool]]) -> list[str]:
        """Pathname expansion through the kernel: one directory listing per pattern component."""
        chars = [(c, active) for text, active in chunks for c in text]
        comps: list[list[tuple[str, bool]]] = [[]]
        for c, active in chars:
            if c == "/":
                comps.append([])
            else:
                comps[-1].append((c, active))
        absolute = not comps[0]
        paths = ["/"] if absolute else [""]
        if absolute:
            comps = comps[1:]
        for k, comp in enumerate(comps):
            last = k == len(comps) - 1
            lit = "".join(c for c, _ in comp)
            new: list[str] = []
            cchunks: list[tuple[str, bool]] = []
            for c, a in comp:
                if cchunks and cchunks[-1][1] == a:
                    cchunks[-1] = (cchunks[-1][0] + c, a)
                else:
                    cchunks.append((c, a))
            if not comp:
                new = [p + "/" if p and not p.endswith("/") else p for p in paths] if last else paths
                paths = new
                continue
            if not has_glob(cchunks):
                for p in paths:
                    cand = p + lit if (not p or p.endswith("/")) else p + "/" + lit
                    if last or self._exists(cand):
                        new.append(cand)
                if last:
                    new = [c for c in new if self._exists(c)]
                paths = new
                continue
            try:
                rx = re.compile(glob_regex(cchunks), re.S)
            except re.error:
                return []
            hidden_ok = comp[0][0] == "."
            for p in paths:
                try:
                    names = self.sys.listdir(p or ".")
                except OSError:
                    continue
                for name in names:
                    if name.startswith(".") and not hidden_ok:
                        continue
                    if rx.fullmatch(name):
                        cand = p + name if (not p or p.endswith("/")) else p + "/" + name
                        if last or self._isdir(cand):
                            new.append(cand)
            paths = sorted(new)
            if not paths:
                return []
        return sorted(paths)

    def _exists(self, path: str) -> bool:
        try:
            self.sys.stat(path, follow_symlinks=False)
            return True
        except OSError:
            return False

    def _isdir(self, path: str) -> bool:
        try:
            return st.S_ISDIR(self.sys.stat(path).mode)
        except OSError:
            return False

    def command_subst(self, body) -> str:
        buf = PipeBuffer(self)
        self.cmdsub_status = self.subshell(body, {1: buf})
        return dec(buf.getvalue()).rstrip("\n")

    # -- running ----------------------------------------------------------------------
    def run(self, node) -> int:
        return _EXEC[type(node)](self, node)

    def run_seq(self, node: P.Seq) -> int:
        status = 0
        for andor, bg in node.items:
            simple = _only_simple(P.Seq([(andor, False)])) if bg else None
            if simple is not None and hasattr(self.sys, "spawn"):
                status = self.run_background(simple)
            elif bg and hasattr(self.sys, "spawn_call"):
                status = self.run_background_compound(andor)
            else:   # a system that cannot fork (the applets' test double) runs it to its end
                status = self.run(andor)
            if bg:
                status = 0
            self.status = status
        return status

    def run_background(self, node: P.Simple) -> int:
        """``cmd &``: an external command runs beside the shell; ``$!`` is its pid."""
        argv = self.expand_words(node.words)
        if not argv or argv[0] in BUILTINS or argv[0] in self.funcs or node.redirs or node.assigns:
            return self.run(node)   # builtins, functions, redirections: in the shell, to the end
        null = NullSink()
        return self._background(lambda: self.sys.spawn(
            argv, stdin=io.BytesIO(), stdout=self.fds.get(1) or null,
            stderr=self.fds.get(2) or null, env=self.environ()))

    def _background(self, fork) -> int:
        """Start a background job with ``fork()`` (its pid): ``$!`` and ``wait`` know it;
        a refused fork is ash's "can't fork"."""
        try:
            pid = fork()
        except BlockingIOError as e:
            self.msg(f"can't fork: {strerror(e)}")
            if self.interactive:
                return 2
            raise _Exit(2) from None
        self.jobs.append(pid)
        self.last_bg = pid
        return 0

    def run_background_compound(self, node) -> int:
        """``{ …; } &``, ``a && b &``: a forked copy of the shell runs it beside this one
        (its variables are copies; its stdin is empty, as without job control)."""
        clone = copy.copy(self)
        clone._restore(self._save())
        clone.fds = dict(self.fds)
        clone.fds[0] = io.BytesIO()
        clone.jobs, clone.interactive, clone.exec_last, clone.exec_now = [], False, False, False
        parent_pid = self.sys.pid   # $$ in a subshell is still the parent's
        return self._background(lambda: self.sys.spawn_call(
            lambda sys: clone._run_forked(node, sys, parent_pid)))

    def _run_forked(self, node, sys, parent_pid: int) -> int:
        self.sys = sys
        self.dollar_pid = parent_pid
        return self._run_to_status(node)

    def run_andor(self, node: P.AndOr) -> int:
        if not node.rest:
            return self.run(node.first)
        self.suppress += 1
        try:
            status = self.run(node.first)
        finally:
            self.suppress -= 1
        for k, (op, pipeline) in enumerate(node.rest):
            if (op == "&&") == (status == 0):
                last = k == len(node.rest) - 1
                if not last:
                    self.suppress += 1
                try:
                    status = self.run(pipeline)
                finally:
                    if not last:
                        self.suppress -= 1
        return status

    def run_pipeline(self, node: P.Pipeline) -> int:
        if node.negate:
            self.suppress += 1
        try:
            if len(node.cmds) == 1:
                status = self.run(node.cmds[0])
            else:
                status = self._stages(node.cmds)
        finally:
            if node.negate:
                self.suppress -= 1
        if node.negate:
            status = int(status == 0)
        elif status and "e" in self.opts and not self.suppress:
            raise _Exit(status)
        self.status = status
        return status

    def _stages(self, cmds: list) -> int:
        source = self.fds.get(0)
        statuses = []
        for k, cmd in enumerate(cmds):
            last = k == len(cmds) - 1
            sink = self.fds.get(1) if last else PipeBuffer(self)
            statuses.append(self.subshell(cmd, {0: source, 1: sink}))
            if not last:
                source = io.BytesIO(sink.getvalue())
        if "pipefail" in self.opts:
            return next((s for s in reversed(statuses) if s), 0)
        return statuses[-1]

    def _save(self):
        try:
            cwd = self.sys.getcwd()
        except OSError:
            cwd = None
        return (dict(self.vars), set(self.exported), set(self.readonly), dict(self.funcs), list(self.params),
                set(self.opts), dict(self.traps), dict(self.fds), cwd, self.status, self.loops,
                self.funcs_active, self.sourcing, [dict(x) for x in self.locals])

    def _restore(self, saved) -> None:
        (self.vars, self.exported, self.readonly, self.funcs, self.params, self.opts, self.traps,
         self.fds, cwd, self.status, self.loops, self.funcs_active, self.sourcing, self.locals) = saved
        if cwd is not None:
            try:
                if self.sys.getcwd() != cwd:
                    self.sys.chdir(cwd)
            except OSError:
                pass

    def _enter(self, what: str) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.depth -= 1
            raise ShellError(f"{what}: recursion too deep (simulated limit {MAX_DEPTH})")

    def subshell(self, node, fds: dict | None = None) -> int:
        """Run ``node`` so that nothing it changes (variables, cwd, options, fds) leaks out."""
        saved = self._save()
        self._enter("subshell")
        try:
            if fds:
                self.fds.update(fds)
            self.traps = {}
            return self._run_to_status(node)
        finally:
            self.depth -= 1
            self._restore(saved)

    def _run_to_status(self, node) -> int:
        """Run ``node`` as a subshell's body: how it ends (exit, return, an error) is a status."""
        try:
            return self.run(node)
        except (_Exit, _Return) as e:
            return e.status
        except (_Break, _Continue):
            return 0
        except ShellError as e:
            self.msg(e.msg)
            return e.status
        except PipeFull:
            return 128 + 13

    def run_subshell(self, node: P.Subshell) -> int:
        return self.subshell(node.body)

    def run_group(self, node: P.Group) -> int:
        return self.run(node.body)

    def run_redirected(self, node: P.Redirected) -> int:
        try:
            saved = self.redirect(node.redirs)
        except _RedirError:
            return 1
        try:
            return self.run(node.cmd)
        finally:
            self.restore(saved)

    def run_if(self, node: P.If) -> int:
        for cond, body in node.branches:
            if self.condition(cond) == 0:
                return self.run(body)
        if node.else_ is not None:
            return self.run(node.else_)
        return 0

    def condition(self, node) -> int:
        self.suppress += 1
        try:
            return self.run(node)
        finally:
            self.suppress -= 1

    def _loop_body(self, body) -> bool | None:
        """Run one pass; True to stop the loop (``break``)."""
        try:
            self.status = self.run(body)
        except _Break as b:
            if b.n > 1:
                raise _Break(b.n - 1) from None
            return True
        except _Continue as c:
            if c.n > 1:
                raise _Continue(c.n - 1) from None
        return False

    def run_for(self, node: P.For) -> int:
        items = list(self.params) if node.words is None else self.expand_words(node.words)
        self.status = 0
        self.loops += 1
        try:
            for item in items:
                self.sys.poll()
                self.setvar(node.var, item)
                if self._loop_body(node.body):
                    break
        finally:
            self.loops -= 1
        return self.status

    def run_loop(self, node: P.Loop) -> int:
        status = 0
        self.loops += 1
        try:
            while True:
                self.sys.poll()   # a busy loop stays killable, and its CPU time is counted
                c = self.condition(node.cond)
                if (c == 0) == node.until:
                    break
                stop = self._loop_body(node.body)
                status = self.status
                if stop:
                    break
        finally:
            self.loops -= 1
        return status

    def run_case(self, node: P.Case) -> int:
        word = self.expand_str(node.word)
        for patterns, body in node.items:
            for pat in patterns:
                if pattern_match(self.expand_pattern(pat), word):
                    return self.run(body)
        return 0

    def run_funcdef(self, node: P.FuncDef) -> int:
        self.funcs[node.name] = node.body
        return 0

    def call_function(self, name: str, argv: list[str]) -> int:
        self._enter(name)
        saved_params = self.params
        self.params = argv[1:]
        self.locals.append({})
        self.funcs_active += 1
        try:
            return self.run(self.funcs[name])
        except _Return as r:
            return r.status
        finally:
            self.funcs_active -= 1
            for var, old in self.locals.pop().items():
                if old is None:
                    self.vars.pop(var, None)
                else:
                    self.vars[var] = old
            self.params = saved_params
            self.depth -= 1

    # -- simple commands ----------------------------------------------------------------
    def run_simple(self, node: P.Simple) -> int:
        self.lineno = node.lineno
        self.cmdsub_status = None
        argv = self.expand_words(node.words)
        assigns = [(name, self.expand_str(value)) for name, value in node.assigns]
        if "x" in self.opts:
            shown = [f"{n}={quote(v)}" for n, v in assigns] + [quote(a) for a in argv]
            self.msg_raw("+ " + " ".join(shown) + "\n")
        if not argv:
            for name, value in assigns:
                self.setvar(name, value)
            status = self.cmdsub_status or 0
            try:
                saved = self.redirect(node.redirs)
            except _RedirError:
                return 1
            self.restore(saved)
            return status
        if argv[0] == "exec" and len(argv) == 1:
            try:
                self.redirect(node.redirs)
            except _RedirError:
                return 1
            for name, value in assigns:
                self.setvar(name, value)
            return 0
        try:
            saved = self.redirect(node.redirs)
        except _RedirError:
            return 1
        try:
            self.exec_now = node is self.exec_candidate and not self.traps
            return self.dispatch(argv, assigns)
        finally:
            self.exec_now = False
            self.restore(saved)

    def msg_raw(self, text: str) -> None:
        stream = self.fds.get(2)
        if stream is not None:
            stream.write(enc(text))

    def dispatch(self, argv: list[str], assigns: list[tuple[str, str]], functions: bool = True) -> int:
        name = argv[0]
        if name in SPECIAL_BUILTINS:
            for var, value in assigns:
                self.setvar(var, value)
            return BUILTINS[name](self, argv)
        is_func = functions and name in self.funcs
        if is_func or name in BUILTINS:
            saved = {var: self.vars.get(var) for var, _ in assigns}
            saved_exp = set(self.exported)
            for var, value in assigns:
                self.setvar(var, value, export=True)
            try:
                return self.call_function(name, argv) if is_func else BUILTINS[name](self, argv)
            finally:
                for var, old in saved.items():
                    if old is None:
                        self.vars.pop(var, None)
                    else:
                        self.vars[var] = old
                self.exported = saved_exp
        return self.external(argv, dict(assigns))

    def external(self, argv: list[str], extra: dict[str, str] | None = None) -> int:
        null = NullSink()
        run = self.sys.run
        if getattr(self, "exec_now", False) and hasattr(self.sys, "exec"):
            run = self.sys.exec
        try:
            status = run(argv, stdin=self.fds.get(0) or io.BytesIO(), stdout=self.fds.get(1) or null,
                         stderr=self.fds.get(2) or null, env=self.environ(extra))
        except BlockingIOError as e:
            # ash: a failed fork ends a non-interactive shell with status 2
            self.msg(f"can't fork: {strerror(e)}")
            if self.interactive:
                return 2
            raise _Exit(2) from None
        # ash reports a foreground child's death by signal (not INT or PIPE); the status alone
        # cannot tell "killed by 9" from "exit 137", so a program exiting 137 is reported too
        if status - 128 in SIGNAL_TEXT:
            self.msg_raw(SIGNAL_TEXT[status - 128] + "\n")
        return status

    def view(self) -> _View:
        null = NullSink()
        return _View(self.sys, self.fds.get(0) or io.BytesIO(), self.fds.get(1) or null,
                     self.fds.get(2) or null, self.environ())

    # -- redirections -------------------------------------------------------------------
    def redirect(self, redirs: list) -> dict:
        saved: dict[int, object] = {}
        try:
            for r in redirs:
                for fd, stream in self._open(r):
                    if fd not in saved:
                        saved[fd] = self.fds.get(fd, _CLOSED)
                    if stream is _CLOSED:
                        self.fds.pop(fd, None)
                    else:
                        self.fds[fd] = stream
        except _RedirError:
            self.restore(saved)
            raise
        return saved

    def restore(self, saved: dict) -> None:
        for fd, stream in saved.items():
            if stream is _CLOSED:
                self.fds.pop(fd, None)
            else:
                self.fds[fd] = stream

    def _open(self, r: P.Redir) -> list[tuple[int, object]]:
        """The (fd, stream) pairs one redirection sets; raises _RedirError after a message."""
        op = r.op
        if op in ("<<", "<<-"):
            hd = r.target
            text = hd.body if hd.quoted else self.expand_str(hd.body or [])
            return [(r.fd, io.BytesIO(enc(text)))]
        target = self.expand_str(r.target)
        if op in (">&", "<&"):
            if target == "-":
                return [(r.fd, _CLOSED)]
            if target.isdigit():
                if int(target) not in self.fds:
                    self.msg(f"{target}: Bad file descriptor")
                    raise _RedirError()
                return [(r.fd, self.fds[int(target)])]
            if op == ">&" and r.fd == 1:       # bash's >&FILE: stdout and stderr to FILE
                stream = self._open_write(target, False)
                return [(1, stream), (2, stream)]
            self.msg(f"{target}: bad number")
            raise _RedirError()
        if op in ("<", "<>"):
            if target == "/dev/null":
                return [(r.fd, io.BytesIO())]
            try:
                return [(r.fd, io.BytesIO(self.sys.read(target)))]
            except OSError as e:
                if op == "<>" and getattr(e, "errno", None) == 2:
                    return [(r.fd, self._open_write(target, True))]
                text = "no such file" if getattr(e, "errno", None) == 2 else strerror(e)
                self.msg(f"can't open {target}: {text}")
                raise _RedirError() from None
        return [(r.fd, self._open_write(target, op == ">>"))]

    def _open_write(self, target: str, append: bool):
        if target == "/dev/null":
            return NullSink()
        path = target
        if not path.startswith("/"):
            try:
                path = posixpath.join(self.sys.getcwd(), path)
            except OSError:
                pass
        try:
            return FileSink(self.sys, path, append)
        except OSError as e:
            text = "nonexistent directory" if getattr(e, "errno", None) == 2 else strerror(e)
            self.msg(f"can't create {target}: {text}")
            raise _RedirError() from None

    # -- whole programs -----------------------------------------------------------------
    def run_text(self, text: str) -> int:
        """Parse and run one complete command at a time, like ash reading a script."""
        parser = P.Parser(text)
        while True:
            try:
                node = parser.parse_next()
            except P.ShellSyntaxError as e:
                self.lineno = e.lineno
                self.msg(f"syntax error: {e.msg}")
                raise _Exit(2) from None
            if node is None:
                return self.status
            # ash runs the last command of `sh -c` in its own process, with no fork
            self.exec_candidate = _only_simple(node) if self.exec_last and parser.at_end() else None
            self.status = self.run_top(node)

    def run_top(self, node) -> int:
        try:
            return self.run(node)
        except ShellError as e:
            self.msg(e.msg)
            if self.interactive:
                return e.status
            raise _Exit(e.status) from None
        except (_Break, _Continue):
            return 0

    def finish(self, status: int) -> int:
        """The EXIT trap, then the status a parent sees (0-255)."""
        action = self.traps.pop("EXIT", None)
        if action:
            self.status = status
            try:
                self.run_text(action)
            except _Exit as e:
                status = e.status
            except (_Return, ShellError, _Break, _Continue):
                pass
        return status & 0xFF

    def prompt(self) -> str:
        ps1 = self.vars.get("PS1", "\\w \\$ ")
        try:
            cwd = self.sys.getcwd()
        except OSError:
            cwd = "?"
        home = self.vars.get("HOME")
        if home and home != "/" and (cwd == home or cwd.startswith(home + "/")):
            cwd = "~" + cwd[len(home):]
        return (ps1.replace("\\w", cwd).replace("\\$", "#" if self.sys.uid == 0 else "$")
                .replace("\\u", "root" if self.sys.uid == 0 else str(self.sys.uid))
                .replace("\\h", self.sys.hostname().split(".")[0]))

    def repl(self) -> int:
        """Commands from standard input, one complete command at a time."""
        stdin = self.fds[0]
        pending = ""
        while True:
            if self.interactive:
                self.msg_raw(self.prompt() if not pending else "> ")
            line = readline(stdin)
            if not line:
                if pending:
                    try:
                        P.parse(pending)
                    except P.ShellSyntaxError as e:
                        self.msg(f"syntax error: {e.msg}")
                        return 2
                break
            pending += dec(line)
            try:
                tree = P.parse(pending)
            except P.ShellSyntaxError as e:
                if e.eof:
                    continue
                self.msg(f"syntax error: {e.msg}")
                pending = ""
                if not self.interactive:
                    return 2
                self.status = 2
                continue
            pending = ""
            self.status = self.run_top(tree)
        return self.status


_SPECIAL_GET = {
    "@": lambda sh: " ".join(sh.params),
    "*": lambda sh: sh.vars.get("IFS", " \t\n")[:1].join(sh.params),
    "#": lambda sh: str(len(sh.params)),
    "?": lambda sh: str(sh.status),
    "$": lambda sh: str(sh.dollar_pid if sh.dollar_pid is not None else sh.sys.pid),
    "!": lambda sh: str(sh.last_bg) if sh.last_bg is not None else None,
    "-": lambda sh: "".join(sorted(o for o in sh.opts if len(o) == 1)),
}

_EXEC = {
    P.Seq: Shell.run_seq,
    P.AndOr: Shell.run_andor,
    P.Pipeline: Shell.run_pipeline,
    P.Simple: Shell.run_simple,
    P.If: Shell.run_if,
    P.For: Shell.run_for,
    P.Loop: Shell.run_loop,
    P.Case: Shell.run_case,
    P.Group: Shell.run_group,
    P.Subshell: Shell.run_subshell,
    P.FuncDef: Shell.run_funcdef,
    P.Redirected: Shell.run_redirected,
}

from .shbuiltins import BUILTINS  # noqa: E402  (the builtins need Shell's exceptions)


def main(sys, argv: list[str]) -> int:
    """``sh [-eux] [-c CMD [NAME ARGS…] | FILE [ARGS…]]``."""
    arg0 = argv[0] if argv else "sh"
    shell = Shell(sys, arg0)
    args = argv[1:]
    command = None
    force_interactive = False
    while args and args[0].startswith(("-", "+")) and args[0] not in ("-", "--", "+"):
        flag = args.pop(0)
        on = flag[0] == "-"
        for c in flag[1:]:
            if c == "c":
                command = True
            elif c == "i":
                force_interactive = True
            elif c in "euxfavnCs":
                (shell.opts.add if on else shell.opts.discard)(c)
            elif c == "l":
                pass
            else:
                shell.msg(f"-{c}: invalid option")
                return 2
    if args and args[0] in ("-", "--"):
        args.pop(0)
    try:
        try:
            if command:
                if not args:
                    shell.msg("-c requires an argument")
                    return 2
                text = args[0]
                if len(args) > 1:
                    shell.dollar0 = args[1]
                shell.params = args[2:]
                shell.exec_last = True
                status = shell.run_text(text)
            elif args and "s" not in shell.opts:
                path = args[0]
                shell.params = args[1:]
                try:
                    text = dec(sys.read(path))
                except OSError as e:
                    shell.msg(f"can't open '{path}': {strerror(e)}")
                    return 2 if getattr(e, "errno", 0) != 2 else 127
                shell.script = path
                shell.dollar0 = path
                status = shell.run_text(text)
            else:
                shell.params = args
                shell.interactive = force_interactive or isatty(sys.stdin)
                status = shell.repl()
        except _Exit as e:
            status = e.status
        except ShellError as e:
            shell.msg(e.msg)
            status = e.status
        except _Return as r:
            status = r.status
        return shell.finish(status)
    except RecursionError:
        shell.msg(f"recursion too deep (simulated limit {MAX_DEPTH})")
        return 2
    except PipeFull:
        return 128 + 13
    except Exception as e:  # never a traceback: a message and the status of a failed shell
        shell.msg(f"internal error: {type(e).__name__}: {e}")
        return 2


def _only_simple(node):
    """The simple command ``node`` consists of, if it is nothing more (no list, pipe, ``!``, ``&``)."""
    if not isinstance(node, P.Seq) or len(node.items) != 1 or node.items[0][1]:
        return None
    andor = node.items[0][0]
    if not isinstance(andor, P.AndOr) or andor.rest:
        return None
    pipe = andor.first
    if not isinstance(pipe, P.Pipeline) or pipe.negate or len(pipe.cmds) != 1:
        return None
    return pipe.cmds[0] if isinstance(pipe.cmds[0], P.Simple) else None

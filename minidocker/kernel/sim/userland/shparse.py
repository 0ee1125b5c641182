"""The parser of the simulated ``sh``: shell text → a tree of nodes.

It follows busybox ``ash`` (a descendant of dash): the same grammar subset,
the same points where words are recognised as reserved, here-documents read
at the next newline, and the same syntax error texts (``syntax error:
unexpected "fi"``, ``syntax error: unexpected end of file (expecting "done")``,
``syntax error: unterminated quoted string``).

Words are parsed into parts at lexing time — literal text (quoted or not),
``$name`` / ``${name…}`` parameters, ``$(…)`` and backquote command
substitutions (parsed recursively), ``$((…))`` arithmetic and ``~`` — so the
executor never re-scans text. ``parse_next`` hands out one complete command
at a time, so a script runs up to its first syntax error, as in a real shell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_PARSE_DEPTH = 60   # nested $( ), ( ), { }, if …: beyond, an error rather than a RecursionError


class ShellSyntaxError(Exception):
    def __init__(self, msg: str, lineno: int, eof: bool = False):
        super().__init__(msg)
        self.msg = msg
        self.lineno = lineno
        self.eof = eof      # more input could complete it (the REPL reads on)


# -- word parts ----------------------------------------------------------------------

@dataclass(slots=True)
class Lit:
    text: str
    quoted: bool


@dataclass(slots=True)
class Param:
    name: str
    op: str | None = None          # None, "len", ":-", "-", ":=", "=", ":+", "+", ":?", "?", "#", "##", "%", "%%"
    arg: list | None = None
    quoted: bool = False


@dataclass(slots=True)
class CmdSub:
    body: object
    quoted: bool


@dataclass(slots=True)
class Arith:
    parts: list
    quoted: bool


@dataclass(slots=True)
class Tilde:
    user: str


# -- commands ------------------------------------------------------------------------

@dataclass(slots=True)
class HereDoc:
    delim: str
    strip_tabs: bool
    quoted: bool
    body: object = None            # str when quoted, else a list of parts


@dataclass(slots=True)
class Redir:
    fd: int
    op: str
    target: object                 # parts, or a HereDoc


@dataclass(slots=True)
class Simple:
    assigns: list
    words: list
    redirs: list
    lineno: int = 0


@dataclass(slots=True)
class Pipeline:
    cmds: list
    negate: bool = False


@dataclass(slots=True)
class AndOr:
    first: object
    rest: list = field(default_factory=list)


@dataclass(slots=True)
class Seq:
    items: list                    # (AndOr, background)


@dataclass(slots=True)
class If:
    branches: list                 # (condition Seq, body Seq)
    else_: object = None


@dataclass(slots=True)
class For:
    var: str
    words: list | None
    body: object


@dataclass(slots=True)
class Loop:
    cond: object
    body: object
    until: bool


@dataclass(slots=True)
class Case:
    word: list
    items: list                    # (patterns, body Seq)


@dataclass(slots=True)
class Group:
    body: object


@dataclass(slots=True)
class Subshell:
    body: object


@dataclass(slots=True)
class FuncDef:
    name: str
    body: object


@dataclass(slots=True)
class Redirected:
    cmd: object
    redirs: list


# -- tokens --------------------------------------------------------------------------

@dataclass(slots=True)
class Tok:
    kind: str                      # "word", "op", "nl", "eof", "io"
    value: object = None           # operator text, io number, or the word's parts
    raw: str = ""
    plain: bool = False            # an unquoted literal word: may be a reserved word


OPS = ("<<-", "&&", "||", ";;", "<<", ">>", "<&", ">&", "<>", ">|", "&", "|", ";", "(", ")", "<", ">")
REDIR_OPS = frozenset(("<", ">", ">>", "<<", "<<-", "<&", ">&", "<>", ">|"))
RESERVED = frozenset(("if", "then", "else", "elif", "fi", "do", "done", "case", "esac",
                      "while", "until", "for", "{", "}", "!", "in"))
STOP_WORDS = frozenset(("then", "else", "elif", "fi", "do", "done", "esac", "}"))
META = frozenset(" \t\n;&|()<>")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
SPECIAL_PARAMS = "@*#?-$!0123456789"


def is_name(s: str) -> bool:
    return NAME_RE.fullmatch(s) is not None


def _flusher(parts: list, buf: list[str], quoted: bool):
    """A ``flush()`` for a word scanner: the characters gathered in ``buf`` become one literal part."""
    def flush():
        if buf:
            parts.append(Lit("".join(buf), quoted))
            buf.clear()
    return flush


class Parser:
    def __init__(self, src: str, pos: int = 0, lineno: int = 1, depth: int = 0):
        if depth > MAX_PARSE_DEPTH:
            raise ShellSyntaxError(f"nesting too deep (simulated limit {MAX_PARSE_DEPTH})", lineno)
        self.src = src
        self.n = len(src)
        self.pos = pos
        self.lineno = lineno
        self.depth = depth
        self.tok: Tok | None = None
        self.pending: list[HereDoc] = []

    # -- errors --------------------------------------------------------------------
    def error(self, msg: str, eof: bool = False):
        raise ShellSyntaxError(msg, self.lineno, eof)

    def unexpected(self, tok: Tok, expecting: str | None = None):
        if tok.kind == "eof":
            self.error("unexpected end of file" + (f' (expecting "{expecting}")' if expecting else ""), eof=True)
        if tok.kind == "nl":
            self.error("unexpected newline")
        self.error(f'unexpected "{tok.raw}"')

    # -- lexing --------------------------------------------------------------------
    def peek(self) -> Tok:
        if self.tok is None:
            self.tok = self._lex()
        return self.tok

    def next(self) -> Tok:
        t = self.peek()
        self.tok = None
        return t

    def _lex(self) -> Tok:
        src, n = self.src, self.n
        while self.pos < n:
            c = src[self.pos]
            if c in " \t\r":
                self.pos += 1
            elif c == "\\" and src.startswith("\\\n", self.pos):
                self.pos += 2
                self.lineno += 1
            elif c == "#":
                end = src.find("\n", self.pos)
                self.pos = n if end < 0 else end
            else:
                break
        if self.pos >= n:
            return Tok("eof", raw="end of file")
        c = src[self.pos]
        if c == "\n":
            self.pos += 1
            self.lineno += 1
            if self.pending:
                self._read_heredocs()
            return Tok("nl", raw="newline")
        for op in OPS:
            if src.startswith(op, self.pos):
                self.pos += len(op)
                return Tok("op", op, op)
        return self._read_word()

    def _read_word(self) -> Tok:
        src, n = self.src, self.n
        start = self.pos
        parts: list = []
        buf: list[str] = []
        flush = _flusher(parts, buf, False)

        while self.pos < n:
            c = src[self.pos]
            if c in META:
                break
            if c == "\\":
                if src.startswith("\\\n", self.pos):
                    self.pos += 2
                    self.lineno += 1
                    continue
                flush()
                if self.pos + 1 < n:
                    parts.append(Lit(src[self.pos + 1], True))
                    self.pos += 2
                else:
                    parts.append(Lit("\\", True))
                    self.pos += 1
            elif c == "'":
                flush()
                end = src.find("'", self.pos + 1)
                if end < 0:
                    self.error("unterminated quoted string", eof=True)
                text = src[self.pos + 1:end]
                self.lineno += text.count("\n")
                parts.append(Lit(text, True))
                self.pos = end + 1
            elif c == '"':
                flush()
                self._read_dq(parts)
            elif c == "$":
                flush()
                self._read_dollar(parts, False)
            elif c == "`":
                flush()
                self._read_backquote(parts, False)
            elif c == "~" and self.pos == start:
                m = re.compile(r"~([A-Za-z0-9_.-]*)").match(src, self.pos)
                after = m.end()
                if after >= n or src[after] == "/" or src[after] in META:
                    parts.append(Tilde(m.group(1)))
                    self.pos = after
                else:
                    buf.append(c)
                    self.pos += 1
            else:
                buf.append(c)
                self.pos += 1
        flush()
        raw = src[start:self.pos]
        if raw.isdigit() and self.pos < n and src[self.pos] in "<>":
            return Tok("io", int(raw), raw)
        plain = len(parts) == 1 and isinstance(parts[0], Lit) and not parts[0].quoted
        return Tok("word", parts, raw, plain)

    def _read_dq(self, parts: list) -> None:
        src, n = self.src, self.n
        self.pos += 1
        parts.append(Lit("", True))      # "" is a word of its own even when empty
        buf: list[str] = []
        flush = _flusher(parts, buf, True)

        while True:
            if self.pos >= n:
                self.error("unterminated quoted string", eof=True)
            c = src[self.pos]
            if c == '"':
                self.pos += 1
                break
            if c == "\\" and self.pos + 1 < n and src[self.pos + 1] in '$`"\\\n':
                if src[self.pos + 1] == "\n":
                    self.lineno += 1
                else:
                    buf.append(src[self.pos + 1])
                self.pos += 2
            elif c == "$":
                flush()
                self._read_dollar(parts, True)
            elif c == "`":
                flush()
                self._read_backquote(parts, True)
            else:
                if c == "\n":
                    self.lineno += 1
                buf.append(c)
                self.pos += 1
        flush()

    def _read_dollar(self, parts: list, quoted: bool) -> None:
        src = self.src
        nxt = src[self.pos + 1] if self.pos + 1 < self.n else ""
        if src.startswith("$((", self.pos):
            self._read_arith(parts, quoted)
        elif nxt == "(":
            self.pos += 2
            sub = Parser(src, self.pos, self.lineno, self.depth + 1)
            body = sub.parse_list()
            t = sub.next()
            if t.kind != "op" or t.value != ")":
                sub.unexpected(t, ")")
            self.pos, self.lineno = sub.pos, sub.lineno
            parts.append(CmdSub(body, quoted))
        elif nxt == "{":
            self._read_brace(parts, quoted)
        elif nxt and (nxt.isalpha() or nxt == "_"):
            m = NAME_RE.match(src, self.pos + 1)
            parts.append(Param(m.group(), quoted=quoted))
            self.pos = m.end()
        elif nxt and nxt in SPECIAL_PARAMS:
            parts.append(Param(nxt, quoted=quoted))
            self.pos += 2
        else:
            parts.append(Lit("$", quoted))
            self.pos += 1

    def _until_closer(self, opener: str, closer: str, expecting: str):
        """Yield the character at ``pos`` until ``closer`` stands there outside any nested
        ``opener``…``closer`` pair; the caller advances ``pos`` and steps over the closer.
        End of input is the syntax error ``unexpected end of file (expecting "…")``."""
        depth = 0
        while True:
            if self.pos >= self.n:
                self.error(f'unexpected end of file (expecting "{expecting}")', eof=True)
            c = self.src[self.pos]
            if c == closer and depth == 0:
                return
            if c == opener:
                depth += 1
            elif c == closer:
                depth -= 1
            yield c

    def _read_arith(self, parts: list, quoted: bool) -> None:
        src, n = self.src, self.n
        self.pos += 3
        inner: list = []
        buf: list[str] = []
        flush = _flusher(inner, buf, True)
        for c in self._until_closer("(", ")", "))"):
            if c == "$":
                flush()
                self._read_dollar(inner, True)
                continue
            if c == "`":
                flush()
                self._read_backquote(inner, True)
                continue
            if c in "\"'":
                self.pos += 1            # quotes inside $(( )) only group
                continue
            if c == "\\" and self.pos + 1 < n:
                self.pos += 1
                c = src[self.pos]
            if c == "\n":
                self.lineno += 1
            buf.append(c)
            self.pos += 1
        if not src.startswith("))", self.pos):
            self.error('unexpected ")"')
        self.pos += 2
        flush()
        parts.append(Arith(inner, quoted))

    def _read_brace(self, parts: list, quoted: bool) -> None:
        src, n = self.src, self.n
        self.pos += 2
        if src.startswith("#", self.pos) and self.pos + 1 < n and src[self.pos + 1] != "}":
            name = self._param_name(self.pos + 1)
            if name and src.startswith("}", self.pos + 1 + len(name)):
                self.pos += 2 + len(name)
                parts.append(Param(name, "len", None, quoted))
                return
        name = self._param_name(self.pos)
        if not name:
            self._bad_substitution()
        self.pos += len(name)
        if src.startswith("}", self.pos):
            self.pos += 1
            parts.append(Param(name, None, None, quoted))
            return
        for op in (":-", ":=", ":+", ":?", "##", "%%", "-", "=", "+", "?", "#", "%"):
            if src.startswith(op, self.pos):
                self.pos += len(op)
                break
        else:
            self._bad_substitution()
        arg = self._read_brace_arg(quoted)
        parts.append(Param(name, op, arg, quoted))

    def _bad_substitution(self):
        end = self.src.find("}", self.pos)
        if end < 0:
            self.error("unexpected end of file (expecting \"}\")", eof=True)
        self.error("bad substitution")

    def _param_name(self, i: int) -> str:
        src = self.src
        m = NAME_RE.match(src, i)
        if m:
            return m.group()
        m = re.compile(r"\d+").match(src, i)
        if m:
            return m.group()
        if i < self.n and src[i] in "@*#?-$!":
            return src[i]
        return ""

    def _read_brace_arg(self, quoted: bool) -> list:
        src, n = self.src, self.n
        parts: list = []
        buf: list[str] = []
        flush = _flusher(parts, buf, quoted)
        for c in self._until_closer("{", "}", "}"):
            if c == "\\" and self.pos + 1 < n:
                flush()
                parts.append(Lit(src[self.pos + 1], True))
                self.pos += 2
            elif c == "'" and not quoted:
                flush()
                end = src.find("'", self.pos + 1)
                if end < 0:
                    self.error("unterminated quoted string", eof=True)
                parts.append(Lit(src[self.pos + 1:end], True))
                self.pos = end + 1
            elif c == '"':
                flush()
                self._read_dq(parts)
            elif c == "$":
                flush()
                self._read_dollar(parts, quoted)
            elif c == "`":
                flush()
                self._read_backquote(parts, quoted)
            else:
                if c == "\n":
                    self.lineno += 1
                buf.append(c)
                self.pos += 1
        self.pos += 1                    # the closing "}"
        flush()
        return parts

    def _read_backquote(self, parts: list, quoted: bool) -> None:
        src, n = self.src, self.n
        self.pos += 1
        escapable = '$`\\"' if quoted else "$`\\"
        buf: list[str] = []
        start_line = self.lineno
        while True:
            if self.pos >= n:
                self.error("EOF in backquote substitution", eof=True)
            c = src[self.pos]
            if c == "`":
                self.pos += 1
                break
            if c == "\\" and self.pos + 1 < n and src[self.pos + 1] in escapable:
                buf.append(src[self.pos + 1])
                self.pos += 2
                continue
            if c == "\n":
                self.lineno += 1
            buf.append(c)
            self.pos += 1
        sub = Parser("".join(buf), 0, start_line, self.depth + 1)
        parts.append(CmdSub(sub.parse_program(), quoted))

    def _read_heredocs(self) -> None:
        src, n = self.src, self.n
        for hd in self.pending:
            lines: list[str] = []
            while self.pos < n:
                end = src.find("\n", self.pos)
                line = src[self.pos:] if end < 0 else src[self.pos:end]
                self.pos = n if end < 0 else end + 1
                self.lineno += 1
                if hd.strip_tabs:
                    line = line.lstrip("\t")
                if line == hd.delim:
                    break
                lines.append(line + "\n")
            text = "".join(lines)
            hd.body = text if hd.quoted else parse_heredoc_body(text, self.lineno, self.depth + 1)
        self.pending = []

    def finish_heredocs(self) -> None:
        """Here-documents still waiting at the end of input get empty bodies."""
        for hd in self.pending:
            hd.body = "" if hd.quoted else []
        self.pending = []

    # -- grammar -------------------------------------------------------------------
    def is_word(self, t: Tok, word: str | None = None) -> bool:
        return t.kind == "word" and t.plain and t.raw in RESERVED and (word is None or t.raw == word)

    def expect_word(self, word: str) -> None:
        t = self.next()
        if not self.is_word(t, word):
            self.unexpected(t, word)

    def skip_newlines(self) -> None:
        while self.peek().kind == "nl":
            self.next()

    def parse_program(self) -> Seq:
        body = self.parse_list()
        t = self.peek()
        if t.kind != "eof":
            self.unexpected(t)
        self.finish_heredocs()
        return body

    def at_end(self) -> bool:
        """Whether only blank lines are left (the command just parsed was the last)."""
        self.skip_newlines()
        return self.peek().kind == "eof"

    def parse_next(self) -> Seq | None:
        """The next complete command line (an and-or list up to a newline), or None at the end."""
        self.skip_newlines()
        if self.peek().kind == "eof":
            self.finish_heredocs()
            return None
        items = []
        while True:
            andor = self.parse_andor()
            t = self.peek()
            bg = t.kind == "op" and t.value == "&"
            items.append((andor, bg))
            if t.kind == "op" and t.value in (";", "&"):
                self.next()
                if self.peek().kind in ("nl", "eof"):
                    break
                continue
            if t.kind == "nl":
                self.next()
                break
            if t.kind == "eof":
                self.finish_heredocs()
                break
            self.unexpected(t)
        return Seq(items)

    def parse_list(self) -> Seq:
        items = []
        self.skip_newlines()
        while True:
            t = self.peek()
            if t.kind == "eof" or (t.kind == "op" and t.value in (")", ";;")):
                break
            if self.is_word(t) and t.raw in STOP_WORDS:
                break
            andor = self.parse_andor()
            t = self.peek()
            bg = t.kind == "op" and t.value == "&"
            items.append((andor, bg))
            if t.kind == "op" and t.value in (";", "&"):
                self.next()
            elif t.kind != "nl":
                break
            self.skip_newlines()
        return Seq(items)

    def parse_body(self, expecting: str) -> Seq:
        body = self.parse_list()
        if not body.items:
            self.unexpected(self.peek(), expecting)
        return body

    def parse_andor(self) -> AndOr:
        node = AndOr(self.parse_pipeline())
        while True:
            t = self.peek()
            if t.kind == "op" and t.value in ("&&", "||"):
                self.next()
                self.skip_newlines()
                node.rest.append((t.value, self.parse_pipeline()))
            else:
                return node

    def parse_pipeline(self) -> Pipeline:
        negate = False
        if self.is_word(self.peek(), "!"):
            self.next()
            negate = True
        cmds = [self.parse_command()]
        while self.peek().kind == "op" and self.peek().value == "|":
            self.next()
            self.skip_newlines()
            cmds.append(self.parse_command())
        return Pipeline(cmds, negate)

    def parse_command(self):
        t = self.peek()
        compound = None
        if self.is_word(t):
            word = t.raw
            if word in COMPOUND:
                self.next()
                self.depth += 1
                if self.depth > MAX_PARSE_DEPTH:
                    self.error(f"nesting too deep (simulated limit {MAX_PARSE_DEPTH})")
                compound = COMPOUND[word](self)
                self.depth -= 1
            elif word != "in":
                self.unexpected(t)
        elif t.kind == "op" and t.value == "(":
            self.next()
            self.depth += 1
            if self.depth > MAX_PARSE_DEPTH:
                self.error(f"nesting too deep (simulated limit {MAX_PARSE_DEPTH})")
            body = self.parse_body(")")
            t2 = self.next()
            if t2.kind != "op" or t2.value != ")":
                self.unexpected(t2, ")")
            self.depth -= 1
            compound = Subshell(body)
        if compound is not None:
            redirs = []
            while self._at_redir():
                redirs.append(self.parse_redir())
            return Redirected(compound, redirs) if redirs else compound
        return self.parse_simple()

    def _at_redir(self) -> bool:
        t = self.peek()
        return t.kind == "io" or (t.kind == "op" and t.value in REDIR_OPS)

    def parse_simple(self):
        lineno = self.lineno
        assigns: list = []
        words: list = []
        redirs: list = []
        while True:
            t = self.peek()
            if self._at_redir():
                redirs.append(self.parse_redir())
            elif t.kind == "word":
                self.next()
                m = ASSIGN_RE.match(t.raw) if not words else None
                first = t.value[0] if t.value else None
                if m and isinstance(first, Lit) and not first.quoted and first.text.startswith(m.group()):
                    rest = first.text[len(m.group()):]
                    value = ([Lit(rest, False)] if rest else []) + t.value[1:]
                    assigns.append((m.group(1), value))
                    continue
                words.append(t.value)
                if len(words) == 1 and not assigns and not redirs:
                    nt = self.peek()
                    if nt.kind == "op" and nt.value == "(":
                        return self.parse_funcdef(t)
            else:
                break
        if not (assigns or words or redirs):
            self.unexpected(self.peek())
        return Simple(assigns, words, redirs, lineno)

    def parse_funcdef(self, name_tok: Tok):
        self.next()
        t = self.next()
        if t.kind != "op" or t.value != ")":
            self.unexpected(t, ")")
        if not (name_tok.plain and is_name(name_tok.raw)):
            self.error("bad function name")
        self.skip_newlines()
        t = self.peek()
        if not ((self.is_word(t) and t.raw in COMPOUND) or (t.kind == "op" and t.value == "(")):
            self.unexpected(t)
        return FuncDef(name_tok.raw, self.parse_command())

    def parse_redir(self) -> Redir:
        t = self.next()
        fd = None
        if t.kind == "io":
            fd = t.value
            t = self.next()
            if t.kind != "op" or t.value not in REDIR_OPS:
                self.unexpected(t)
        op = t.value
        target = self.next()
        if target.kind != "word":
            self.unexpected(target)
        if fd is None:
            fd = 0 if op in ("<", "<<", "<<-", "<&", "<>") else 1
        if op in ("<<", "<<-"):
            quoted = any(c in target.raw for c in "'\"\\")
            delim = "".join(p.text if isinstance(p, Lit) else "$" + getattr(p, "name", "") for p in target.value)
            hd = HereDoc(delim, op == "<<-", quoted)
            self.pending.append(hd)
            return Redir(fd, op, hd)
        return Redir(fd, op, target.value)

    # compound commands (the opening word is consumed)
    def parse_if(self) -> If:
        branches = []
        cond = self.parse_body("then")
        self.expect_word("then")
        branches.append((cond, self.parse_body("fi")))
        else_ = None
        while True:
            t = self.next()
            if self.is_word(t, "elif"):
                cond = self.parse_body("then")
                self.expect_word("then")
                branches.append((cond, self.parse_body("fi")))
            elif self.is_word(t, "else"):
                else_ = self.parse_body("fi")
                self.expect_word("fi")
                break
            elif self.is_word(t, "fi"):
                break
            else:
                self.unexpected(t, "fi")
        return If(branches, else_)

    def parse_for(self) -> For:
        t = self.next()
        if t.kind != "word" or not t.plain or not is_name(t.raw):
            if t.kind == "eof":
                self.unexpected(t)
            self.error("bad for loop variable")
        var = t.raw
        self.skip_newlines()
        words = None
        t = self.peek()
        if self.is_word(t, "in"):
            self.next()
            words = []
            while self.peek().kind == "word":
                words.append(self.next().value)
            t = self.peek()
            if t.kind == "op" and t.value == ";":
                self.next()
            elif t.kind not in ("nl",):
                self.unexpected(t, "do")
        elif t.kind == "op" and t.value == ";":
            self.next()
        self.skip_newlines()
        self.expect_word("do")
        body = self.parse_body("done")
        self.expect_word("done")
        return For(var, words, body)

    def _parse_loop(self, until: bool) -> Loop:
        cond = self.parse_body("do")
        self.expect_word("do")
        body = self.parse_body("done")
        self.expect_word("done")
        return Loop(cond, body, until)

    def parse_case(self) -> Case:
        t = self.next()
        if t.kind != "word":
            self.unexpected(t)
        word = t.value
        self.skip_newlines()
        self.expect_word("in")
        items = []
        while True:
            self.skip_newlines()
            t = self.peek()
            if self.is_word(t, "esac"):
                self.next()
                break
            if t.kind == "op" and t.value == "(":
                self.next()
            patterns = []
            while True:
                t = self.next()
                if t.kind != "word":
                    self.unexpected(t, ")")
                patterns.append(t.value)
                t = self.next()
                if t.kind == "op" and t.value == "|":
                    continue
                if t.kind == "op" and t.value == ")":
                    break
                self.unexpected(t, ")")
            body = self.parse_list()
            items.append((patterns, body))
            t = self.peek()
            if t.kind == "op" and t.value == ";;":
                self.next()
            elif self.is_word(t, "esac"):
                self.next()
                break
            else:
                self.unexpected(t, "esac")
        return Case(word, items)

    def parse_group(self) -> Group:
        body = self.parse_body("}")
        self.expect_word("}")
        return Group(body)


COMPOUND = {
    "if": Parser.parse_if,
    "for": Parser.parse_for,
    "while": lambda p: p._parse_loop(False),
    "until": lambda p: p._parse_loop(True),
    "case": Parser.parse_case,
    "{": Parser.parse_group,
}


def parse_heredoc_body(text: str, lineno: int = 1, depth: int = 0) -> list:
    """An unquoted here-document: ``$`` and backquotes expand, ``\\`` escapes only ``$ ` \\`` and newline."""
    p = Parser(text, 0, lineno, depth)
    parts: list = []
    buf: list[str] = []
    flush = _flusher(parts, buf, True)

    while p.pos < p.n:
        c = text[p.pos]
        if c == "\\" and p.pos + 1 < p.n and text[p.pos + 1] in "$`\\\n":
            if text[p.pos + 1] != "\n":
                buf.append(text[p.pos + 1])
            p.pos += 2
        elif c == "$":
            flush()
            p._read_dollar(parts, True)
        elif c == "`":
            flush()
            p._read_backquote(parts, True)
        else:
            buf.append(c)
            p.pos += 1
    flush()
    return parts


def parse(src: str) -> Seq:
    """The whole text at once (``eval``, command substitution in backquotes)."""
    return Parser(src).parse_program()

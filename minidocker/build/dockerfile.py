"""The Dockerfile parser and the shell-word expander, as BuildKit has them.

This module owns the text of a Dockerfile: splitting it into instructions
(parser directives, comments, line continuations, heredocs, exec and shell
forms, flags) and expanding ``$VAR`` words the way BuildKit's shell lexer
does. It is pure: no filesystem, no network, no environment of its own.

The rules follow BuildKit's ``frontend/dockerfile/parser`` (the version the
PyPI package ``dockerfile`` wraps, v0.12) and ``frontend/dockerfile/shell``
(current). ``Instruction.args`` is exactly the list of node values BuildKit's
parser yields: quotes are kept in ENV/LABEL/ARG words, shell forms are one
string, exec forms are the decoded JSON strings. Expansion is left to the
builder, which knows the ARG/ENV values at each step.

Where BuildKit is quirky we are quirky too (flag words are read byte by byte,
so non-ASCII flag values come out as Latin-1; an escaped escape at the end of
a line does not continue it; invalid JSON silently becomes a shell form), so
that a Dockerfile means the same here as under ``docker build``. What BuildKit
leaves to its later stages and is still about spelling rather than meaning
(unknown instructions, unknown or malformed flags) is reported here, with the
file and line, as a ``DockerfileError``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from json.decoder import scanstring as _json_scanstring

from ..errors import MinidockerError

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping

# BuildKit refuses physical lines over 64 KiB; we allow longer ones (minified
# JSON, long RUN lines) but keep a bound so a hostile file cannot make us
# hold or scan unbounded text.
MAX_LINE_BYTES = 1 << 20
MAX_FILE_BYTES = 16 << 20

DEFAULT_ESCAPE = "\\"


class DockerfileError(MinidockerError):
    """`Dockerfile:12: unknown instruction: FORM` — path and line always in the message; one line."""

    def __init__(self, path: str, line: int, reason: str):
        self.path = path
        self.line = line
        self.reason = reason
        super().__init__(_one_line(f"{path}:{line}: {reason}"))


def _one_line(text: str) -> str:
    # The CLI prints errors on one line; a path or a quoted word must not break it.
    return text.replace("\r", "\\r").replace("\n", "\\n")


class _Fail(Exception):
    """A parse problem without its location; ``parse`` adds the path and line."""


@dataclass(frozen=True)
class Heredoc:
    """One here-document attached to RUN, COPY or ADD.

    ``content`` is the body as BuildKit's parser keeps it: every line with its
    own line ending, tabs untouched even for ``<<-`` (BuildKit strips them when
    it uses the body; ``body`` does the same).
    """

    name: str
    content: str
    file_descriptor: int = 0
    expand: bool = True
    chomp: bool = False

    @property
    def body(self) -> str:
        """The content as the command sees it: leading tabs removed for ``<<-``."""
        return _LEADING_TABS.sub("", self.content) if self.chomp else self.content


@dataclass(frozen=True)
class Instruction:
    """One instruction, with BuildKit's parser's view of its arguments.

    For ONBUILD, ``args`` and ``json`` describe the trigger instruction (named
    by ``sub_cmd``, with its own flags in ``sub_flags``), while ``flags`` are
    ONBUILD's own, as BuildKit's node tree has them.
    """

    cmd: str
    args: tuple[str, ...]
    json: bool
    flags: tuple[str, ...]
    heredocs: tuple[Heredoc, ...]
    original: str
    line: int
    end_line: int
    sub_cmd: str | None = None
    sub_flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile: its parser directives and its instructions in order."""

    path: str
    directives: dict[str, str]
    escape: str
    instructions: tuple[Instruction, ...]


# ---------------------------------------------------------------------------
# Character classes. Go's unicode.IsSpace is not Python's str.isspace (which
# also counts \x1c-\x1f), and BuildKit mixes it with narrower regexps, so each
# place uses the class BuildKit uses there.

_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
            "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_GO_SPACE_CLASS = "\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# unicode.IsSpace applied to single bytes (BuildKit's flag and HEALTHCHECK
# scanners index the UTF-8 string byte by byte).
_BYTE_SPACE = "\t\n\v\f\r \x85\xa0"
# BuildKit's reWhitespace / tokenWhitespace.
_WS_SPLIT = re.compile("[\t\v\f\r ]+")
_LEADING_TABS = re.compile("^\t+", re.M)
_DIRECTIVE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
_HEREDOC_WORD = re.compile(r"([0-9]*)<<(-?)([^<]*)\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")

_VALID_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC_COMMANDS = frozenset({"add", "copy", "run"})


def _go_strip(s: str) -> str:
    return s.strip(_GO_SPACE)


def _go_lstrip(s: str) -> str:
    return s.lstrip(_GO_SPACE)


def _trim_newline(s: str) -> str:
    return s.rstrip("\r\n")


def _go_quote(s: str) -> str:
    """Go's %q / strconv.Quote, for words quoted in error messages."""
    out = ['"']
    for ch in s:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
                        "\r": "\\r", "\t": "\\t", "\v": "\\v"}[ch])
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _latin1(s: str) -> str:
    """The UTF-8 bytes of ``s``, one character per byte (Go's ``rune(s[i])``)."""
    return s.encode("utf-8", "surrogatepass").decode("latin-1")


def _from_latin1(s: str) -> str:
    return s.encode("latin-1").decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# Suggestions ("did you mean ...?"), as BuildKit's util/suggest offers them.

def _distance(a: str, b: str) -> int:
    """Edit distance where swapping two neighbours counts once (RNU is one step from RUN)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _suggest(word: str, options) -> str | None:
    if not word or len(word) > 64:
        return None
    best, best_d = None, 3
    for opt in sorted(options):
        d = _distance(word.lower(), opt.lower())
        if d < best_d and d < len(word):
            best, best_d = opt, d
    return best


# ---------------------------------------------------------------------------
# Word splitting for ENV, LABEL and ARG (BuildKit's parseWords): quotes and
# escapes are kept, they only stop spaces from splitting. One regexp per
# escape character; the alternatives start with different characters, so the
# match is linear. The groups t1/t2 catch an escape that ends the line, which
# BuildKit drops.

def _words_regex(esc: str) -> re.Pattern:
    e = re.escape(esc)
    return re.compile(
        rf"(?:{e}[\s\S]|(?P<t1>{e})\Z"
        rf'|"(?:{e}[\s\S]|[^"{e}])*(?:"|(?P<t2>{e})?\Z)'
        rf"|'[^']*'?"
        rf"|[^{_GO_SPACE_CLASS}\"'{e}])+")


_WORDS = {"\\": _words_regex("\\"), "`": _words_regex("`")}


def _parse_words(rest: str, esc: str) -> list[str]:
    words = []
    for m in _WORDS[esc].finditer(rest):
        word = m.group()
        if m.group("t1") is not None or m.group("t2") is not None:
            word = word[:-1]
        if word:
            words.append(word)
    return words


# ---------------------------------------------------------------------------
# Flags (BuildKit's extractBuilderFlags). BuildKit walks the line byte by
# byte and always uses backslash as the escape, whatever the directive says;
# we work on a Latin-1 view of the UTF-8 bytes to get the same results.

_FLAG_WORD = re.compile(
    r"(?:\\[\s\S]|\\\Z"
    r'|"(?:\\[\s\S]|[^"\\])*(?:"|\\?\Z)'
    r"|'(?:\\[\s\S]|[^'\\])*(?:'|\\?\Z)"
    rf"|[^{_BYTE_SPACE}\"'\\])+")
_FLAG_PIECE = re.compile(
    r"\\([\s\S])|\\\Z"
    r'|"((?:\\[\s\S]|[^"\\])*)(?:"|\\?\Z)'
    r"|'((?:\\[\s\S]|[^'\\])*)(?:'|\\?\Z)")
_UNESCAPE = re.compile(r"\\([\s\S])")
_BYTE_SPACES = re.compile(f"[{_BYTE_SPACE}]*")
_NON_BYTE_SPACES = re.compile(f"[^{_BYTE_SPACE}]*")


def _flag_piece(m: re.Match) -> str:
    if m.group(1) is not None:
        return m.group(1)
    inner = m.group(2) if m.group(2) is not None else m.group(3)
    return _UNESCAPE.sub(r"\1", inner) if inner is not None else ""


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Split leading ``--flag`` words off ``line``: (rest of the line, flags)."""
    if "--" not in line:
        return line, []
    b = _latin1(line)
    flags: list[str] = []
    pos = 0
    n = len(b)
    while True:
        pos = _BYTE_SPACES.match(b, pos).end()
        if pos >= n:
            return "", flags
        if not b.startswith("--", pos):
            return _from_latin1(b[pos:]), flags
        m = _FLAG_WORD.match(b, pos)
        word = _FLAG_PIECE.sub(_flag_piece, m.group())
        pos = m.end()
        if word == "--":
            return _from_latin1(b[pos:]), flags
        flags.append(word)


def _split_command(line: str) -> tuple[str, list[str], str]:
    parts = _WS_SPLIT.split(_go_strip(line), 1)
    cmd = parts[0]
    if len(parts) == 1:
        return cmd, [], ""
    args, flags = _extract_flags(parts[1])
    return cmd, flags, _go_strip(args)


# ---------------------------------------------------------------------------
# JSON arrays (exec form). BuildKit decodes the first JSON value after "["
# with Go's encoding/json and ignores anything after it; a syntax error means
# "not JSON" (shell form), while valid JSON with a non-string element is an
# error. Go's rules differ from Python's json (no NaN, no recursion limit
# short of 10000, lone surrogates become U+FFFD, out-of-range numbers are a
# decode error), so the array is scanned here, iteratively.

_JSON_WS = re.compile(r"[ \t\n\r]*")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_JSON_MAX_DEPTH = 10000


class _NotJSON(Exception):
    pass


class _NotStringArray(_Fail):
    def __init__(self):
        super().__init__("when using JSON array syntax, arrays must be comprised of strings only")


def _json_string(s: str, i: int) -> tuple[str, int]:
    try:
        value, end = _json_scanstring(s, i + 1, True)
    except ValueError:
        raise _NotJSON from None
    return _SURROGATE.sub("\ufffd", value), end


def _json_skip_value(s: str, i: int, depth: int) -> int:
    """Check the JSON value at ``i`` (nested ``depth`` deep); return where it ends."""
    stack: list[str] = []          # closers still expected: "]" or "}"
    expect_key = False
    while True:
        i = _JSON_WS.match(s, i).end()
        if i >= len(s):
            raise _NotJSON
        c = s[i]
        if expect_key:
            if c != '"':
                raise _NotJSON
            _, i = _json_string(s, i)
            i = _JSON_WS.match(s, i).end()
            if i >= len(s) or s[i] != ":":
                raise _NotJSON
            i += 1
            expect_key = False
            continue
        if c == "[" or c == "{":
            if depth + len(stack) + 1 > _JSON_MAX_DEPTH:
                raise _NotJSON
            j = _JSON_WS.match(s, i + 1).end()
            closer = "]" if c == "[" else "}"
            if j < len(s) and s[j] == closer:
                i = j + 1
            else:
                stack.append(closer)
                i += 1
                expect_key = c == "{"
                continue
        elif c == '"':
            _, i = _json_string(s, i)
        elif c in "-0123456789":
            m = _JSON_NUMBER.match(s, i)
            if not m:
                raise _NotJSON
            if math.isinf(float(m.group())):
                raise _NotJSON  # Go: number out of range for float64
            i = m.end()
        elif s.startswith("true", i):
            i += 4
        elif s.startswith("false", i):
            i += 5
        elif s.startswith("null", i):
            i += 4
        else:
            raise _NotJSON
        # after a complete value: close containers or move to the next element
        while True:
            if not stack:
                return i
            i = _JSON_WS.match(s, i).end()
            if i >= len(s):
                raise _NotJSON
            if s[i] == stack[-1]:
                stack.pop()
                i += 1
                continue
            if s[i] == ",":
                i += 1
                expect_key = stack[-1] == "}"
                break
            raise _NotJSON


def _parse_json(rest: str) -> list[str] | None:
    """The strings of a JSON array at the start of ``rest``; None if it is not JSON."""
    s = _go_lstrip(rest)
    if not s.startswith("["):
        return None
    values: list[str] = []
    non_string = False
    try:
        i = _JSON_WS.match(s, 1).end()
        if i < len(s) and s[i] == "]":
            return values
        while True:
            i = _JSON_WS.match(s, i).end()
            if i < len(s) and s[i] == '"':
                value, i = _json_string(s, i)
                values.append(value)
            else:
                i = _json_skip_value(s, i, 1)
                non_string = True
            i = _JSON_WS.match(s, i).end()
            if i >= len(s):
                raise _NotJSON
            if s[i] == "]":
                break
            if s[i] != ",":
                raise _NotJSON
            i += 1
    except _NotJSON:
        return None
    if non_string:
        raise _NotStringArray
    return values


# ---------------------------------------------------------------------------
# The line parsers: BuildKit's dispatch table, turning an instruction's
# argument text into node values.

@dataclass
class _Node:
    cmd: str                  # as written
    flags: list[str]
    values: list[str]
    json: bool
    original: str
    sub: "_Node | None" = None


def _parse_maybe_json(rest: str) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    values = _parse_json(rest)
    if values is not None:
        return values, True
    return [rest], False


def _parse_maybe_json_to_list(rest: str) -> tuple[list[str], bool]:
    values = _parse_json(rest)
    if values is not None:
        return values, True
    return _parse_strings_ws(rest), False


def _parse_strings_ws(rest: str) -> list[str]:
    return _WS_SPLIT.split(rest) if rest else []


def _parse_string(rest: str) -> list[str]:
    return [rest] if rest else []


def _parse_name_val(rest: str, key: str, esc: str) -> list[str]:
    words = _parse_words(rest, esc)
    if not words:
        return []
    if "=" not in words[0]:
        # the legacy form: KEY name value...
        parts = _WS_SPLIT.split(rest, 1)
        if len(parts) < 2:
            raise _Fail(f"{key} must have two arguments")
        return parts
    values = []
    for word in words:
        if "=" not in word:
            raise _Fail(f"Syntax error - can't find = in {_go_quote(word)}. Must be of the form: name=value")
        values.extend(word.split("=", 1))
    return values


def _parse_health(rest: str) -> tuple[list[str], bool]:
    b = _latin1(rest)
    sep = _NON_BYTE_SPACES.match(b).end()
    if sep == 0:
        return [], False
    nxt = _BYTE_SPACES.match(b, sep).end()
    values, is_json = _parse_maybe_json(_from_latin1(b[nxt:]))
    return [_from_latin1(b[:sep])] + values, is_json


def _node_from_line(line: str, esc: str, strict: bool = True) -> _Node:
    cmd, flags, rest = _split_command(line)
    kind = cmd.lower()
    node = _Node(cmd, flags, [], False, line)
    if kind in ("add", "copy", "volume"):
        node.values, node.json = _parse_maybe_json_to_list(rest)
    elif kind in ("cmd", "entrypoint", "run", "shell"):
        node.values, node.json = _parse_maybe_json(rest)
    elif kind in ("expose", "from"):
        node.values = _parse_strings_ws(rest)
    elif kind in ("maintainer", "stopsignal", "user", "workdir"):
        node.values = _parse_string(rest)
    elif kind == "arg":
        node.values = _parse_words(rest, esc)
    elif kind in ("env", "label"):
        node.values = _parse_name_val(rest, cmd.upper() if kind == "label" else "ENV", esc)
    elif kind == "healthcheck":
        node.values, node.json = _parse_health(rest)
    elif kind == "onbuild":
        if rest:
            # BuildKit hangs the trigger under an empty node: (onbuild (run ...))
            node.values = [""]
            node.sub = _node_from_line(rest, esc, strict)
    elif not strict:
        node.values = [""]  # BuildKit's parseIgnore: a node with one empty value
    else:
        if not cmd:
            raise _Fail("empty instruction (a line holding only the escape character continues into nothing)")
        hint = _suggest(cmd, _COMMANDS)
        raise _Fail(f"unknown instruction: {cmd.upper()}" + (f" (did you mean {hint}?)" if hint else ""))
    return node


_COMMANDS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
             "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


# ---------------------------------------------------------------------------
# Flag checks, as BuildKit's instructions layer (BFlags) makes them: which
# flags each instruction takes, and the value each kind of flag needs. The
# table is current BuildKit's, labs flags included, so that no Dockerfile
# BuildKit accepts is refused here.

_STRING, _BOOL, _LIST = "string", "bool", "list"
_FLAG_SPECS: dict[str, dict[str, str]] = {
    "ADD": {"chown": _STRING, "chmod": _STRING, "checksum": _STRING, "link": _BOOL,
            "keep-git-dir": _BOOL, "unpack": _BOOL, "exclude": _LIST},
    "COPY": {"chown": _STRING, "chmod": _STRING, "from": _STRING, "link": _BOOL,
             "parents": _BOOL, "exclude": _LIST},
    "FROM": {"platform": _STRING},
    "RUN": {"mount": _LIST, "network": _STRING, "security": _STRING, "device": _LIST},
    "HEALTHCHECK": {"interval": _STRING, "timeout": _STRING, "start-period": _STRING,
                    "start-interval": _STRING, "retries": _STRING},
    "ARG": {"required": _BOOL},
}


def _check_flags(cmd: str, flags: list[str], values: list[str]) -> None:
    if cmd == "STOPSIGNAL" or (cmd == "HEALTHCHECK" and values and values[0].upper() == "NONE"):
        return  # BuildKit never looks at these flags
    spec = _FLAG_SPECS.get(cmd, {})
    used: set[str] = set()
    for flag in flags:
        name, eq, value = flag[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            if not spec:
                raise _Fail(f"{cmd} takes no flags, got --{name}")
            hint = _suggest(name, spec)
            raise _Fail(f"unknown flag for {cmd}: --{name}" + (f" (did you mean --{hint}?)" if hint else ""))
        if name in used and kind != _LIST:
            raise _Fail(f"duplicate flag specified for {cmd}: --{name}")
        used.add(name)
        if kind == _BOOL:
            if eq and value == "":
                raise _Fail(f"missing a value on flag --{name}")
            if value.lower() not in ("", "true", "false"):
                raise _Fail(f"expecting boolean value for flag --{name}, not: {value}")
        elif not eq:
            raise _Fail(f"missing a value on flag --{name} (use --{name}=VALUE)")


# ---------------------------------------------------------------------------
# The file-level parser.

def _continuation(line: str, esc: str) -> tuple[str, bool]:
    """BuildKit's trimContinuationCharacter: (line without it, whether the line ends here).

    The escape continues the line when it is the last character before
    trailing blanks, unless it is itself escaped.
    """
    stripped = line.rstrip(" \t")
    if not stripped.endswith(esc):
        return line, True
    if len(stripped) == 1:
        return "", False
    if stripped[-2] == esc:
        return line, True
    return stripped[:-1], False


class _Directives:
    def __init__(self):
        self.escape = DEFAULT_ESCAPE
        self.found: dict[str, str] = {}
        self.done = False

    def feed(self, token: str) -> None:
        if self.done:
            return
        m = _DIRECTIVE.match(token)
        if not m or m.group(1).lower() not in _VALID_DIRECTIVES:
            self.done = True
            return
        key, value = m.group(1).lower(), m.group(2)
        if key in self.found:
            raise _Fail(f"only one {key} parser directive can be used")
        if key == "escape":
            if value not in ("`", "\\"):
                raise _Fail(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
        self.found[key] = value


def _check_text(text: str, path: str) -> None:
    if len(text) > MAX_FILE_BYTES or (len(text) * 4 > MAX_FILE_BYTES and
                                      len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES):
        raise DockerfileError(path, 1, f"file is larger than the {MAX_FILE_BYTES >> 20} MiB limit for a Dockerfile")
    nul = text.find("\0")
    if nul >= 0:
        raise DockerfileError(path, text.count("\n", 0, nul) + 1, "NUL byte in Dockerfile (is it a binary file?)")
    bad = _SURROGATE.search(text)
    if bad:
        raise DockerfileError(path, text.count("\n", 0, bad.start()) + 1,
                              "invalid UTF-8 in Dockerfile")


def _split_lines(text: str, path: str) -> list[str]:
    """Physical lines, each with its newline, as Go's scanner yields them."""
    parts = text.split("\n")
    last = parts.pop()
    lines = [p + "\n" for p in parts]
    if last:
        lines.append(last)
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_BYTES // 4:
            size = len(line.rstrip("\n").encode("utf-8"))
            if size > MAX_LINE_BYTES:
                raise DockerfileError(path, number, f"line is {size} bytes long, over the "
                                                    f"{MAX_LINE_BYTES >> 20} MiB limit for a Dockerfile line")
    return lines


def parse_bytes(data: bytes, path: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile read from disk: it must be UTF-8."""
    if len(data) > MAX_FILE_BYTES:
        raise DockerfileError(path, 1, f"file is larger than the {MAX_FILE_BYTES >> 20} MiB limit for a Dockerfile")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DockerfileError(path, data.count(b"\n", 0, e.start) + 1,
                              f"invalid UTF-8 in Dockerfile (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    return parse(text, path)


def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Parse Dockerfile text into its directives and instructions."""
    if isinstance(text, (bytes, bytearray)):
        return parse_bytes(bytes(text), path)
    return _parse(text, path, strict=True)


def _parse(text: str, path: str, strict: bool) -> Dockerfile:
    # strict=False is BuildKit's bare parser: unknown instructions and flags
    # pass through (as BuildKit's later stages would catch them); the
    # differential tests use it to compare every case with the reference.
    _check_text(text, path)
    lines = _split_lines(text, path)
    directives = _Directives()
    instructions: list[Instruction] = []
    n = len(lines)
    i = 0
    current = 0  # number of the last physical line read
    while i < n:
        raw = lines[i]
        i += 1
        if current == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        token = _go_lstrip(_trim_newline(raw))
        if not directives.done:
            try:
                directives.feed(token)
            except _Fail as e:
                raise DockerfileError(path, current + 1, str(e)) from None
        if token.startswith("#"):
            token = ""  # a comment
        current += 1
        start = current
        esc = directives.escape
        line, ended = _continuation(token, esc)
        if ended and line == "":
            continue
        parts = [line]
        while not ended and i < n:
            raw = lines[i]
            i += 1
            current += 1
            token = _trim_newline(raw)
            # Comment lines inside a continuation are dropped, as are blank ones.
            if _go_lstrip(token).startswith("#") or not _go_lstrip(token):
                continue
            cont, ended = _continuation(token, esc)
            parts.append(cont)
        line = "".join(parts)
        try:
            node = _node_from_line(line, esc, strict)
            if strict:
                _check_flags(node.cmd.upper(), node.flags, node.values)
        except _Fail as e:
            raise DockerfileError(path, start, str(e)) from None

        heredocs: list[Heredoc] = []
        target = node.sub if node.sub is not None else node
        if target.cmd.lower() in _HEREDOC_COMMANDS and not target.json:
            try:
                wanted = _heredocs_in_line(line)
            except _Fail as e:
                raise DockerfileError(path, start, str(e)) from None
            for name, fd, expand_, chomp in wanted:
                body: list[str] = []
                while True:
                    if i >= n:
                        raise DockerfileError(path, start, f"unterminated heredoc: no line {name!r} "
                                                           f"ends the here-document before the end of the file")
                    raw = lines[i]
                    i += 1
                    current += 1
                    candidate = _trim_newline(raw)
                    if chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == name:
                        break
                    body.append(raw)
                heredocs.append(Heredoc(name, "".join(body), fd, expand_, chomp))

        original = line
        if heredocs:
            # As BuildKit renders an ONBUILD trigger and the dockerfile package
            # renders Original: the line, then each body and its terminator.
            original += "\n" + "".join(h.content + h.name + "\n" for h in heredocs)
        sub = node.sub
        instructions.append(Instruction(
            cmd=node.cmd.upper(),
            args=tuple(target.values),
            json=target.json,
            flags=tuple(node.flags),
            heredocs=tuple(heredocs),
            original=original,
            line=start,
            end_line=current,
            sub_cmd=sub.cmd.upper() if sub is not None else None,
            sub_flags=tuple(sub.flags) if sub is not None else (),
        ))

    if not instructions:
        raise DockerfileError(path, max(current, 1), "file with no instructions")
    return Dockerfile(path, dict(directives.found), directives.escape, tuple(instructions))


def _fd(digits: str) -> int:
    # Go's ParseUint saturates at the largest uint64 (and BuildKit ignores the
    # error); checking the length first keeps int() off huge digit strings.
    if not digits:
        return 0
    significant = digits.lstrip("0")
    if len(significant) > 20:
        return (1 << 64) - 1
    return min(int(significant or "0"), (1 << 64) - 1)


def _heredocs_in_line(line: str) -> list[tuple[str, int, bool, bool]]:
    """The here-documents a RUN/COPY/ADD line asks for: (name, fd, expand, chomp).

    BuildKit lexes the whole line (backslash escapes, quotes and escapes kept,
    unset variables left alone) and takes each word of the form
    ``[n]<<[-]NAME``; a line the lexer rejects has no heredocs.
    """
    if "<<" not in line:
        return []
    try:
        words = _Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True).process(line, {})[1]
    except _Fail:
        return []
    found = []
    for word in words:
        m = _HEREDOC_WORD.match(word)
        if not m or not m.group(3):
            continue
        rest = m.group(3)
        plain = _Lexer("\\", skip_unset=True).process(rest, {})[1]
        if len(plain) != 1:
            continue
        raw = _Lexer("\\", raw_quotes=True, skip_unset=True).process(rest, {})[1]
        if len(raw) != len(plain):
            raise _Fail(f"internal lexing of heredoc produced inconsistent results: {rest}")
        name = plain[0]
        # a quoted delimiter (any part of it) turns expansion off
        expand_ = name.count("'") + name.count('"') == raw[0].count("'") + raw[0].count('"')
        fd = _fd(m.group(1))
        found.append((name, fd, expand_, m.group(2) == "-"))
    return found


# ---------------------------------------------------------------------------
# The shell lexer (BuildKit's shell.Lex): quotes, escapes and ${} expansion.

class _Words:
    """BuildKit's wordsStruct: splits expanded text on unquoted whitespace."""

    __slots__ = ("words", "parts", "size", "in_word")
    _RUNS = re.compile(f"([^{_GO_SPACE_CLASS}]+)|[{_GO_SPACE_CLASS}]+")

    def __init__(self):
        self.words: list[str] = []
        self.parts: list[str] = []
        self.size = 0
        self.in_word = False

    def add_string(self, text: str) -> None:
        for m in self._RUNS.finditer(text):
            if m.group(1) is not None:
                self.add_raw(m.group(1))
            elif self.in_word and self.size:
                self._push()

    def add_raw(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)
        self.in_word = True

    def _push(self) -> None:
        self.words.append("".join(self.parts))
        self.parts = []
        self.size = 0
        self.in_word = False

    def get(self) -> list[str]:
        if self.size:
            self._push()
        return self.words


_SPECIAL_PARAMS = "@*#?-$!0"
_NAME_RUN = re.compile(r"\w+")
_DIGIT_RUN = re.compile(r"\d+")  # Unicode Nd, like Go's unicode.IsDigit


def _go_name_end(s: str, pos: int) -> int:
    """End of the run of Go name characters (letters, Nd digits, _) at ``pos``."""
    m = _NAME_RUN.match(s, pos)
    if not m:
        return pos
    run = m.group()
    if not run.isascii():
        # \w also takes No/Nl characters, which Go's IsLetter/IsDigit do not
        for k, c in enumerate(run):
            if not (c.isalpha() or c.isdecimal() or c == "_"):
                return pos + k
    return m.end()


def _lexer_regexes(escape: str, cache: dict = {}) -> tuple[dict, re.Pattern]:
    if escape not in cache:
        e = re.escape(escape)
        plain = {stop: re.compile(f"[$'\"{e}{re.escape(stop) if stop else ''}]") for stop in (None, "}", "/")}
        cache[escape] = plain, re.compile(f"[$\"{e}]")
    return cache[escape]


class _Lexer:
    def __init__(self, escape: str, *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False):
        self.esc = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self._plain, self._dq_plain = _lexer_regexes(escape)

    def process(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        self.s = word
        # Go's text/scanner skips a byte-order mark at the very start.
        self.pos = 1 if word.startswith("\ufeff") else 0
        self.env = env
        try:
            return self._stop_on(None, self.raw_escapes)
        except _Fail as e:
            raise _Fail(f"failed to process {_go_quote(word)}: {e}") from None
        except RecursionError:
            raise _Fail(f"failed to process {_go_quote(word)}: substitutions nested too deeply") from None

    def _peek(self) -> str | None:
        return self.s[self.pos] if self.pos < len(self.s) else None

    def _next(self) -> str | None:
        if self.pos < len(self.s):
            self.pos += 1
            return self.s[self.pos - 1]
        return None

    def _stop_or_fail(self, stop: str, raw_escapes: bool, missing: str) -> str:
        """The text up to ``stop``; at the end of input, BuildKit's "syntax error: <missing>"."""
        try:
            return self._stop_on(stop, raw_escapes)[0]
        except _Fail:
            if self._peek() is None:
                raise _Fail(f"syntax error: {missing}") from None
            raise

    def _stop_on(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            s, n, esc = self.s, len(self.s), self.esc
            plain = self._plain[stop]
            result: list[str] = []
            words = _Words()
            while self.pos < n:
                ch = s[self.pos]
                if stop is not None and ch == stop:
                    self.pos += 1
                    return "".join(result), words.get()
                if ch == "$":
                    tmp = self._dollar()
                    result.append(tmp)
                    words.add_string(tmp)
                elif ch == "'" or ch == '"':
                    tmp = self._single() if ch == "'" else self._double()
                    result.append(tmp)
                    words.add_raw(tmp)
                elif ch == esc:
                    self.pos += 1
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    if self.pos >= n:
                        break
                    ch = s[self.pos]
                    self.pos += 1
                    words.add_raw(ch)
                    result.append(ch)
                else:
                    m = plain.search(s, self.pos)
                    end = m.start() if m else n
                    chunk = s[self.pos:end]
                    self.pos = end
                    result.append(chunk)
                    words.add_string(chunk)
            if stop is not None:
                raise _Fail(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get()
        finally:
            self.raw_escapes = saved

    def _single(self) -> str:
        # Everything up to the next single quote is literal; nothing escapes it.
        start = self.pos + 1
        end = self.s.find("'", start)
        if end < 0:
            raise _Fail("unexpected end of statement while looking for matching single-quote")
        self.pos = end + 1
        return self.s[start - 1:end + 1] if self.raw_quotes else self.s[start:end]

    def _double(self) -> str:
        # Only $, the quote and the escape itself are special; the escape
        # only escapes those three and stays literal before anything else.
        s, n, esc = self.s, len(self.s), self.esc
        self.pos += 1
        out = ['"'] if self.raw_quotes else []
        while True:
            if self.pos >= n:
                raise _Fail("unexpected end of statement while looking for matching double-quote")
            ch = s[self.pos]
            if ch == '"':
                self.pos += 1
                if self.raw_quotes:
                    out.append('"')
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == esc:
                self.pos += 1
                if self.raw_escapes:
                    out.append(ch)
                if self.pos >= n:
                    continue
                if s[self.pos] in ('"', "$", esc):
                    ch = s[self.pos]
                    self.pos += 1
                out.append(ch)
            else:
                m = self._dq_plain.search(s, self.pos)
                end = m.start() if m else n
                out.append(s[self.pos:end])
                self.pos = end

    def _name(self) -> str:
        s, pos = self.s, self.pos
        if pos >= len(s):
            return ""
        m = _DIGIT_RUN.match(s, pos)
        if m:
            self.pos = m.end()
            return m.group()
        if s[pos] in _SPECIAL_PARAMS:
            self.pos += 1
            return s[pos]
        self.pos = _go_name_end(s, pos)
        return s[pos:self.pos]

    def _lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def _dollar(self) -> str:
        self.pos += 1
        if self._peek() != "{":
            name = self._name()
            if name == "":
                return "$"
            value, found = self._lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.pos += 1
        c = self._peek()
        if c is None:
            raise _Fail("syntax error: missing '}'")
        if c in "{}:":
            raise _Fail("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        if ch is None:
            raise _Fail("syntax error: missing '}'")
        if ch == "}":
            value, found = self._lookup(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if ch == ":" or ch in "+-?#%":
            chs = ch
            null_is_unset = False
            if ch == ":":
                null_is_unset = True
                ch = self._next()
                chs += ch if ch is not None else "\ufffd"
            word = self._stop_or_fail("}", ch in ("#", "%"), "missing '}'")
            value, found = self._lookup(name)
            if self.skip_unset and not found:
                return "${" + name + chs + word + "}"
            unset = not found or (null_is_unset and value == "")
            if ch == "-":
                return word if unset else value
            if ch == "+":
                return "" if unset else word
            if ch == "?":
                if not found:
                    raise _Fail(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise _Fail(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            if ch in ("#", "%"):
                greedy = word.startswith(ch)
                if greedy:
                    word = word[1:]
                tokens = _glob(word)
                if ch == "#":
                    return _trim_prefix(tokens, value, greedy)
                return _trim_prefix(tokens[::-1], value[::-1], greedy)[::-1]
            raise _Fail(f"unsupported modifier ({chs}) in substitution")
        if ch == "/":
            replace_all = self._peek() == "/"
            if replace_all:
                self.pos += 1
            pattern = self._stop_or_fail("/", True, "missing '/' in ${}")
            replacement = self._stop_or_fail("}", True, "missing '}'")
            value, found = self._lookup(name)
            if self.skip_unset and not found:
                return "${" + name + "/" + pattern + "/" + replacement + "}"
            return _replace(_glob(pattern), value, replacement, replace_all)
        raise _Fail(f"unsupported modifier ({ch}) in substitution")


# ---------------------------------------------------------------------------
# Shell patterns for ${VAR#pat}, ${VAR%pat} and ${VAR/pat/repl}. BuildKit
# turns them into Go regexps (* is .* or .*?, ? is ., no brackets) and takes
# Go's leftmost-first match. Python's backtracking re could take exponential
# time on patterns like *a*a*a*b, so the match runs here as a Pike VM, which
# gives the same leftmost-first answer in linear time.

_STAR, _ANY = object(), object()


def _glob(pattern: str) -> list:
    tokens: list = []
    i = 1 if pattern.startswith("\ufeff") else 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "*":
            if not tokens or tokens[-1] is not _STAR:  # ** matches what * matches
                tokens.append(_STAR)
        elif c == "?":
            tokens.append(_ANY)
        elif c == "\\":
            nxt = pattern[i] if i < len(pattern) else None
            if nxt in ("}", "/"):
                continue  # the escape only protected the ${} syntax
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise _Fail(f"invalid pattern ({pattern}) in substitution: invalid escape "
                            f"'\\{nxt if nxt is not None else ''}'")
            tokens.append(nxt)
        else:
            tokens.append(c)
    return tokens


def _match(tokens: list, text: str, start: int, greedy: bool, anchored: bool) -> tuple[int, int] | None:
    """Go's leftmost-first match of ``tokens`` in ``text`` from ``start``: (begin, end)."""
    m = len(tokens)

    def add(threads: list, seen: set, pc: int, begin: int) -> None:
        # follow the empty moves in priority order: a greedy star first tries
        # to take a character, a lazy one first tries to stop
        while True:
            if pc in seen:
                return
            seen.add(pc)
            if pc < m and tokens[pc] is _STAR:
                if greedy:
                    threads.append((pc, begin))
                    pc += 1
                    continue
                add(threads, seen, pc + 1, begin)
                threads.append((pc, begin))
                return
            threads.append((pc, begin))
            return

    best = None
    threads: list = []
    seen: set = set()
    i = start
    n = len(text)
    while True:
        if best is None and (not anchored or i == start):
            add(threads, seen, 0, i)
        if not threads:
            break
        nxt: list = []
        nseen: set = set()
        c = text[i] if i < n else None
        for pc, begin in threads:
            if pc == m:
                best = (begin, i)
                break  # lower-priority threads can no longer win
            if c is None:
                continue
            tok = tokens[pc]
            if tok is _STAR:
                if c != "\n":
                    add(nxt, nseen, pc, begin)
            elif tok is _ANY:
                if c != "\n":
                    add(nxt, nseen, pc + 1, begin)
            elif tok == c:
                add(nxt, nseen, pc + 1, begin)
        if c is None:
            break
        threads, seen = nxt, nseen
        i += 1
    return best


def _literal(tokens: list) -> str | None:
    """The text a wildcard-free pattern stands for (None if it has wildcards)."""
    if any(t is _STAR or t is _ANY for t in tokens):
        return None
    return "".join(tokens)


def _trim_prefix(tokens: list, value: str, greedy: bool) -> str:
    lit = _literal(tokens)
    if lit is not None:
        return value[len(lit):] if value.startswith(lit) else value
    found = _match(tokens, value, 0, greedy, True)
    return value[found[1]:] if found else value


def _expand_template(repl: str, matched: str) -> str:
    """Go's Regexp.Expand for a pattern without groups: only $0 stands for something."""
    if "$" not in repl:
        return repl
    out = []
    i = 0
    while True:
        j = repl.find("$", i)
        if j < 0:
            out.append(repl[i:])
            return "".join(out)
        out.append(repl[i:j])
        i = j + 1
        if repl.startswith("$", i):
            out.append("$")
            i += 1
            continue
        brace = repl.startswith("{", i)
        k = i + 1 if brace else i
        end = _go_name_end(repl, k)
        if end == k or (brace and not repl.startswith("}", end)):
            out.append("$")  # malformed: the $ is literal
            continue
        name = repl[k:end]
        i = end + 1 if brace else end
        if name.isascii() and name.isdigit() and not name.strip("0"):  # $0, $00, ${0}
            out.append(matched)


def _replace(tokens: list, value: str, repl: str, replace_all: bool) -> str:
    lit = _literal(tokens)
    if lit is not None:
        # Go's leftmost, non-overlapping matches of a literal are str.find's
        # and str.replace's (an empty pattern matches between all characters)
        if replace_all:
            return value.replace(lit, _expand_template(repl, lit))
        at = value.find(lit)
        return value if at < 0 else value[:at] + repl + value[at + len(lit):]
    if not replace_all:
        found = _match(tokens, value, 0, True, False)
        return value[:found[0]] + repl + value[found[1]:] if found else value
    out = []
    last_end = 0
    pos = 0
    while pos <= len(value):
        found = _match(tokens, value, pos, True, False)
        if found is None:
            break
        a, b = found
        out.append(value[last_end:a])
        # Go skips an empty match right after the previous match
        if b > last_end or a == 0:
            out.append(_expand_template(repl, value[a:b]))
        last_end = b
        pos = pos + 1 if pos + 1 > b else b
    out.append(value[last_end:])
    return "".join(out)


# ---------------------------------------------------------------------------
# Public expansion API.

def expand(word: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE, *,
           path: str = "Dockerfile", line: int = 1) -> str:
    """Expand one word as BuildKit's ProcessWord does: quotes removed, $VAR replaced.

    Unset variables expand to "". ``path`` and ``line`` locate errors such as
    ``${VAR:?message}`` for an unset VAR.
    """
    try:
        return _Lexer(escape).process(word, env)[0]
    except _Fail as e:
        raise DockerfileError(path, line, str(e)) from None


def expand_words(text: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE, *,
                 path: str = "Dockerfile", line: int = 1) -> list[str]:
    """Expand and split on unquoted whitespace, as BuildKit's ProcessWords does."""
    try:
        return _Lexer(escape).process(text, env)[1]
    except _Fail as e:
        raise DockerfileError(path, line, str(e)) from None

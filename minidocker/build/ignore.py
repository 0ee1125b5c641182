""".dockerignore: reading the file and deciding which context paths it excludes.

This module owns Docker's ignore-file semantics and nothing else:

* ``read_patterns`` is the CLI's ``ignorefile.ReadAll``: a UTF-8 BOM is dropped,
  lines starting with ``#`` in column 1 are comments, the rest are trimmed,
  blank ones skipped, cleaned like Go's ``filepath.Clean`` (``./a/`` -> ``a``)
  and a leading ``/`` is removed (the context root is also ``/``). A ``!``
  prefix marks an exception. Patterns Docker would reject raise an error
  naming the line.
* ``Matcher`` is moby's ``patternmatcher`` with ``MatchesOrParentMatches``: a
  path is excluded when the *last* pattern matching it, or any of its parent
  directories, is not an exception. Globs follow Go's ``filepath.Match``
  (``*`` and ``?`` never cross ``/``, classes ``[a-z]``/``[^a-z]``, ``\\``
  escapes) plus ``**``, which spans any number of directories, even none.
* ``walk_context`` lists what a build context would send, never following
  symlinks, skipping excluded directories only when no exception could
  re-include anything below them.

Pure string logic; only ``walk_context`` touches the filesystem.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass

from ..errors import MinidockerError

_GLOB_CHARS = "*?[]\\"


class IgnoreError(MinidockerError):
    """A .dockerignore pattern Docker would reject."""


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` on Linux (``posixpath.normpath`` keeps a leading ``//``)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    """One (possibly escaped) character of a ``[...]`` class, as Go's ``getEsc`` reads it."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise ValueError("malformed character class")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise ValueError("malformed character class")
    if i + 1 >= len(pattern):
        raise ValueError("unterminated character class")
    return pattern[i], i + 1


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """Translate the class starting just after ``[`` at ``i``; return (regex, index after ``]``)."""
    negated = i < len(pattern) and pattern[i] == "^"
    i += negated
    parts: list[str] = []
    while not (parts and pattern[i] == "]"):
        lo, i = _class_char(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
        if lo > hi:
            raise ValueError(f"invalid character range {lo}-{hi}")
        parts.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    return ("[^" if negated else "[") + "".join(parts) + "]", i + 1


def _compile(pattern: str) -> tuple[str, re.Pattern | None]:
    """Classify a cleaned pattern as patternmatcher does and build its regex.

    The kinds are Docker's fast paths, kept because they decide real results:
    ``exact`` (no wildcards), ``prefix`` (``lit/**``), ``suffix`` (``**`` then
    only literal text, matched with a plain ends-with) and ``regexp``.
    """
    regex: list[str] = []
    kind = "exact"
    i, token = 0, 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*" and pattern.startswith("*", i):
            i += 1
            if pattern.startswith("/", i):       # "**/" behaves as "**"
                i += 1
            if i == len(pattern):                # trailing "**": everything below
                if kind == "exact":
                    kind = "prefix"
                else:
                    regex.append(".*")
                    kind = "regexp"
            else:                                # "**/" in the middle: zero or more dirs
                regex.append("(?:.*/)?")
                kind = "regexp"
            if token == 0:
                kind = "suffix"
        elif ch == "*":
            regex.append("[^/]*")
            kind = "regexp"
        elif ch == "?":
            regex.append("[^/]")
            kind = "regexp"
        elif ch == "\\":
            if i == len(pattern):
                raise ValueError("trailing backslash")
            regex.append(re.escape(pattern[i]))
            i += 1
            kind = "regexp"
        elif ch == "[":
            cls, i = _char_class(pattern, i)
            regex.append(cls)
            kind = "regexp"
        elif ch == "]":
            regex.append(re.escape(ch))
            kind = "regexp"
        else:
            regex.append(re.escape(ch))
        token += 1
    return kind, re.compile("".join(regex)) if kind == "regexp" else None


@dataclass(frozen=True)
class _Pattern:
    text: str            # cleaned, without the "!"
    exclusion: bool      # a "!" exception: re-includes what it matches
    kind: str
    regex: re.Pattern | None

    @classmethod
    def parse(cls, raw: str) -> "_Pattern":
        exclusion = raw.startswith("!")
        text = raw[1:] if exclusion else raw
        if exclusion and not text:
            raise ValueError('illegal exclusion pattern: "!"')
        text = _clean(text)
        kind, regex = _compile(text)
        return cls(text, exclusion, kind, regex)

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.fullmatch(path) is not None

    def could_match_below(self, dir_prefix: str) -> bool:
        """Whether some path starting with ``dir_prefix`` (``"dir/"``) might match.

        Conservative: compares only the literal text before the first wildcard.
        """
        cut = min((self.text.find(c) for c in _GLOB_CHARS if c in self.text), default=-1)
        if cut < 0:
            return self.text.startswith(dir_prefix)
        literal = self.text[:cut]
        return literal.startswith(dir_prefix) or dir_prefix.startswith(literal)


def read_patterns(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file's text, as Docker's CLI reads them."""
    if text.startswith("\ufeff"):
        text = text[1:]
    patterns = []
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        if invert:
            pattern = "!" + pattern
        try:
            _Pattern.parse(pattern)
        except ValueError as e:
            raise IgnoreError(f".dockerignore line {lineno}: invalid pattern {line.strip()!r}: {e}") from None
        patterns.append(pattern)
    return patterns


class Matcher:
    """Decides which context paths a list of ``.dockerignore`` patterns excludes."""

    def __init__(self, patterns: list[str]):
        self.patterns: list[str] = []
        self._compiled: list[_Pattern] = []
        for raw in patterns:
            raw = raw.strip()
            if not raw:
                continue
            try:
                self._compiled.append(_Pattern.parse(raw))
            except ValueError as e:
                raise IgnoreError(f"invalid .dockerignore pattern {raw!r}: {e}") from None
            self.patterns.append(raw)

    def matches(self, path: str) -> bool:
        """True when ``path`` (relative to the context root, ``/``-separated) is excluded."""
        path = _clean(path).lstrip("/")
        if path in ("", "."):
            return False                  # the root itself is never excluded
        parts = path.split("/")
        parents = ["/".join(parts[:n]) for n in range(1, len(parts))]
        excluded = False
        for pattern in self._compiled:
            if pattern.exclusion != excluded:
                continue                  # could not change the outcome
            if pattern.match(path) or any(pattern.match(p) for p in parents):
                excluded = not pattern.exclusion
        return excluded

    def excludes_dir_entirely(self, dir_path: str) -> bool:
        """True when ``dir_path`` is excluded and so is everything that could be below it.

        The directory's last matching pattern is an exclusion; inclusion patterns
        that match it also match its descendants (through the parent rule), so
        only an exception able to match some path under it can bring one back.
        """
        if not self.matches(dir_path):
            return False
        prefix = _clean(dir_path).lstrip("/") + "/"
        return not any(p.exclusion and p.could_match_below(prefix) for p in self._compiled)


def _escape_glob(path: str) -> str:
    return "".join("\\" + c if c in _GLOB_CHARS else c for c in path)


def walk_context(root: str, matcher: Matcher, dockerfile: str = "Dockerfile") -> list[str]:
    """Sorted relative paths under ``root`` that the context sends (files, dirs, symlinks).

    Symlinks are listed, never followed. As Docker's CLI does, the Dockerfile
    and ``.dockerignore`` are re-included when the patterns exclude them. An
    excluded directory is still descended into when an exception may
    re-include something below it, but is not listed itself.
    """
    keep = []
    for name in (".dockerignore", dockerfile):
        name = _clean(name)
        if not name.startswith(("/", "..")) and matcher.matches(name):
            keep.append("!" + _escape_glob(name))
    if keep:
        matcher = Matcher(matcher.patterns + keep)

    found: list[str] = []
    stack = [(root, "")]
    while stack:
        directory, rel_dir = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                excluded = matcher.matches(rel)
                if not excluded:
                    found.append(rel)
                if entry.is_dir(follow_symlinks=False) and not (
                        excluded and matcher.excludes_dir_entirely(rel)):
                    stack.append((entry.path, rel))
    return sorted(found)

"""Image references: Docker's ``[domain/]path[:tag][@digest]`` grammar.

This module owns parsing, validating and normalising the names users type
(``busybox``, ``quay.io/a/b:1.0``, ``localhost:5000/app@sha256:...``) into a
fully qualified :class:`Reference`, and turning one back into Docker's short
"familiar" form. It follows distribution/reference, the library behind
``docker pull`` and ``docker tag``. Bare image IDs are not references; callers
recognise those before calling :func:`parse`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from minidocker.errors import InvalidReference

# Docker accepts any registered algorithm; everything we store is sha256.
from .digest import is_digest  # noqa: F401 (part of this module's API)

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"

# Docker Hub's historical name; Docker rewrites it so both spellings name one image.
_LEGACY_DOMAIN = "index.docker.io"
# Official images live in this namespace on Docker Hub but are shown without it.
_OFFICIAL_PREFIX = "library/"
_NAME_MAX = 255

# Explicit ASCII classes throughout: Python's \w and \d also match non-ASCII
# letters and digits, which Docker's (Go, ASCII-only) grammar rejects.
_ALNUM = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALNUM}(?:(?:[._]|__|-+){_ALNUM})*"
_PATH = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_COMPONENT = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = re.compile(rf"{_HOST}(?::[0-9]+)?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@dataclass(frozen=True)
class Reference:
    """A normalised image reference; build one with :func:`parse`."""

    domain: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + _suffix(self.tag, self.digest)

    @property
    def familiar_name(self) -> str:
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        short = self.path.removeprefix(_OFFICIAL_PREFIX)
        # Only "library/x" shortens: "library/a/b" would read as user "a".
        return short if "/" not in short else self.path

    def familiar(self) -> str:
        return self.familiar_name + _suffix(self.tag, self.digest)

    def with_tag(self, tag: str) -> Reference:
        """The same repository at ``tag``; a digest would contradict it, so it goes."""
        _check_tag(tag)
        return Reference(self.domain, self.path, tag, None)


def parse(text: str, *, default_tag: bool = True) -> Reference:
    """Parse and normalise like Docker: 'busybox' -> docker.io/library/busybox:latest.

    With default_tag=False a reference without tag and digest keeps tag None.
    Raises InvalidReference, with a one-line message, for anything else.
    """
    if not isinstance(text, str):
        raise InvalidReference(f"invalid reference format: expected text, got {type(text).__name__}")
    if not text:
        raise InvalidReference("invalid reference format: repository name must have at least one component")

    # '@' cannot occur in a name or tag, so the first one starts the digest.
    typed_name, at, digest = text.partition("@")
    if at and not is_digest(digest):
        raise InvalidReference(
            f"invalid reference format: invalid digest {_quote(digest)}: "
            "expected 'sha256:' and 64 lowercase hex characters"
        )
    # A tag's ':' is the one after the last '/'; earlier ones belong to a port.
    tag = None
    colon = typed_name.rfind(":")
    if colon > typed_name.rfind("/"):
        typed_name, tag = typed_name[:colon], typed_name[colon + 1 :]
        _check_tag(tag)

    domain, path = _split_domain(typed_name)
    if not _DOMAIN.fullmatch(domain):
        raise InvalidReference(f"invalid reference format: {_quote(text)}")
    if not _PATH.fullmatch(path):
        # isascii: str.lower() maps e.g. the Kelvin sign to 'k'; that is not "just uppercase".
        if path.isascii() and _PATH.fullmatch(path.lower()):
            raise InvalidReference(f"invalid reference format: repository name ({path}) must be lowercase")
        raise InvalidReference(f"invalid reference format: {_quote(text)}")
    if len(typed_name) > _NAME_MAX:
        raise InvalidReference(
            f"invalid reference format: repository name must not be more than {_NAME_MAX} characters"
        )

    if tag is None and not at and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest or None)


def _split_domain(name: str) -> tuple[str, str]:
    """Docker's heuristic: is the first component a registry or a Hub namespace?"""
    first, slash, rest = name.partition("/")
    # Hub namespaces are lowercase words, so anything with '.', ':' or an
    # uppercase letter can only be a host; "localhost" is reserved as one.
    is_domain = slash and (
        first == "localhost" or "." in first or ":" in first or first != first.lower()
    )
    domain, path = (first, rest) if is_domain else (DEFAULT_DOMAIN, name)
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    return domain, path


def _check_tag(tag: str) -> None:
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        shown = _quote(tag) if isinstance(tag, str) else type(tag).__name__
        raise InvalidReference(
            f"invalid reference format: invalid tag {shown}: use up to 128 letters, "
            "digits, '_', '.' or '-', not starting with '.' or '-'"
        )


def _suffix(tag: str | None, digest: str | None) -> str:
    return (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def _quote(text: str, limit: int = 80) -> str:
    """repr() escapes NUL, newlines and other control characters; cap the length too."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"

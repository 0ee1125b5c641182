"""Content digests: validating ``sha256:<hex>`` strings and hashing streams as they pass."""

from __future__ import annotations

import hashlib
import re

from ..errors import CorruptContent

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(text: str) -> bool:
    return isinstance(text, str) and _DIGEST.fullmatch(text) is not None


def check_digest(text: str) -> str:
    if not is_digest(text):
        raise CorruptContent(f"invalid digest {str(text)[:80]!r}: want sha256:<64 hex digits>")
    return text


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Hasher:
    """A running sha256 and byte count, checked against what was expected."""

    def __init__(self):
        self._h = hashlib.sha256()
        self.size = 0

    def update(self, data) -> None:
        self._h.update(data)
        self.size += len(data)

    @property
    def digest(self) -> str:
        return "sha256:" + self._h.hexdigest()

    def verify(self, digest: str | None, size: int | None, what: str) -> None:
        """Raise ``CorruptContent`` unless what was hashed matches ``digest``/``size``."""
        if size is not None and self.size != size:
            raise CorruptContent(f"{what}: size {self.size} does not match the expected {size}")
        if digest is not None and self.digest != digest:
            raise CorruptContent(f"{what}: content digest {self.digest} does not match {digest}")


class HashingReader(Hasher):
    """Wraps a binary stream; hashes and counts every byte read through it."""

    def __init__(self, stream: BinaryIO):
        super().__init__()
        self._f = stream

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.update(data)
        return data

    def readable(self) -> bool:
        return True

"""A strict, streaming reader of tar archives, for layers that may be hostile.

Python's ``tarfile`` is lenient where a layer reader must not be: it treats
garbage after the first member as the end of the archive, keeps every header
in memory, and applies PAX global headers. This reader parses ustar, GNU
(long names, base-256 numbers) and PAX headers itself, bounds every header's
size, rejects what it cannot represent faithfully (sparse files, multi-volume
archives, unknown types) and reports truncation as an error. Global PAX
headers are ignored, as Docker does.

The reader never touches the filesystem: it yields ``Entry`` values and lets
the caller copy each entry's data out before asking for the next one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from zlib import adler32

from ..errors import CorruptContent, UnsafeArchive

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
# ustar header fields: name mode uid gid size mtime chksum typeflag linkname magic
# version uname gname devmajor devminor prefix (and 12 bytes of padding)
_HEADER = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s12x")
# Longest PAX record set or GNU long name we accept: real ones are tiny.
MAX_META = 1 << 20

REGULAR, HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO = "0", "1", "2", "3", "4", "5", "6"
_REGULAR_ALIASES = {"0": REGULAR, "\0": REGULAR, "7": REGULAR}
_KNOWN = {HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO}


@dataclass
class Entry:
    """One archive member, with PAX and GNU extensions already applied."""

    name: str
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def _number(field_: bytes, what: str) -> int:
    """Decode an octal or GNU base-256 numeric header field."""
    if field_ and field_[0] < 0x80:  # the common case: octal padded with spaces and NULs
        text = field_.strip(b" \0")  # Go's parseOctal trims both, on both sides
        try:
            return int(text, 8) if text else 0
        except ValueError:
            raise CorruptContent(f"tar header has an invalid {what}: {text[:20]!r}") from None
    if field_ and field_[0] & 0x80:
        if field_[0] == 0xFF:
            raise CorruptContent(f"tar header has a negative {what}")
        value = field_[0] & 0x7F
        for b in field_[1:]:
            value = value << 8 | b
        return value
    text = field_.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise CorruptContent(f"tar header has an invalid {what}: {text[:20]!r}") from None


def _text(field_: bytes) -> str:
    return field_.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


_HIGH_BYTES = bytes(range(128, 256))


def byte_sum(data: bytes) -> int:
    """``sum(data)`` for up to 512 bytes, three times faster.

    With a start value of 0, the low half of Adler-32 is the sum of the bytes
    modulo 65521: exact for 256 bytes or fewer (at most 65280).
    """
    return (adler32(data[:256], 0) & 0xFFFF) + (adler32(data[256:], 0) & 0xFFFF)


def _checksum_ok(block: bytes) -> bool:
    try:  # _number's common case, inlined: this runs once per header
        stored = int(block[148:156].strip(b" \0") or b"0", 8)
    except ValueError:
        stored = _number(block[148:156], "checksum")
    # The checksum field counts as eight spaces (8 * 32 = 256).
    unsigned = byte_sum(block) - sum(block[148:156]) + 256
    if stored == unsigned:
        return True
    # Some old writers summed signed chars: each byte over 127 counts 256 less.
    high = len(block) - len(block.translate(None, _HIGH_BYTES)) - \
        (8 - len(block[148:156].translate(None, _HIGH_BYTES)))
    return stored == unsigned - 256 * high


def _parse_pax(data: bytes) -> dict[str, str | bytes]:
    """Parse PAX records ``"%d %s=%s\\n"``; xattr values stay bytes."""
    records: dict[str, str | bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # NUL padding ends the records
            if data[pos:].strip(b"\0"):
                raise CorruptContent("malformed PAX header record")
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise CorruptContent("malformed PAX header record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise CorruptContent("malformed PAX header record length") from None
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise CorruptContent("malformed PAX header record")
        key, sep, value = data[space + 1:end - 1].partition(b"=")
        if not sep:
            raise CorruptContent("malformed PAX header record")
        k = key.decode("utf-8", "surrogateescape")
        records[k] = value if k.startswith("SCHILY.xattr.") else value.decode("utf-8", "surrogateescape")
        pos = end
    return records


class TarReader:
    """Iterate over a tar stream's entries; read each entry's data in turn.

    ``max_entries`` and ``max_bytes`` bound what the archive may expand to
    (members plus headers), which stops decompression bombs early.
    """

    def __init__(self, stream: BinaryIO, *, max_entries: int, max_bytes: int):
        self._f = stream
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._remaining = 0      # data bytes of the current entry not yet read
        self._padding = 0        # padding after the current entry's data
        self.entries = 0
        self.total = 0           # bytes of the archive consumed so far

    # -- low-level reading ------------------------------------------------
    def _read_full(self, n: int) -> bytes:
        """Up to ``n`` bytes, fewer only at the end: decompressors return short reads."""
        data = self._f.read(n)
        if len(data) == n or not data:
            return data
        parts = [data]
        got = len(data)
        while got < n:
            more = self._f.read(n - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    def _count(self, n: int) -> None:
        self.total += n
        if self.total > self._max_bytes:
            raise UnsafeArchive(f"layer expands beyond the limit of {self._max_bytes} bytes "
                                "(a decompression bomb?); raise MINIDOCKER_MAX_LAYER_BYTES if it is real")

    def _read_exact(self, n: int) -> bytes:
        data = self._read_full(n)
        if len(data) != n:
            raise CorruptContent("tar archive is truncated (unexpected end of data)")
        self._count(n)
        return data

    def _skip(self, n: int) -> None:
        while n:
            chunk = min(n, 1 << 20)
            self._read_exact(chunk)
            n -= chunk

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the current entry's data (b"" at its end)."""
        n = min(n, self._remaining)
        if n <= 0:
            return b""
        data = self._f.read(n)  # _read_exact, inlined: this runs once per file
        if len(data) != n:
            data = self._read_exact_rest(data, n)
        else:
            self._count(n)
        self._remaining -= n
        return data

    def _read_exact_rest(self, data: bytes, n: int) -> bytes:
        """``_read_exact`` after a short first read of ``data``."""
        if data:
            more = self._read_full(n - len(data))
            data += more
        if len(data) != n:
            raise CorruptContent("tar archive is truncated (unexpected end of data)")
        self._count(n)
        return data

    def _finish_entry(self) -> None:
        self._skip(self._remaining + self._padding)
        self._remaining = self._padding = 0

    def _next_block(self) -> bytes:
        """Skip what is left of the current entry and read the next header block.

        A small rest (the usual padding) is read together with the header:
        one read call per entry instead of two.
        """
        rest = self._remaining + self._padding
        self._remaining = self._padding = 0
        if rest > 65536:
            self._skip(rest)
            rest = 0
        data = self._read_full(rest + BLOCK)
        if len(data) < rest:
            raise CorruptContent("tar archive is truncated (unexpected end of data)")
        if rest:
            self._count(rest)
        return data[rest:]

    def _meta_payload(self, size: int, what: str) -> bytes:
        if size > MAX_META:
            raise UnsafeArchive(f"tar {what} header of {size} bytes is larger than the {MAX_META}-byte limit")
        data = self._read_exact(size)
        self._skip(-size % BLOCK)
        return data

    # -- entries -----------------------------------------------------------
    def __iter__(self) -> Iterator[Entry]:
        pax: dict[str, str | bytes] = {}
        long_name = long_link = None
        while True:
            block = self._next_block()
            if not block:
                if pax or long_name is not None or long_link is not None:
                    raise CorruptContent("tar archive is truncated after an extended header")
                return  # a clean end without the two zero blocks; Go's reader allows it too
            if len(block) != BLOCK:
                raise CorruptContent("tar archive is truncated (partial header block)")
            self._count(BLOCK)
            if block == ZERO_BLOCK:
                if pax or long_name is not None or long_link is not None:
                    raise CorruptContent("tar archive ends right after an extended header")
                second = self._read_full(BLOCK)
                self._count(len(second))
                if second and second != ZERO_BLOCK:
                    raise CorruptContent("tar archive has a zero block followed by data")
                return
            if not _checksum_ok(block):
                raise CorruptContent(f"tar header checksum mismatch at offset {self.total - BLOCK}")
            fields = _HEADER.unpack(block)
            typeflag = chr(block[156])
            try:
                size = int(fields[4].strip(b" \0") or b"0", 8)
            except ValueError:
                size = _number(fields[4], "size")
            if typeflag == "x":
                pax = _parse_pax(self._meta_payload(size, "PAX"))  # replaces, as in Go
                continue
            if typeflag == "g":
                self._meta_payload(size, "PAX global")  # ignored, as Docker does
                continue
            if typeflag == "L":
                long_name = _text(self._meta_payload(size, "GNU long name"))
                continue
            if typeflag == "K":
                long_link = _text(self._meta_payload(size, "GNU long link"))
                continue
            entry = self._entry(fields, typeflag, size, pax, long_name, long_link)
            pax, long_name, long_link = {}, None, None
            self.entries += 1
            if self.entries > self._max_entries:
                raise UnsafeArchive(f"layer has more than {self._max_entries} entries; "
                                    "raise MINIDOCKER_MAX_LAYER_ENTRIES if it is real")
            if entry.type != REGULAR:
                entry.size = 0  # header-only types carry no data, as in Go's reader
            self._remaining = entry.size
            self._padding = -entry.size % BLOCK
            yield entry

    def _entry(self, fields, typeflag, size, pax, long_name, long_link) -> Entry:
        (name_f, mode_f, uid_f, gid_f, _, mtime_f, _, _, link_f, magic, version,
         _, _, major_f, minor_f, prefix_f) = fields
        if typeflag in ("S", "M", "V") or (pax and any(k.startswith("GNU.sparse.") for k in pax)):
            raise UnsafeArchive(f"unsupported tar entry (sparse, multi-volume or label, type {typeflag!r})")
        type_ = _REGULAR_ALIASES.get(typeflag, typeflag)
        if type_ not in _KNOWN and type_ != REGULAR:
            raise UnsafeArchive(f"unsupported tar entry type {typeflag!r}")
        name = _text(name_f)
        if magic == b"ustar\0":  # POSIX ustar has a prefix field; GNU ("ustar ") does not
            prefix = _text(prefix_f)
            if prefix:
                name = prefix + "/" + name
        if long_name is not None:
            name = long_name
        linkname = long_link if long_link is not None else _text(link_f)
        try:  # _number's common case (octal), inlined; anything else takes the long way
            mode = int(mode_f.strip(b" \0") or b"0", 8)
            uid = int(uid_f.strip(b" \0") or b"0", 8)
            gid = int(gid_f.strip(b" \0") or b"0", 8)
            mtime = int(mtime_f.strip(b" \0") or b"0", 8)
        except ValueError:
            mode = _number(mode_f, "mode")
            uid = _number(uid_f, "uid")
            gid = _number(gid_f, "gid")
            mtime = _number(mtime_f, "mtime")
        mode &= 0o7777
        mtime_ns = mtime * 1_000_000_000
        devmajor = devminor = 0
        if type_ in (CHAR, BLOCKDEV):  # only device entries carry meaningful numbers
            devmajor = _number(major_f, "devmajor")
            devminor = _number(minor_f, "devminor")
        xattrs: dict[str, bytes] = {}
        for key, value in pax.items():
            if key == "path":
                name = value
            elif key == "linkpath":
                linkname = value
            elif key == "size":
                size = _pax_int(value, key)
            elif key == "uid":
                uid = _pax_int(value, key)
            elif key == "gid":
                gid = _pax_int(value, key)
            elif key == "mtime":
                mtime_ns = _pax_time(value)
            elif key.startswith("SCHILY.xattr."):
                xattrs[key[len("SCHILY.xattr."):]] = value
        if type_ == REGULAR and name.endswith("/"):
            type_ = DIRECTORY  # pre-POSIX archives mark directories this way
        if "\0" in name or "\0" in linkname:
            raise UnsafeArchive("tar entry name contains a NUL byte")
        return Entry(name, type_, size, mode, uid, gid, mtime_ns, linkname,
                     devmajor, devminor, xattrs)

    def drain(self) -> int:
        """Read the rest of the stream (padding after the end marker); return its length."""
        self._finish_entry()
        n = 0
        while chunk := self._f.read(1 << 20):
            n += len(chunk)
            self._count(len(chunk))
        return n


def _pax_int(value, key) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise CorruptContent(f"PAX header {key}={value!r} is not a number") from None
    if n < 0:
        raise CorruptContent(f"PAX header {key} is negative")
    return n


def _pax_time(value) -> int:
    text = str(value).strip()
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    try:
        ns = int(whole or "0") * 1_000_000_000 + (int((frac + "000000000")[:9]) if frac else 0)
    except ValueError:
        raise CorruptContent(f"PAX header mtime={value!r} is not a time") from None
    return -ns if negative else ns

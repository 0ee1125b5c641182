"""Unpacking an image into shared, read-only layer snapshots.

Each layer becomes one committed snapshot named by its ChainID (the layer
together with everything below it), so two images with the same base share
those snapshots and each layer is unpacked once. A layer is applied into a
fresh active snapshot and committed only when its blob and diff digests both
verified; any failure removes the half-applied snapshot.
"""

from __future__ import annotations

import gzip
import os
import zlib

from ..errors import Conflict, CorruptContent, NotFound
from ..kernel.base import Kernel
from ..snapshot import Snapshotter
from . import oci
from .digest import HashingReader
from .layer import apply_layer
from .store import Image, Store

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class Counting:
    """A stream that reports how many bytes were read through it (for progress bars)."""

    def __init__(self, f, progress):
        self._f, self._progress = f, progress

    def read(self, n=-1):
        data = self._f.read(n)
        if self._progress:
            self._progress(len(data))
        return data


class _Prefixed:
    """A stream with some already-read bytes put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head, self._f = head, stream

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._f.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data + (self._f.read(n - len(data)) if n > len(data) else b"")
        return self._f.read(n)


def open_uncompressed(stream: BinaryIO, what: str) -> BinaryIO:
    """The layer's tar stream, gunzipped when it is gzip (told by its magic bytes)."""
    head = stream.read(4)
    source = _Prefixed(head, stream)
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=source, mode="rb")
    if head.startswith(_ZSTD_MAGIC):
        raise CorruptContent(f"{what} is zstd-compressed, which minidocker does not read; "
                             "convert it with `skopeo copy --dest-compress-format gzip`")
    return source


def apply_blob(kernel: Kernel, store: Store, layer: oci.Descriptor, diff_id: str, dest: str,
               progress=None, **options) -> None:
    """Apply one stored layer blob to ``dest``, verifying its digest and diff ID."""
    what = f"layer {layer.digest}"
    with store.open_blob(layer) as f:
        blob = HashingReader(Counting(f, progress) if progress else f)
        raw = open_uncompressed(blob, what)
        # A plain tar's diff ID is its blob digest: hash those bytes once, not twice.
        tar = HashingReader(raw) if isinstance(raw, gzip.GzipFile) else None
        try:
            apply_layer(kernel, tar or raw, dest, **options)
        except (OSError, EOFError, zlib.error) as e:
            raise CorruptContent(f"{what}: cannot decompress: {e}") from None
        while blob.read(1 << 20):  # trailing bytes after the gzip stream still count
            pass
    blob.verify(layer.digest, layer.size, what)
    (tar or blob).verify(diff_id, None, f"{what} (uncompressed)")


def unpack(kernel: Kernel, store: Store, snapshots: Snapshotter, image: Image,
           progress=None) -> str | None:
    """Make sure every layer of ``image`` is a committed snapshot; the top ChainID."""
    return unpack_layers(kernel, store, snapshots, list(image.manifest.layers), image.config.diff_ids,
                         progress)


def unpack_layers(kernel: Kernel, store: Store, snapshots: Snapshotter,
                  layers: list[oci.Descriptor], diff_ids: list[str], progress=None) -> str | None:
    """Make sure each layer (with those below it) is a committed snapshot; the top ChainID."""
    chain = oci.chain_ids(diff_ids)
    parent = None
    for layer, diff_id, chain_id in zip(layers, diff_ids, chain):
        try:
            snapshots.stat(chain_id)
        except NotFound:
            key = f"extract-{os.getpid()}-{os.urandom(4).hex()} {chain_id}"
            snapshots.prepare(key, parent, labels={"diff_id": diff_id})
            try:
                apply_blob(kernel, store, layer, diff_id, snapshots.diff_dir(key), progress)
                snapshots.commit(chain_id, key)
            except Conflict:
                snapshots.remove(key)  # another process unpacked it first
            except BaseException:
                snapshots.remove(key)
                raise
        parent = chain_id
    return parent

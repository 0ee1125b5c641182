"""Making images in the store: ingesting layer tars and writing config + manifest."""

from __future__ import annotations


from .. import config
from . import oci, reference
from .store import Store

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


class _Tee:
    """Reads from a stream and writes every byte read into ``sink``."""

    def __init__(self, stream: BinaryIO, sink):
        self._f, self._sink = stream, sink

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self._sink.write(data)
        return data


def ingest_layer(store: Store, stream: BinaryIO, what: str = "layer", progress=None) -> tuple[oci.Descriptor, str]:
    """Store a layer tar (plain or gzip) as a plain-tar blob; (descriptor, diff ID).

    The tar is parsed on the way in, so a file that is not a well-formed tar
    is refused here rather than when a container first needs it.
    """
    from .tarstream import TarReader
    from .unpack import open_uncompressed
    source = open_uncompressed(stream, what)
    with store.writer() as w:
        tar = TarReader(_Tee(source, w), max_bytes=config.MAX_LAYER_BYTES,
                        max_entries=config.MAX_LAYER_ENTRIES)
        for _ in tar:
            while chunk := tar.read(1 << 20):
                if progress:
                    progress(len(chunk))
        tar.drain()
        desc = w.commit(oci.MT_LAYER, what=what)
    return desc, desc.digest


def write_image(store: Store, layers: list[oci.Descriptor], image_config: dict,
                refs: list[reference.Reference]) -> oci.Descriptor:
    """Store config and manifest for ``layers`` and tag the result with ``refs``."""
    cfg = store.put_json(image_config, oci.MT_CONFIG)
    manifest = oci.Manifest(cfg, tuple(layers))
    m = store.put_json(manifest.to_json(), oci.MT_MANIFEST)
    store.set_tags(m, refs)
    return m

"""The image store: content-addressed blobs in OCI image-layout form, and tags.

Layout under the state root::

    oci/oci-layout              {"imageLayoutVersion": "1.0.0"}
    oci/index.json              one manifest descriptor per tag (and per untagged image)
    oci/blobs/sha256/<hex>      manifests, configs, layer tars
    tmp/                        blobs being written (same filesystem, so rename is atomic)
    locks/                      flock files

Blobs are immutable and named by their sha256, so writing one is "write a
temporary file, fsync, rename"; two processes writing the same blob both
succeed. ``index.json`` is read-modify-written under an exclusive lock.
Garbage collection takes the ``gc`` lock exclusively while every ingest holds
it shared, so a blob written but not yet tagged is never collected.

Tags: an index entry carries ``io.containerd.image.name`` (the full
reference, as containerd writes it) and ``org.opencontainers.image.ref.name``
(the tag). An entry without them is an untagged ("dangling") image, which is
what Docker shows as ``<none>:<none>`` when a tag moves to a newer image.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import config
from ..errors import Conflict, CorruptContent, InvalidReference, NotFound
from ..fileio import AtomicFile, FileLock, atomic_write
from . import oci, reference
from .digest import Hasher, HashingReader, check_digest

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator

_HEX_PREFIX = re.compile(r"(?:sha256:)?([0-9a-f]{1,64})")


@dataclass(frozen=True)
class Image:
    """A stored image: its manifest and config, read and verified."""

    manifest_descriptor: oci.Descriptor
    manifest: oci.Manifest
    config: oci.ImageConfig
    tags: tuple[reference.Reference, ...]

    @property
    def id(self) -> str:
        """Docker's image ID: the digest of the config."""
        return self.manifest.config.digest

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def size(self) -> int:
        return sum(d.size for d in self.manifest.layers)


class BlobWriter:
    """Writes one blob into the store; ``commit`` verifies and publishes it."""

    def __init__(self, store: "Store"):
        self._store = store
        self._file = AtomicFile(store.blob_dir / "x", mode=0o444, tmp_dir=store.tmp_dir)
        self._hash = Hasher()

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._hash.update(data)
        return len(data)

    @property
    def digest(self) -> str:
        return self._hash.digest

    @property
    def size(self) -> int:
        return self._hash.size

    def commit(self, media_type: str, *, digest: str | None = None, size: int | None = None,
               what: str = "blob") -> oci.Descriptor:
        self._hash.verify(digest, size, what)
        final = self._store.blob_path(self._hash.digest)
        if final.exists():
            self._file.abort()
        else:
            self._file.commit(final)
        return oci.Descriptor(media_type, self._hash.digest, self._hash.size)

    def abort(self) -> None:
        self._file.abort()

    def __enter__(self) -> "BlobWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.abort()


class Store:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else config.state_root()
        self.oci_dir = self.root / "oci"
        self.blob_dir = self.oci_dir / "blobs" / "sha256"
        self.tmp_dir = self.root / "tmp"
        locks = self.root / "locks"
        for d in (self.root, self.blob_dir, self.tmp_dir, locks):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._index_lock = FileLock(locks / "index.lock")
        self._gc_lock = FileLock(locks / "gc.lock")
        if not (self.oci_dir / "oci-layout").exists():
            atomic_write(self.oci_dir / "oci-layout",
                         oci.canonical_json({"imageLayoutVersion": oci.OCI_LAYOUT_VERSION}))

    # -- blobs -------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        return self.blob_dir / check_digest(digest).split(":", 1)[1]

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    @contextmanager
    def ingest(self) -> Iterator["Store"]:
        """Hold off garbage collection while new blobs are written and tagged."""
        with self._gc_lock(shared=True):
            yield self

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def put_bytes(self, data: bytes, media_type: str) -> oci.Descriptor:
        with self.writer() as w:
            w.write(data)
            return w.commit(media_type)

    def put_json(self, obj: dict, media_type: str) -> oci.Descriptor:
        return self.put_bytes(oci.canonical_json(obj), media_type)

    def put_stream(self, stream: BinaryIO, media_type: str, *, digest: str | None = None,
                   size: int | None = None, what: str = "blob", progress=None) -> oci.Descriptor:
        """Copy ``stream`` into a blob, verifying ``digest``/``size`` when given."""
        if digest and size is not None and self.has_blob(digest) and \
                self.blob_path(digest).stat().st_size == size:
            return oci.Descriptor(media_type, digest, size)
        with self.writer() as w:
            while chunk := stream.read(1 << 20):
                w.write(chunk)
                if size is not None and w.size > size:
                    raise CorruptContent(f"{what}: more data than its declared size {size}")
                if progress:
                    progress(len(chunk))
            return w.commit(media_type, digest=digest, size=size, what=what)

    def open_blob(self, desc: oci.Descriptor) -> BinaryIO:
        try:
            f = open(self.blob_path(desc.digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {desc.digest} is missing from the store "
                           "(run `minidocker system check`)") from None
        if os.fstat(f.fileno()).st_size != desc.size:
            f.close()
            raise CorruptContent(f"blob {desc.digest} has the wrong size "
                                 "(run `minidocker system check`)")
        return f

    def read_blob(self, desc: oci.Descriptor, limit: int = oci.MAX_JSON_BLOB) -> bytes:
        """The whole blob, verified against its digest and size."""
        if desc.size > limit:
            raise CorruptContent(f"blob {desc.digest} is {desc.size} bytes, more than the {limit}-byte limit")
        with self.open_blob(desc) as f:
            reader = HashingReader(f)
            data = reader.read()
        reader.verify(desc.digest, desc.size, f"blob {desc.digest}")
        return data

    # -- the index of images -------------------------------------------------
    def _read_index(self) -> list[oci.Descriptor]:
        path = self.oci_dir / "index.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        obj = oci.load_json(data, str(path))
        manifests = obj.get("manifests")
        if not isinstance(manifests, list):
            raise CorruptContent(f"{path}: manifests is not a list")
        return [oci.Descriptor.from_json(m, str(path)) for m in manifests]

    def _write_index(self, entries: list[oci.Descriptor]) -> None:
        doc = {"schemaVersion": 2, "mediaType": oci.MT_INDEX,
               "manifests": [e.to_json() for e in entries]}
        atomic_write(self.oci_dir / "index.json", json.dumps(doc, indent=2).encode())

    @staticmethod
    def _ref_of(entry: oci.Descriptor) -> reference.Reference | None:
        name = entry.annotations.get(oci.ANNOTATION_IMAGE_NAME)
        return reference.parse(name) if name else None

    @staticmethod
    def _entry(manifest: oci.Descriptor, ref: reference.Reference | None) -> oci.Descriptor:
        ann = {oci.ANNOTATION_IMAGE_NAME: str(ref), oci.ANNOTATION_REF_NAME: ref.tag or ref.digest} \
            if ref else {}
        return oci.Descriptor(oci.MT_MANIFEST, manifest.digest, manifest.size, ann)

    def entries(self) -> list[tuple[reference.Reference | None, oci.Descriptor]]:
        return [(self._ref_of(e), e) for e in self._read_index()]

    def set_tags(self, manifest: oci.Descriptor, refs: list[reference.Reference]) -> None:
        """Point each of ``refs`` at ``manifest``; with no refs, keep it as untagged.

        An image that loses its last tag this way stays, untagged, as in Docker.
        """
        with self._index_lock():
            entries = self._read_index()
            wanted = {str(r) for r in refs}
            kept, orphaned = [], set()
            for e in entries:
                ref = e.annotations.get(oci.ANNOTATION_IMAGE_NAME)
                if ref in wanted and e.digest != manifest.digest:
                    orphaned.add((e.digest, e.size))
                    continue
                if ref in wanted or (ref is None and e.digest == manifest.digest):
                    continue  # re-added below
                kept.append(e)
            for r in refs:
                kept.append(self._entry(manifest, r))
            if not refs and not any(e.digest == manifest.digest for e in kept):
                kept.append(self._entry(manifest, None))
            for digest, size in orphaned:
                if not any(e.digest == digest for e in kept):
                    kept.append(self._entry(oci.Descriptor(oci.MT_MANIFEST, digest, size), None))
            if _same_entries(kept, entries):
                return  # a rebuild that changed nothing: no index write, no fsync
            self._write_index(kept)

    def remove_entries(self, manifest_digest: str, ref: reference.Reference | None = None) -> None:
        """Drop the index entries of one tag (``ref``) or of the whole image."""
        with self._index_lock():
            entries = [e for e in self._read_index()
                       if e.digest != manifest_digest or
                       (ref is not None and e.annotations.get(oci.ANNOTATION_IMAGE_NAME) != str(ref))]
            self._write_index(entries)

    # -- images ------------------------------------------------------------
    def image(self, manifest: oci.Descriptor) -> Image:
        m = oci.Manifest.parse(self.read_blob(manifest))
        cfg = oci.ImageConfig.parse(self.read_blob(m.config))
        oci.check_image(m, cfg)
        tags = tuple(ref for ref, e in self.entries() if ref and e.digest == manifest.digest)
        return Image(manifest, m, cfg, tags)

    def images(self) -> list[Image]:
        seen, out = set(), []
        for _, e in self.entries():
            if e.digest not in seen:
                seen.add(e.digest)
                out.append(self.image(e))
        return out

    def resolve(self, text: str) -> Image:
        """Find an image by reference (``busybox``), full or short ID, or manifest digest."""
        entries = self.entries()
        ref = None
        try:
            ref = reference.parse(text)
        except InvalidReference:
            if not _HEX_PREFIX.fullmatch(text):
                raise
        if ref is not None:
            for r, e in entries:
                if r == ref:
                    return self.image(e)
                if ref.digest and e.digest == ref.digest and (r is None or r.name == ref.name):
                    return self.image(e)
        match = _HEX_PREFIX.fullmatch(text)
        if match:
            prefix = "sha256:" + match.group(1)
            found = {}
            for _, e in entries:
                img = self.image(e)
                if img.id.startswith(prefix) or e.digest == prefix:
                    found[e.digest] = img
            if len(found) == 1:
                return next(iter(found.values()))
            if len(found) > 1 and len({i.id for i in found.values()}) > 1:
                raise Conflict(f"image ID prefix {text!r} is ambiguous: it matches {len(found)} images")
            if found:
                return next(iter(found.values()))
        raise NotFound(f"No such image: {ref.familiar() if ref else text}")

    # -- maintenance -------------------------------------------------------
    def referenced_blobs(self) -> set[str]:
        """Every blob reachable from the index (manifests, configs, layers)."""
        keep: set[str] = set()
        for _, e in self.entries():
            keep.add(e.digest)
            try:
                m = oci.Manifest.parse(self.read_blob(e))
            except (NotFound, CorruptContent):
                continue
            keep.add(m.config.digest)
            keep.update(d.digest for d in m.layers)
        return keep

    def gc(self, keep_also: set[str] = frozenset()) -> tuple[int, int]:
        """Delete blobs no image (nor ``keep_also``) refers to, and stale temporary files;
        (count, bytes)."""
        removed = freed = 0
        with self._gc_lock():
            keep = self.referenced_blobs() | set(keep_also)
            for p in self.blob_dir.iterdir():
                if "sha256:" + p.name not in keep:
                    freed += p.lstat().st_size
                    p.unlink()
                    removed += 1
            import shutil
            for p in self.tmp_dir.iterdir():
                freed += p.lstat().st_size if not p.is_dir() else 0
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        return removed, freed

    def check(self) -> list[str]:
        """Verify every blob and every image; a list of problems, empty when clean."""
        problems: list[str] = []
        for p in sorted(self.blob_dir.iterdir()):
            digest = "sha256:" + p.name
            if not re.fullmatch(r"[0-9a-f]{64}", p.name):
                problems.append(f"stray file in the blob store: {p}")
                continue
            try:
                with open(p, "rb") as f:
                    r = HashingReader(f)
                    while r.read(1 << 20):
                        pass
                r.verify(digest, None, f"blob {digest}")
            except CorruptContent as e:
                problems.append(str(e))
        try:
            entries = self.entries()
        except (CorruptContent, InvalidReference) as e:
            return problems + [f"index.json: {e}"]
        for ref, e in entries:
            name = ref.familiar() if ref else e.digest
            try:
                img = self.image(e)
                for layer in img.manifest.layers:
                    if not self.has_blob(layer.digest):
                        problems.append(f"image {name}: layer {layer.digest} is missing")
                    elif self.blob_path(layer.digest).stat().st_size != layer.size:
                        problems.append(f"image {name}: layer {layer.digest} has the wrong size")
            except (NotFound, CorruptContent) as err:
                problems.append(f"image {name}: {err}")
        return problems


def _same_entries(a: list[oci.Descriptor], b: list[oci.Descriptor]) -> bool:
    def key(e: oci.Descriptor):
        return e.digest, e.size, tuple(sorted(e.annotations.items()))
    return sorted(map(key, a)) == sorted(map(key, b))

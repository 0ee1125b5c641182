"""Moving images in and out: ``save``/``load`` archives and ``export`` of a flattened rootfs.

``save`` writes what Docker 25+ writes: one tar that is at the same time an
OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/…``) and a
``docker save`` archive (``manifest.json``, ``repositories``) whose paths
point at the same blobs. Docker, Podman and skopeo (``docker-archive:`` and
``oci-archive:``) all read it.

``load`` reads either form, from a tar (plain or gzip) or an OCI layout
directory. From an OCI layout every blob keeps its digest, the manifest's
included. From a legacy ``docker save`` archive (``<id>/layer.tar``) the
config and layers keep their digests and a new OCI manifest is written, as
Docker does. Archive member names are never used as host paths: members are
kept in a private temporary directory under generated names.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass

from .. import config
from ..errors import CorruptContent, InvalidReference, MinidockerError, NotFound
from ..kernel.base import Kernel
from . import oci, reference
from .create import ingest_layer
from .digest import check_digest
from .layer import write_layer
from .store import Image, Store
from .tarstream import DIRECTORY, HARDLINK, REGULAR, SYMLINK, TarReader
from .unpack import Counting, apply_blob, open_uncompressed

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Callable

_BLOB_NAME = re.compile(r"blobs/sha256/([0-9a-f]{64})")
_MAX_LINK_HOPS = 16

Progress = "Callable[[int], None] | None"  # a string: typing is not imported at run time


# -- save --------------------------------------------------------------------

def save(store: Store, images: list[tuple[Image, list[reference.Reference]]], out: BinaryIO,
         progress: Progress = None) -> None:
    """Write ``images`` (each with the tags to record) as one archive to ``out``."""
    blobs: dict[str, oci.Descriptor] = {}
    index, manifest_json, repositories = [], [], {}
    for image, refs in images:
        for d in (image.manifest_descriptor, image.manifest.config, *image.manifest.layers):
            blobs[d.digest] = d
        for ref in refs or [None]:
            ann = {oci.ANNOTATION_IMAGE_NAME: str(ref), oci.ANNOTATION_REF_NAME: ref.tag} \
                if ref and ref.tag else {}
            index.append(oci.Descriptor(oci.MT_MANIFEST, image.manifest_descriptor.digest,
                                        image.manifest_descriptor.size, ann).to_json())
        tags = [r.familiar() for r in refs if r.tag]
        manifest_json.append({
            "Config": _blob_name(image.manifest.config.digest),
            "RepoTags": tags or None,
            "Layers": [_blob_name(d.digest) for d in image.manifest.layers],
        })
        for r in refs:
            if r.tag and image.manifest.layers:
                repositories.setdefault(r.familiar_name, {})[r.tag] = \
                    image.config.diff_ids[-1].split(":", 1)[1]

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        def add_bytes(name: str, data: bytes) -> None:
            tar.addfile(_member(name, len(data)), io.BytesIO(data))

        tar.addfile(_member("blobs/", 0, tarfile.DIRTYPE))
        tar.addfile(_member("blobs/sha256/", 0, tarfile.DIRTYPE))
        for digest in sorted(blobs):
            d = blobs[digest]
            with store.open_blob(d) as f:
                tar.addfile(_member(_blob_name(digest), d.size), Counting(f, progress))
        add_bytes("index.json", oci.canonical_json(
            {"schemaVersion": 2, "mediaType": oci.MT_INDEX, "manifests": index}))
        add_bytes("manifest.json", json.dumps(manifest_json, separators=(",", ":")).encode())
        add_bytes("oci-layout", oci.canonical_json({"imageLayoutVersion": oci.OCI_LAYOUT_VERSION}))
        if repositories:
            add_bytes("repositories", json.dumps(repositories, sort_keys=True).encode())


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _member(name: str, size: int, type_=tarfile.REGTYPE) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mtime = size, type_, 0
    ti.mode = 0o755 if type_ == tarfile.DIRTYPE else 0o644
    ti.uname = ti.gname = ""
    return ti


# -- load --------------------------------------------------------------------

@dataclass
class Loaded:
    image: Image
    refs: list[reference.Reference]


class _Source:
    """Files of an archive or a layout directory, looked up by their archive names."""

    def __init__(self, store: Store, tmp: str):
        self.store = store
        self.tmp = tmp
        self.files: dict[str, str] = {}       # archive name -> private temp path
        self.links: dict[str, str] = {}       # archive name -> archive name it points to
        self.blobs: set[str] = set()          # digests already streamed into the store
        self.root: str | None = None          # for a layout directory

    def _resolve(self, name: str) -> str:
        for _ in range(_MAX_LINK_HOPS):
            if name not in self.links:
                return name
            name = self.links[name]
        raise CorruptContent(f"archive member {name!r}: too many links")

    def exists(self, name: str) -> bool:
        name = self._resolve(name)
        if self.root is not None:
            return os.path.isfile(self._dir_path(name))
        return name in self.files

    def _dir_path(self, name: str) -> str:
        path = os.path.realpath(os.path.join(self.root, name))
        if not path.startswith(os.path.realpath(self.root) + os.sep):
            raise CorruptContent(f"layout member {name!r} points outside the layout directory")
        return path

    def open(self, name: str) -> BinaryIO:
        name = self._resolve(name)
        try:
            path = self._dir_path(name) if self.root is not None else self.files[name]
            return open(path, "rb")
        except (KeyError, FileNotFoundError, IsADirectoryError):
            raise CorruptContent(f"archive has no file {name!r}") from None

    def read_json(self, name: str) -> object:
        with self.open(name) as f:
            data = f.read(oci.MAX_JSON_BLOB + 1)
        if len(data) > oci.MAX_JSON_BLOB:
            raise CorruptContent(f"archive file {name!r} is too large to be JSON metadata")
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CorruptContent(f"archive file {name!r} is not valid JSON: {e}") from None

    def blob(self, desc: oci.Descriptor, progress: Progress = None) -> None:
        """Make sure blob ``desc`` is in the store, verified."""
        if desc.digest in self.blobs and self.store.has_blob(desc.digest):
            if self.store.blob_path(desc.digest).stat().st_size != desc.size:
                raise CorruptContent(f"blob {desc.digest}: size does not match its descriptor ({desc.size})")
            return
        name = _blob_name(check_digest(desc.digest))
        if not self.exists(name):
            if self.store.has_blob(desc.digest):
                return
            raise CorruptContent(f"archive lacks blob {desc.digest}")
        with self.open(name) as f:
            self.store.put_stream(f, desc.media_type, digest=desc.digest, size=desc.size,
                                  what=f"blob {desc.digest}", progress=progress)
        self.blobs.add(desc.digest)


def _read_tar(src: _Source, stream: BinaryIO, progress: Progress) -> None:
    """Spread a tar over the store (blobs) and private temp files (the rest)."""
    tar = TarReader(open_uncompressed(stream, "archive"), max_bytes=1 << 62,
                    max_entries=config.MAX_LAYER_ENTRIES)
    for n, entry in enumerate(tar):
        name = posixpath.normpath(entry.name.lstrip("/"))
        if name.startswith("../") or name == "..":
            raise CorruptContent(f"archive member {entry.name!r} escapes the archive")
        if entry.type == DIRECTORY:
            continue
        if entry.type in (SYMLINK, HARDLINK):
            target = entry.linkname if entry.type == HARDLINK else \
                posixpath.join(posixpath.dirname(name), entry.linkname)
            src.links[name] = posixpath.normpath(target.lstrip("/"))
            continue
        if entry.type != REGULAR:
            raise CorruptContent(f"archive member {entry.name!r} is not a regular file")
        m = _BLOB_NAME.fullmatch(name)
        if m:
            digest = "sha256:" + m.group(1)
            src.store.put_stream(tar, oci.MT_LAYER, digest=digest, size=entry.size,
                                 what=f"archive blob {digest}", progress=progress)
            src.blobs.add(digest)
            continue
        path = os.path.join(src.tmp, str(n))
        with open(path, "wb") as out:
            while chunk := tar.read(1 << 20):
                out.write(chunk)
                if progress:
                    progress(len(chunk))
        src.files[name] = path
    tar.drain()


def _platform_manifest(src: _Source, index_desc: oci.Descriptor) -> oci.Descriptor:
    """Pick this machine's manifest from a multi-platform image index."""
    src.blob(index_desc)
    obj = oci.load_json(src.store.read_blob(index_desc), f"image index {index_desc.digest}")
    os_, arch = oci.host_platform()
    for m in obj.get("manifests") or []:
        d = oci.Descriptor.from_json(m, "image index entry")
        plat = d.platform or {}
        if plat.get("os", os_) == os_ and plat.get("architecture", arch) == arch:
            return d
    raise NotFound(f"image index {index_desc.digest} has no manifest for {os_}/{arch}")


def _ref_from_annotations(ann: dict[str, str]) -> reference.Reference | None:
    for key in (oci.ANNOTATION_IMAGE_NAME, oci.ANNOTATION_REF_NAME):
        value = ann.get(key)
        # A bare tag ("latest") names no repository; only a full name tags the image.
        if value and re.search(r"[:/@]", value):
            try:
                return reference.parse(value)
            except InvalidReference:
                continue
    return None


def _load_oci(src: _Source, progress: Progress) -> list[tuple[oci.Descriptor, list]]:
    index = src.read_json("index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise CorruptContent("index.json has no manifests list")
    by_digest: dict[str, tuple[oci.Descriptor, list]] = {}
    for raw in index["manifests"]:
        d = oci.Descriptor.from_json(raw, "index.json")
        ref = _ref_from_annotations(d.annotations)
        if d.media_type in oci.INDEX_TYPES:
            d = _platform_manifest(src, d)
        elif d.media_type not in oci.MANIFEST_TYPES:
            raise CorruptContent(f"index.json entry has unsupported mediaType {d.media_type[:80]!r}")
        src.blob(d)
        m = oci.Manifest.parse(src.store.read_blob(d))
        src.blob(m.config)
        for layer in m.layers:
            src.blob(layer, progress)
        entry = by_digest.setdefault(d.digest, (d, []))
        if ref:
            entry[1].append(ref)
    return list(by_digest.values())


def _load_docker(src: _Source, progress: Progress) -> list[tuple[oci.Descriptor, list]]:
    entries = src.read_json("manifest.json")
    if not isinstance(entries, list) or not entries:
        raise CorruptContent("manifest.json is not a non-empty list")
    out = []
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("Config"), str) or \
                not isinstance(e.get("Layers"), list):
            raise CorruptContent("manifest.json entry lacks Config or Layers")
        with src.open(e["Config"]) as f:
            cfg_bytes = f.read(oci.MAX_JSON_BLOB + 1)
        cfg = oci.ImageConfig.parse(cfg_bytes)
        if len(cfg.diff_ids) != len(e["Layers"]):
            raise CorruptContent(f"image config lists {len(cfg.diff_ids)} layers, manifest.json {len(e['Layers'])}")
        layers = []
        for name, diff_id in zip(e["Layers"], cfg.diff_ids):
            with src.open(str(name)) as f:
                desc, got = ingest_layer(src.store, f, f"layer {name}", progress)
            if got != diff_id:
                raise CorruptContent(f"layer {name}: content {got} does not match the config's diff_id {diff_id}")
            layers.append(desc)
        refs = [reference.parse(t) for t in e.get("RepoTags") or []]
        cfg_desc = src.store.put_bytes(cfg_bytes, oci.MT_CONFIG)
        m = src.store.put_json(oci.Manifest(cfg_desc, tuple(layers)).to_json(), oci.MT_MANIFEST)
        out.append((m, refs))
    return out


def load(store: Store, source: str | BinaryIO, progress: Progress = None) -> list[Loaded]:
    """Load every image of an archive (path, stream) or an OCI layout directory."""
    with store.ingest(), tempfile.TemporaryDirectory(dir=store.tmp_dir, prefix="load-") as tmp:
        src = _Source(store, tmp)
        if isinstance(source, str) and os.path.isdir(source):
            if not os.path.isfile(os.path.join(source, "index.json")):
                raise CorruptContent(f"{source} is not an OCI image layout (no index.json)")
            src.root = source
        elif isinstance(source, str):
            try:
                with open(source, "rb") as f:
                    _read_tar(src, f, progress)
            except FileNotFoundError:
                raise NotFound(f"no such file: {source}") from None
        else:
            _read_tar(src, source, progress)
        if src.exists("index.json"):
            found = _load_oci(src, progress)
            # Names from a docker-save manifest.json fill in what index.json lacks.
            if src.exists("manifest.json"):
                _names_from_manifest_json(src, found)
        elif src.exists("manifest.json"):
            found = _load_docker(src, progress)
        else:
            raise CorruptContent("not an image archive: it has neither index.json nor manifest.json")
        result = []
        for desc, refs in found:
            store.set_tags(desc, refs)
            result.append(Loaded(store.image(desc), refs))
        return result


def _names_from_manifest_json(src: _Source, found: list[tuple[oci.Descriptor, list]]) -> None:
    try:
        entries = src.read_json("manifest.json")
    except MinidockerError:
        return
    tags_by_config = {}
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and isinstance(e.get("Config"), str):
            m = _BLOB_NAME.fullmatch(e["Config"])
            if m:
                tags_by_config["sha256:" + m.group(1)] = e.get("RepoTags") or []
    for desc, refs in found:
        cfg = oci.Manifest.parse(src.store.read_blob(desc)).config.digest
        for tag in tags_by_config.get(cfg, []):
            try:
                ref = reference.parse(tag)
            except InvalidReference:
                continue
            if ref not in refs:
                refs.append(ref)


# -- export ------------------------------------------------------------------

def export(kernel: Kernel, store: Store, image: Image, out: BinaryIO) -> int:
    """Write ``image``'s flattened filesystem (all layers merged) as one tar."""
    with tempfile.TemporaryDirectory(dir=store.tmp_dir, prefix="export-") as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        os.mkdir(rootfs, 0o755)
        try:
            for layer, diff_id in zip(image.manifest.layers, image.config.diff_ids):
                apply_blob(kernel, store, layer, diff_id, rootfs, whiteouts="delete",
                           allow_devices=True)
            return write_layer(kernel, rootfs, out)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)

"""OCI image data as pure values: media types, descriptors, manifests, configs.

Nothing here reads or writes files. Parsing functions validate the shape of
untrusted JSON and raise ``CorruptContent`` naming the first problem.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..errors import CorruptContent
from .digest import is_digest

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_LAYOUT_VERSION = "1.0.0"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Docker's own (schema 2) names for the same things, met in `docker save` output.
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (MT_MANIFEST, MT_DOCKER_MANIFEST)
INDEX_TYPES = (MT_INDEX, MT_DOCKER_LIST)
LAYER_TYPES = (MT_LAYER, MT_LAYER_GZIP, MT_LAYER_ZSTD, MT_DOCKER_LAYER, MT_DOCKER_LAYER_GZIP)
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
# containerd's annotation for the full image name in an OCI index.
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"

# Manifests and configs larger than this are not images but attacks.
MAX_JSON_BLOB = 4 << 20


def canonical_json(obj: Any) -> bytes:
    """Compact JSON with sorted keys: the same value always gives the same digest."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def host_platform() -> tuple[str, str]:
    """The OCI (os, architecture) of this machine."""
    machine = os.uname().machine.lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "i686": "386", "i386": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)
    return "linux", arch


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    platform: dict[str, str] | None = field(default=None, compare=False, hash=False)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = dict(self.platform)
        return out

    @classmethod
    def from_json(cls, obj: Any, what: str) -> "Descriptor":
        if not isinstance(obj, dict):
            raise CorruptContent(f"{what}: descriptor is not a JSON object")
        digest, size, mt = obj.get("digest"), obj.get("size"), obj.get("mediaType", "")
        if not is_digest(digest):
            raise CorruptContent(f"{what}: descriptor has an invalid or unsupported digest {str(digest)[:80]!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise CorruptContent(f"{what}: descriptor has an invalid size {size!r}")
        if not isinstance(mt, str):
            raise CorruptContent(f"{what}: descriptor mediaType is not a string")
        ann = obj.get("annotations") or {}
        plat = obj.get("platform")
        if not isinstance(ann, dict) or not all(isinstance(v, str) for v in ann.values()):
            raise CorruptContent(f"{what}: descriptor annotations are not strings")
        return cls(mt, digest, size, dict(ann), dict(plat) if isinstance(plat, dict) else None)


def descriptor_for(data: bytes, media_type: str) -> Descriptor:
    return Descriptor(media_type, "sha256:" + hashlib.sha256(data).hexdigest(), len(data))


def load_json(data: bytes, what: str) -> dict:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptContent(f"{what} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise CorruptContent(f"{what} is not a JSON object")
    return obj


@dataclass(frozen=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = MT_MANIFEST
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict:
        out = {"schemaVersion": 2, "mediaType": self.media_type,
               "config": self.config.to_json(), "layers": [d.to_json() for d in self.layers]}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def parse(cls, data: bytes) -> "Manifest":
        obj = load_json(data, "image manifest")
        if obj.get("schemaVersion") != 2:
            raise CorruptContent("image manifest: schemaVersion is not 2")
        mt = obj.get("mediaType", MT_MANIFEST)
        if mt not in MANIFEST_TYPES:
            raise CorruptContent(f"image manifest: unsupported mediaType {str(mt)[:80]!r}")
        layers = obj.get("layers")
        if not isinstance(layers, list):
            raise CorruptContent("image manifest: layers is not a list")
        descs = tuple(Descriptor.from_json(d, f"manifest layer {i}") for i, d in enumerate(layers))
        for d in descs:
            if d.media_type not in LAYER_TYPES:
                raise CorruptContent(f"image manifest: unsupported layer mediaType {d.media_type[:80]!r}")
        return cls(Descriptor.from_json(obj.get("config"), "manifest config"), descs, mt,
                   obj.get("annotations") or {})


@dataclass(frozen=True)
class ImageConfig:
    """The parts of an image config minidocker reads; ``raw`` keeps all of it."""

    raw: dict

    @property
    def diff_ids(self) -> list[str]:
        return list(self.raw["rootfs"]["diff_ids"])

    @property
    def history(self) -> list[dict]:
        return list(self.raw.get("history") or [])

    @property
    def created(self) -> str | None:
        return self.raw.get("created")

    @property
    def container_config(self) -> dict:
        return dict(self.raw.get("config") or {})

    @classmethod
    def parse(cls, data: bytes) -> "ImageConfig":
        obj = load_json(data, "image config")
        rootfs = obj.get("rootfs")
        if not isinstance(rootfs, dict) or rootfs.get("type") != "layers":
            raise CorruptContent("image config: rootfs.type is not 'layers'")
        diff_ids = rootfs.get("diff_ids")
        if not isinstance(diff_ids, list) or not all(is_digest(d) for d in diff_ids):
            raise CorruptContent("image config: rootfs.diff_ids is not a list of sha256 digests")
        history = obj.get("history", [])
        if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
            raise CorruptContent("image config: history is not a list of objects")
        for key in ("os", "architecture"):
            if not isinstance(obj.get(key), str):
                raise CorruptContent(f"image config: {key} is missing")
        return cls(obj)


def check_image(manifest: Manifest, config: ImageConfig) -> None:
    """The manifest's layers and the config's diff_ids and history must agree."""
    if len(manifest.layers) != len(config.diff_ids):
        raise CorruptContent(f"image has {len(manifest.layers)} layers but its config lists "
                             f"{len(config.diff_ids)} diff_ids")
    layered = [h for h in config.history if not h.get("empty_layer")]
    if config.history and len(layered) != len(config.diff_ids):
        raise CorruptContent(f"image history has {len(layered)} layer entries for "
                             f"{len(config.diff_ids)} layers")


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainIDs: each names a layer together with everything below it."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else
                   "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def new_config(diff_ids: list[str], history: list[dict], *, created: str | None = None,
               container_config: dict | None = None) -> dict:
    os_, arch = host_platform()
    return {
        "created": created or now_rfc3339(),
        "architecture": arch,
        "os": os_,
        "config": container_config or {},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": history,
    }

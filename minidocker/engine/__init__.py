"""The in-process engine: the Python API behind every ``minidocker`` verb.

The CLI calls it today; the daemon (a later stage) will serve it over
Docker's Engine API, and notebooks may use it directly. It owns the store and
the snapshotter for one state root, and the policies Docker users expect:
what ``rmi`` untags and deletes, what ``prune`` collects, how sizes count.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import Conflict, MinidockerError, NotFound
from ..format import human_age, human_size
from ..image import oci, reference
from ..image.store import Image, Store
from ..kernel import get_kernel
from ..kernel.base import Kernel
from ..snapshot import ACTIVE, COMMITTED, VIEW
from ..snapshot.overlay import OverlaySnapshotter
from .containers import ContainerVerbs
from .networks import NetworkVerbs

# typing costs ~3 ms to import; annotations are strings here, so only type checkers need it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO


class Engine(ContainerVerbs, NetworkVerbs):
    def __init__(self, root: str | os.PathLike | None = None, kernel: Kernel | None = None):
        self.store = Store(root)
        self.snapshots = OverlaySnapshotter(Path(self.store.root) / "snapshots")
        self._kernel = kernel
        self._bound = False
        # A context manager factory (description, total bytes) -> progress callback; the
        # CLI sets one that draws a bar on a terminal.
        self.progress = None

    @property
    def kernel(self) -> Kernel:
        if self._kernel is None:
            self._kernel = get_kernel()
        if not self._bound:
            self._bound = True
            bind = getattr(self._kernel, "bind_state_root", None)
            if bind is not None:
                bind(self.store.root)   # the simulator shares its processes through the state root
        return self._kernel

    # -- reading -------------------------------------------------------------
    def image(self, name: str) -> Image:
        try:
            return self.store.resolve(name)
        except NotFound:
            if not self.kernel.simulated:
                raise
            flavor = _simulated_base(name)
            if flavor is None:
                raise
        # The simulator's stand-in for a pull: its built-in base images, made on first use.
        from ..kernel.sim import images
        images.create(self.store, flavor, name)
        return self.store.resolve(name)

    def image_rows(self, all_: bool = True) -> list[dict]:
        """One row per tag (and per untagged image), with Docker's field names."""
        rows = []
        images = {img.manifest_descriptor.digest: img for img in self.store.images()}
        for ref, entry in self.store.entries():
            img = images[entry.digest]
            rows.append({
                "Containers": "N/A",
                "CreatedAt": img.config.created or "",
                "CreatedSince": _age(img.config.created),
                "Digest": entry.digest,
                "ID": img.short_id,
                "Repository": ref.familiar_name if ref else "<none>",
                "SharedSize": "N/A",
                "Size": _size(img.size),
                "Tag": (ref.tag or "<none>") if ref else "<none>",
                "UniqueSize": "N/A",
                "VirtualSize": _size(img.size),
            })
        return sorted(rows, key=lambda r: r["CreatedAt"], reverse=True)

    def inspect(self, name: str) -> dict:
        img = self.image(name)
        cfg = img.config.raw
        return {
            "Id": img.id,
            "RepoTags": [r.familiar() for r in img.tags],
            "RepoDigests": [f"{r.familiar_name}@{img.manifest_descriptor.digest}" for r in img.tags],
            "Parent": "",
            "Comment": (img.config.history[-1].get("comment", "") if img.config.history else ""),
            "Created": cfg.get("created", ""),
            "Author": cfg.get("author", ""),
            "Config": img.config.container_config,
            "Architecture": cfg.get("architecture", ""),
            "Os": cfg.get("os", ""),
            "Size": img.size,
            "RootFS": {"Type": "layers", "Layers": img.config.diff_ids},
            "Descriptor": img.manifest_descriptor.to_json(),
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        }

    def history(self, name: str) -> list[dict]:
        """Docker's history rows, newest first; the layer ID shows on the top row only."""
        img = self.image(name)
        layers = list(img.manifest.layers)
        rows = []
        for h in img.config.history:
            size = 0 if h.get("empty_layer") else (layers.pop(0).size if layers else 0)
            rows.append({"Comment": h.get("comment", ""), "CreatedAt": h.get("created", ""),
                         "CreatedBy": h.get("created_by", ""), "CreatedSince": _age(h.get("created")),
                         "ID": "<missing>", "Size": _size(size), "SizeBytes": size})
        rows.reverse()
        if rows:
            rows[0]["ID"] = img.short_id
        return rows

    # -- changing ------------------------------------------------------------
    def tag(self, source: str, target: str) -> None:
        img = self.image(source)
        ref = reference.parse(target)
        if ref.digest:
            raise MinidockerError(f"refusing to create a tag with a digest reference: {target}")
        with self.store.ingest():
            self.store.set_tags(img.manifest_descriptor, [ref] + list(img.tags))

    def rmi(self, name: str, force: bool = False) -> list[str]:
        """Untag, and delete the image once no tag is left, as ``docker rmi`` does."""
        img = self.image(name)
        users = [r for r in self.containers.all() if r.spec.image_id == img.id]
        out = []
        ref = _as_reference(name)
        last_tag = not (ref is not None and ref in img.tags and len(img.tags) > 1)
        if users and last_tag and not force:
            raise Conflict(f"conflict: unable to delete {img.short_id} (must be forced) - image is "
                           f"being used by container {users[0].id[:12]}")
        if ref is not None and ref in img.tags:
            self.store.remove_entries(img.manifest_descriptor.digest, ref)
            out.append(f"Untagged: {ref.familiar()}")
            if len(img.tags) > 1:
                return out
        else:
            if len({r.name for r in img.tags}) > 1 and not force:
                raise Conflict(f"conflict: unable to delete {img.short_id} (must be forced) - "
                               "image is referenced in multiple repositories")
            out.extend(f"Untagged: {r.familiar()}" for r in img.tags)
        self.store.remove_entries(img.manifest_descriptor.digest)
        self.collect()
        out.append(f"Deleted: {img.id}")
        return out

    def collect(self) -> tuple[int, int]:
        """Remove blobs and layer snapshots no image needs any more; (count, bytes)."""
        from ..build.cache import BuildCache
        cache = BuildCache(self.store.root)
        count, freed = self.store.gc(keep_also=cache.layers())
        wanted = set()
        for img in self.store.images():
            wanted.update(oci.chain_ids(img.config.diff_ids))
        for entry in cache.entries():  # cached steps keep their unpacked layers too
            wanted.update(oci.chain_ids(entry.result["config"]["rootfs"]["diff_ids"]))
        changed = True
        while changed:
            changed = False
            infos = self.snapshots.walk()
            parents = {i.parent for i in infos}
            for info in infos:
                stale = info.kind == COMMITTED and info.key not in wanted
                dead_extract = info.kind in (ACTIVE, VIEW) and self._dead_extraction(info.key)
                if (stale or dead_extract) and info.key not in parents:
                    freed += self.snapshots.usage(info.key).size
                    self.snapshots.remove(info.key)
                    count += 1
                    changed = True
        self.snapshots.cleanup()
        return count, freed

    def _dead_extraction(self, key: str) -> bool:
        """A temporary snapshot (unpack "extract-<pid>-…", build "build-[view-]<pid>-…")
        whose process has gone."""
        if not key.startswith(("extract-", "build-")):
            return False
        pid = next((int(p) for p in key.split(" ")[0].split("-") if p.isdigit()), None)
        return pid is None or not self.kernel.process_alive(pid)

    def prune(self, all_: bool = False) -> tuple[list[str], int]:
        """Remove untagged images (``all_``: every image no container uses), the build
        cache and garbage."""
        from ..build.cache import BuildCache
        BuildCache(self.store.root).clear()
        deleted = []
        used = {r.spec.image_id for r in self.containers.all()}
        for ref, entry in self.store.entries():
            if self.store.image(entry).id in used:
                continue
            if ref is None or all_:
                self.store.remove_entries(entry.digest)
                deleted.append(entry.digest)
        _, freed = self.collect()
        return deleted, freed

    def build(self, context: str, options, out=None):
        """Build an image from ``context`` (see ``build.builder.BuildOptions``)."""
        from ..build.builder import Builder
        manifest = Builder(self, context, options, out).build()
        return self.store.image(manifest)

    def unpack(self, name: str | Image) -> str | None:
        """Unpack an image's layers (by name, or an ``Image`` already resolved) into shared
        snapshots; the top ChainID."""
        image = self.image(name) if isinstance(name, str) else name
        chain = oci.chain_ids(image.config.diff_ids)
        if not chain:
            return None
        try:
            self.snapshots.stat(chain[-1])
            return chain[-1]  # already unpacked: the common case of `run`
        except MinidockerError:
            pass
        from contextlib import nullcontext
        from ..image.unpack import unpack
        total = sum(d.size for d in image.manifest.layers)
        bar = self.progress("unpacking", total) if self.progress else nullcontext(None)
        with self.store.ingest(), bar as progress:
            return unpack(self.kernel, self.store, self.snapshots, image, progress)

    # -- moving images -------------------------------------------------------
    def save(self, names: list[str], out: BinaryIO, progress=None) -> None:
        chosen: dict[str, tuple[Image, list]] = {}
        for name in names:
            img = self.image(name)
            entry = chosen.setdefault(img.manifest_descriptor.digest, (img, []))
            ref = _as_reference(name)
            if ref is not None and ref in img.tags and ref not in entry[1]:
                entry[1].append(ref)
            elif ref is None or ref not in img.tags:
                entry[1].extend(r for r in img.tags if r not in entry[1])
        from ..image import archive
        archive.save(self.store, list(chosen.values()), out, progress)

    def load(self, source: str | BinaryIO, progress=None) -> list[str]:
        from ..image import archive
        out = []
        for loaded in archive.load(self.store, source, progress):
            if loaded.refs:
                out.extend(f"Loaded image: {r.familiar()}" for r in loaded.refs)
            else:
                out.append(f"Loaded image ID: {loaded.image.id}")
        return out

    def import_(self, source: BinaryIO, target: str | None, message: str = "",
                source_name: str = "-", progress=None) -> Image:
        from ..image.create import ingest_layer, write_image
        refs = [reference.parse(target)] if target else []
        with self.store.ingest():
            layer, diff_id = ingest_layer(self.store, source, f"import {source_name}", progress)
            created = oci.now_rfc3339()
            cfg = oci.new_config([diff_id], [{
                "created": created, "created_by": "",
                "comment": message or f"Imported from {source_name}"}], created=created)
            m = write_image(self.store, [layer], cfg, refs)
        return self.store.image(m)

    def export(self, name: str, out: BinaryIO) -> int:
        from ..image import archive
        return archive.export(self.kernel, self.store, self.image(name), out)

    def bootstrap(self, what: str, tag: str | None = None, suite: str = "bookworm",
                  mirror: str | None = None) -> Image:
        from ..image import bootstrap
        if self.kernel.simulated:
            from ..kernel.sim import images
            if what not in images.FLAVORS:
                raise MinidockerError(f"unknown base image {what!r}: choose busybox, debian or alpine")
            return self.store.image(images.create(self.store, what, tag))
        if what == "busybox":
            m = bootstrap.bootstrap_busybox(self.store, tag or "busybox:latest")
        elif what == "debian":
            m = bootstrap.bootstrap_debian(self.kernel, self.store, suite, mirror, tag)
        else:
            raise MinidockerError(f"unknown base image {what!r}: choose busybox or debian")
        return self.store.image(m)

    # -- accounting ----------------------------------------------------------
    def disk_usage(self) -> list[dict]:
        images = self.store.images()
        unique = {}
        for img in images:
            for d in (img.manifest_descriptor, img.manifest.config, *img.manifest.layers):
                unique[d.digest] = d.size
        total = sum(unique.values())
        unpacked = sum(self.snapshots.usage(i.key).size for i in self.snapshots.walk()
                       if i.kind == COMMITTED)
        used_ids = {r.spec.image_id for r in self.containers.all()}
        active = [img for img in images if img.id in used_ids]
        in_use = {d.digest: d.size for img in active
                  for d in (img.manifest_descriptor, img.manifest.config, *img.manifest.layers)}
        reclaimable = total - sum(in_use.values())
        share = f" ({100 * reclaimable // total}%)" if total else ""
        return [
            {"Type": "Images", "TotalCount": str(len(images)), "Active": str(len(active)),
             "Size": _size(total), "Reclaimable": _size(reclaimable) + share, "SizeBytes": total},
            {"Type": "Unpacked layers", "TotalCount": str(sum(1 for i in self.snapshots.walk()
                                                             if i.kind == COMMITTED)),
             "Active": "0", "Size": _size(unpacked), "Reclaimable": _size(unpacked),
             "SizeBytes": unpacked},
            self._container_usage(),
            {"Type": "Local Volumes", "TotalCount": "0", "Active": "0", "Size": "0B",
             "Reclaimable": "0B", "SizeBytes": 0},
            self._cache_usage(unique),
        ]

    def _cache_usage(self, image_blobs: dict[str, int]) -> dict:
        """Build-cache entries, and the bytes of layers only the cache keeps."""
        from ..build.cache import BuildCache
        cache = BuildCache(self.store.root)
        only = {d for d in cache.layers() if d not in image_blobs and self.store.has_blob(d)}
        size = sum(self.store.blob_path(d).stat().st_size for d in only)
        return {"Type": "Build Cache", "TotalCount": str(len(cache.entries())), "Active": "0",
                "Size": _size(size), "Reclaimable": _size(size), "SizeBytes": size}

    def _container_usage(self) -> dict:
        from ..runtime.state import RUNNING
        records = self.containers.all()
        sizes = {r.id: self.snapshots.usage(r.snapshot_key).size for r in records
                 if _exists(self.snapshots, r.snapshot_key)}
        running = [r for r in records if r.observed_status(self.kernel) == RUNNING]
        total = sum(sizes.values())
        idle = total - sum(sizes.get(r.id, 0) for r in running)
        return {"Type": "Containers", "TotalCount": str(len(records)), "Active": str(len(running)),
                "Size": _size(total), "Reclaimable": _size(idle), "SizeBytes": total}

    def check(self) -> list[str]:
        problems = self.store.check()
        infos = {i.key: i for i in self.snapshots.walk()}
        for info in infos.values():
            if info.parent is not None and info.parent not in infos:
                problems.append(f"snapshot {info.key!r}: parent {info.parent!r} is missing")
        return problems


def _exists(snapshots, key: str) -> bool:
    try:
        snapshots.stat(key)
        return True
    except MinidockerError:
        return False


def _as_reference(name: str) -> reference.Reference | None:
    try:
        return reference.parse(name)
    except MinidockerError:
        return None


def _size(n: int) -> str:
    return human_size(n)


def _age(text: str | None) -> str:
    return human_age(text)


def _simulated_base(name: str) -> str | None:
    """Which built-in base image of the simulator ``name`` asks for, if any."""
    from ..kernel.sim.images import FLAVORS
    try:
        ref = reference.parse(name)
    except MinidockerError:
        return None
    for flavor, (default, _) in FLAVORS.items():
        if ref.name == reference.parse(default).name and not ref.digest:
            return flavor
    return None

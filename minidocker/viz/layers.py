"""Diagram (a): one image's layer stack, bottom to top, and a container's writable layer.

Each entry is a step of the image's history, as ``docker history`` lists
them: a filesystem step owns a read-only layer (its size, diff ID, whether it
is unpacked as a snapshot, and what the build cache did with it); a metadata
step (ENV, CMD …) owns none and is drawn dashed. A container adds its own
writable layer (the overlay upperdir) on top — the only part it can change.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MinidockerError, NotFound
from ..image import oci
from . import style
from .diagram import Diagram


@dataclass(frozen=True)
class Entry:
    index: int                 # position in the history, 0 at the bottom
    created_by: str
    comment: str
    digest: str | None         # the layer blob; None for a metadata-only step
    diff_id: str | None
    chain_id: str | None       # the layer with everything below it (the snapshot's key)
    size: int
    cache: str                 # what the build cache did with it ("" when not built here)
    unpacked: bool


@dataclass(frozen=True)
class Writable:
    container_id: str
    name: str
    status: str
    size: int | None           # bytes in the upperdir; None when it is gone


@dataclass(frozen=True)
class LayerStack:
    image: str                 # the name it was asked by
    image_id: str
    tags: tuple[str, ...]
    entries: tuple[Entry, ...]
    container: Writable | None = None

    @property
    def layers(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.digest is not None)

    @property
    def size(self) -> int:
        return sum(e.size for e in self.layers)


def cache_notes(engine, image) -> dict[str, str]:
    """Layer digest → what the build cache says about it, for this image.

    The last build's record knows hit or miss (and why); otherwise a layer the
    cache holds would be a hit next time.
    """
    from ..build import record as records
    from ..build.cache import BuildCache
    notes = {d: "in build cache" for d in BuildCache(engine.store.root).layers()}
    try:
        last = records.load(engine.store.root)
    except NotFound:
        return notes
    if last.image_id == image.id:
        for step in last.steps:
            if step.layer and step.status == records.CACHED:
                notes[step.layer["digest"]] = "CACHED in the last build"
            elif step.layer and step.status == records.BUILT:
                notes[step.layer["digest"]] = f"built in the last build: {step.reason}"
    return notes


def collect(engine, image: str, container: str | None = None) -> LayerStack:
    """The layer stack of ``image`` (and of ``container``'s writable layer) from the store."""
    img = engine.image(image)
    notes = cache_notes(engine, img)
    unpacked = {i.key for i in engine.snapshots.walk()}
    layers = list(img.manifest.layers)
    diff_ids = img.config.diff_ids
    chains = oci.chain_ids(diff_ids)
    history = img.config.history or [{"created_by": ""} for _ in layers]
    entries, n = [], 0
    for i, h in enumerate(history):
        if h.get("empty_layer"):
            entries.append(Entry(i, h.get("created_by", ""), h.get("comment", ""),
                                 None, None, None, 0, "", False))
            continue
        d = layers[n]
        entries.append(Entry(i, h.get("created_by", ""), h.get("comment", ""), d.digest,
                             diff_ids[n], chains[n], d.size, notes.get(d.digest, ""),
                             chains[n] in unpacked))
        n += 1
    writable = None
    if container is not None:
        record = engine.containers.find(container)
        if record.spec.image_id != img.id:
            raise MinidockerError(f"container {record.spec.name or record.id[:12]} runs image "
                                  f"{record.spec.image}, not {image}")
        writable = _writable(engine, record)
    return LayerStack(image, img.id, tuple(r.familiar() for r in img.tags), tuple(entries), writable)


def _writable(engine, record) -> Writable:
    try:
        used = engine.snapshots.usage(record.snapshot_key).size
    except NotFound:
        used = None
    return Writable(record.id, record.spec.name, record.observed_status(engine.kernel), used)


def draw(data: LayerStack) -> Diagram:
    g = style.new_graph("layers", rankdir="BT")
    g.attr(label=style.text(f"{data.image} ({style.short(data.image_id)}): "
                            f"{style.count(len(data.layers), 'layer')}, {style.size(data.size)}"),
           labelloc="t")
    ids = []
    with g.subgraph(name="cluster_image") as c:
        c.attr(label="image: read-only layers, shared", style="rounded", color="#6b8fb5")
        for e in data.entries:
            nid = f"step_{e.index}"
            ids.append(nid)
            c.node(nid, _entry_label(e))
    for below, above in zip(ids, ids[1:]):
        g.edge(below, above)
    if data.container is not None:
        w = data.container
        rows = [("container", f"{w.name} ({w.container_id[:12]})"), ("status", w.status),
                ("changes", style.size(w.size) if w.size is not None else "removed")]
        g.node("writable", style.table("writable layer (overlay upperdir)", rows, fill=style.MADE))
        if ids:
            g.edge(ids[-1], "writable", label="copy-on-write")
    return Diagram(g, data)


def _entry_label(e: Entry) -> str:
    if e.digest is None:
        return style.table(style.clip(e.created_by) or "(no command recorded)",
                           ["metadata only: no layer"], fill=style.METADATA, dashed=True)
    rows: list = [style.clip(e.created_by) or "(no command recorded)",
                  ("size", style.size(e.size)), ("diff-id", style.short(e.diff_id))]
    if e.cache:
        rows.append(("cache", e.cache))
    rows.append(("on disk", "unpacked snapshot" if e.unpacked else "not unpacked yet"))
    fill = style.MADE if e.cache.startswith("built") else (
        style.REUSED if e.cache.startswith("CACHED") else "white")
    return style.table(f"layer {style.short(e.digest)}", rows, fill=fill)


def image_layers(engine, image: str, container: str | None = None) -> Diagram:
    """Diagram (a) from the engine's state."""
    return draw(collect(engine, image, container))

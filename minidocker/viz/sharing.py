"""Diagram (b): several images and containers, and the layers they share.

A layer is identified by its ChainID — the layer together with everything
below it — because that is what is unpacked and stacked once on disk: two
images built FROM the same base point at the very same base snapshots, and
each container adds only its own writable layer. The diagram draws every
layer once, however many images use it, and says how many bytes that saves.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidReference, MinidockerError, NotFound
from ..image import oci
from . import style
from .diagram import Diagram


@dataclass(frozen=True)
class Layer:
    chain_id: str
    parent: str | None         # the ChainID below, None for a bottom layer
    digest: str
    created_by: str
    size: int
    images: tuple[str, ...]    # labels of the images using it
    unpacked: bool


@dataclass(frozen=True)
class Image:
    id: str
    label: str                 # its tags, or <none>@short id
    top: str | None            # ChainID of its top layer (None: no layers)
    size: int


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    status: str
    image_id: str
    size: int | None           # bytes in its writable layer


@dataclass(frozen=True)
class Sharing:
    layers: tuple[Layer, ...]
    images: tuple[Image, ...]
    containers: tuple[Container, ...]

    @property
    def shared(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if len(layer.images) > 1)

    @property
    def saved(self) -> int:
        """Bytes not stored twice because images share layers."""
        return sum(layer.size * (len(layer.images) - 1) for layer in self.layers)


def _label(img) -> str:
    return ", ".join(r.familiar() for r in img.tags) or f"<none>@{img.short_id}"


def collect(engine, names: list[str] | None = None) -> Sharing:
    """``names`` (images or containers; all of both when empty) and their layers."""
    if names:
        images, records = {}, {}
        for name in names:
            try:
                img = engine.image(name)
                images[img.id] = img
                continue
            except (NotFound, InvalidReference):
                pass
            try:
                record = engine.containers.find(name)
            except NotFound:
                raise MinidockerError(f"No such image or container: {name}") from None
            records[record.id] = record
            try:
                img = engine.image(record.spec.image_id)
                images.setdefault(img.id, img)
            except NotFound:
                pass  # its image was removed (rmi -f): the container is drawn alone
        chosen, recs = list(images.values()), list(records.values())
    else:
        chosen, recs = engine.store.images(), engine.containers.all()
    chosen.sort(key=lambda i: (_label(i), i.id))
    unpacked = {i.key for i in engine.snapshots.walk()}
    found: dict[str, dict] = {}
    out_images = []
    for img in chosen:
        label = _label(img)
        chains = oci.chain_ids(img.config.diff_ids)
        made_by = [h.get("created_by", "") for h in img.config.history if not h.get("empty_layer")]
        for n, (chain, desc) in enumerate(zip(chains, img.manifest.layers)):
            entry = found.setdefault(chain, {
                "parent": chains[n - 1] if n else None, "digest": desc.digest,
                "created_by": made_by[n] if n < len(made_by) else "", "size": desc.size, "images": []})
            entry["images"].append(label)
        out_images.append(Image(img.id, label, chains[-1] if chains else None, img.size))
    layers = tuple(Layer(c, e["parent"], e["digest"], e["created_by"], e["size"], tuple(e["images"]),
                         c in unpacked) for c, e in found.items())
    containers = []
    for r in sorted(recs, key=lambda r: (r.spec.name, r.id)):
        try:
            used = engine.snapshots.usage(r.snapshot_key).size
        except NotFound:
            used = None
        containers.append(Container(r.id, r.spec.name, r.observed_status(engine.kernel),
                                    r.spec.image_id, used))
    return Sharing(layers, tuple(out_images), tuple(containers))


def draw(data: Sharing) -> Diagram:
    g = style.new_graph("sharing", rankdir="BT")
    g.attr(label=f"{style.count(len(data.images), 'image')}, "
                 f"{style.count(len(data.containers), 'container')}: "
                 f"{style.count(len(data.layers), 'layer')} stored once, "
                 f"{len(data.shared)} shared; sharing saves {style.size(data.saved)}", labelloc="t")
    for layer in data.layers:
        shared = len(layer.images) > 1
        rows: list = [style.clip(layer.created_by, 50) or "(no command recorded)",
                      ("size", style.size(layer.size)),
                      ("used by", ", ".join(layer.images) if len(layer.images) <= 3
                       else style.count(len(layer.images), "image"))]
        if not layer.unpacked:
            rows.append(("on disk", "not unpacked yet"))
        g.node(style.node_id("layer", layer.chain_id),
               style.table(f"layer {style.short(layer.digest)}", rows,
                           fill=style.REUSED if shared else "white"))
    for layer in data.layers:
        if layer.parent is not None:
            g.edge(style.node_id("layer", layer.parent), style.node_id("layer", layer.chain_id))
    images = {}
    for img in data.images:
        nid = style.node_id("image", img.id)
        images[img.id] = nid
        g.node(nid, style.table(img.label, [("id", style.short(img.id)), ("size", style.size(img.size))],
                                fill=style.IMAGE))
        if img.top is not None:
            g.edge(style.node_id("layer", img.top), nid, style="dashed", arrowhead="none")
    for c in data.containers:
        nid = style.node_id("container", c.id)
        rows = [("status", c.status),
                ("writable layer", style.size(c.size) if c.size is not None else "removed")]
        g.node(nid, style.table(f"container {c.name or c.id[:12]}", rows, fill=style.MADE))
        if c.image_id in images:
            g.edge(images[c.image_id], nid, label="runs")
    return Diagram(g, data)


def shared_layers(engine, names: list[str] | None = None) -> Diagram:
    """Diagram (b) from the engine's state."""
    return draw(collect(engine, names))

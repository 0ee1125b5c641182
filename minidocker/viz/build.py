"""Diagram (e): a build, step by step — which steps the cache served, and why the others ran.

Drawn from the builder's record of the last build (``build/record.py``): one
node per step in Dockerfile order, grouped by stage; green is CACHED, orange
ran (with the cache's reason: "app.js changed", "parent step rebuilt" …), red
failed. The cascade the seed describes is visible as the first orange step
and the "parent step rebuilt" that follows it to the end of the stage.
"""

from __future__ import annotations

import re

from ..build import record as records
from ..build.record import BuildRecord
from . import style
from .diagram import Diagram

_FILL = {records.BASE: style.IMAGE, records.CACHED: style.REUSED, records.BUILT: style.MADE,
         records.FAILED: style.FAILED}
_COPY_FROM = re.compile(r"--from=(\S+)")


def collect(engine) -> BuildRecord:
    """The last build's record, from the state root."""
    return records.load(engine.store.root)


def draw(data: BuildRecord, timings: bool = False) -> Diagram:
    """``timings`` adds each step's duration (off by default: it changes on every build)."""
    g = style.new_graph("build", rankdir="TB")
    cached = sum(1 for s in data.steps if s.status == records.CACHED)
    ran = sum(1 for s in data.steps if s.status in (records.BUILT, records.FAILED))
    title = f"build of {data.dockerfile}: {cached} cached, {ran} run"
    if data.error:
        title += f" — failed: {style.clip(data.error, 80)}"
    g.attr(label=style.text(title), labelloc="t")
    by_stage: dict[str, list[records.StepRecord]] = {}
    for step in data.steps:
        by_stage.setdefault(step.stage, []).append(step)
    stages = {name: [_id(s) for s in steps] for name, steps in by_stage.items()}
    for name, steps in by_stage.items():
        with g.subgraph(name=f"cluster_{style.node_id('stage', name)}") as c:
            c.attr(label=style.text(f"stage {name}"), style="rounded", color="#999999")
            for step in steps:
                c.node(_id(step), _label(step, timings))
    for name, ids in stages.items():
        for a, b in zip(ids, ids[1:]):
            g.edge(a, b)
    # A stage built FROM an earlier one, or copying from it, depends on its last step.
    for step in data.steps:
        words = step.instruction.split()
        if step.status == records.BASE and len(words) > 1 and _stage(words[1], stages) \
                and _stage(words[1], stages) != step.stage:
            g.edge(stages[_stage(words[1], stages)][-1], _id(step), style="dashed", label="FROM")
        match = _COPY_FROM.search(step.instruction) if words and words[0] == "COPY" else None
        if match and _stage(match.group(1), stages):
            g.edge(stages[_stage(match.group(1), stages)][-1], _id(step), style="dashed",
                   label="COPY --from")
    if data.image_id and data.steps:
        rows = [("id", style.short(data.image_id))] + [("tag", t) for t in data.tags]
        g.node("image", style.table("image", rows, fill=style.IMAGE))
        g.edge(_id(data.steps[-1]), "image")
    return Diagram(g, data)


def _stage(ref: str, stages: dict[str, list[str]]) -> str | None:
    ref = ref.lower()
    return ref if ref in stages else None


def _id(step: records.StepRecord) -> str:
    return f"step_{step.number}"


def _label(step: records.StepRecord, timings: bool) -> str:
    rows: list = []
    if step.status == records.CACHED:
        rows.append(("cache", "CACHED"))
    elif step.status in (records.BUILT, records.FAILED):
        rows.append(("not cached", step.reason or "?"))
    if step.status == records.FAILED:
        rows.append(("error", style.clip(step.error, 60)))
    if step.status != records.BASE:
        rows.append(("layer", f"{style.short(step.layer['digest'])}, {style.size(step.layer['size'])}"
                     if step.layer else "none (metadata only)"))
    if timings and step.seconds is not None:
        rows.append(("time", f"{step.seconds:.2f}s"))
    title = f"#{step.number} {step.label} {style.clip(step.instruction, 60)}"
    return style.table(title, rows, fill=_FILL.get(step.status, "white"))


def build_steps(engine, timings: bool = False) -> Diagram:
    """Diagram (e) of the last build under the engine's state root."""
    return draw(collect(engine), timings)

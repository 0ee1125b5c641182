"""The record of the last build: each step, whether the cache served it, and why not.

The builder prints this as it goes, but printed lines are gone once the
terminal scrolls; the record keeps the same facts for ``minidocker viz
build`` and the notebooks. Only the last build is kept (one file,
``<state root>/last-build.json``, written atomically), also when the build
failed: the failed step is often the one worth drawing.

A step's ``status`` is ``base`` (a FROM), ``CACHED``, ``built`` or ``failed``;
``reason`` says why a step was not cached, in the builder's words.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import NotFound
from ..fileio import atomic_write

BASE, CACHED, BUILT, FAILED = "base", "CACHED", "built", "failed"
FILE_NAME = "last-build.json"


@dataclass
class StepRecord:
    number: int                 # the "#N" the builder printed
    stage: str                  # the stage's name, or its index
    label: str                  # "[app 3/7]"
    instruction: str            # as printed ("COPY app.js .")
    status: str
    reason: str = ""
    layer: dict | None = None   # {"digest", "size"} of the layer the step made or reused
    seconds: float | None = None
    error: str = ""


@dataclass
class BuildRecord:
    dockerfile: str
    steps: list[StepRecord] = field(default_factory=list)
    image_id: str = ""
    tags: list[str] = field(default_factory=list)
    error: str = ""

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> "BuildRecord":
        obj = dict(obj)
        obj["steps"] = [StepRecord(**s) for s in obj.get("steps", [])]
        return cls(**obj)


def save(root: Path, record: BuildRecord) -> None:
    path = Path(root) / FILE_NAME
    data = json.dumps(record.to_json(), indent=1).encode()
    try:
        if path.read_bytes() == data:
            return  # a rebuild that went the same way: no write, no fsync
    except OSError:
        pass
    atomic_write(path, data, 0o600)


def load(root: Path) -> BuildRecord:
    path = Path(root) / FILE_NAME
    try:
        return BuildRecord.from_json(json.loads(path.read_bytes()))
    except FileNotFoundError:
        raise NotFound("no build recorded yet: run `minidocker build` first") from None
    except (ValueError, TypeError, KeyError) as e:
        raise NotFound(f"the build record {path} is unreadable ({e}); build again") from None

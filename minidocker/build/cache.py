"""The build cache: which step, on which parent, with which inputs, gave which result.

A step's key is the sha256 of its parent's key, the normalised instruction,
the build-time variables it can see and, for COPY/ADD, the checksum of its
sources (content, mode, links; never mtime). Equal keys mean an equal
result, so the stored result (a layer and the image config after the step)
is reused. The first miss changes every later key, so everything after it
rebuilds — the cascade the seed describes.

Entries live in the store (``<root>/buildcache/<hex>.json``, written
atomically), so the cache outlives processes and tags; the layers they name
are kept by garbage collection until ``system prune`` clears the cache.
Each entry also keeps its inputs, so a miss can be explained by comparing
with the entry that has the same parent and instruction.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..fileio import atomic_write


def step_key(parent: str, instruction: str, variables: dict[str, str], sources: str = "") -> str:
    h = hashlib.sha256()
    h.update(parent.encode() + b"\n" + instruction.encode() + b"\n")
    for name in sorted(variables):
        h.update(f"{name}={variables[name]}\0".encode())
    h.update(sources.encode())
    return "sha256:" + h.hexdigest()


@dataclass
class Entry:
    key: str
    parent: str
    instruction: str
    variables: dict[str, str]
    files: dict[str, str]
    result: dict           # {"layer": descriptor json | None, "diff_id": str | None,
    #                         "config": image config dict, "history": history entry}
    created: str = ""

    def to_json(self) -> dict:
        return self.__dict__.copy()


class BuildCache:
    def __init__(self, root: Path):
        self.dir = root / "buildcache"
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.dir / (key.split(":", 1)[1] + ".json")

    def get(self, key: str) -> Entry | None:
        try:
            return Entry(**json.loads(self._path(key).read_bytes()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def put(self, entry: Entry) -> None:
        atomic_write(self._path(entry.key), json.dumps(entry.to_json(), sort_keys=True).encode(), 0o600)

    def entries(self) -> list[Entry]:
        out = []
        for p in sorted(self.dir.glob("*.json")):
            try:
                out.append(Entry(**json.loads(p.read_bytes())))
            except (ValueError, TypeError, FileNotFoundError):
                continue
        return out

    def layers(self) -> set[str]:
        """Digests of every layer blob a cache entry refers to (kept by GC)."""
        return {e.result["layer"]["digest"] for e in self.entries() if e.result.get("layer")}

    def clear(self) -> int:
        n = 0
        for p in self.dir.glob("*.json"):
            p.unlink()
            n += 1
        return n

    def why_missed(self, parent: str, parent_was_cached: bool, instruction: str,
                   variables: dict[str, str], files: dict[str, str]) -> str:
        """Why no entry matched, in words a learner can act on."""
        if not parent_was_cached:
            return "parent step rebuilt"
        same_parent = [e for e in self.entries() if e.parent == parent]
        same = [e for e in same_parent if e.instruction == instruction]
        if not same:
            return "instruction changed" if same_parent else "first build of this step"
        previous = max(same, key=lambda e: e.created)
        for name in sorted(set(variables) | set(previous.variables)):
            if variables.get(name) != previous.variables.get(name):
                return f"{name}={variables.get(name, '')} differs (was {previous.variables.get(name, '')!r})"
        changed = sorted(n for n in set(files) | set(previous.files)
                         if files.get(n) != previous.files.get(n))
        if changed:
            first = changed[0].rstrip("/")
            what = "added" if first + ("/" if changed[0].endswith("/") else "") not in previous.files \
                else "removed" if changed[0] not in files else "changed"
            more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
            return f"{first} {what}{more}"
        return "inputs changed"


def total_size(cache: BuildCache) -> int:
    return sum(os.path.getsize(p) for p in cache.dir.glob("*.json"))

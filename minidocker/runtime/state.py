"""Containers on disk: their configuration and state, written atomically.

Layout, per container, under ``<state root>/containers/<id>/``::

    config.json        the ContainerSpec and creation time (written once)
    state.json         Status, Pid, ExitCode, OOMKilled, StartedAt, FinishedAt, Error,
                       and the PID of the supervisor that owns the running container
    <id>-json.log      output, one JSON object per line like Docker's json-file driver
    hostname, hosts, resolv.conf   bind-mounted into the container's /etc
    rootfs/            the mount point of the container's filesystem (in its own namespace)

A state that says "running" is only believed while its supervisor lives;
``Record.observed_status`` reports "dead" otherwise, as Docker does for a
container whose shim disappeared.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Conflict, NotFound
from ..fileio import FileLock, atomic_write
from ..format import now
from ..kernel.base import Kernel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .spec import ContainerSpec

from .status import CREATED, DEAD, EXITED, RUNNING  # noqa: F401  (state's callers use them)


@dataclass
class State:
    Status: str = CREATED
    Pid: int = 0
    ExitCode: int = 0
    OOMKilled: bool = False
    StartedAt: str = "0001-01-01T00:00:00Z"
    FinishedAt: str = "0001-01-01T00:00:00Z"
    Error: str = ""
    SupervisorPid: int = 0
    # published ports while running: [host ip, host port, container port, protocol]
    Ports: list = field(default_factory=list)


@dataclass
class Record:
    dir: Path
    spec: ContainerSpec
    created: str
    state: State = field(default_factory=State)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def log_path(self) -> Path:
        return self.dir / f"{self.id}-json.log"

    @property
    def snapshot_key(self) -> str:
        return f"container-{self.id}"

    def save_state(self) -> None:
        atomic_write(self.dir / "state.json", json.dumps(dataclasses.asdict(self.state)).encode(), 0o600)

    def observed_status(self, kernel: Kernel) -> str:
        s = self.state
        if s.Status != RUNNING or (s.SupervisorPid and kernel.process_alive(s.SupervisorPid)):
            return s.Status
        # A supervisor records the exit, then ends: between our read of the state and this
        # look at its PID it may have done both. Only a state that still says "running"
        # now is a dead container's; a newer one replaces ours (its exit code with it).
        try:
            fresh = State(**json.loads((self.dir / "state.json").read_bytes()))
        except (FileNotFoundError, ValueError, TypeError):
            return DEAD
        if fresh == s:
            return DEAD
        self.state = fresh
        if fresh.Status == RUNNING and not (fresh.SupervisorPid and kernel.process_alive(fresh.SupervisorPid)):
            return DEAD
        return fresh.Status


def _spec_from_json(obj: dict) -> ContainerSpec:
    # spec (regexes, dataclasses) is loaded here, not at import: `ps` or a cached build
    # never reads a container's spec
    from .spec import BindMount, ContainerSpec, Resources
    obj = dict(obj)
    obj["resources"] = Resources(**obj["resources"])
    obj["binds"] = tuple(BindMount(**b) for b in obj["binds"])
    if obj.get("ports"):
        from .netspec import PortBinding
        obj["ports"] = tuple(PortBinding(**b) for b in obj["ports"])
    for key in ("argv", "env", "entrypoint", "cmd"):
        obj[key] = tuple(obj[key])
    return ContainerSpec(**obj)


class Containers:
    """The set of containers under one state root."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def create(self, spec: ContainerSpec, created: str, pick_name=None) -> Record:
        """Record a new container. Names are claimed under a lock, so two `run --name web`
        at once cannot both get it; without a name, ``pick_name(taken)`` chooses one there."""
        with FileLock(self.root / ".lock")():
            if not spec.name and pick_name is not None:
                spec = dataclasses.replace(spec, name=pick_name({r.spec.name for r in self.all()}))
            if spec.name and any(r.spec.name == spec.name for r in self.all()):
                raise Conflict(f'Conflict. The container name "/{spec.name}" is already in use; '
                               "remove that container or choose another name")
            d = self.root / spec.id
            d.mkdir(mode=0o700)
            record = Record(d, spec, created)
            atomic_write(d / "config.json", json.dumps(
                {"spec": dataclasses.asdict(spec), "created": created}).encode(), 0o600)
            record.save_state()
            return record

    def load(self, cid: str) -> Record:
        d = self.root / cid
        try:
            cfg = json.loads((d / "config.json").read_bytes())
            state = json.loads((d / "state.json").read_bytes())
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}") from None
        return Record(d, _spec_from_json(cfg["spec"]), cfg["created"], State(**state))

    def all(self) -> list[Record]:
        out = []
        for d in sorted(self.root.iterdir()):
            if (d / "state.json").exists():
                try:
                    out.append(self.load(d.name))
                except (NotFound, ValueError, KeyError, TypeError):
                    continue  # half-created or removed meanwhile
        return sorted(out, key=lambda r: r.created, reverse=True)

    def find(self, ref: str) -> Record:
        """By full ID, name, or unique ID prefix (Docker's order)."""
        records = self.all()
        for r in records:
            if r.id == ref or r.spec.name == ref.lstrip("/"):
                return r
        found = [r for r in records if ref and r.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Conflict(f"multiple containers match the ID prefix {ref!r}")
        raise NotFound(f"No such container: {ref}")

    def delete(self, record: Record) -> None:
        import shutil  # only removal needs it (and it imports bz2, lzma)
        shutil.rmtree(record.dir, ignore_errors=True)

"""Containers on disk: their configuration and state, written atomically.

Layout, per container, under ``<state root>/containers/<id>/``::

    config.json        the ContainerSpec and creation time (written once)
    state.json         Status, Pid, ExitCode, OOMKilled, StartedAt, FinishedAt, Error,
                       and the PID of the supervisor that owns the running container
    <id>-json.log      output, one JSON object per line like Docker's json-file driver
    hostname, hosts, resolv.conf   bind-mounted into the container's /etc
    rootfs/            the mount point of the container's filesystem (in its own namespace)

A removed container's directory is renamed to ``<state root>/containers/.trash-<id>-…``
at once, then emptied (``fileio.discard``; by a thread of the daemon when it removes).

config.json and state.json are written atomically but not fsynced: a container is
runtime state, as runc's (which fsyncs nothing), not a store's. A crash of the
machine can then lose a container made in the seconds before it (its leftovers
read as no container), and no container runs after one whatever its state says
(see ``Record.save_state``). Images, layers and the build cache stay durable.

Names live in ``<state root>/containers/.names/<name>``, a symlink to the ID.
A name is claimed by creating its link (``O_EXCL`` semantics), so finding a
container by name, or checking that a name is free, reads one link instead of
every container.

A state that says "running" is only believed while its supervisor lives;
``Record.observed_status`` reports "dead" otherwise, as Docker does for a
container whose shim disappeared.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Conflict, NotFound
from ..fileio import FileLock, atomic_write, discard
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
        # Atomic for every reader, but not fsynced (6 fsyncs less per container life, 1-4 ms
        # each on a busy disk): after a crash no container runs, whatever the file says, and
        # a "running" whose supervisor is gone already reads as dead. A state lost in the
        # crash reads as exited (``_load_state``).
        # vars, not dataclasses.asdict: the fields are plain JSON values, and asdict's deep
        # copy is most of the cost of a save in a freshly forked supervisor
        atomic_write(self.dir / "state.json", json.dumps(vars(self.state)).encode(), 0o600,
                     durable=False)

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


class RecordLost(NotFound):
    """A container's config.json that does not parse: the machine stopped right after
    the container was made (the record is not fsynced, see the module's docstring)."""


LOST = "its recorded state was lost (the machine stopped before it reached the disk)"


def _load_state(path: Path) -> State:
    """The state file, or what stands for it: none yet is a container being created; an
    unreadable one, the state of a container that crashed with the machine."""
    try:
        return State(**json.loads(path.read_bytes()))
    except FileNotFoundError:
        return State()
    except (ValueError, TypeError):
        return State(Status=EXITED, ExitCode=255, Error=LOST)


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
        self.names = root / ".names"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        # one object for every holder here: flock(2) locks belong to an open file, so a
        # second FileLock of the same path would wait for the first one forever
        self._lock = FileLock(root / ".lock")

    def create(self, spec: ContainerSpec, created: str, pick_name=None) -> Record:
        """Record a new container. Names are claimed under a lock, so two `run --name web`
        at once cannot both get it; without a name, ``pick_name(taken)`` chooses one there."""
        with self._lock():
            self._index_names()
            if not spec.name and pick_name is not None:
                spec = dataclasses.replace(spec, name=pick_name(set(os.listdir(self.names))))
            d = self.root / spec.id
            if spec.name:
                self._claim(spec.name, spec.id)
            try:
                d.mkdir(mode=0o700)
                record = Record(d, spec, created)
                atomic_write(d / "config.json", json.dumps(
                    {"spec": dataclasses.asdict(spec), "created": created}).encode(), 0o600,
                    durable=False)
                record.save_state()
            except BaseException:
                self.delete(Record(d, spec, created))
                raise
            return record

    def _claim(self, name: str, cid: str) -> None:
        link = self.names / name
        try:
            os.symlink(cid, link)
            return
        except FileExistsError:
            pass
        if (self.root / os.readlink(link) / "config.json").exists():
            raise Conflict(f'Conflict. The container name "/{name}" is already in use; '
                           "remove that container or choose another name")
        # a claim left by a create that died half-way (we hold the lock): take it over
        tmp = self.names / f".{name}.{cid[:12]}"
        os.symlink(cid, tmp)
        os.replace(tmp, link)

    def _index_names(self) -> None:
        """The names index, made from the containers themselves when it is missing (a
        state root from before it existed). Called under the lock."""
        if self.names.is_dir():
            return
        tmp = self.root / f".names-{os.getpid()}"
        tmp.mkdir(mode=0o700)
        for record in self.all():
            if record.spec.name:
                os.symlink(record.id, tmp / record.spec.name)
        os.rename(tmp, self.names)

    def load(self, cid: str) -> Record:
        d = self.root / cid
        if not cid or cid.startswith(".") or "/" in cid:
            raise NotFound(f"No such container: {cid}")
        try:
            cfg = json.loads((d / "config.json").read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"No such container: {cid}") from None
        except ValueError:   # empty or cut short: a crash right after its creation
            raise RecordLost(f"No such container: {cid} (its record was lost in a crash)") from None
        return Record(d, _spec_from_json(cfg["spec"]), cfg["created"], _load_state(d / "state.json"))

    def all(self) -> list[Record]:
        out = []
        for name in sorted(os.listdir(self.root)):
            if not name.startswith("."):
                try:
                    out.append(self.load(name))
                except (NotFound, ValueError, KeyError, TypeError):
                    continue  # half-created or removed meanwhile
        return sorted(out, key=lambda r: r.created, reverse=True)

    def find(self, ref: str) -> Record:
        """By full ID, name, or unique ID prefix (Docker's order)."""
        if not ref:
            raise NotFound("No such container: ")
        name = ref.lstrip("/")
        if "/" not in ref and len(ref) == 64:
            try:
                return self.load(ref)
            except NotFound:
                pass
        if name and "/" not in name and not name.startswith("."):
            try:
                return self.load(os.readlink(self.names / name))
            except RecordLost:
                raise
            except (FileNotFoundError, NotFound):
                pass
            if not self.names.is_dir():   # an old state root: no index yet
                for r in self.all():
                    if r.spec.name == name:
                        return r
        found = [d for d in os.listdir(self.root) if d.startswith(ref) and not d.startswith(".")
                 and (self.root / d / "config.json").exists()]
        if len(found) > 1:
            raise Conflict(f"multiple containers match the ID prefix {ref!r}")
        if found:
            return self.load(found[0])
        raise NotFound(f"No such container: {ref}")

    def delete(self, record: Record) -> None:
        if record.spec.name:
            link = self.names / record.spec.name
            with self._lock():
                try:
                    if os.readlink(link) == record.id:
                        os.unlink(link)
                except (FileNotFoundError, NotADirectoryError):
                    pass
        discard(record.dir)

"""Snapshots: the writable and read-only filesystem trees containers and layers live in.

The interface is containerd's: ``prepare(key, parent)`` makes an active
(writable) snapshot on top of a committed parent and returns the mounts that
show it; ``view`` does the same read-only; ``commit`` freezes an active
snapshot under a name so it can be a parent; ``remove`` deletes one with no
children. Every implementation must pass ``tests/test_snapshot_conformance.py``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from ..kernel.base import Mount

ACTIVE, VIEW, COMMITTED = "active", "view", "committed"


@dataclass(frozen=True)
class Info:
    key: str
    kind: str
    parent: str | None
    created: str
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Usage:
    size: int      # bytes of file content in the snapshot's own layer
    inodes: int


class Snapshotter(abc.ABC):
    @abc.abstractmethod
    def stat(self, key: str) -> Info: ...

    @abc.abstractmethod
    def walk(self) -> list[Info]: ...

    @abc.abstractmethod
    def prepare(self, key: str, parent: str | None = None,
                labels: dict[str, str] | None = None) -> list[Mount]: ...

    @abc.abstractmethod
    def view(self, key: str, parent: str | None = None,
             labels: dict[str, str] | None = None) -> list[Mount]: ...

    @abc.abstractmethod
    def mounts(self, key: str) -> list[Mount]: ...

    @abc.abstractmethod
    def commit(self, name: str, key: str, labels: dict[str, str] | None = None) -> None: ...

    @abc.abstractmethod
    def remove(self, key: str) -> None: ...

    @abc.abstractmethod
    def usage(self, key: str) -> Usage: ...

    @abc.abstractmethod
    def diff_dir(self, key: str) -> str:
        """The directory holding an active snapshot's own changes.

        Layers are applied straight into it, as Docker's overlay2 driver does,
        which needs no mount and so works without root.
        """

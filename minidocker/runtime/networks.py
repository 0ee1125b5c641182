"""Networks on disk: their configuration, which containers belong to each, and the
addresses handed out (the IPAM), under ``<state root>/networks/``.

One JSON file per network, ``<id>.json``::

    {"config": NetworkConfig, "members": {container id: name},
     "endpoints": {container id: Endpoint}}

``members`` is lasting (``run --network web``, ``network connect``);
``endpoints`` exist while a container runs, each with the address it holds.
Every change happens under one lock (``.lock``) and lands with an atomic
write, so concurrent starts never get the same address. An endpoint whose
owner (the container's supervisor) is gone is stale: it is dropped, and its
address freed, the next time anyone allocates or the daemon starts.

After an endpoint comes or goes, the ``hosts`` file of every container on that
network is rewritten in place (it is bind-mounted into the container, so the
inode must stay), which is how containers find each other by name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import json
import os
from pathlib import Path

from ..errors import Conflict, NotFound
from ..fileio import FileLock, atomic_write
from ..format import now
from . import netspec
from .netspec import Endpoint, NetworkConfig


def _builtin_id(name: str) -> str:
    return hashlib.sha256(f"minidocker network {name}".encode()).hexdigest()


class Networks:
    def __init__(self, root: Path, containers_root: Path, kernel):
        self.root, self.containers_root, self.kernel = root, containers_root, kernel

    # -- the records ----------------------------------------------------------------
    def _lock(self):
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return FileLock(self.root / ".lock")()

    def _read(self, nid: str) -> dict:
        try:
            doc = json.loads((self.root / f"{nid}.json").read_bytes())
        except FileNotFoundError:
            raise NotFound(f"network {nid} not found") from None
        doc["config"] = NetworkConfig(**doc["config"])
        return doc

    def _write(self, doc: dict) -> None:
        out = dict(doc, config=dataclasses.asdict(doc["config"]))
        atomic_write(self.root / f"{doc['config'].id}.json", json.dumps(out).encode(), 0o600)

    def _docs(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        docs = []
        for p in sorted(self.root.glob("*.json")):
            try:
                docs.append(self._read(p.stem))
            except (NotFound, ValueError, TypeError, KeyError):
                continue
        return docs

    def _ensure_default(self) -> None:
        """The default bridge network exists from first use, as docker0 does."""
        nid = _builtin_id(netspec.DEFAULT_NETWORK)
        if not (self.root / f"{nid}.json").exists():
            cfg = NetworkConfig(nid, netspec.DEFAULT_NETWORK, netspec.DEFAULT_SUBNET,
                                netspec.first_host(netspec.DEFAULT_SUBNET), netspec.DEFAULT_BRIDGE, now())
            self._write({"config": cfg, "members": {}, "endpoints": {}})

    def all(self) -> list[NetworkConfig]:
        """Every network, the built-in host and none included."""
        with self._lock():
            self._ensure_default()
            docs = self._docs()
        pseudo = [NetworkConfig(_builtin_id(n), n, "", "", "", "", driver=d)
                  for n, d in (("host", "host"), ("none", "null"))]
        return sorted([d["config"] for d in docs] + pseudo, key=lambda c: c.name)

    def find(self, ref: str) -> NetworkConfig:
        """By name, full ID or unique ID prefix."""
        nets = self.all()
        for n in nets:
            if ref in (n.name, n.id):
                return n
        found = [n for n in nets if ref and n.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise Conflict(f"multiple networks match the ID prefix {ref!r}")
        raise NotFound(f"network {ref} not found")

    # -- create / remove ------------------------------------------------------------
    def create(self, name: str, subnet: str | None = None, gateway: str | None = None,
               internal: bool = False, labels: dict | None = None,
               host_routes: list[str] = ()) -> NetworkConfig:
        netspec.check_network_name(name)
        with self._lock():
            self._ensure_default()
            docs = self._docs()
            if name in netspec.BUILTIN or any(d["config"].name == name for d in docs):
                raise Conflict(f"network with name {name} already exists")
            taken = [d["config"].subnet for d in docs]
            if subnet:
                net = netspec.parse_subnet(subnet)
                for d in docs:
                    if net.overlaps(ipaddress.ip_network(d["config"].subnet)):
                        raise Conflict(f"invalid pool request: Pool overlaps with other one on this "
                                       f"address space ({d['config'].subnet}, network {d['config'].name})")
                subnet = str(net)
            else:
                subnet = netspec.next_free_subnet(taken, host_routes)
            if gateway:
                try:
                    gw = ipaddress.ip_address(gateway)
                except ValueError:
                    raise netspec.InvalidSpec(f"invalid gateway {gateway!r}") from None
                if gw not in ipaddress.ip_network(subnet) or gw in (ipaddress.ip_network(subnet).network_address,
                                                                    ipaddress.ip_network(subnet).broadcast_address):
                    raise netspec.InvalidSpec(f"gateway {gateway} is not a host address of subnet {subnet}")
            nid = os.urandom(32).hex()
            cfg = NetworkConfig(nid, name, subnet, gateway or netspec.first_host(subnet),
                                netspec.bridge_name(nid), now(), internal=internal, labels=dict(labels or {}))
            self._write({"config": cfg, "members": {}, "endpoints": {}})
            return cfg

    def remove(self, ref: str, container_running) -> NetworkConfig:
        """Forget a network no running container uses; its stopped members leave it."""
        net = self.find(ref)
        if net.name in netspec.BUILTIN:
            raise Conflict(f"{net.name} is a pre-defined network and cannot be removed")
        with self._lock():
            doc = self._read(net.id)
            self._drop_stale(doc)
            busy = [name for cid, name in doc["members"].items() if container_running(cid)]
            if busy or doc["endpoints"]:
                who = ", ".join(sorted(busy)) or ", ".join(e["name"] for e in doc["endpoints"].values())
                raise Conflict(f"error while removing network: network {net.name} id {net.id[:12]} "
                               f"has active endpoints ({who})")
            (self.root / f"{net.id}.json").unlink()
        return net

    # -- membership -----------------------------------------------------------------
    def join(self, ref: str, container: str, name: str) -> NetworkConfig:
        net = self.find(ref)
        if net.driver != "bridge":
            return net
        with self._lock():
            doc = self._read(net.id)
            doc["members"][container] = name
            self._write(doc)
        return net

    def leave(self, ref: str, container: str) -> None:
        net = self.find(ref)
        if net.driver != "bridge":
            return
        with self._lock():
            doc = self._read(net.id)
            if container not in doc["members"]:
                raise NotFound(f"container {container[:12]} is not connected to network {net.name}")
            del doc["members"][container]
            self._write(doc)

    def memberships(self, container: str) -> list[NetworkConfig]:
        """The networks a container belongs to, in the order it joined them… by name."""
        with self._lock():
            return [d["config"] for d in self._docs() if container in d["members"]]

    def forget(self, container: str) -> None:
        """A removed container leaves every network."""
        with self._lock():
            for doc in self._docs():
                if container in doc["members"] or container in doc["endpoints"]:
                    doc["members"].pop(container, None)
                    doc["endpoints"].pop(container, None)
                    self._write(doc)

    # -- endpoints (the IPAM) -------------------------------------------------------
    def _drop_stale(self, doc: dict) -> bool:
        stale = [cid for cid, e in doc["endpoints"].items() if not self.kernel.process_alive(e["owner"])]
        for cid in stale:
            del doc["endpoints"][cid]
        return bool(stale)

    def attach(self, net: NetworkConfig, container: str, name: str, ifname: str,
               owner: int) -> Endpoint:
        """Give a starting container an address on ``net`` (the lowest free one)."""
        with self._lock():
            doc = self._read(net.id)
            self._drop_stale(doc)
            if container in doc["endpoints"]:
                raise Conflict(f"container {name} is already attached to network {net.name}")
            in_use = {e["ip"] for e in doc["endpoints"].values()}
            ip = netspec.allocate(net.subnet, net.gateway, in_use)
            ep = Endpoint(container, name, ip, ifname, netspec.veth_name(container, net.id), owner)
            doc["endpoints"][container] = dataclasses.asdict(ep)
            self._write(doc)
            self._rewrite_hosts(doc)
            return ep

    def detach(self, net: NetworkConfig, container: str) -> None:
        with self._lock():
            try:
                doc = self._read(net.id)
            except NotFound:
                return
            if doc["endpoints"].pop(container, None) is not None:
                self._write(doc)
                self._rewrite_hosts(doc)

    def endpoints(self, container: str) -> list[tuple[NetworkConfig, Endpoint]]:
        """A container's live endpoints, by network."""
        out = []
        for doc in self._docs():
            e = doc["endpoints"].get(container)
            if e is not None and self.kernel.process_alive(e["owner"]):
                out.append((doc["config"], Endpoint(**e)))
        return out

    def network_endpoints(self, net: NetworkConfig) -> list[Endpoint]:
        try:
            doc = self._read(net.id)
        except NotFound:
            return []
        return [Endpoint(**e) for e in doc["endpoints"].values() if self.kernel.process_alive(e["owner"])]

    def members(self, net: NetworkConfig) -> dict[str, str]:
        try:
            return dict(self._read(net.id)["members"])
        except NotFound:
            return {}

    def reconcile(self) -> list[str]:
        """Drop endpoints whose supervisor is gone (the daemon does this at start)."""
        dropped = []
        with self._lock():
            for doc in self._docs():
                before = set(doc["endpoints"])
                if self._drop_stale(doc):
                    dropped += sorted(before - set(doc["endpoints"]))
                    self._write(doc)
                    self._rewrite_hosts(doc)
        return dropped

    # -- name resolution ------------------------------------------------------------
    def hosts_text(self, container: str, hostname: str) -> str:
        """The ``/etc/hosts`` a container should see now (call under the lock)."""
        own, peers = [], []
        for doc in self._docs():
            mine = doc["endpoints"].get(container)
            if mine is None:
                continue
            own.append(mine["ip"])
            if doc["config"].names_resolve:
                # itself too: a container resolves its own name, as with Docker's DNS
                peers += [(e["name"], e["ip"]) for e in doc["endpoints"].values()]
        return netspec.hosts_file(hostname, own, sorted(set(peers)))

    def _rewrite_hosts(self, doc: dict) -> None:
        for cid in doc["endpoints"]:
            path = self.containers_root / cid / "hosts"
            hostname = _hostname_of(self.containers_root / cid)
            if hostname is None or not path.exists():
                continue
            # in place: the file is bind-mounted, a rename would leave the container the old one
            with open(path, "r+") as f:
                f.write(self.hosts_text(cid, hostname))
                f.truncate()


def _hostname_of(container_dir: Path) -> str | None:
    try:
        return (container_dir / "hostname").read_text().strip()
    except OSError:
        return None

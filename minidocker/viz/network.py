"""Diagram (f): a network topology — bridge, veth pairs, network namespaces, published ports.

``Topology.from_engine`` reads it from an engine's state (its networks, the
live endpoints of running containers, their published ports, the host's
uplink); ``Topology.from_dict`` takes the same as plain data, so a teacher
can sketch a network that does not exist, e.g. Docker's default one::

    {"bridges": [{"name": "md0", "address": "172.18.0.1/16"}],
     "namespaces": [{"name": "web"}],
     "veths": [{"host_end": "veth1a2b", "container_end": "eth0", "bridge": "md0",
                "namespace": "web", "address": "172.18.0.2/16"}],
     "ports": [{"host_port": 8080, "namespace": "web", "container_port": 80}],
     "uplink": "eth0", "nat": true}
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields

from ..errors import MinidockerError
from . import style
from .diagram import Diagram


@dataclass(frozen=True)
class Bridge:
    name: str
    address: str = ""            # the gateway, e.g. 172.18.0.1/16
    network: str = ""            # the network it carries, when it has a name of its own


@dataclass(frozen=True)
class NetNamespace:
    name: str                    # the container (or a label for the namespace)
    interfaces: tuple[str, ...] = ("lo",)   # besides its veth end


@dataclass(frozen=True)
class VethPair:
    host_end: str
    container_end: str
    bridge: str
    namespace: str
    address: str = ""            # of the container end


@dataclass(frozen=True)
class PortMapping:
    host_port: int
    namespace: str
    container_port: int
    protocol: str = "tcp"
    host_ip: str = "0.0.0.0"


@dataclass(frozen=True)
class Topology:
    bridges: tuple[Bridge, ...] = ()
    namespaces: tuple[NetNamespace, ...] = ()
    veths: tuple[VethPair, ...] = ()
    ports: tuple[PortMapping, ...] = ()
    uplink: str = ""             # the host's way out, e.g. eth0
    nat: bool = False            # masquerade traffic from the bridge through the uplink

    def __post_init__(self):
        bridges = {b.name for b in self.bridges}
        spaces = {n.name for n in self.namespaces}
        for v in self.veths:
            if v.bridge not in bridges:
                raise MinidockerError(f"veth {v.host_end}: no bridge named {v.bridge!r}")
            if v.namespace not in spaces:
                raise MinidockerError(f"veth {v.host_end}: no namespace named {v.namespace!r}")
        for p in self.ports:
            if p.namespace not in spaces:
                raise MinidockerError(f"port {p.host_port}: no namespace named {p.namespace!r}")

    @classmethod
    def from_engine(cls, engine) -> "Topology":
        """What an engine's networks look like now: every bridge network, each running
        container's namespace with its veth ends and addresses, its published ports."""
        from ..runtime.status import RUNNING
        bridges, spaces, veths, ports = [], [], [], []
        nat = False
        for net in engine.networks.all():
            if net.driver != "bridge":
                continue
            bridges.append(Bridge(net.bridge, f"{net.gateway}/{net.prefixlen}", net.name))
            nat = nat or not net.internal
        by_bridge = {b.network: b.name for b in bridges}
        for record in engine.containers.all():
            if record.observed_status(engine.kernel) != RUNNING or record.spec.network == "host":
                continue
            name = record.spec.name
            spaces.append(NetNamespace(name))
            for net, ep in engine.networks.endpoints(record.id):
                veths.append(VethPair(ep.veth, ep.ifname, by_bridge[net.name], name, f"{ep.ip}/{net.prefixlen}"))
            ports += [PortMapping(hp, name, cp, proto, ip) for ip, hp, cp, proto in record.state.Ports]
        uplink = ""
        try:
            uplink = next((r.dev for r in engine.kernel.routes() if r.dst == "default"), "")
        except OSError:
            pass  # a kernel without a network model: no uplink to show
        return cls(tuple(bridges), tuple(spaces), tuple(veths), tuple(ports), uplink, nat and bool(uplink))

    @classmethod
    def from_dict(cls, obj: dict) -> "Topology":
        """The same description as plain data (e.g. parsed JSON), checked."""
        if not isinstance(obj, dict):
            raise MinidockerError("a network description is a JSON object")
        parts = {"bridges": Bridge, "namespaces": NetNamespace, "veths": VethPair, "ports": PortMapping}
        unknown = set(obj) - set(parts) - {"uplink", "nat"}
        if unknown:
            raise MinidockerError(f"unknown key in the network description: {sorted(unknown)[0]!r}")
        values = {}
        for key, kind in parts.items():
            items = obj.get(key, [])
            if not isinstance(items, list):
                raise MinidockerError(f"{key} must be a list")
            values[key] = tuple(_make(kind, item, key) for item in items)
        return cls(**values, uplink=str(obj.get("uplink", "")), nat=bool(obj.get("nat", False)))


def _make(kind, item, where: str):
    names = {f.name for f in fields(kind)}
    if not isinstance(item, dict):
        raise MinidockerError(f"{where}: each entry is an object")
    if set(item) - names:
        raise MinidockerError(f"{where}: unknown field {sorted(set(item) - names)[0]!r}")
    try:
        if "interfaces" in item:
            item = dict(item, interfaces=tuple(item["interfaces"]))
        return kind(**item)
    except TypeError:
        required = [f.name for f in fields(kind) if f.default is MISSING and f.default_factory is MISSING]
        raise MinidockerError(f"{where}: an entry misses a field (needs {', '.join(required)})") from None


def draw(data: Topology) -> Diagram:
    g = style.new_graph("network", rankdir="LR")
    g.attr(label="network: bridge, veth pairs, namespaces, published ports", labelloc="t")
    with g.subgraph(name="cluster_host") as host:
        host.attr(label="host network namespace", style="rounded", color="#999999", bgcolor=style.HOST)
        if data.uplink:
            host.node("uplink", style.table(data.uplink, ["the host's way out"], fill="white"))
        for b in data.bridges:
            rows = ([("network", b.network)] if b.network and b.network != b.name else []) + \
                ([("address", b.address)] if b.address else [])
            host.node(style.node_id("br", b.name), style.table(f"bridge {b.name}", rows, fill=style.IMAGE))
            if data.uplink:
                host.edge(style.node_id("br", b.name), "uplink",
                          label="NAT (masquerade)" if data.nat else "routed", dir="both")
        for v in data.veths:
            host.node(style.node_id("vh", v.host_end), style.table(v.host_end, ["veth (host end)"]))
            host.edge(style.node_id("br", v.bridge), style.node_id("vh", v.host_end),
                      arrowhead="none", label="port of the bridge")
        for p in data.ports:
            host.node(_port_id(p), style.table(f"{p.host_ip}:{p.host_port}/{p.protocol}",
                                               ["published port"], fill=style.REUSED))
    for n in data.namespaces:
        with g.subgraph(name=f"cluster_{style.node_id('ns', n.name)}") as c:
            c.attr(label=style.text(f"network namespace of {n.name}"), style="rounded", color="#c07a30",
                   bgcolor=style.CONTAINER)
            for name in n.interfaces:
                c.node(style.node_id("if", f"{n.name}/{name}"), style.table(name, [], fill="white"))
            for v in data.veths:
                if v.namespace == n.name:
                    rows = ["veth (container end)"] + ([("address", v.address)] if v.address else [])
                    c.node(_end_id(v), style.table(v.container_end, rows, fill=style.MADE))
    for v in data.veths:
        g.edge(style.node_id("vh", v.host_end), _end_id(v), label="veth pair", style="bold",
               arrowhead="none")
    for p in data.ports:
        target = next((v for v in data.veths if v.namespace == p.namespace), None)
        to = _end_id(target) if target else style.node_id("if", f"{p.namespace}/lo")
        where = (target.address.split("/")[0] if target and target.address else p.namespace)
        g.edge(_port_id(p), to, label=style.text(f"forwarded → {where}:{p.container_port}"), style="dashed")
    return Diagram(g, data)


def _end_id(v: VethPair) -> str:
    return style.node_id("vc", f"{v.namespace}/{v.container_end}")


def _port_id(p: PortMapping) -> str:
    return style.node_id("port", f"{p.host_ip}:{p.host_port}/{p.protocol}")


def network_topology(topology) -> Diagram:
    """Diagram (f) from a topology description, or from an engine's state."""
    if isinstance(topology, dict):
        topology = Topology.from_dict(topology)
    elif not isinstance(topology, Topology):
        topology = Topology.from_engine(topology)
    return draw(topology)

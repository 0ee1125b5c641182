"""Networks as pure data: a network's configuration, a container's endpoint on it,
published ports, the firewall rules a bridge network needs, and the parsing of
``--network``, ``-p`` and ``--subnet``.

Nothing here touches the host; ``runtime.networks`` keeps these on disk and
``runtime.netsetup`` asks the kernel to make them real.

Address plan (chosen so as not to clash with Docker's 172.17.0.0/16 and
172.18–31.x, 192.168.x pools, nor Podman's 10.88.0.0/16 and 10.89+ pools):
the default ``bridge`` network is 10.66.0.0/16 on the interface ``minidocker0``;
user networks get /24s from 10.67.0.0/16 unless ``--subnet`` says otherwise.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from .spec import InvalidSpec

DEFAULT_NETWORK = "bridge"
DEFAULT_BRIDGE = "minidocker0"
DEFAULT_SUBNET = "10.66.0.0/16"
USER_POOL = "10.67.0.0/16"
USER_PREFIX = 24
MTU = 1500
# The three networks every engine has, as in Docker: they cannot be removed.
BUILTIN = ("bridge", "host", "none")

ISOLATION_1 = "MINIDOCKER-ISOLATION-1"
ISOLATION_2 = "MINIDOCKER-ISOLATION-2"


@dataclass(frozen=True)
class NetworkConfig:
    id: str
    name: str
    subnet: str                        # CIDR, e.g. 10.67.0.0/24
    gateway: str                       # the bridge's own address
    bridge: str                        # the interface name
    created: str
    driver: str = "bridge"
    internal: bool = False             # no outbound NAT
    labels: dict = field(default_factory=dict)

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def names_resolve(self) -> bool:
        """Containers find each other by name on user networks, not on the default
        bridge (Docker's rule: the default bridge needs the legacy --link for that)."""
        return self.name != DEFAULT_NETWORK


@dataclass(frozen=True)
class Endpoint:
    """A running container's place on a network."""

    container: str                     # container ID
    name: str                          # container name (resolvable on user networks)
    ip: str
    ifname: str                        # eth0, eth1… inside the container
    veth: str                          # the host end of its veth pair
    owner: int                         # PID of the process that holds it (the supervisor)


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    proto: str = "tcp"
    host_ip: str = "0.0.0.0"
    host_port: int = 0                 # 0: any free port, chosen at start

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"

    def __str__(self) -> str:
        return f"{self.host_ip}:{self.host_port}->{self.key}"


_PUBLISH = re.compile(r"^(?:(?:(?P<ip>[0-9.]+|\[[0-9a-fA-F:]+\]):)?(?P<host>\d*):)?"
                      r"(?P<ctr>\d+)(?:/(?P<proto>\w+))?$")


def _port(text: str, what: str, spec: str) -> int:
    value = int(text)
    if not 0 < value < 65536 and not (what == "host" and value == 0):  # host port 0: any free one
        raise InvalidSpec(f"invalid {what} port {text} in {spec!r}: must be 1-65535")
    return value


def parse_publish(text: str) -> PortBinding:
    """``-p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]`` as Docker reads it."""
    m = _PUBLISH.match(text.strip())
    if not m:
        raise InvalidSpec(f"invalid publish specification {text!r}: want [IP:][HOSTPORT:]CONTAINERPORT[/tcp|udp]")
    proto = (m["proto"] or "tcp").lower()
    if proto not in ("tcp", "udp"):
        raise InvalidSpec(f"invalid protocol {m['proto']!r} in {text!r}: want tcp or udp")
    host_ip = m["ip"] or "0.0.0.0"
    try:
        if ipaddress.ip_address(host_ip.strip("[]")).version != 4:
            raise InvalidSpec(f"invalid host address in {text!r}: only IPv4 is supported")
    except ValueError:
        raise InvalidSpec(f"invalid host address {host_ip!r} in {text!r}") from None
    return PortBinding(_port(m["ctr"], "container", text), proto, host_ip,
                       _port(m["host"], "host", text) if m["host"] else 0)


def parse_exposed(text: str) -> tuple[int, str]:
    """An image's ExposedPorts key (``80/tcp``) or ``--expose 80``: (port, proto)."""
    port, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    if not port.isdigit() or proto not in ("tcp", "udp"):
        raise InvalidSpec(f"invalid exposed port {text!r}: want PORT[/tcp|udp]")
    return _port(port, "exposed", text), proto


def publish_all(exposed: list[str], explicit: tuple[PortBinding, ...]) -> tuple[PortBinding, ...]:
    """``-P``: every exposed port not published explicitly, to a free host port."""
    taken = {b.key for b in explicit}
    extra = []
    for item in exposed:
        port, proto = parse_exposed(item)
        if f"{port}/{proto}" not in taken:
            extra.append(PortBinding(port, proto))
            taken.add(f"{port}/{proto}")
    return explicit + tuple(extra)


_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def check_network_name(name: str) -> str:
    if not _NAME.match(name) or len(name) > 64:
        raise InvalidSpec(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        raise InvalidSpec(f"invalid subnet {text!r}: {e}") from None
    if net.version != 4:
        raise InvalidSpec(f"invalid subnet {text!r}: only IPv4 is supported")
    if net.prefixlen > 30:
        raise InvalidSpec(f"invalid subnet {text!r}: too small for a gateway and a container (at most /30)")
    return net


def bridge_name(network_id: str) -> str:
    """A user network's bridge: ``md-`` and 12 hex digits (Linux allows 15 characters)."""
    return f"md-{network_id[:12]}"


def veth_name(container_id: str, network_id: str) -> str:
    """The host end of a container's veth on a network: unique per (container, network)."""
    import hashlib
    return "veth" + hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()[:11]


def first_host(subnet: str) -> str:
    return str(next(ipaddress.ip_network(subnet).hosts()))


def next_free_subnet(taken: list[str], avoid: list[str] = ()) -> str:
    """The first /24 of the user pool that overlaps no existing network nor host route."""
    used = [ipaddress.ip_network(s) for s in list(taken) + list(avoid)]
    for candidate in ipaddress.ip_network(USER_POOL).subnets(new_prefix=USER_PREFIX):
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise InvalidSpec(f"no free subnet left in minidocker's pool {USER_POOL}; remove unused networks "
                      "(minidocker network prune) or give --subnet")


def allocate(subnet: str, gateway: str, in_use: set[str]) -> str:
    """The lowest free host address of ``subnet`` (never the gateway or one in use)."""
    for host in ipaddress.ip_network(subnet).hosts():
        address = str(host)
        if address != gateway and address not in in_use:
            return address
    raise InvalidSpec(f"no free address left in {subnet}")


def firewall_rules(net: NetworkConfig):
    """The packet-filter rules a bridge network needs, in the order they are added.

    As Docker's bridge driver: traffic that enters one minidocker bridge and leaves
    by another is dropped (two chains, so each network adds its own rules only);
    forwarding to and from the bridge is accepted even where the host's FORWARD
    policy is DROP; and containers' traffic to the outside is masqueraded behind
    the host's address — unless the network is internal, whose traffic may not
    leave it at all.
    """
    from ..kernel.base import FirewallRule as R
    b = net.bridge
    rules = [R("filter", "FORWARD", ("-j", ISOLATION_1)),
             R("filter", ISOLATION_1, ("-i", b, "!", "-o", b, "-j", ISOLATION_2)),
             R("filter", ISOLATION_2, ("-o", b, "-j", "DROP")),
             R("filter", "FORWARD", ("-i", b, "-j", "ACCEPT")),
             R("filter", "FORWARD", ("-o", b, "-j", "ACCEPT"))]
    if net.internal:
        # nothing leaves an internal network nor enters it from outside, in either direction
        rules[1:1] = [R("filter", ISOLATION_1, ("-i", b, "!", "-o", b, "-j", "DROP")),
                      R("filter", ISOLATION_1, ("-o", b, "!", "-i", b, "-j", "DROP"))]
    else:
        rules.append(R("nat", "POSTROUTING", ("-s", net.subnet, "!", "-o", b, "-j", "MASQUERADE")))
    return rules


def hosts_file(hostname: str, own: list[str], peers: list[tuple[str, str]]) -> str:
    """``/etc/hosts`` of a container: loopback, its own addresses, then its peers
    on user networks (name → address), so ``ping db`` works there."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{ip}\t{hostname}" for ip in own] or [f"127.0.1.1\t{hostname}"]
    lines += [f"{ip}\t{name}" for name, ip in peers]
    return "\n".join(lines) + "\n"

"""Network namespaces of the simulator: interfaces, addresses, routes, bridges and veth
pairs, and the way an IPv4 packet travels between namespaces.

Imitates Linux's network stack as rtnetlink reports it (``ip link``, ``ip addr``,
``ip route``) and as the IPv4 path treats a packet (``ip_route_output`` at the
sender; ``ip_rcv`` → ``ip_route_input`` → local delivery or ``ip_forward`` with the
netfilter FORWARD and POSTROUTING hooks → neighbour lookup on the way out),
reduced to what a container runtime shows. The errors are the ones rtnetlink
gives, in the words ``kernel/netlink.py`` uses for the real kernel.

Interfaces
  * A namespace starts with ``lo`` only, down and without an address. The first
    time ``lo`` comes up the kernel gives it 127.0.0.1/8 (``inetdev_event`` on
    NETDEV_UP of a loopback), and the whole of 127/8 is then local.
  * Indexes are counted per namespace, ``lo`` being 1; a veth end made directly
    in another namespace takes that namespace's next index.
  * Kinds: ``loopback``, ``bridge``, ``veth`` (a pair; each end knows its peer,
    possibly in another namespace), ``dummy`` (takes and drops everything) and
    ``device`` (the simulated machine's uplink, below). Names are at most 15
    characters (ERANGE), unique per namespace (EEXIST).
  * MAC addresses: Linux draws veth and bridge addresses at random (locally
    administered, unicast); here they come from a generator seeded per kernel,
    so a lesson shows the same addresses every time.
  * ``up`` is IFF_UP; the carrier (IFF_LOWER_UP) of a veth end needs both ends
    up. A bridge port (``master``) hands what it receives to its bridge. A bridge
    whose MTU nobody set takes the smallest of its ports' (1500 without ports), as
    ``br_mtu_auto_adjust`` keeps it whenever a port comes, goes or changes its MTU.
  * Deleting either end of a veth pair deletes both. When a namespace goes (its
    last process exited), its veth ends are unregistered and their peers with
    them, as ``default_device_exit_batch`` does; a bridge in it goes too.

Routes (the main table)
  * An address on an up link adds a connected route for its prefix (``proto
    kernel scope link src ADDR``, ``fib_add_ifaddr``), at once if the link is up,
    else when it comes up. A link going down takes every route through it away;
    only the connected ones come back when it is up again (``fib_disable_ip``).
  * ``route_add`` wants its gateway on a connected route (or local), else
    ENETUNREACH; the same destination twice is EEXIST.
  * Lookup is by longest prefix; addresses on up links (and 127/8 when ``lo``
    is up) are local, as the local table has them.

Forwarding (``Network.reach``)
  From a namespace to an IPv4 address: local delivery, else the route's device
  and next hop; across a veth to its peer; a bridge forwards among its up ports
  and up to itself (one L2 segment); the next hop must own the address (ARP is
  answered for any local address: arp_ignore=0). A namespace that receives a
  packet for someone else forwards it only when its ``net.ipv4.ip_forward`` is 1
  (else ICMP host unreachable) and its FORWARD chain accepts (``netfilter.py``);
  each forwarding hop takes one from the TTL. The reply must find its way back
  the same way, through the same rules. A new namespace copies ``ip_forward``
  from the host's namespace (Linux's default ``net.core.devconf_inherit_init_net
  = 0`` copies init_net's values). Failures come back as a reason and the errno
  a socket would see: ENETUNREACH (no route), EHOSTUNREACH (nobody answers for
  the next hop, forwarding off, no carrier), ETIMEDOUT (a rule dropped it: TCP
  would retry for minutes; the simulator says so at once).

The simulated machine (the host's namespace)
  ``lo`` up, and an uplink ``eth0`` of kind ``device`` with QEMU's user-network
  plan (``UPLINK``: 10.0.2.15/24, default route via 10.0.2.2), so ``--network
  host`` and ``ip route`` have something to show. Nothing lies beyond it: the
  gateway never answers, so the outside world is unreachable ("no route to
  host"), and so is DNS.

Not modelled: IPv6 (``ip addr`` shows the link-local address a link gets, nothing
routes it), ARP and neighbour tables, bridge netfilter, policy routing and other
tables, conntrack (replies go through the FORWARD chain like any packet; the
rules minidocker writes accept them either way).
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import itertools
import os
import threading
from dataclasses import dataclass, field

from ..base import Link, Route
from ..netlink import NetworkError
from .netfilter import Netfilter
from .sockets import Conn, Listener, Ports, socket_pair

KINDS = ("bridge", "veth", "dummy")
IFNAMSIZ = 16
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
DEFAULT = ipaddress.ip_network("0.0.0.0/0")
TTL = 64
UPLINK = {"name": "eth0", "mac": "52:54:00:12:34:56", "address": "10.0.2.15/24", "gateway": "10.0.2.2"}
CAP_NET_ADMIN = 12
SYSCTLS = ("/proc/sys/net/ipv4/ip_forward",)   # the network sysctls the model keeps per namespace


def _error(code: int, what: str) -> NetworkError:
    return NetworkError(code, f"{what}: {os.strerror(code)}")


def _no_device(name: str) -> NetworkError:
    return NetworkError(errno.ENODEV, f"no network interface {name}")


class Iface:
    """One network interface (a ``struct net_device``) in one namespace."""

    def __init__(self, stack: "NetStack", name: str, kind: str, index: int, mac: str, mtu: int):
        self.stack, self.name, self.kind, self.index, self.mac, self.mtu = stack, name, kind, index, mac, mtu
        self.up = False
        self.mtu_by_user = False      # a bridge's MTU set with `ip link set … mtu`
        self.master: Iface | None = None
        self.peer: Iface | None = None
        self.addrs: list[ipaddress.IPv4Interface] = []

    @property
    def carrier(self) -> bool:
        if not self.up:
            return False
        if self.kind == "veth":
            return self.peer is not None and self.peer.up
        return True

    @property
    def ports(self) -> list["Iface"]:
        return [i for i in self.stack.ifaces.values() if i.master is self]

    def link(self) -> Link:
        return Link(self.name, self.kind, self.up, self.mtu, self.mac,
                    self.master.name if self.master else "", tuple(str(a) for a in self.addrs))

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"


@dataclass
class RouteEntry:
    """One route of the main table."""

    dst: ipaddress.IPv4Network
    dev: Iface
    gateway: ipaddress.IPv4Address | None = None
    src: ipaddress.IPv4Address | None = None      # connected routes: the address that made them

    @property
    def connected(self) -> bool:
        return self.gateway is None

    def route(self) -> Route:
        return Route("default" if self.dst == DEFAULT else str(self.dst), self.dev.name,
                     str(self.gateway) if self.gateway else "")

    def sort_key(self) -> tuple[int, int]:
        return int(self.dst.network_address), -self.dst.prefixlen   # the FIB's dump order


@dataclass
class Delivery:
    """Where a packet got to: the namespace that took it, or why it did not get there."""

    stack: "NetStack | None"
    src: ipaddress.IPv4Address | None = None      # the source address it was sent with
    ttl: int = TTL                                # what was left of its TTL on arrival
    errno: int = 0
    reason: str = ""
    at_origin: bool = False                       # failed before leaving (sendto fails)
    steps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.stack is not None


class NetStack:
    """One network namespace's stack: its interfaces, routes, packet filter, sysctls
    and bound ports. Every change happens under its ``Network``'s lock."""

    def __init__(self, net: "Network", label: str, ip_forward: int = 0):
        self.net, self.label = net, label
        self.ifaces: dict[str, Iface] = {}
        self.routes: list[RouteEntry] = []
        self.ip_forward = ip_forward
        self.filter = Netfilter()
        self.ports = Ports()
        self._index = itertools.count(1)
        self._new("lo", "loopback", 65536, mac="00:00:00:00:00:00")

    def __repr__(self) -> str:
        return f"<netns {self.label}>"

    # -- interfaces ----------------------------------------------------------------------
    def _new(self, name: str, kind: str, mtu: int, mac: str | None = None) -> Iface:
        iface = Iface(self, name, kind, next(self._index), mac or self.net.new_mac(), mtu)
        self.ifaces[name] = iface
        return iface

    def get(self, name: str) -> Iface:
        iface = self.ifaces.get(name)
        if iface is None:
            raise _no_device(name)
        return iface

    def add_link(self, name: str, kind: str, *, peer: str | None = None,
                 peer_stack: "NetStack | None" = None, mtu: int | None = None) -> Iface:
        """``ip link add NAME type KIND [peer name PEER netns …]``."""
        if kind not in KINDS:
            raise NetworkError(errno.EINVAL, f"unsupported interface kind {kind!r}")
        mtu = _check_mtu(mtu or 1500, f"create {kind} {name}")
        with self.net.lock:
            far = peer_stack or self
            peer = peer or f"{name}p"
            for stack, n in ((self, name),) + (((far, peer),) if kind == "veth" else ()):
                _check_name(n, f"create {kind} {name}")
                if n in stack.ifaces or (kind == "veth" and stack is far and name == peer):
                    raise _error(errno.EEXIST, f"create {kind} {name}")
            iface = self._new(name, kind, mtu)
            if kind == "veth":
                other = far._new(peer, "veth", mtu)
                iface.peer, other.peer = other, iface
            return iface

    def set_link(self, name: str, *, up: bool | None = None, master: str | None = None,
                 mtu: int | None = None) -> None:
        """``ip link set NAME [up|down] [master BRIDGE | nomaster] [mtu N]``."""
        with self.net.lock:
            iface = self.get(name)
            what = f"configure {name}"
            bridge = None
            if master:
                bridge = self.get(master)
                if bridge is iface:
                    raise _error(errno.ELOOP, what)
                if bridge.kind != "bridge" or iface.kind in ("loopback", "bridge"):
                    raise _error(errno.EOPNOTSUPP, what)
            if mtu is not None:
                iface.mtu = _check_mtu(mtu, what)
                iface.mtu_by_user = iface.kind == "bridge"
            if master is not None:
                old, iface.master = iface.master, bridge
                _bridge_mtu(old)
            _bridge_mtu(iface.master)
            if up is not None and up != iface.up:
                iface.up = up
                if up:
                    if iface.kind == "loopback" and not iface.addrs:
                        iface.addrs.append(ipaddress.ip_interface("127.0.0.1/8"))
                    for a in iface.addrs:
                        self._connect(iface, a)
                else:
                    self.routes = [r for r in self.routes if r.dev is not iface]

    def delete_link(self, name: str) -> None:
        """``ip link del NAME``: a veth pair goes as a whole, a bridge frees its ports."""
        with self.net.lock:
            iface = self.get(name)
            if iface.kind == "loopback":
                raise _error(errno.EOPNOTSUPP, f"delete {name}")
            self._unregister(iface)
            if iface.peer is not None:
                iface.peer.stack._unregister(iface.peer)

    def _unregister(self, iface: Iface) -> None:
        self.ifaces.pop(iface.name, None)
        self.routes = [r for r in self.routes if r.dev is not iface]
        for port in iface.ports:
            port.master = None
        _bridge_mtu(iface.master)

    def gone(self) -> None:
        """The namespace is destroyed: its interfaces go, veth peers elsewhere with them."""
        with self.net.lock:
            for iface in list(self.ifaces.values()):
                self._unregister(iface)
                if iface.peer is not None and iface.peer.stack is not self:
                    iface.peer.stack._unregister(iface.peer)
            self.ports.close_all()

    # -- addresses and routes ---------------------------------------------------------------
    def add_address(self, name: str, cidr: str) -> None:
        """``ip addr add CIDR dev NAME``."""
        what = f"address {cidr} on {name}"
        with self.net.lock:
            iface = self.get(name)
            try:
                address = ipaddress.IPv4Interface(cidr)
            except ValueError:
                raise _error(errno.EINVAL, what) from None
            if address in iface.addrs:
                raise _error(errno.EEXIST, what)
            iface.addrs.append(address)
            if iface.up:
                self._connect(iface, address)

    def _connect(self, iface: Iface, address: ipaddress.IPv4Interface) -> None:
        """The connected route an address brings (none for host-scope loopback ones)."""
        if iface.kind == "loopback" or address.network.prefixlen == 32:
            return
        if not any(r.dst == address.network and r.dev is iface and r.connected for r in self.routes):
            self.routes.append(RouteEntry(address.network, iface, src=address.ip))

    def add_route(self, dst: str, gateway: str) -> None:
        """``ip route add DST via GATEWAY``."""
        what = f"default route via {gateway}" if dst == "default" else f"route to {dst} via {gateway}"
        with self.net.lock:
            try:
                net = DEFAULT if dst == "default" else ipaddress.IPv4Network(dst)
                gw = ipaddress.IPv4Address(gateway)
            except ValueError:
                raise _error(errno.EINVAL, what) from None
            via = self._gateway_device(gw)
            if via is None:
                raise _error(errno.ENETUNREACH, what)
            if any(r.dst == net for r in self.routes):
                raise _error(errno.EEXIST, what)
            self.routes.append(RouteEntry(net, via, gateway=gw))

    def _gateway_device(self, gw: ipaddress.IPv4Address) -> Iface | None:
        """The device a gateway is reached on: a connected route's, or its own when local."""
        owner = self.owner(gw)
        if owner is not None:
            return owner
        r = self.lookup(gw)
        return r.dev if r is not None and r.connected else None

    def lookup(self, dst: ipaddress.IPv4Address) -> RouteEntry | None:
        """The main table's longest-prefix match."""
        found = [r for r in self.routes if dst in r.dst]
        return max(found, key=lambda r: r.dst.prefixlen) if found else None

    def table(self) -> list[RouteEntry]:
        with self.net.lock:
            return sorted(self.routes, key=RouteEntry.sort_key)

    def owner(self, ip: ipaddress.IPv4Address) -> Iface | None:
        """The up interface that makes ``ip`` local (the local table), if any."""
        lo = self.ifaces.get("lo")
        if ip in LOOPBACK:
            return lo if lo is not None and lo.up else None
        return next((i for i in self.ifaces.values() if i.up and any(a.ip == ip for a in i.addrs)), None)

    def primary_address(self, iface: Iface, toward: ipaddress.IPv4Address) -> ipaddress.IPv4Address | None:
        """The source address for a packet out of ``iface`` (its first address,
        one on the destination's subnet preferred), else any address of the namespace."""
        for a in iface.addrs:
            if toward in a.network:
                return a.ip
        if iface.addrs:
            return iface.addrs[0].ip
        return next((a.ip for i in self.ifaces.values() if i.up and i.kind != "loopback"
                     for a in i.addrs), None)

    def _by_index(self) -> list[Iface]:
        with self.net.lock:
            return sorted(self.ifaces.values(), key=lambda i: i.index)

    def links(self) -> list[Link]:
        with self.net.lock:
            return [i.link() for i in self._by_index()]

    def interfaces(self) -> list:
        """The interfaces as ``userland.api.Interface`` (what ``ip link`` needs)."""
        from .userland.api import Interface
        return [Interface(i.index, i.name, i.kind, i.up, i.carrier, i.mtu, i.mac,
                          i.master.name if i.master else "", i.peer.index if i.peer else 0,
                          tuple(str(a) for a in i.addrs)) for i in self._by_index()]

    def route_infos(self) -> list:
        from .userland.api import RouteInfo
        return [RouteInfo(r.route().dst, r.dev.name, str(r.gateway or ""), str(r.src or ""))
                for r in self.table()]


class Network:
    """Every network namespace of one simulated kernel, and the paths between them."""

    def __init__(self, seed: str = "minidocker-sim"):
        self.lock = threading.RLock()
        self.seed = seed
        self._macs = itertools.count()
        self.host = NetStack(self, "host")

    def new_mac(self) -> str:
        """A locally administered unicast address from the seeded sequence."""
        raw = bytearray(hashlib.sha256(f"{self.seed}:{next(self._macs)}".encode()).digest()[:6])
        raw[0] = (raw[0] & 0xFE) | 0x02
        return ":".join(f"{b:02x}" for b in raw)

    def new_stack(self, label: str = "") -> NetStack:
        """A new namespace (unshare CLONE_NEWNET): ``lo`` down; sysctls copied from the host's."""
        with self.lock:
            return NetStack(self, label or "container", ip_forward=self.host.ip_forward)

    def add_uplink(self, stack: NetStack, name: str = UPLINK["name"], mac: str = UPLINK["mac"],
                   address: str = UPLINK["address"], gateway: str = UPLINK["gateway"]) -> None:
        """A network card leading out of the model, up, with an address and a default
        route (the simulated machine's: UPLINK in the module's docstring)."""
        with self.lock:
            eth = stack._new(name, "device", 1500, mac=mac)
            stack.set_link(eth.name, up=True)
            stack.add_address(eth.name, address)
            stack.add_route("default", gateway)

    # -- sockets ----------------------------------------------------------------------------
    def listen(self, stack: NetStack, address: str, port: int, proto: str, wait) -> Listener:
        """bind(2) + listen(2) in ``stack``."""
        with self.lock:
            if address != "0.0.0.0" and stack.owner(ipaddress.IPv4Address(address)) is None:
                raise OSError(errno.EADDRNOTAVAIL, os.strerror(errno.EADDRNOTAVAIL))
            return stack.ports.bind(address, port, proto, wait)

    def connect(self, stack: NetStack, ip: str, port: int, proto: str = "tcp"):
        """connect(2) from ``stack``: our end of the connection, a real socket, whose other
        end waits in the listener's backlog. OSError as Linux gives it when the peer is
        unreachable (ENETUNREACH, EHOSTUNREACH, ETIMEDOUT) or nothing listens (ECONNREFUSED)."""
        with self.lock:
            path = self.reach(stack, ip)
            if not path.ok:
                raise OSError(path.errno, os.strerror(path.errno))
            listener = path.stack.ports.find(str(ip), port, proto)
            if listener is None:
                raise OSError(errno.ECONNREFUSED, os.strerror(errno.ECONNREFUSED))
            ours, theirs = socket_pair(proto)
            listener.deliver(theirs, (str(path.src), stack.ports.free_port(proto)))
            return ours

    # -- the path of a packet --------------------------------------------------------------
    def reach(self, stack: NetStack, dst: str | ipaddress.IPv4Address) -> Delivery:
        """Send a packet from ``stack`` to ``dst`` and its reply back: where it arrived
        (``ttl`` is the reply's on arrival, as ping shows it), or why not."""
        dst = ipaddress.IPv4Address(dst)
        with self.lock:
            there = self._travel(stack, dst, None, None, TTL, [])
            if not there.ok:
                return there
            back = self._travel(there.stack, there.src, dst, None, TTL, [])
            if not back.ok or back.stack is not stack:
                return Delivery(None, there.src, errno=errno.ETIMEDOUT,
                                reason=f"the reply finds no way back: {back.reason or 'it reaches another host'}",
                                steps=there.steps + ["reply: " + s for s in back.steps])
            return Delivery(there.stack, there.src, back.ttl, steps=there.steps + ["reply: " + s for s in back.steps])

    def _travel(self, stack: NetStack, dst, src, came_in: Iface | None, ttl: int,
                steps: list[str]) -> Delivery:
        def fail(code: int, reason: str) -> Delivery:
            steps.append(f"{stack.label}: {reason}")
            return Delivery(None, src, ttl, code, reason, at_origin=came_in is None, steps=steps)

        while True:
            if ttl <= 0:
                return fail(errno.EHOSTUNREACH, "time to live exceeded")
            local = stack.owner(dst)
            if local is not None:
                lo = stack.ifaces["lo"]
                if came_in is None and not lo.up:   # a packet to oneself goes out through lo
                    return fail(errno.ETIMEDOUT, "interface down (lo)")
                steps.append(f"{stack.label}: {dst} is local ({local.name})")
                return Delivery(stack, src or dst, ttl, steps=steps)
            route = stack.lookup(dst)
            if route is None:
                return fail(errno.ENETUNREACH, "network unreachable")
            out = route.dev
            if came_in is not None:
                if not stack.ip_forward:
                    return fail(errno.EHOSTUNREACH, "no route to host (ip_forward is 0: it does not forward)")
                verdict, rule = stack.filter.verdict("FORWARD", came_in.name, out.name, src, dst)
                if verdict != "ACCEPT":
                    return fail(errno.ETIMEDOUT, f"dropped by FORWARD rule {rule}")
                ttl -= 1
                masq = stack.filter.masquerades(came_in.name, out.name, src, dst)
                steps.append(f"{stack.label}: forwarded {came_in.name} -> {out.name}"
                             + (f" (masqueraded by rule {masq})" if masq else ""))
            if src is None:
                src = route.src or stack.primary_address(out, dst)
                if src is None:
                    return fail(errno.ENETUNREACH, "network unreachable (no source address)")
            if not out.carrier:
                return fail(errno.EHOSTUNREACH, f"interface down ({out.name} has no carrier)")
            hop = route.gateway or dst
            nbr = next((n for n in _segment(out) if n.stack.owner(hop) is not None), None)
            if nbr is None:
                return fail(errno.EHOSTUNREACH, f"no route to host (nobody answers for {hop} on {out.name})")
            steps.append(f"{stack.label}: out {out.name} to {hop}, in {nbr.name} of {nbr.stack.label}")
            stack, came_in = nbr.stack, nbr


def _bridge_mtu(bridge: Iface | None) -> None:
    if bridge is not None and not bridge.mtu_by_user:
        bridge.mtu = min((p.mtu for p in bridge.ports), default=1500)


def _segment(out: Iface) -> list[Iface]:
    """The interfaces that receive what ``out`` sends: its veth peer (or, when that is a
    bridge port, the bridge and the far ends of its other ports), or a bridge's ports' far ends."""
    if out.kind == "veth":
        peer = out.peer
        if peer is None or not peer.up:
            return []
        if peer.master is None:
            return [peer]
        bridge = peer.master
        return [bridge] + _far_ends(bridge, but=peer) if bridge.up else []
    if out.kind == "bridge":
        return _far_ends(out, but=None)
    return []   # lo never leaves; a dummy drops; the uplink leads nowhere


def _far_ends(bridge: Iface, but: Iface | None) -> list[Iface]:
    return [p.peer for p in bridge.ports if p is not but and p.carrier and p.kind == "veth"
            and p.peer is not None]


def _check_name(name: str, what: str) -> None:
    if not name or "/" in name or any(c.isspace() for c in name):
        raise _error(errno.EINVAL, what)
    if len(name) >= IFNAMSIZ:
        raise _error(errno.ERANGE, what)


def _check_mtu(mtu: int, what: str) -> int:
    if not 68 <= int(mtu) <= 65535:
        raise _error(errno.EINVAL, what)
    return int(mtu)


def sysctl_read(stack: NetStack, path: str) -> str:
    """The text of a network sysctl file (``SYSCTLS``) of ``stack``."""
    if path not in SYSCTLS:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    return f"{stack.ip_forward}\n"


def sysctl_write(stack: NetStack, path: str, data: str) -> None:
    """Write a network sysctl (an integer, as ``proc_dointvec`` reads it)."""
    if path not in SYSCTLS:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    try:
        stack.ip_forward = int(data.strip())
    except ValueError:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), path) from None


class NetworkCalls:
    """The network calls of ``userland.api.System``, for a system class that says which
    namespace is its process's (``_netstack``), where its open sockets are kept
    (``_sockets``: closed when the process exits), whether it holds CAP_NET_ADMIN, and
    whose ``_check`` ends a program a signal killed."""

    def _netstack(self) -> tuple[Network, NetStack]:
        raise NotImplementedError

    def _sockets(self) -> list:
        raise NotImplementedError

    def _capable(self, cap: int) -> bool:
        raise NotImplementedError

    def _check(self) -> None:
        raise NotImplementedError

    def _keep(self, sock):
        kept = self._sockets()
        kept[:] = [s for s in kept if not s.closed]
        kept.append(sock)
        return sock

    def interfaces(self) -> list:
        net, stack = self._netstack()
        with net.lock:
            return stack.interfaces()

    def routes(self) -> list:
        net, stack = self._netstack()
        with net.lock:
            return stack.route_infos()

    def ping(self, address: str) -> int | None:
        self._check()
        net, stack = self._netstack()
        path = net.reach(stack, address)
        if path.ok:
            return path.ttl
        if path.at_origin and path.errno == errno.ENETUNREACH:
            raise OSError(errno.ENETUNREACH, os.strerror(errno.ENETUNREACH))
        return None

    def connect(self, address: str, port: int, proto: str = "tcp") -> Conn:
        self._check()
        net, stack = self._netstack()
        return self._keep(Conn(net.connect(stack, address, port, proto), self._check, (address, port)))

    def listen(self, port: int, proto: str = "tcp", address: str = "0.0.0.0") -> Listener:
        self._check()
        net, stack = self._netstack()
        return self._keep(net.listen(stack, address, port, proto, self._check))

    def _admin(self) -> NetStack:
        if not self._capable(CAP_NET_ADMIN):
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))
        return self._netstack()[1]

    def configure_link(self, name: str, *, up: bool | None = None, mtu: int | None = None) -> None:
        self._admin().set_link(name, up=up, mtu=mtu)

    def add_address(self, name: str, cidr: str) -> None:
        self._admin().add_address(name, cidr)

    def add_route(self, dst: str, gateway: str) -> None:
        self._admin().add_route(dst, gateway)

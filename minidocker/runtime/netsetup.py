"""The kernel steps that put a container on a bridge network, and take it off.

Docker's bridge driver, one call at a time (each a ``Kernel`` call, so traces
show it and the simulator models it):

1. the network's bridge exists, has the gateway address and is up — made on
   first use, with the packet-filter rules that isolate it from other networks
   and masquerade its traffic to the outside (and IP forwarding on);
2. a veth pair: one end stays on the host as a port of the bridge, the other is
   created inside the container's network namespace as ``eth0`` (``eth1``… for
   further networks);
3. inside: the address from the IPAM, the link up, the default route via the
   gateway (first network only).

The container's end vanishes with its namespace; ``detach`` deletes the host
end too in case something still holds the namespace.
"""

from __future__ import annotations

import errno

from ..kernel.base import Kernel
from .netspec import MTU, Endpoint, NetworkConfig, firewall_rules

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"


def uplink_mtu(k: Kernel) -> int:
    """The MTU containers should use: the host's way out (the interface of its default
    route) may carry less than Ethernet's 1500 bytes — a VM's or a tunnel's often does —
    and a container sending bigger packets would see them dropped on the way."""
    dev = next((r.dev for r in k.routes() if r.dst == "default"), None)
    mtu = next((l.mtu for l in k.links() if l.name == dev), MTU) if dev else MTU
    return min(mtu, MTU)


def ensure_bridge(k: Kernel, net: NetworkConfig) -> None:
    """Make the network's bridge (and its rules) unless it is already there.

    The gateway address goes on last: a bridge that has it is complete, so a
    start that failed half-way is finished by the next one."""
    link = next((l for l in k.links() if l.name == net.bridge), None)
    cidr = f"{net.gateway}/{net.prefixlen}"
    if link is not None and cidr in link.addresses and link.up:
        return
    if link is None:
        try:
            # no MTU of its own: a bridge takes the smallest of its ports'
            k.link_add(net.bridge, "bridge")
        except OSError as e:
            if e.errno != errno.EEXIST:  # another start made it just now
                raise
    # Forwarding is switched on only where the rules that keep networks apart are
    # in force; without a packet filter, networks stay apart by not routing at all.
    if all([k.firewall(rule) for rule in firewall_rules(net)]):
        if k.read_file(IP_FORWARD).strip() != "1":
            k.write_file(IP_FORWARD, "1")
    if link is None or cidr not in link.addresses:
        try:
            k.addr_add(net.bridge, cidr)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
    k.link_set(net.bridge, up=True)


def remove_bridge(k: Kernel, net: NetworkConfig) -> None:
    """Delete a user network's bridge and its own rules (the shared jump stays)."""
    for rule in firewall_rules(net)[1:]:
        k.firewall(rule, add=False)
    try:
        k.link_delete(net.bridge)
    except OSError as e:
        if e.errno != errno.ENODEV:
            raise


def attach(k: Kernel, net: NetworkConfig, ep: Endpoint, netns: str, default_route: bool,
           mtu: int = MTU, bridge_ready: bool = False) -> None:
    """Connect the namespace ``netns`` to ``net`` through a new veth pair (``bridge_ready``:
    the caller has just made sure of the bridge)."""
    if not bridge_ready:
        ensure_bridge(k, net)
    k.link_add(ep.veth, "veth", peer=ep.ifname, peer_netns=netns, mtu=mtu)
    try:
        k.link_set(ep.veth, master=net.bridge, up=True)
        k.addr_add(ep.ifname, f"{ep.ip}/{net.prefixlen}", netns=netns)
        k.link_set(ep.ifname, up=True, netns=netns)
        if default_route:
            k.route_add("default", net.gateway, netns=netns)
    except BaseException:
        detach(k, ep)
        raise


# How long a container's veth may take to go with its namespace once its processes
# have ended (~2 ms on the 2-core VM), before it is deleted from outside.
VETH_GONE_WITHIN = 0.05


def detach(k: Kernel, ep: Endpoint, ended: bool = False) -> None:
    """Delete the host end of the container's veth pair (the pair goes with it).

    ``ended``: the container's processes are gone, so the kernel is removing the pair
    with the namespace already. Deleting it from outside meanwhile would wait for the
    same unregistering, synchronously (~16 ms against ~2 ms on the 2-core VM): so wait
    for the kernel first, and delete it only if something still holds the namespace."""
    if ended and k.link_gone(ep.veth, VETH_GONE_WITHIN):
        return
    try:
        k.link_delete(ep.veth)
    except OSError as e:
        if e.errno != errno.ENODEV:  # gone with the container's namespace already
            raise


class ContainerNetwork:
    """One container's networking for the length of one run, owned by its supervisor:
    making it binds the published ports, ``prepare()`` takes the container's addresses
    from the IPAM and readies each network's bridge (while the container makes its
    namespaces), ``configure(pid)`` joins the container's namespace to each network and
    starts the port proxy, ``release`` undoes all of it."""

    def __init__(self, k: Kernel, store, spec):
        from .portproxy import PortProxy
        self.k, self.store, self.spec = k, store, spec
        self.attached: list[tuple[NetworkConfig, Endpoint]] = []
        # the network it was started with first: eth0 and the default route are its
        self.networks = sorted(store.memberships(spec.id), key=lambda n: (n.name != spec.network, n.name))
        if not self.networks:
            from ..errors import NotFound
            raise NotFound(f"network {spec.network} not found (the container belongs to no network)")
        self.proxy = PortProxy(k, spec.ports)
        self.mtu = MTU

    def prepare(self) -> None:
        import os
        self.mtu = uplink_mtu(self.k)
        for i, net in enumerate(self.networks):
            self.attached.append((net, self.store.attach(net, self.spec.id, self.spec.name, f"eth{i}",
                                                         os.getpid())))
            ensure_bridge(self.k, net)

    def configure(self, pid: int) -> None:
        netns = f"/proc/{pid}/ns/net"
        for i, (net, ep) in enumerate(self.attached):
            attach(self.k, net, ep, netns, default_route=i == 0, mtu=self.mtu, bridge_ready=True)
        self.proxy.start(self.attached[0][1].ip)

    def release(self) -> None:
        """Close the ports and free every endpoint of the container (those a later
        ``network connect`` added included), once its processes have ended."""
        self.proxy.close()
        for net, ep in reversed(self.store.endpoints(self.spec.id)):
            try:
                detach(self.k, ep, ended=True)
            finally:
                self.store.detach(net, self.spec.id)
        self.attached.clear()

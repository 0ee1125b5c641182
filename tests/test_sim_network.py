"""Networks on the simulated kernel: the model of interfaces, addresses, routes, bridges
and veth pairs (``kernel/sim/network.py``), its packet filter and forwarding decisions,
sockets, the network applets, and containers on networks through the engine."""

from __future__ import annotations

import contextlib
import errno
import threading

import pytest

from minidocker.kernel.base import CLONE_NEWNET, FirewallRule
from minidocker.kernel.sim.kernel import SimKernel
from minidocker.runtime import netsetup, netspec


@pytest.fixture
def k():
    return SimKernel()


@contextlib.contextmanager
def namespace(k):
    """A simulated process in a network namespace of its own, for as long as the block
    lasts: its ``/proc/PID/ns/net``, as the runtime names it."""
    ready, done = threading.Event(), threading.Event()

    def child():
        k.unshare(CLONE_NEWNET)
        k.loopback_up()
        ready.set()
        done.wait(10)
        k.fs._exit(0)

    pid = k.fork(child)
    assert ready.wait(5)
    try:
        yield f"/proc/{pid}/ns/net"
    finally:
        done.set()
        k.waitpid(pid)


def stack(k, netns=None):
    return k._net(netns)


def names(k, netns=None) -> list[str]:
    return [link.name for link in k.links(netns=netns)]


def routes(k, netns=None) -> list[tuple[str, str, str]]:
    return [(r.dst, r.dev, r.gateway) for r in k.routes(netns=netns)]


def oserror(fn, *args, **kwargs) -> tuple[int, str]:
    with pytest.raises(OSError) as info:
        fn(*args, **kwargs)
    return info.value.errno, info.value.strerror


def network(name: str, subnet: str, bridge: str) -> netspec.NetworkConfig:
    return netspec.NetworkConfig(name, name, subnet, netspec.first_host(subnet), bridge, "now")


def join(k, net, netns, ip: str, veth: str) -> netspec.Endpoint:
    """The runtime's own steps (netsetup.attach): bridge, rules, veth, address, route."""
    ep = netspec.Endpoint(veth, veth, ip, "eth0", veth, 1)
    netsetup.attach(k, net, ep, netns, default_route=True)
    return ep


# -- interfaces, addresses, routes -----------------------------------------------------------

def test_the_simulated_machine_has_lo_and_an_uplink_with_a_default_route(k):
    lo, eth0 = k.links()
    assert (lo.name, lo.kind, lo.up, lo.mtu, lo.addresses) == ("lo", "loopback", True, 65536, ("127.0.0.1/8",))
    assert (eth0.name, eth0.kind, eth0.mac, eth0.addresses) == ("eth0", "device", "52:54:00:12:34:56",
                                                                 ("10.0.2.15/24",))
    assert routes(k) == [("default", "eth0", "10.0.2.2"), ("10.0.2.0/24", "eth0", "")]
    assert k.read_file("/proc/sys/net/ipv4/ip_forward") == "0\n"


def test_a_new_namespace_has_lo_down_and_without_an_address_until_it_comes_up(k):
    ready, done = threading.Event(), threading.Event()
    seen = []

    def child():
        k.unshare(CLONE_NEWNET)
        seen.append(k.links())
        k.loopback_up()
        seen.append(k.links())
        seen.append(k.routes())
        ready.set()
        done.wait(5)
        k.fs._exit(0)

    pid = k.fork(child)
    ready.wait(5)
    done.set()
    k.waitpid(pid)
    before, after, table = seen
    assert [(l.name, l.up, l.addresses) for l in before] == [("lo", False, ())]
    assert [(l.name, l.up, l.addresses) for l in after] == [("lo", True, ("127.0.0.1/8",))]
    assert table == []   # 127/8 is in the local table, not the main one


def test_an_address_brings_its_connected_route_only_while_the_link_is_up(k):
    k.link_add("br0", "bridge", mtu=1500)
    k.addr_add("br0", "10.9.0.1/24")
    assert ("10.9.0.0/24", "br0", "") not in routes(k)
    k.link_set("br0", up=True)
    assert ("10.9.0.0/24", "br0", "") in routes(k)
    k.route_add("10.8.0.0/16", "10.9.0.7")
    assert ("10.8.0.0/16", "br0", "10.9.0.7") in routes(k)
    k.link_set("br0", up=False)          # down: every route through it goes…
    assert [r for r in routes(k) if r[1] == "br0"] == []
    k.link_set("br0", up=True)           # …and only the connected one comes back
    assert [r for r in routes(k) if r[1] == "br0"] == [("10.9.0.0/24", "br0", "")]


def test_a_gateway_must_be_on_a_connected_route_and_a_route_is_added_once(k):
    assert oserror(k.route_add, "10.8.0.0/16", "192.168.77.1") == (
        errno.ENETUNREACH, "route to 10.8.0.0/16 via 192.168.77.1: Network is unreachable")
    k.route_add("10.8.0.0/16", "10.0.2.9")
    assert oserror(k.route_add, "10.8.0.0/16", "10.0.2.9")[0] == errno.EEXIST
    assert oserror(k.route_add, "default", "10.0.2.9") == (
        errno.EEXIST, "default route via 10.0.2.9: File exists")


def test_interface_errors_are_rtnetlinks_in_the_real_kernels_words(k):
    assert oserror(k.link_set, "nope", up=True) == (errno.ENODEV, "no network interface nope")
    assert oserror(k.addr_add, "nope", "10.1.1.1/24")[0] == errno.ENODEV
    assert oserror(k.link_add, "x", "vxlan")[0] == errno.EINVAL
    assert oserror(k.link_add, "a-name-too-long-for-linux", "bridge")[0] == errno.ERANGE
    k.link_add("br0", "bridge")
    assert oserror(k.link_add, "br0", "bridge") == (errno.EEXIST, "create bridge br0: File exists")
    assert oserror(k.link_set, "br0", mtu=20)[0] == errno.EINVAL
    assert oserror(k.link_set, "br0", master="br0")[0] == errno.ELOOP
    assert oserror(k.link_set, "eth0", master="lo")[0] == errno.EOPNOTSUPP   # not a bridge
    assert oserror(k.link_delete, "lo")[0] == errno.EOPNOTSUPP
    k.addr_add("br0", "10.9.0.1/24")
    assert oserror(k.addr_add, "br0", "10.9.0.1/24") == (errno.EEXIST,
                                                         "address 10.9.0.1/24 on br0: File exists")
    assert oserror(k.link_add, "v0", "veth", peer_netns="/proc/99999/ns/net")[0] == errno.ENOENT


def test_a_veth_pair_spans_two_namespaces_and_goes_as_a_whole(k):
    with namespace(k) as ns:
        k.link_add("vethA", "veth", peer="eth0", peer_netns=ns, mtu=1400)
        assert names(k)[-1] == "vethA" and names(k, ns) == ["lo", "eth0"]
        inside = stack(k, ns).ifaces["eth0"]
        assert (inside.index, inside.mtu, inside.peer.name) == (2, 1400, "vethA")
        assert not inside.carrier                       # a veth end needs both ends up
        k.link_set("eth0", up=True, netns=ns)
        k.link_set("vethA", up=True)
        assert inside.carrier
        k.link_delete("eth0", netns=ns)                 # either end takes both
        assert "vethA" not in names(k) and names(k, ns) == ["lo"]
        k.link_add("vethB", "veth", peer="eth0", peer_netns=ns)
        k.link_delete("vethB")
        assert names(k, ns) == ["lo"]


def test_a_namespace_that_goes_takes_its_veth_ends_and_their_peers(k):
    with namespace(k) as ns:
        k.link_add("vethC", "veth", peer="eth0", peer_netns=ns)
        assert "vethC" in names(k)
    assert "vethC" not in names(k)                      # its last process exited
    assert oserror(k.link_delete, "vethC")[0] == errno.ENODEV   # what the runtime tolerates


def test_a_bridge_port_shows_its_master_and_is_freed_when_the_bridge_goes(k):
    with namespace(k) as ns:
        k.link_add("br0", "bridge")
        k.link_add("vethD", "veth", peer="eth0", peer_netns=ns)
        k.link_set("vethD", master="br0", up=True)
        assert {l.name: l.master for l in k.links()}["vethD"] == "br0"
        k.link_delete("br0")
        assert {l.name: l.master for l in k.links()}["vethD"] == ""


def test_macs_are_seeded_so_every_run_shows_the_same_ones(k):
    other = SimKernel()
    for kernel in (k, other):
        kernel.link_add("br0", "bridge")
        kernel.link_add("br1", "bridge")
    macs = [l.mac for l in k.links()][2:]
    assert macs == [l.mac for l in other.links()][2:] and len(set(macs)) == 2
    assert all(int(m[:2], 16) & 0b11 == 0b10 for m in macs)   # locally administered, unicast


def test_ip_forward_is_per_namespace_and_a_new_one_copies_the_hosts(k):
    with namespace(k) as before:
        k.write_file("/proc/sys/net/ipv4/ip_forward", "1")
        with namespace(k) as after:
            assert stack(k, before).ip_forward == 0 and stack(k, after).ip_forward == 1
    assert k.read_file("/proc/sys/net/ipv4/ip_forward") == "1\n"
    assert oserror(k.write_file, "/proc/sys/net/ipv4/ip_forward", "yes")[0] == errno.EINVAL


def test_the_packet_filter_keeps_rules_once_in_order_with_chains_made_on_demand(k):
    net = network("web", "10.67.0.0/24", "md-web")
    for rule in netspec.firewall_rules(net) * 2:
        assert k.firewall(rule) is True
    filt = k.firewall_rules("filter")
    assert [r.chain for r in filt] == ["FORWARD"] * 3 + ["MINIDOCKER-ISOLATION-1", "MINIDOCKER-ISOLATION-2"]
    assert k.firewall_rules("nat") == netspec.firewall_rules(net)[5:]
    k.firewall(netspec.firewall_rules(net)[2], add=False)
    assert len(k.firewall_rules("filter")) == 4
    assert oserror(k.firewall, FirewallRule("mangle", "FORWARD", ("-j", "ACCEPT")))[0] == errno.EINVAL


# -- forwarding decisions ------------------------------------------------------------------------

WEB = network("web", "10.67.0.0/24", "md-web")
DB = network("db", "10.67.1.0/24", "md-db")


def test_two_namespaces_on_one_bridge_reach_each_other_on_the_same_segment(k):
    with namespace(k) as a, namespace(k) as b:
        join(k, WEB, a, "10.67.0.2", "vetha")
        join(k, WEB, b, "10.67.0.3", "vethb")
        assert routes(k, a) == [("default", "eth0", "10.67.0.1"), ("10.67.0.0/24", "eth0", "")]
        path = k.network.reach(stack(k, a), "10.67.0.3")
        assert path.stack is stack(k, b) and path.ttl == 64          # bridged: no router on the way
        assert k.network.reach(stack(k, a), "10.67.0.1").stack is k.network.host   # the gateway
        assert k.network.reach(stack(k, a), "10.67.0.2").stack is stack(k, a)      # itself


def test_the_isolation_rules_keep_two_networks_apart(k):
    with namespace(k) as a, namespace(k) as b:
        join(k, WEB, a, "10.67.0.2", "vetha")
        join(k, DB, b, "10.67.1.2", "vethb")
        path = k.network.reach(stack(k, a), "10.67.1.2")
        assert not path.ok and path.errno == errno.ETIMEDOUT
        assert path.reason == "dropped by FORWARD rule -A MINIDOCKER-ISOLATION-2 -o md-db -j DROP"
        assert k.network.reach(stack(k, a), "10.67.1.1").ok   # the host's own address on the other bridge


def test_without_the_isolation_rules_the_host_routes_between_networks(k):
    with namespace(k) as a, namespace(k) as b:
        join(k, WEB, a, "10.67.0.2", "vetha")
        join(k, DB, b, "10.67.1.2", "vethb")
        for rule in netspec.firewall_rules(WEB)[1:3] + netspec.firewall_rules(DB)[1:3]:
            k.firewall(rule, add=False)
        path = k.network.reach(stack(k, a), "10.67.1.2")
        assert path.stack is stack(k, b) and path.ttl == 63          # one router: the host
        k.write_file("/proc/sys/net/ipv4/ip_forward", "0")
        path = k.network.reach(stack(k, a), "10.67.1.2")
        assert (path.errno, path.reason.split(" (")[0]) == (errno.EHOSTUNREACH, "no route to host")


def test_a_reply_needs_a_route_back(k):
    with namespace(k) as a, namespace(k) as b:
        join(k, WEB, a, "10.67.0.2", "vetha")
        k.link_add("vethb", "veth", peer="eth0", peer_netns=b)
        k.link_set("vethb", up=True)
        k.addr_add("vethb", "10.67.9.1/24")
        k.addr_add("eth0", "10.67.9.2/24", netns=b)
        k.link_set("eth0", up=True, netns=b)                          # no default route in b
        for rule in netspec.firewall_rules(WEB)[1:3]:
            k.firewall(rule, add=False)
        path = k.network.reach(stack(k, a), "10.67.9.2")
        assert not path.ok and path.reason.startswith("the reply finds no way back: network unreachable")
        k.route_add("default", "10.67.9.1", netns=b)
        assert k.network.reach(stack(k, a), "10.67.9.2").stack is stack(k, b)


def test_unknown_networks_are_unreachable_and_the_uplink_leads_nowhere(k):
    with namespace(k) as lonely, namespace(k) as a:
        path = k.network.reach(stack(k, lonely), "10.67.0.1")
        assert (path.errno, path.reason, path.at_origin) == (errno.ENETUNREACH, "network unreachable", True)
        join(k, WEB, a, "10.67.0.2", "vetha")
        path = k.network.reach(stack(k, a), "93.184.216.34")          # out through the host…
        assert path.errno == errno.EHOSTUNREACH and "nobody answers for 10.0.2.2 on eth0" in path.reason
        assert any("masqueraded by rule -A POSTROUTING -s 10.67.0.0/24 ! -o md-web -j MASQUERADE" in s
                   for s in path.steps)


def test_a_link_whose_peer_is_down_carries_nothing(k):
    with namespace(k) as a:
        join(k, WEB, a, "10.67.0.2", "vetha")
        k.link_set("vetha", up=False)
        path = k.network.reach(stack(k, a), "10.67.0.1")
        assert path.errno == errno.EHOSTUNREACH and path.reason == "interface down (eth0 has no carrier)"


# -- sockets ------------------------------------------------------------------------------------

def test_connect_from_the_host_gives_a_real_socket_to_a_simulated_listener(k):
    import socket
    with namespace(k) as a:
        join(k, WEB, a, "10.67.0.2", "vetha")
        listener = k.network.listen(stack(k, a), "0.0.0.0", 8080, "tcp", wait=lambda: None)
        sock = k.connect("10.67.0.2", 8080)
        assert isinstance(sock, socket.socket)
        conn = listener.accept()
        assert conn.peer[0] == "10.67.0.1"                # the host's address on that bridge
        sock.sendall(b"ping")
        assert conn.recv() == b"ping"
        conn.send(b"pong")
        conn.shutdown()
        assert sock.recv(100) == b"pong" and sock.recv(100) == b""
        sock.close()
        conn.close()
        listener.close()
        assert oserror(k.connect, "10.67.0.2", 8080)[0] == errno.ECONNREFUSED
        assert oserror(k.connect, "10.67.0.99", 80)[0] == errno.EHOSTUNREACH


def test_binding_twice_is_eaddrinuse_and_a_foreign_address_eaddrnotavail(k):
    host = k.network.host
    first = k.network.listen(host, "127.0.0.1", 9000, "tcp", wait=lambda: None)
    assert oserror(k.network.listen, host, "0.0.0.0", 9000, "tcp", None)[0] == errno.EADDRINUSE
    k.network.listen(host, "10.0.2.15", 9000, "tcp", wait=lambda: None)   # another address: fine
    k.network.listen(host, "0.0.0.0", 9000, "udp", wait=lambda: None)     # another protocol: fine
    assert oserror(k.network.listen, host, "10.9.9.9", 9001, "tcp", None)[0] == errno.EADDRNOTAVAIL
    first.close()
    assert k.network.listen(host, "127.0.0.1", 9000, "tcp", wait=lambda: None).port == 9000
    assert k.network.listen(host, "0.0.0.0", 0, "tcp", wait=lambda: None).port >= 32768

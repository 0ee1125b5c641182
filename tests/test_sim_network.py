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


def test_a_bridge_takes_the_smallest_mtu_of_its_ports_unless_one_was_set(k):
    with namespace(k) as ns:
        k.link_add("br0", "bridge")
        k.link_add("vethE", "veth", peer="eth0", peer_netns=ns, mtu=1400)
        mtu = lambda: {l.name: l.mtu for l in k.links()}["br0"]
        assert mtu() == 1500
        k.link_set("vethE", master="br0")
        assert mtu() == 1400
        k.link_set("vethE", mtu=1300)
        assert mtu() == 1300
        k.link_set("vethE", master="")
        assert mtu() == 1500
        k.link_set("br0", mtu=1280)
        k.link_set("vethE", master="br0")
        assert mtu() == 1280                            # set by hand: it stays


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


# -- the network applets (busybox's output, on the in-memory FakeKernel) -----------------------------

@pytest.fixture
def fake():
    from minidocker.kernel.sim.userland.fake import FakeKernel, make_rootfs
    return make_rootfs(FakeKernel())


def sh(kernel, script):
    r = kernel.sh(script)
    return r.status, r.out, r.err


def test_ip_addr_link_and_route_print_what_busybox_prints(fake):
    lifetime = "       valid_lft forever preferred_lft forever\n"
    assert sh(fake, "ip addr") == (0, (
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n"
        "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
        "    inet 127.0.0.1/8 scope host lo\n" + lifetime +
        "    inet6 ::1/128 scope host \n" + lifetime +
        "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel qlen 1000\n"
        "    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff\n"
        "    inet 172.17.0.2/16 scope global eth0\n" + lifetime +
        "    inet6 fe80::42:acff:fe11:2/64 scope link \n" + lifetime), "")
    assert sh(fake, "ip link show eth0") == (0, (
        "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel qlen 1000\n"
        "    link/ether 02:42:ac:11:00:02 brd ff:ff:ff:ff:ff:ff\n"), "")
    assert sh(fake, "ip -4 a show dev lo") == (0, (
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue qlen 1000\n"
        "    inet 127.0.0.1/8 scope host lo\n" + lifetime), "")
    assert sh(fake, "ip r") == (0, "default via 172.17.0.1 dev eth0 \n"
                                   "172.17.0.0/16 dev eth0 scope link  src 172.17.0.2 \n", "")
    assert sh(fake, "ip addr show wlan0") == (1, "", "ip: can't find device 'wlan0'\n")


def test_ip_changes_the_namespace_and_fails_like_busybox(fake):
    assert sh(fake, "ip link set eth0 down; ip route; ip link set eth0 up; ip route") == (
        0, "172.17.0.0/16 dev eth0 scope link  src 172.17.0.2 \n", "")   # the default route is gone
    assert sh(fake, "ip route add default via 10.1.1.1") == (
        2, "", "ip: RTNETLINK answers: Network is unreachable\n")
    assert sh(fake, "ip addr add 172.17.0.2/16 dev eth0") == (2, "", "ip: RTNETLINK answers: File exists\n")
    assert sh(fake, "ip link set wlan0 up") == (2, "", "ip: SIOCGIFFLAGS: No such device\n")


def test_veth_ends_name_their_peer_by_the_index_as_busybox_looks_it_up(k):
    from minidocker.kernel.sim.userland.netutils import _link_head
    with namespace(k) as a:
        join(k, WEB, a, "10.67.0.2", "vetha")
        inside = {i.index: i for i in stack(k, a).interfaces()}
        host = {i.index: i for i in k.network.host.interfaces()}
        head = _link_head(inside[2], inside)
        assert head.startswith(f"2: eth0@if{host[4].index}: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 "
                               "qdisc noqueue qlen 1000\n")   # index 4 is not in the container's namespace
        assert _link_head(host[4], host).startswith(       # index 2 of the host is its eth0: busybox says so
            "4: vetha@eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master md-web qlen 1000\n")


def test_hostname_i_ping_wget_and_nc_resolve_names_through_etc_hosts(fake):
    assert sh(fake, "hostname -i") == (0, "172.17.0.2\n", "")
    assert sh(fake, "hostname nowhere; hostname -i") == (1, "", "hostname: nowhere: Host name lookup failure\n")
    status, out, err = sh(fake, "ping -c 2 localhost")
    assert (status, err) == (0, "")
    assert out.startswith("PING localhost (127.0.0.1): 56 data bytes\n64 bytes from 127.0.0.1: seq=0 ttl=64 time=")
    assert "\n--- localhost ping statistics ---\n2 packets transmitted, 2 packets received, 0% packet loss\n" \
           "round-trip min/avg/max = " in out
    assert sh(fake, "ping -c 1 172.17.0.1") == (1, "PING 172.17.0.1 (172.17.0.1): 56 data bytes\n\n"
                                                   "--- 172.17.0.1 ping statistics ---\n1 packets transmitted, "
                                                   "0 packets received, 100% packet loss\n", "")
    assert sh(fake, "ping db") == (1, "", "ping: bad address 'db'\n")
    assert sh(fake, "wget -q -O- http://db/") == (1, "", "wget: bad address 'db'\n")
    assert sh(fake, "wget http://127.0.0.1:8080/") == (
        1, "", "Connecting to 127.0.0.1:8080 (127.0.0.1:8080)\n"
               "wget: can't connect to remote host (127.0.0.1): Connection refused\n")
    assert sh(fake, "echo hi | nc localhost 9") == (
        1, "", "nc: can't connect to remote host (127.0.0.1): Connection refused\n")
    assert sh(fake, "nslookup db") == (1, ";; connection timed out; no servers could be reached\n\n", "")


def test_a_network_less_namespace_cannot_even_send(k):
    from minidocker.kernel.sim.userland.fake import FakeKernel, make_rootfs
    fake = make_rootfs(FakeKernel())
    fake.net = k.network.new_stack("bare")
    fake.network = k.network
    assert sh(fake, "ping -c1 10.0.0.1") == (1, "PING 10.0.0.1 (10.0.0.1): 56 data bytes\n",
                                             "ping: sendto: Network is unreachable\n")
    assert sh(fake, "wget http://10.0.0.1/")[2].endswith(
        "wget: can't connect to remote host (10.0.0.1): Network is unreachable\n")


# -- containers on networks, through the engine -------------------------------------------------------

@pytest.fixture
def sim(tmp_path):
    from minidocker.engine import Engine
    engine = Engine(tmp_path / "state", kernel=SimKernel())
    engine.bootstrap("busybox")
    yield engine
    for row in engine.ps_rows():
        engine.stop(row["Names"], timeout=0.2)


def run(engine, script: str, **options) -> tuple[int, str, str]:
    """A container attached to pipes: (exit code, stdout, stderr)."""
    import os
    from minidocker.runtime.supervisor import Attach
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        _, code = engine.run("busybox", ["sh", "-c", script], attach=Attach(None, out_w, err_w), **options)
    finally:
        os.close(out_w)
        os.close(err_w)
    with os.fdopen(out_r) as o, os.fdopen(err_r) as e:
        return code, o.read(), e.read()


def serve(engine, name: str, network: str, text: str, **options):
    """A detached container serving ``text`` at / with busybox httpd on port 8080, once it listens."""
    import time
    script = f"mkdir /www && echo {text} > /www/index.html && httpd -f -p 8080 -h /www"
    record, _ = engine.run("busybox", ["sh", "-c", script], name=name, network=network, detach_=True,
                           **options)
    ip_ = engine.inspect_container(name)["NetworkSettings"]["IPAddress"]
    deadline = time.monotonic() + 10
    while True:
        try:
            engine.kernel.connect(ip_, 8080).close()
            return record, ip_
        except OSError:
            assert time.monotonic() < deadline, "httpd did not start listening"
            time.sleep(0.05)


def test_a_container_gets_eth0_on_the_default_bridge_with_a_default_route(sim):
    code, out, err = run(sim, "ip addr show eth0 | grep 'inet '; ip route; hostname -i; ping -c 1 10.66.0.1 | head -2")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:5] == ["    inet 10.66.0.2/16 scope global eth0","default via 10.66.0.1 dev eth0 ", "10.66.0.0/16 dev eth0 scope link  src 10.66.0.2 ",
                          "10.66.0.2", "PING 10.66.0.1 (10.66.0.1): 56 data bytes"]
    assert lines[5].startswith("64 bytes from 10.66.0.1: seq=0 ttl=64 time=")
    assert "minidocker0" in [l.name for l in sim.kernel.links()]
    assert [l.name for l in sim.kernel.links() if l.kind == "veth"] == []   # gone with the container


def test_containers_on_a_user_network_reach_each_other_by_name(sim):
    sim.networks.create("web")
    serve(sim, "web1", "web", "hello-from-web1")
    code, out, err = run(sim, "grep web1 /etc/hosts; wget -qO- http://web1:8080/; ping -c 1 web1 | head -2",
                         network="web")
    assert (code, err) == (0, "")
    assert out.splitlines()[:3] == ["10.67.0.2\tweb1", "hello-from-web1", "PING web1 (10.67.0.2): 56 data bytes"]
    code, out, err = run(sim, "wget -O /tmp/page http://web1:8080/ && cat /tmp/page; wget -q http://web1:8080/x",
                         network="web")
    assert code == 1 and out == "hello-from-web1\n"
    assert err == ("Connecting to web1:8080 (10.67.0.2:8080)\nsaving to '/tmp/page'\n"
                   f"{'page':<20}100% |{'*' * 32}|    16  0:00:00 ETA\n'/tmp/page' saved\n"
                   "wget: server returned error: HTTP/1.1 404 Not Found\n")


def test_containers_on_different_networks_cannot_reach_each_other(sim):
    sim.networks.create("web")
    sim.networks.create("other")
    _, ip_ = serve(sim, "web1", "web", "hello")
    code, out, err = run(sim, f"grep -c web1 /etc/hosts; wget -qO- http://{ip_}:8080/; ping -c 1 {ip_} | tail -1",
                         network="other")
    assert out.splitlines() == ["0", "1 packets transmitted, 0 packets received, 100% packet loss"]
    assert err == f"wget: can't connect to remote host ({ip_}): Connection timed out\n"
    code, out, err = run(sim, f"wget -qO- http://{ip_}:8080/")   # nor from the default bridge
    assert (code, err) == (1, f"wget: can't connect to remote host ({ip_}): Connection timed out\n")


def test_network_none_has_only_lo(sim):
    code, out, err = run(sim, "ip link | grep -c '^[0-9]'; ip route; hostname -i", network="none")
    assert (code, out, err) == (0, "1\n127.0.1.1\n", "")


def test_a_published_port_answers_a_real_request_from_the_host(sim):
    import urllib.error
    import urllib.request
    serve(sim, "pub", "bridge", "published", publish=["127.0.0.1::8080"])
    port = int(sim.inspect_container("pub")["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
        assert (answer.status, answer.read(), answer.headers["Content-Length"]) == (200, b"published\n", "10")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/missing", timeout=5)
    assert info.value.code == 404


def test_nc_carries_bytes_both_ways_between_containers(sim):
    import time
    sim.networks.create("chat")
    sim.run("busybox", ["sh", "-c", "echo from-server | nc -l -p 9000 > /tmp/got; cat /tmp/got; sleep 10"],
            name="server", network="chat", detach_=True)
    deadline = time.monotonic() + 10
    while True:
        code, out, err = run(sim, "echo from-client | nc server 9000", network="chat")
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (code, out, err) == (0, "from-server\n", "")
    deadline = time.monotonic() + 5
    while "from-client\n" not in [t for _, t in sim.logs("server")] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [t for _, t in sim.logs("server")] == ["from-client\n"]


def test_a_container_cannot_reconfigure_its_network_without_cap_net_admin(sim):
    code, out, err = run(sim, "ip link set eth0 down; echo $?; ip addr add 10.1.2.3/8 dev eth0; echo $?")
    assert (out, err) == ("2\n2\n", "ip: SIOCSIFFLAGS: Operation not permitted\n"
                                    "ip: RTNETLINK answers: Operation not permitted\n")


def test_httpd_answers_as_busybox_does(sim):
    serve(sim, "www", "bridge", "home")
    code, out, err = run(sim, "printf 'GET /sub HTTP/1.0\\r\\n\\r\\n' | nc 10.66.0.2 8080; "
                              "printf 'POST / HTTP/1.0\\r\\n\\r\\n' | nc 10.66.0.2 8080 | head -1; "
                              "printf 'GET /../etc/passwd HTTP/1.0\\r\\n\\r\\n' | nc 10.66.0.2 8080 | head -1")
    lines = out.replace("\r", "").splitlines()
    assert lines[0] == "HTTP/1.1 404 Not Found" and "<BODY><H1>404 Not Found</H1>" in out
    assert lines[-2:] == ["HTTP/1.1 501 Not Implemented", "HTTP/1.1 400 Bad Request"]


def test_httpd_v_logs_each_answer_with_the_clients_address_as_busybox_does(sim):
    """Measured with busybox 1.35's httpd: -v logs the response code, -vv the URL too (not
    for a request it rejects before reading the URL), -vvv the connection; an IPv4 client
    shows as ::ffff:a.b.c.d, since busybox listens on IPv6 unless -p names an address."""
    import time
    serve(sim, "quiet", "bridge", "home")                 # 10.66.0.2: no -v, no log
    for name, verbose, port in (("vv", "-vv", "8081"), ("vvv", "-vvv", "0.0.0.0:8082")):
        sim.run("busybox", ["sh", "-c", f"mkdir /www && echo home > /www/index.html && "
                                        f"httpd -f {verbose} -p {port} -h /www"], name=name, detach_=True)
    code, out, err = run(sim, "sleep 0.3; wget -qO- http://10.66.0.3:8081/; "
                              "printf 'POST /../x HTTP/1.0\\r\\n\\r\\n' | nc 10.66.0.3 8081 | head -1; "
                              "printf 'POST / HTTP/1.0\\r\\n\\r\\n' | nc 10.66.0.3 8081 | head -1; "
                              "printf 'GET nope HTTP/1.0\\r\\n\\r\\n' | nc 10.66.0.3 8081 | head -1; "
                              "wget -qO- http://10.66.0.4:8082/")
    assert out.replace("\r", "").splitlines() == ["home", "HTTP/1.1 400 Bad Request", "HTTP/1.1 501 Not Implemented",
                                                  "HTTP/1.1 400 Bad Request", "home"], err

    def log(name: str, lines: int) -> list[tuple[str, str]]:
        """The container's log lines as (client without its port, message), once all are in."""
        deadline = time.monotonic() + 5
        while True:
            text = "".join(t for s, t in sim.logs(name) if s == "stderr").splitlines()
            if len(text) >= lines or time.monotonic() > deadline:
                return [(who.rsplit(":", 1)[0], what) for who, what in (l.split(": ", 1) for l in text)]
            time.sleep(0.05)

    assert [t for _, t in sim.logs("quiet")] == []
    assert log("vv", 6) == [("[::ffff:10.66.0.5]", "url:/"), ("[::ffff:10.66.0.5]", "response:200"),
                               ("[::ffff:10.66.0.5]", "response:400"),
                               ("[::ffff:10.66.0.5]", "url:/"), ("[::ffff:10.66.0.5]", "response:501"),
                               ("[::ffff:10.66.0.5]", "response:400")]
    assert log("vvv", 4) == [("10.66.0.5", "connected"), ("10.66.0.5", "url:/"),
                                ("10.66.0.5", "response:200"), ("10.66.0.5", "closed")]


def test_the_cli_publishes_a_simulated_containers_port_on_the_real_loopback(tmp_path):
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "state"), MINIDOCKER_KERNEL="sim")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def md(*args):
        return subprocess.run([sys.executable, "-m", "minidocker", *args], env=env, text=True,
                              capture_output=True, timeout=60)

    r = md("run", "-d", "--name", "site", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
           "echo via-the-cli > /index.html && httpd -f -p 80 -h /")
    assert r.returncode == 0, r.stderr
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    assert answer.read() == b"via-the-cli\n"
                    break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        [info] = json.loads(md("inspect", "site").stdout)
        assert info["NetworkSettings"]["IPAddress"] == "10.66.0.2"
    finally:
        md("rm", "-f", "site")


def test_the_list_of_supported_commands_names_the_network_applets():
    from minidocker.kernel.sim.userland import not_found
    supported = not_found("vim").split("(supported: ")[1].rstrip(")").split(", ")
    assert {"httpd", "ip", "nc", "ping", "wget", "curl", "nslookup"} <= set(supported)

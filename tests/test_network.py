"""Container networking on the real kernel: bridges, veths, IPAM, names, published ports.

The whole suite runs in a network namespace of its own (conftest.py), so the
bridges and firewall rules made here exist only there; traffic goes to loopback
and to the test's own containers (and, for NAT, to a namespace the test makes).
Each test drives the CLI in a subprocess, as a user would, and the ``netclean``
fixture proves afterwards that no veth, endpoint, bridge or rule is left.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from minidocker.kernel.linux import LinuxKernel
from test_runtime import clean, md, out  # noqa: F401  (clean is a fixture)

pytestmark = pytest.mark.root
K = LinuxKernel()


def veths() -> set[str]:
    return {l.name for l in K.links() if l.kind == "veth"}


def rules() -> set:
    return {r for table in ("filter", "nat") for r in K.firewall_rules(table)}


def user_bridges() -> set[str]:
    return {l.name for l in K.links() if l.name.startswith("md-")}


@pytest.fixture
def netclean(clean, state_root):
    """As ``clean``, and no veth, address, user bridge or firewall rule of the test is left."""
    before = veths(), user_bridges(), rules()
    yield
    for line in md("ps", "-aq").stdout.split():
        md("rm", "-f", line)
    for name in md("network", "ls", "--format", "{{.Name}}").stdout.split():
        if name not in ("bridge", "host", "none"):
            md("network", "rm", name)
    deadline = time.monotonic() + 3
    while veths() - before[0] and time.monotonic() < deadline:
        time.sleep(0.05)  # a veth goes with its namespace, an instant after the container
    assert veths() - before[0] == set()
    assert user_bridges() - before[1] == set()
    # the default bridge stays, like docker0, and with it its rules and the shared jump
    left = {r for r in rules() - before[2]
            if "minidocker0" not in r.args and r.args != ("-j", "MINIDOCKER-ISOLATION-1")}
    assert left == set(), f"firewall rules of the test are left: {left}"
    for doc in (state_root / "networks").glob("*.json"):
        assert json.loads(doc.read_text())["endpoints"] == {}, "an address is still allocated"


def inspect(name: str) -> dict:
    return json.loads(out("inspect", name))[0]


def ip_on(name: str, network: str) -> str:
    return inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]


def serve(name: str, text: str, *extra: str, port: int = 8080) -> str:
    """A detached busybox httpd answering ``text`` at /index.html; its container ID."""
    cid = out("run", "-d", "--name", name, *extra, "busybox", "sh", "-c",
              f"echo {text} > /tmp/index.html; exec httpd -f -p {port} -h /tmp").strip()
    return cid


def wait_for(url: str, timeout: float = 5) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=2).read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- the default bridge -------------------------------------------------------------------

def test_a_container_gets_eth0_an_address_and_a_default_route_on_the_bridge(netclean):
    r = md("run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0; ip route")
    assert r.returncode == 0, r.stderr
    assert "inet 10.66.0." in r.stdout and "/16" in r.stdout
    assert "default via 10.66.0.1 dev eth0" in r.stdout
    bridge = next(l for l in K.links() if l.name == "minidocker0")
    assert bridge.kind == "bridge" and "10.66.0.1/16" in bridge.addresses and bridge.mtu == 1500


def test_two_containers_talk_by_ip_on_the_default_bridge(netclean):
    serve("srv", "hello-by-ip")
    ip = ip_on("srv", "bridge")
    r = md("run", "--rm", "busybox", "sh", "-c",
           f"for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://{ip}:8080/index.html && exit; sleep 0.2; done")
    assert r.stdout == "hello-by-ip\n", r.stderr


def test_network_none_has_only_loopback(netclean):
    r = md("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net")
    assert r.stdout.split() == ["lo"]
    assert inspect_after_run_none() == "none"


def inspect_after_run_none() -> str:
    cid = out("create", "--network", "none", "busybox", "true").strip()
    mode = inspect(cid)["HostConfig"]["NetworkMode"]
    out("rm", cid)
    return mode


def test_network_host_sees_the_hosts_interfaces(netclean):
    K.link_add("mdtest-host0", "bridge")  # this kernel has no dummy module
    try:
        r = md("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net")
        assert "mdtest-host0" in r.stdout.split()
    finally:
        K.link_delete("mdtest-host0")


# -- user networks: names, isolation, connect ----------------------------------------------

def test_containers_on_a_user_network_reach_each_other_by_name(netclean):
    out("network", "create", "web")
    serve("db", "hello-by-name", "--network", "web")
    r = md("run", "--rm", "--network", "web", "busybox", "sh", "-c",
           "grep -w db /etc/hosts; for i in 1 2 3 4 5 6 7 8 9 10; do "
           "wget -qO- http://db:8080/index.html && exit; sleep 0.2; done")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "hello-by-name"
    assert r.stdout.split()[0] == ip_on("db", "web")


def test_a_running_containers_hosts_file_learns_of_later_peers(netclean):
    out("network", "create", "web")
    out("run", "-d", "--name", "first", "--network", "web", "busybox", "sleep", "30")
    out("run", "-d", "--name", "second", "--network", "web", "busybox", "sleep", "30")
    hosts = out("exec", "first", "cat", "/etc/hosts")
    assert f"{ip_on('second', 'web')}\tsecond" in hosts
    out("rm", "-f", "second")
    assert "second" not in out("exec", "first", "cat", "/etc/hosts")


def test_the_default_bridge_does_not_resolve_container_names(netclean):
    out("run", "-d", "--name", "quiet", "busybox", "sleep", "30")
    r = md("run", "--rm", "busybox", "cat", "/etc/hosts")
    assert "quiet" not in r.stdout


def test_containers_on_different_networks_cannot_talk(netclean):
    out("network", "create", "front")
    out("network", "create", "back")
    serve("secret", "should-not-see", "--network", "back")
    ip = ip_on("secret", "back")
    # reachable from its own network, so the failure below is the isolation, not the server
    same = md("run", "--rm", "--network", "back", "busybox", "sh", "-c",
              f"for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 1 {ip} 8080 </dev/null && exit; sleep 0.2; done; exit 1")
    assert same.returncode == 0, same.stderr
    for network in ("front", "bridge"):
        r = md("run", "--rm", "--network", network, "busybox", "sh", "-c",
               f"ping -c 1 -W 1 {ip}; echo ping=$?; nc -w 1 {ip} 8080 </dev/null; echo nc=$?")
        assert "ping=1" in r.stdout and "nc=1" in r.stdout, (network, r.stdout)


def test_connect_and_disconnect_rewire_a_running_container(netclean):
    out("network", "create", "web")
    serve("api", "connected", "--network", "web")
    out("run", "-d", "--name", "client", "busybox", "sleep", "30")
    out("network", "connect", "web", "client")
    r = md("exec", "client", "sh", "-c", "ls /sys/class/net; grep -w api /etc/hosts; "
           "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://api:8080/index.html && exit; sleep 0.2; done")
    assert "eth1" in r.stdout.split() and r.stdout.splitlines()[-1] == "connected", r.stderr
    assert set(inspect("client")["NetworkSettings"]["Networks"]) == {"bridge", "web"}
    out("network", "disconnect", "web", "client")
    assert "eth1" not in out("exec", "client", "ls", "/sys/class/net").split()
    assert set(inspect("client")["NetworkSettings"]["Networks"]) == {"bridge"}


# -- published ports ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_published_port_answers_on_the_hosts_loopback(netclean):
    port = _free_port()
    serve("site", "published", "-p", f"{port}:8080")
    assert wait_for(f"http://127.0.0.1:{port}/index.html") == b"published\n"
    assert out("port", "site").strip() == f"8080/tcp -> 0.0.0.0:{port}"
    assert f"0.0.0.0:{port}->8080/tcp" in out("ps")
    bindings = inspect("site")["NetworkSettings"]["Ports"]["8080/tcp"]
    assert bindings == [{"HostIp": "0.0.0.0", "HostPort": str(port)}]


def test_publish_all_maps_exposed_ports_to_free_host_ports(netclean):
    serve("auto", "any-port", "--expose", "8080", "-P")
    host_port = int(out("port", "auto", "8080").strip().rsplit(":", 1)[1])
    assert wait_for(f"http://127.0.0.1:{host_port}/index.html") == b"any-port\n"


def test_udp_datagrams_are_relayed_both_ways():
    """busybox has no UDP server, so the proxy relays to an echo socket of this test."""
    from minidocker.runtime.netspec import PortBinding
    from minidocker.runtime.portproxy import PortProxy
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as echo, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        echo.bind(("127.0.0.1", 0))

        def answer() -> None:
            for _ in range(2):
                data, peer = echo.recvfrom(100)
                echo.sendto(data.upper(), peer)

        threading.Thread(target=answer, daemon=True).start()
        proxy = PortProxy(K, (PortBinding(echo.getsockname()[1], "udp", "127.0.0.1", 0),))
        try:
            proxy.start("127.0.0.1")
            published = proxy.bindings[0].host_port
            client.settimeout(5)
            for word in (b"one", b"two"):
                client.sendto(word, ("127.0.0.1", published))
                assert client.recv(100) == word.upper()
        finally:
            proxy.close()


def test_a_port_in_use_fails_the_start_cleanly(netclean):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        before = veths()
        r = md("run", "--name", "late", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.strip() == f"minidocker: Bind for 127.0.0.1:{port} failed: port is already allocated"
    assert veths() == before
    assert inspect("late")["State"]["Status"] == "exited"


# -- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["run", "--rm", "--network", "nowhere", "busybox", "true"], "network nowhere not found"),
    (["run", "--rm", "-p", "99999:80", "busybox", "true"], "invalid host port 99999"),
    (["run", "--rm", "-p", "80/sctp", "busybox", "true"], "invalid protocol 'sctp'"),
    (["run", "--rm", "--network", "none", "-p", "8080:80", "busybox", "true"], "conflicting options"),
    (["network", "create", "--subnet", "10.1.2.3/24", "bad"], "invalid subnet"),
    (["network", "create", "bad name"], "invalid network name"),
    (["network", "rm", "bridge"], "pre-defined network"),
    (["network", "rm", "nowhere"], "network nowhere not found"),
])
def test_bad_network_input_is_one_clear_line(netclean, args, message):
    r = md(*args)
    assert r.returncode != 0
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_overlapping_subnets_and_busy_networks_are_refused(netclean):
    out("network", "create", "--subnet", "10.70.0.0/24", "one")
    r = md("network", "create", "--subnet", "10.70.0.0/16", "two")
    assert r.returncode == 1 and "overlaps" in r.stderr
    out("run", "-d", "--name", "holder", "--network", "one", "busybox", "sleep", "30")
    r = md("network", "rm", "one")
    assert r.returncode == 1 and "has active endpoints (holder)" in r.stderr
    out("rm", "-f", "holder")
    out("network", "rm", "one")


# -- clean-up and the IPAM ---------------------------------------------------------------------

def test_nothing_is_left_after_rm(netclean):
    before = veths()
    out("network", "create", "temp")
    cid = out("run", "-d", "--network", "temp", "-p", "127.0.0.1:0:80", "busybox", "sleep", "30").strip()
    assert len(veths() - before) == 1
    bridge = inspect(cid)["NetworkSettings"]["Networks"]["temp"]
    out("rm", "-f", cid)
    out("network", "rm", "temp")
    assert veths() == before
    assert not any(bridge["IPAddress"] in " ".join(l.addresses) for l in K.links())
    rules = [" ".join(r.args) for t in ("filter", "nat") for r in K.firewall_rules(t)]
    assert not any("md-" in r for r in rules), rules


def test_ipam_never_hands_out_an_address_twice_under_parallel_starts(netclean):
    out("network", "create", "crowd")
    results = []

    def start(i: int) -> None:
        results.append(md("run", "-d", "--name", f"c{i}", "--network", "crowd", "busybox", "sleep", "30"))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results if r.returncode]
    ips = [ip_on(f"c{i}", "crowd") for i in range(20)]
    assert len(set(ips)) == 20 and "" not in ips
    in_kernel = [a.split("/")[0] for i in range(20)
                 for a in inspect_addresses(f"c{i}")]
    assert sorted(in_kernel) == sorted(ips)


def inspect_addresses(name: str) -> list[str]:
    """The addresses eth0 really has, read from the container's own namespace."""
    pid = inspect(name)["State"]["Pid"]
    return [a for l in K.links(netns=f"/proc/{pid}/ns/net") if l.name == "eth0" for a in l.addresses]


def test_a_dead_supervisors_address_is_freed_when_the_daemon_reconciles(netclean, state_root):
    from minidocker.engine import Engine
    cid = out("run", "-d", "--name", "orphan", "busybox", "sleep", "30").strip()
    supervisor = json.loads((state_root / "containers" / cid / "state.json").read_text())["SupervisorPid"]
    os.kill(supervisor, 9)
    deadline = time.monotonic() + 5
    while K.process_alive(supervisor):  # a signal is delivered, and its process reaped, a moment later
        assert time.monotonic() < deadline
        time.sleep(0.01)
    report = Engine(state_root).reconcile()
    assert any("network address was freed" in line for line in report), report


# -- the way out: NAT and MTU ----------------------------------------------------------------

@pytest.fixture
def outside():
    """An "outside" network namespace behind a veth from the suite's (the host's) namespace:
    the host is 192.0.2.1 on ``mdt-up0`` (MTU 1400, as this VM's real uplink), the outside
    192.0.2.2 with no route back to the containers' networks."""
    proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        ns = f"/proc/{proc.pid}/ns/net"
        deadline = time.monotonic() + 5
        while os.readlink(ns) == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        K.link_add("mdt-up0", "veth", peer="eth0", peer_netns=ns, mtu=1400)
        K.addr_add("mdt-up0", "192.0.2.1/24")
        K.link_set("mdt-up0", up=True)
        K.addr_add("eth0", "192.0.2.2/24", netns=ns)
        K.link_set("eth0", up=True, netns=ns)
        yield ns
    finally:
        proc.kill()
        proc.wait()
        try:
            K.link_delete("mdt-up0")  # its routes go with it
        except OSError:
            pass


def test_outbound_traffic_is_masqueraded_behind_the_host(netclean, outside):
    """The outside knows only the host's address; a container's ping gets an answer only
    because the host rewrote its source address (MASQUERADE)."""
    assert not any(r.dst == "default" for r in K.routes(netns=outside))  # no way back to 10.66/16
    r = md("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", "192.0.2.2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert any(rule.args[-1] == "MASQUERADE" and "10.66.0.0/16" in rule.args
               for rule in K.firewall_rules("nat"))


def test_an_internal_network_reaches_nothing_outside_itself(netclean, outside):
    out("network", "create", "--internal", "vault")
    serve("inner", "inside-only", "--network", "vault")
    ip = ip_on("inner", "vault")
    r = md("run", "--rm", "--network", "vault", "busybox", "sh", "-c",
           f"for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 1 {ip} 8080 </dev/null && break; sleep 0.2; done "
           "&& echo peer=ok; ping -c 1 -W 1 192.0.2.2 >/dev/null && echo outside=ok || echo outside=no")
    assert r.stdout.split() == ["peer=ok", "outside=no"], r.stdout + r.stderr
    assert md("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", "192.0.2.2").returncode == 0
    bridge = inspect_network("vault")["Options"]["com.docker.network.bridge.name"]
    assert not any(bridge in rule.args for rule in K.firewall_rules("nat"))  # no masquerade either


def inspect_network(name: str) -> dict:
    return json.loads(out("network", "inspect", name))[0]


def test_containers_take_the_mtu_of_the_hosts_way_out(netclean, outside):
    K.route_add("default", "192.0.2.2")
    r = md("run", "--rm", "busybox", "cat", "/sys/class/net/eth0/mtu")
    assert r.stdout == "1400\n", r.stderr
    # and a packet of exactly that size (1372 bytes + 28 of headers) makes it out and back
    assert md("run", "--rm", "busybox", "ping", "-c", "1", "-W", "2", "-s", "1372", "192.0.2.2").returncode == 0


@pytest.mark.parametrize("op, nth", [("link_add", 1), ("link_set", 2), ("addr_add", 1),
                                     ("route_add", 1), ("open_port", 1)])
def test_a_failed_network_step_fails_the_start_and_leaves_nothing(netclean, state_root, op, nth):
    """Inject a failure into one network call: the start fails with one clear line, and
    no veth, address, endpoint, cgroup or container is left (``netclean`` checks)."""
    from minidocker.errors import MinidockerError
    from minidocker.runtime.supervisor import Attach
    from test_runtime import _engine_with_fault
    engine = _engine_with_fault(state_root, op, nth)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with pytest.raises(MinidockerError, match="injected fault") as info:
            engine.run("busybox", ["true"], attach=Attach(None, devnull, devnull), auto_remove=True,
                       publish=["127.0.0.1:0:80"])
    finally:
        os.close(devnull)
    assert info.value.exit_code == 125 and "\n" not in str(info.value)
    assert engine.containers.all() == []


def test_a_container_resolves_its_own_name_on_a_user_network(netclean):
    out("network", "create", "web")
    serve("self", "me", "--network", "web")
    r = md("exec", "self", "sh", "-c",
           "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://self:8080/index.html && exit; sleep 0.2; done")
    assert r.stdout == "me\n", r.stderr
    assert list(inspect_network("web")["Containers"].values())[0]["Name"] == "self"
    out("stop", "-t", "0", "self")
    assert inspect_network("web")["Containers"] == {}   # a stopped member has no endpoint


def test_a_netlink_socket_is_made_inside_a_namespace_by_this_thread_which_comes_back():
    from pyroute2 import IPRoute
    from minidocker.kernel import netlink
    home = os.stat("/proc/thread-self/ns/net").st_ino
    proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        netns = f"/proc/{proc.pid}/ns/net"
        deadline = time.monotonic() + 5
        while os.stat(netns).st_ino == home:   # unshare has not made it yet
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with IPRoute(fileno=netlink._route_socket_in(netns)) as ipr:
            names = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
        assert names == ["lo"]   # the new namespace's, not the host's
        assert os.stat("/proc/thread-self/ns/net").st_ino == home
        with pytest.raises(FileNotFoundError):
            netlink._route_socket_in("/proc/0/ns/net")
        assert os.stat("/proc/thread-self/ns/net").st_ino == home
    finally:
        proc.kill()
        proc.wait()


def test_an_ended_containers_veth_is_left_to_the_kernel_and_deleted_when_still_held():
    from minidocker.runtime import netsetup
    from minidocker.runtime.netspec import Endpoint
    procs = [subprocess.Popen(["unshare", "--net", "sleep", "60"]) for _ in range(2)]
    home = os.stat("/proc/self/ns/net").st_ino
    try:
        for proc in procs:
            deadline = time.monotonic() + 5
            while os.stat(f"/proc/{proc.pid}/ns/net").st_ino == home:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        names = ["mdt-gone0", "mdt-held0"]
        for name, proc in zip(names, procs):
            K.link_add(name, "veth", peer="eth0", peer_netns=f"/proc/{proc.pid}/ns/net")
        procs[0].kill()   # its namespace ends: the kernel removes the pair by itself
        procs[0].wait()
        assert K.link_gone("mdt-gone0", 5.0)
        assert not K.link_gone("mdt-held0", 0.02)   # its namespace lives on
        ep = Endpoint(container="c", name="c", ip="10.99.0.2", ifname="eth0", veth="mdt-held0",
                      owner=os.getpid())
        netsetup.detach(K, ep, ended=True)   # waits in vain, then deletes it itself
        assert "mdt-held0" not in veths()
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for name in ("mdt-gone0", "mdt-held0"):
            if name in veths():
                K.link_delete(name)


def test_the_hosts_netlink_session_is_kept_by_the_main_thread_only_and_not_shared_with_children():
    from minidocker.kernel import netlink
    with netlink._ipr(None) as first, netlink._ipr(None) as again:
        assert first is again   # one session in the main thread, kept open
    in_thread = []
    t = threading.Thread(target=lambda: in_thread.append(netlink._ipr(None)))
    t.start()
    t.join()
    with in_thread[0] as other:   # a thread gets one of its own, closed after the call
        assert other is not first
        assert other.link_lookup(ifname="lo")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # a forked child must not read the parent's socket's answers
        with netlink._ipr(None) as mine:
            os.write(w, b"1" if mine is not first and mine.link_lookup(ifname="lo") else b"0")
        os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.close(r)
    os.waitpid(pid, 0)


def _sync_child(sync, delay: float = 0.05) -> int:
    """A process that plays a starting container's part: say "ready" after ``delay``,
    then wait for "go" (exit 0 when it came)."""
    ready_w, go_r = sync.child_ends
    pid = os.fork()
    if pid == 0:
        time.sleep(delay)
        os.write(ready_w, b"1")
        os._exit(0 if os.read(go_r, 1) == b"1" else 1)
    return pid


def test_the_network_is_readied_while_the_container_makes_its_namespaces():
    from minidocker.runtime.supervisor import NamespaceSync
    order = []
    sync = NamespaceSync(lambda pid: order.append(("configure", pid)), lambda: order.append("prepare"))
    pid = _sync_child(sync)
    assert sync.run(K, pid) is None
    assert order == ["prepare", ("configure", pid)]
    assert os.waitpid(pid, 0)[1] == 0


def test_a_network_that_cannot_be_readied_stops_the_container_before_it_goes_on():
    from minidocker.runtime.supervisor import NamespaceSync

    def prepare():
        raise OSError(28, "no address left")
    configured = []
    sync = NamespaceSync(configured.append, prepare)
    pid = _sync_child(sync)
    problem = sync.run(K, pid)
    assert isinstance(problem, OSError) and problem.errno == 28
    assert configured == []
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9


def test_the_network_sub_server_rehearses_a_start_in_a_scratch_namespace_only():
    from minidocker.engine import forkserver
    from minidocker.kernel import netlink
    before = {l.name for l in K.links()}
    forkserver._rehearse_network()
    assert netlink._host is None   # no socket of its own left for the workers it forks
    assert {l.name for l in K.links()} == before   # its veths were never the host's
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)   # its scratch namespace's holder is reaped

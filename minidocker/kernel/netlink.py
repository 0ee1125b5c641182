"""The Linux kernel's network configuration: rtnetlink through pyroute2, and iptables.

``LinuxKernel`` hands its network calls here. Interfaces, addresses and routes
go over rtnetlink with pyroute2's ``IPRoute`` (a socket opened inside the
target namespace when one is named); packet-filter rules go through the
``iptables`` program, as Docker's own bridge driver does, so they show up in
``iptables -S`` and ``nft list ruleset`` where an administrator looks for them.

pyroute2 costs ~0.2 s to import, so it is loaded only by the first network
call: a container with ``--network none`` never pays for it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess

from .base import FirewallRule, Link, Route

_KINDS = {"bridge", "veth", "dummy"}


class NetworkError(OSError):
    """A netlink request the kernel refused, with the interface it was about."""


def _off_the_loop(fn):
    """Run ``fn`` in a thread of its own when this thread runs an asyncio loop (a Jupyter
    kernel does): pyroute2's synchronous API drives an event loop of its own, which
    asyncio refuses to start inside a running one."""
    import functools

    @functools.wraps(fn)
    def call(*args, **kwargs):
        import asyncio
        if asyncio._get_running_loop() is None:
            return fn(*args, **kwargs)
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="minidocker-netlink") as pool:
            return pool.submit(fn, *args, **kwargs).result()
    return call


def _ipr(netns: str | None):
    """An ``IPRoute`` for one call, to use in a ``with`` block: inside ``netns`` (a path),
    or in this process's own namespace."""
    from pyroute2 import IPRoute
    if netns:
        return IPRoute(fileno=_route_socket_in(netns))
    import threading
    if threading.current_thread() is not threading.main_thread():
        return IPRoute()
    return contextlib.nullcontext(_host_route())


_host: tuple[int, object] | None = None   # (PID, IPRoute): this process's own, kept open


def _host_route():
    """The main thread's ``IPRoute`` in the process's own namespace, made once.

    A container's start on a bridge makes five requests there, and each new ``IPRoute``
    costs a socket and an event loop of its own (~1 ms in a freshly forked supervisor).
    It holds nothing of a container's (a socket pins the namespace it was made in, so
    those made inside one are closed after each call). A forked child makes its own."""
    global _host
    if _host is None or _host[0] != os.getpid():
        from pyroute2 import IPRoute
        _host = (os.getpid(), IPRoute())
    return _host[1]


def forget_host_session() -> None:
    """Close this process's kept ``IPRoute`` (a server does, before it forks workers)."""
    global _host
    if _host is not None and _host[0] == os.getpid():
        _host[1].close()
    _host = None


def _route_socket_in(netns: str) -> int:
    """An rtnetlink socket inside the network namespace at path ``netns``.

    A socket belongs to the namespace it was made in. pyroute2's ``IPRoute(netns=…)``
    forks a helper process to make it there (~5 ms, three times per container on a
    bridge); ``setns`` moves only the calling thread, so this thread goes in, makes
    the socket and comes back (pyroute2's ``netns.setns`` does each move)."""
    import socket
    from pyroute2 import netns as namespaces
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            namespaces.setns(target)
        finally:
            os.close(target)
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC,
                                 socket.NETLINK_ROUTE)
        finally:
            namespaces.setns(home)   # fails only if the kernel took our rights away meanwhile
    finally:
        os.close(home)
    return sock.detach()


def _index(ipr, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise NetworkError(errno.ENODEV, f"no network interface {name}")
    return found[0]


def _call(what: str, fn, *args, **kwargs):
    from pyroute2.netlink.exceptions import NetlinkError
    try:
        return fn(*args, **kwargs)
    except NetlinkError as e:
        raise NetworkError(e.code, f"{what}: {os.strerror(e.code)}") from None


@_off_the_loop
def link_add(name, kind, *, peer=None, peer_netns=None, mtu=None, netns=None) -> None:
    if kind not in _KINDS:
        raise NetworkError(errno.EINVAL, f"unsupported interface kind {kind!r}")
    with _ipr(netns) as ipr:
        request = {"ifname": name, "kind": kind}
        if mtu:
            request["mtu"] = mtu
        if kind == "veth":
            request["peer"] = {"ifname": peer or f"{name}p"}
            if mtu:
                request["peer"]["mtu"] = mtu
            if peer_netns:
                fd = os.open(peer_netns, os.O_RDONLY | os.O_CLOEXEC)
                request["peer"]["net_ns_fd"] = fd
        try:
            _call(f"create {kind} {name}", ipr.link, "add", **request)
        finally:
            if kind == "veth" and peer_netns:
                os.close(fd)


@_off_the_loop
def link_set(name, *, up=None, master=None, mtu=None, netns=None) -> None:
    with _ipr(netns) as ipr:
        index = _index(ipr, name)
        request = {}
        if master is not None:
            request["master"] = _index(ipr, master) if master else 0
        if mtu is not None:
            request["mtu"] = mtu
        if up is not None:
            request["state"] = "up" if up else "down"
        _call(f"configure {name}", ipr.link, "set", index=index, **request)


@_off_the_loop
def link_delete(name, *, netns=None) -> None:
    with _ipr(netns) as ipr:
        _call(f"delete {name}", ipr.link, "del", index=_index(ipr, name))


@_off_the_loop
def link_gone(name, timeout) -> bool:
    import time
    from pyroute2.netlink.exceptions import NetlinkError
    deadline = time.monotonic() + timeout
    with _ipr(None) as ipr:
        while True:
            try:
                ipr.link("get", ifname=name)   # one interface by name, not a dump of all
            except NetlinkError as e:
                if e.code == errno.ENODEV:
                    return True
                raise NetworkError(e.code, f"look up {name}: {os.strerror(e.code)}") from None
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)


@_off_the_loop
def addr_add(name, cidr, *, netns=None) -> None:
    address, _, prefix = cidr.partition("/")
    with _ipr(netns) as ipr:
        _call(f"address {cidr} on {name}", ipr.addr, "add", index=_index(ipr, name),
              address=address, prefixlen=int(prefix or 32))


@_off_the_loop
def route_add(dst, gateway, *, netns=None) -> None:
    with _ipr(netns) as ipr:
        if dst == "default":
            _call(f"default route via {gateway}", ipr.route, "add", dst="0.0.0.0/0", gateway=gateway)
        else:
            _call(f"route to {dst} via {gateway}", ipr.route, "add", dst=dst, gateway=gateway)


@_off_the_loop
def links(*, netns=None) -> list[Link]:
    with _ipr(netns) as ipr:
        raw = list(ipr.get_links())
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in raw}
        addresses: dict[int, list[str]] = {}
        for a in ipr.get_addr(family=2):
            addresses.setdefault(a["index"], []).append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    out = []
    for m in raw:
        info = m.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        name = m.get_attr("IFLA_IFNAME")
        if kind is None:
            kind = "loopback" if name == "lo" else "device"
        master = m.get_attr("IFLA_MASTER")
        out.append(Link(name=name, kind=kind, up=bool(m["flags"] & 1), mtu=m.get_attr("IFLA_MTU"),
                        mac=m.get_attr("IFLA_ADDRESS") or "", master=names.get(master, "") if master else "",
                        addresses=tuple(addresses.get(m["index"], ()))))
    return out


@_off_the_loop
def routes(*, netns=None) -> list[Route]:
    with _ipr(netns) as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        out = []
        for r in ipr.get_routes(family=2, table=254):
            dst = r.get_attr("RTA_DST")
            out.append(Route(dst=f"{dst}/{r['dst_len']}" if dst else "default",
                             dev=names.get(r.get_attr("RTA_OIF"), ""),
                             gateway=r.get_attr("RTA_GATEWAY") or ""))
    return out


# -- the packet filter ------------------------------------------------------------------

_BUILTIN_CHAINS = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}
_TARGETS = {"ACCEPT", "DROP", "RETURN", "REJECT", "MASQUERADE", "DNAT", "SNAT", "LOG"}


def _iptables() -> str | None:
    return shutil.which("iptables")


def _run(args: list[str]) -> subprocess.CompletedProcess:
    # -w: wait for the xtables lock instead of failing when another tool holds it
    return subprocess.run([_iptables(), "-w", *args], capture_output=True, text=True)


def _firewall_lock():
    """One rule change at a time on this host: checking for a rule and appending it are
    two iptables runs, and two starts doing both at once would add it twice (and removing
    a network deletes one copy)."""
    import contextlib
    import fcntl

    @contextlib.contextmanager
    def held():
        path = "/run/minidocker-firewall.lock" if os.access("/run", os.W_OK) else \
            os.path.join(os.environ.get("TMPDIR", "/tmp"), f"minidocker-firewall-{os.geteuid()}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
    return held()


def firewall(rule: FirewallRule, add: bool = True) -> bool:
    if _iptables() is None:
        return False
    with _firewall_lock():
        return _firewall(rule, add)


def _firewall(rule: FirewallRule, add: bool) -> bool:
    present = _run(["-t", rule.table, "-C", rule.chain, *rule.args]).returncode == 0
    if add and not present:
        target = rule.args[rule.args.index("-j") + 1] if "-j" in rule.args else ""
        for chain in (rule.chain, target):
            if chain and chain not in _BUILTIN_CHAINS and chain not in _TARGETS:
                _run(["-t", rule.table, "-N", chain])  # fails harmlessly when it exists
        done = _run(["-t", rule.table, "-A", rule.chain, *rule.args])
        if done.returncode != 0:
            raise NetworkError(errno.EINVAL, f"iptables: {done.stderr.strip() or 'rule refused'}")
    elif not add and present:
        _run(["-t", rule.table, "-D", rule.chain, *rule.args])
    return True


def firewall_rules(table: str) -> list[FirewallRule]:
    if _iptables() is None:
        return []
    listing = _run(["-t", table, "-S"])
    import shlex
    out = []
    for line in listing.stdout.splitlines():
        words = shlex.split(line)
        if len(words) >= 2 and words[0] == "-A":
            out.append(FirewallRule(table, words[1], tuple(words[2:])))
    return out

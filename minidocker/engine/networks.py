"""The network verbs of the engine: network create, ls, inspect, rm, prune, connect, disconnect.

Policies are Docker's: ``bridge``, ``host`` and ``none`` always exist and
cannot be removed; a network with running containers cannot be removed; user
networks get a free subnet unless one is given, and overlapping subnets are
refused; ``connect`` and ``disconnect`` work on stopped containers (the change
applies at their next start) and on running ones (a veth is added or removed
at once).
"""

from __future__ import annotations

from ..errors import Conflict, NotFound
from ..runtime.status import RUNNING


class NetworkVerbs:
    """Mixed into ``Engine``; uses its ``networks`` store, ``containers`` and kernel."""

    def network_create(self, name: str, subnet: str | None = None, gateway: str | None = None,
                       internal: bool = False, labels: dict | None = None, driver: str = "bridge"):
        if driver != "bridge":
            raise Conflict(f"plugin {driver!r} not found: minidocker has only the bridge driver")
        routes = []
        if not self.kernel.simulated:
            # a subnet the host already routes would shadow (or be shadowed by) that route
            routes = [r.dst for r in self.kernel.routes() if r.dst != "default"]
        return self.networks.create(name, subnet, gateway, internal, labels, host_routes=routes)

    def network_rows(self) -> list[dict]:
        return [{"ID": n.id[:12], "Name": n.name, "Driver": n.driver, "Scope": "local",
                 "Subnet": n.subnet} for n in self.networks.all()]

    def network_inspect(self, ref: str) -> dict:
        net = self.networks.find(ref)
        containers = {}
        if net.driver == "bridge":
            # as Docker's: the containers connected now (a stopped member has no endpoint)
            for e in self.networks.network_endpoints(net):
                containers[e.container] = {"Name": e.name, "EndpointID": e.veth,
                                           "IPv4Address": f"{e.ip}/{net.prefixlen}",
                                           "MacAddress": "", "IPv6Address": ""}
        return {"Name": net.name, "Id": net.id, "Created": net.created or None, "Scope": "local",
                "Driver": net.driver, "EnableIPv6": False, "Internal": net.internal,
                "Attachable": False, "Ingress": False,
                "IPAM": {"Driver": "default", "Options": {},
                         "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}] if net.subnet else []},
                "Options": {"com.docker.network.bridge.name": net.bridge} if net.bridge else {},
                "Containers": containers, "Labels": dict(net.labels)}

    def network_rm(self, ref: str):
        from ..runtime import netsetup
        net = self.networks.remove(ref, self._running)
        netsetup.remove_bridge(self.kernel, net)
        return net

    def network_prune(self) -> list[str]:
        """Remove every user network no container belongs to."""
        removed = []
        for net in self.networks.all():
            if net.name in ("bridge", "host", "none") or self.networks.members(net):
                continue
            try:
                self.network_rm(net.id)
            except (Conflict, NotFound):
                continue
            removed.append(net.name)
        return removed

    def network_connect(self, ref: str, container: str) -> None:
        from ..runtime import netsetup
        record = self.containers.find(container)
        if record.spec.network in ("none", "host"):
            raise Conflict(f"container {record.spec.name} runs with --network {record.spec.network}: "
                           "it cannot join other networks")
        net = self.networks.find(ref)
        if net.driver != "bridge":
            raise Conflict(f"container cannot be disconnected from host network or connected to "
                           f"host network ({net.name})")
        if record.id in self.networks.members(net):
            raise Conflict(f"endpoint with name {record.spec.name} already exists in network {net.name}")
        running = self._running(record.id)
        if running and self._elsewhere(record):
            raise Conflict("the simulator cannot rewire a container another minidocker process runs; "
                           "connect it before it starts, or from the process that started it")
        self.networks.join(net.id, record.id, record.spec.name)
        if not running:
            return
        taken = {e.ifname for _, e in self.networks.endpoints(record.id)}
        ifname = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
        ep = self.networks.attach(net, record.id, record.spec.name, ifname, record.state.SupervisorPid)
        try:
            netsetup.attach(self.kernel, net, ep, f"/proc/{record.state.Pid}/ns/net", default_route=False,
                            mtu=netsetup.uplink_mtu(self.kernel))
        except BaseException:
            self.networks.detach(net, record.id)
            self.networks.leave(net.id, record.id)
            raise

    def network_disconnect(self, ref: str, container: str) -> None:
        from ..runtime import netsetup
        record = self.containers.find(container)
        net = self.networks.find(ref)
        if record.id not in self.networks.members(net):
            raise NotFound(f"container {record.spec.name} is not connected to network {net.name}")
        live = dict((n.id, e) for n, e in self.networks.endpoints(record.id))
        if net.id in live:
            if self._elsewhere(record):
                raise Conflict("the simulator cannot rewire a container another minidocker process runs")
            netsetup.detach(self.kernel, live[net.id])
            self.networks.detach(net, record.id)
        self.networks.leave(net.id, record.id)

    def _running(self, cid: str) -> bool:
        try:
            return self.containers.load(cid).observed_status(self.kernel) == RUNNING
        except NotFound:
            return False

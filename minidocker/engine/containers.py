"""The container verbs of the engine: create, start, run, stop, kill, wait, rm, ps, logs, inspect, top.

Policies are Docker's: ``--entrypoint`` replaces the image's entrypoint and
its Cmd; the image's Env, WorkingDir and User are defaults; names are unique;
a running container is removed only with ``force``; ``stop`` sends SIGTERM
(or the image's StopSignal), waits, then SIGKILL.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal as signals
import time
TYPE_CHECKING = False  # typing costs ~3 ms to import; only type checkers need it

from ..errors import Conflict, MinidockerError, NotFound
from ..format import human_age
from ..format import now
from ..runtime.status import CREATED, DEAD, EXITED, RUNNING

# The supervisor (sockets, ptys, fork) is imported by the verbs that run something,
# so `ps`, `images` or a cached `build` do not pay for it.
if TYPE_CHECKING:
    from typing import Iterator
    from ..kernel.base import Kernel
    from ..runtime.state import Containers, Record
    from ..runtime.supervisor import Attach

_ADJECTIVES = ("admiring", "brave", "clever", "eager", "focused", "gentle", "happy", "keen",
               "lucid", "modest", "nifty", "quirky", "serene", "tender", "vibrant", "zealous")
_NAMES = ("turing", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "knuth", "liskov",
          "hamilton", "dijkstra", "kowalevski", "lomonosov", "mendeleev", "chebyshev",
          "lebedev", "ershov")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class RunError(MinidockerError):
    """A problem with a run/create request: Docker exits 125 for these."""

    exit_code = 125


class ContainerVerbs:
    """Mixed into ``Engine``; uses its store, snapshots and kernel."""

    @property
    def networks(self):
        from ..runtime.networks import Networks
        return Networks(self.store.root / "networks", self.store.root / "containers", self.kernel)

    @functools.cached_property
    def containers(self) -> Containers:
        # made on first use (a cached build never reads a container record), and once: its
        # lock is one object for every caller in this process (see ``Containers``)
        from ..runtime.state import Containers
        return Containers(self.store.root / "containers")

    # -- create / start / run ----------------------------------------------------
    def create(self, image: str, cmd: list[str] | None = None, *, name: str = "",
               entrypoint: list[str] | None = None, env: list[str] = (), env_files: list[str] = (),
               workdir: str = "", user: str | None = None, hostname: str = "",
               memory: str | None = None, cpus: str | None = None, pids_limit: str | None = None,
               volumes: list[str] = (), read_only: bool = False, tty: bool = False,
               stdin: bool = False, auto_remove: bool = False, init: bool = False,
               network: str | None = None, publish: list[str] = (), publish_all: bool = False,
               expose: list[str] = ()) -> Record:
        from ..runtime import spec as specs
        if not self.kernel.privileged:
            raise RunError("running containers on the real kernel needs root; run minidocker as "
                           "root, or MINIDOCKER_KERNEL=sim for the simulated kernel")
        if name and (not set(name) <= _NAME_CHARS or not name[0].isalnum()):
            raise RunError(f"invalid container name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        resources = specs.Resources(
            memory=specs.parse_memory(memory) if memory is not None else None,
            nano_cpus=specs.parse_cpus(cpus) if cpus is not None else None,
            pids_limit=specs.parse_pids_limit(pids_limit) if pids_limit is not None else None)
        binds = tuple(specs.parse_bind(v) for v in volumes)
        for b in binds:
            if not os.path.exists(b.source):
                raise RunError(f"invalid volume {b.source}:{b.target}: bind source path does not exist: {b.source}")
        extra_env = [line for f in env_files for line in specs.parse_env_file(f)] + list(env)
        try:
            img = self.image(image)
        except NotFound:
            raise RunError(f"Unable to find image '{image}' locally (and minidocker does not pull; "
                           "try `minidocker bootstrap busybox` or `minidocker load`)") from None
        cfg = img.config.container_config
        argv = specs.resolve_argv(entrypoint, cmd, cfg)
        network, ports = self._network_options(network, publish, publish_all,
                                               list(cfg.get("ExposedPorts") or {}) + list(expose))
        if workdir and not workdir.startswith("/"):
            raise RunError(f"the working directory {workdir!r} is invalid, it needs to be an absolute path")
        cid = os.urandom(32).hex()

        def pick_name(taken: set[str]) -> str:
            """Docker-style adjective_name, chosen under the containers' lock."""
            import random  # only naming needs it
            rng = random.Random(cid)
            candidate = f"{rng.choice(_ADJECTIVES)}_{rng.choice(_NAMES)}"
            while candidate in taken:
                candidate = f"{rng.choice(_ADJECTIVES)}_{rng.choice(_NAMES)}{rng.randint(1, 999)}"
            return candidate
        spec = specs.ContainerSpec(
            id=cid, name=name, image=image, image_id=img.id, argv=tuple(argv),
            env=tuple(specs.parse_env(extra_env, cfg.get("Env") or [])),
            working_dir=workdir or cfg.get("WorkingDir") or "/",
            user=user if user is not None else (cfg.get("User") or ""),
            hostname=hostname or cid[:12], tty=tty, stdin=stdin, auto_remove=auto_remove,
            readonly_rootfs=read_only, init=init, binds=binds, resources=resources,
            entrypoint=tuple(entrypoint if entrypoint is not None else cfg.get("Entrypoint") or ()),
            cmd=tuple(cmd or (cfg.get("Cmd") or [] if entrypoint is None else [])),
            network=network, ports=ports)
        top = self.unpack(img)
        record = self.containers.create(spec, now(), pick_name=pick_name)
        try:
            if network not in ("none", "host"):
                self.networks.join(network, cid, record.spec.name)
            self.snapshots.prepare(record.snapshot_key, top, labels={"container": cid})
        except BaseException:
            self.networks.forget(cid)
            self.containers.delete(record)
            raise
        return record

    def _network_options(self, network: str | None, publish, publish_all: bool, exposed: list[str]):
        """``--network`` and ``-p``/``-P``/``--expose`` checked: (network name, port bindings)."""
        from ..runtime import netspec
        network = network or netspec.DEFAULT_NETWORK   # Docker's default, on both kernels
        if network not in ("none", "host"):
            try:
                found = self.networks.find(network)
            except NotFound:
                raise RunError(f"network {network} not found") from None
            network = found.name
        ports = tuple(netspec.parse_publish(p) for p in publish)
        if publish_all:
            ports = netspec.publish_all(exposed, ports)
        else:
            for item in exposed:
                netspec.parse_exposed(item)  # a bad --expose is an error even without -P
        if ports and network in ("none", "host"):
            raise RunError(f"conflicting options: port publishing and --network {network} "
                           "(with host the container uses the host's ports directly; with none it has no network)")
        seen = set()
        for b in ports:
            if b.host_port and (b.host_ip, b.host_port, b.proto) in seen:
                raise RunError(f"Bind for {b.host_ip}:{b.host_port} failed: port is already allocated "
                               "(published twice)")
            seen.add((b.host_ip, b.host_port, b.proto))
        return network, ports

    def start(self, ref: str | Record, attach: Attach | None = None, report_to: int | None = None) -> int:
        """Start a created or exited container. Attached: run it here and return
        its exit code; detached: return 0 once it runs (``report_to``: this process
        becomes the supervisor and says on that descriptor when the container runs,
        see ``runtime.supervisor.detach``)."""
        record = ref if not isinstance(ref, str) else self.containers.find(ref)
        status = record.observed_status(self.kernel)
        if status == RUNNING:
            return 0
        from ..runtime.supervisor import detach, supervise
        layers = self.snapshots.mounts(record.snapshot_key)
        record.state.OOMKilled = False
        if attach is not None:
            try:
                return supervise(self.kernel, record, layers, attach, networks=self.networks)
            finally:
                self._after_exit(record)

        def run(started):
            port = None
            if self.kernel.simulated and not self.kernel.detach_in_process:
                # only this supervisor can reach the container's processes: exec goes through it
                from ..runtime.supervisor import ExecPort
                port = ExecPort(str(record.dir / "exec.sock"),
                                lambda request, attached: self._exec_here(record.id, request, attached))
                self.kernel.detach_in_process = True  # this supervisor keeps what it starts
            try:
                supervise(self.kernel, record, layers, None, started, networks=self.networks)
            finally:
                if port is not None:
                    port.close()
                self._after_exit(record)

        detach(run, in_process=self.kernel.detach_in_process, report_to=report_to)
        return 0

    def _after_exit(self, record: Record) -> None:
        if record.spec.auto_remove:
            fresh = self.containers.load(record.id) if (record.dir / "state.json").exists() else record
            if fresh.state.Status != RUNNING:
                self._remove(record)

    def run(self, image: str, cmd: list[str] | None = None, *, detach_: bool = False,
            attach: Attach | None = None, **options) -> tuple[Record, int]:
        from ..runtime.supervisor import StartFailed
        record = self.create(image, cmd, **options)
        try:
            code = self.start(record, None if detach_ else attach)
        except StartFailed:
            if record.spec.auto_remove:
                self._remove(record)
            raise
        return record, code

    def exec_(self, ref: str, cmd: list[str], *, tty: bool = False, stdin: bool = False,
              user: str | None = None, workdir: str = "", env: list[str] = (),
              detach_: bool = False, attach: Attach | None = None) -> int:
        """Run another process in a running container; its exit code (0 with ``detach_``)."""
        from ..runtime import cgroups
        from ..runtime import spec as specs
        from ..runtime.init import ExecPlan, become_exec_process
        from ..runtime.supervisor import detach, exit_code, relay, spawn
        if not cmd:
            raise RunError("exec needs a command")
        record = self.containers.find(ref)
        if record.observed_status(self.kernel) != RUNNING:
            raise Conflict(f"container {record.id[:12]} is not running")
        if workdir and not workdir.startswith("/"):
            raise RunError(f"the working directory {workdir!r} is invalid, it needs to be an absolute path")
        if self._elsewhere(record):
            from ..runtime.supervisor import Attach, remote_exec
            request = {"cmd": list(cmd), "tty": tty, "stdin": stdin, "user": user,
                       "workdir": workdir, "env": list(env), "detach": detach_}
            devnull = os.open(os.devnull, os.O_RDWR)
            try:
                return remote_exec(str(record.dir / "exec.sock"), request,
                                   attach or Attach(None, devnull, devnull))
            finally:
                os.close(devnull)
        plan = ExecPlan(record.state.Pid, tuple(cmd),
                        tuple(specs.parse_env(list(env), list(record.spec.env))),
                        workdir or record.spec.working_dir,
                        user if user is not None else record.spec.user, tty,
                        tuple(cgroups.manager(self.kernel, record.id).join_files()))
        k = self.kernel

        def go(attached: Attach | None) -> tuple[int, list[int]]:
            pid, ours = spawn(k, lambda err, console: become_exec_process(k, plan, err, console),
                              tty=tty, stdin=stdin, attach=attached,
                              pid_namespace=f"/proc/{record.state.Pid}/ns/pid")
            return pid, ours

        if detach_:
            def background(started):
                pid, ours = go(None)
                started.ok()
                relay(k, pid, ours, tty, None, False, None)
            detach(background, in_process=k.detach_in_process)
            return 0
        pid, ours = go(attach)
        return exit_code(relay(k, pid, ours, tty, attach, stdin, None))

    def attach(self, ref: str, attach: Attach, stdin: bool = True) -> int:
        """``attach``: a running container's output from now on (and our stdin, if it was
        started with -i) until it ends, its exit code; 0 when the user detaches (Ctrl-P
        Ctrl-Q, with a terminal). A terminal is reached through its supervisor's
        ``TerminalPort``; without one, the output comes from the log, stdin goes to its
        stdin port."""
        import socket
        from ..runtime import terminal
        from ..runtime.supervisor import short_socket_path
        record = self.containers.find(ref)
        if record.observed_status(self.kernel) != RUNNING:
            raise Conflict("You cannot attach to a stopped container, start it first")
        typing = stdin and record.spec.stdin
        if record.spec.tty:
            path = str(record.dir / "attach.sock")

            def resized(rows: int, columns: int) -> None:
                try:
                    terminal.resize(path, rows, columns)
                except MinidockerError:
                    pass  # it has ended meanwhile
            with terminal.connect(path, {"op": "attach", "stdin": typing, "backlog": False}) as sock:
                if not terminal.converse(sock, terminal.raw(sock.recv), attach, typing=typing,
                                         detach_keys=True, resize=resized):
                    return 0
        else:
            with open(record.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)  # from now on: before anything we type is answered
                if typing:
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    try:
                        with short_socket_path(str(record.dir / "stdin.sock")) as short:
                            sock.connect(short)
                        terminal.Typing(sock, attach.stdin, detach_keys=False).start()
                    except OSError:
                        sock.close()  # another client has its stdin (or it has just ended)
                for stream, text in self._follow(record, log):
                    os.write(attach.stderr if stream == "stderr" else attach.stdout, text.encode())
        code = self.wait(record.id)
        return code if code is not None else 0

    def _exec_here(self, container_id: str, request: dict, attach: Attach):
        """An exec (or a ``top``) handed over to this container's supervisor (see ``ExecPort``)."""
        if request.get("op") == "top":
            return self.top(container_id)
        if request.get("op") == "namespaces":
            import dataclasses
            from ..viz.namespaces import from_container
            return dataclasses.asdict(from_container(self, container_id))
        return self.exec_(container_id, request["cmd"],
                          tty=request["tty"], stdin=request["stdin"], user=request["user"],
                          workdir=request["workdir"], env=request["env"],
                          detach_=request["detach"], attach=None if request["detach"] else attach)

    def _elsewhere(self, record: Record) -> bool:
        """Whether only another process (its supervisor, on the simulator) reaches it."""
        return self.kernel.simulated and record.state.SupervisorPid != os.getpid() \
            and (record.dir / "exec.sock").exists()

    # -- signals and waiting --------------------------------------------------------
    def kill(self, ref: str, signal: str | int = "KILL") -> Record:
        record = self.containers.find(ref)
        if record.observed_status(self.kernel) != RUNNING:
            raise Conflict(f"Cannot kill container: {ref}: container {record.id[:12]} is not running")
        self.kernel.kill(record.state.Pid, _signal_number(signal))
        return record

    def stop(self, ref: str, timeout: float = 10) -> Record:
        record = self.containers.find(ref)
        if record.observed_status(self.kernel) != RUNNING:
            return record
        image_cfg = self.store.resolve(record.spec.image_id).config.container_config \
            if self._has_image(record.spec.image_id) else {}
        sig = _signal_number(image_cfg.get("StopSignal") or "TERM")
        try:
            self.kernel.kill(record.state.Pid, sig)
        except ProcessLookupError:
            pass
        if self.wait(record.id, timeout=timeout) is None:
            try:
                self.kernel.kill(record.state.Pid, signals.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait(record.id)
        return record

    def _has_image(self, image_id: str) -> bool:
        try:
            self.store.resolve(image_id)
            return True
        except MinidockerError:
            return False

    def wait(self, ref: str, timeout: float | None = None) -> int | None:
        """Block until the container is not running; its exit code (None on timeout)."""
        record = self.containers.find(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        with _ExitWatch(self.kernel) as watch:
            while True:
                try:
                    record = self.containers.load(record.id)
                except NotFound:
                    return record.state.ExitCode  # removed (--rm) after it exited
                status = record.observed_status(self.kernel)
                if status in (EXITED, CREATED, DEAD):
                    return record.state.ExitCode if status != DEAD else -1
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                watch.sleep(record.state.SupervisorPid, delay)
                delay = min(delay * 2, 0.1)

    # -- removing ----------------------------------------------------------------------
    def rm(self, ref: str, force: bool = False) -> str:
        record = self.containers.find(ref)
        status = record.observed_status(self.kernel)
        if status == DEAD and not force:
            raise Conflict(f"cannot remove container {ref}: its supervisor is gone and its processes "
                           "may still run; use rm -f to kill them and remove it")
        if status == RUNNING:
            if not force:
                raise Conflict(f"cannot remove container {ref}: container is running: "
                               "stop the container before removing or force remove")
            self.kernel.kill(record.state.Pid, signals.SIGKILL)
            self.wait(record.id)
        self._remove(record)
        return record.id

    def _remove(self, record: Record) -> None:
        from ..runtime import cgroups
        if record.observed_status(self.kernel) in (RUNNING, DEAD):
            # A container whose supervisor died still has its cgroup (and maybe processes).
            cgroups.manager(self.kernel, record.id).destroy()
        try:
            self.snapshots.remove(record.snapshot_key)
        except NotFound:
            pass
        if record.spec.network not in ("none", "host"):   # only those can be on a network
            self.networks.forget(record.id)
        self.containers.delete(record)

    def reconcile(self) -> list[str]:
        """Make recorded state match what really runs (the daemon does this at start).

        A container whose supervisor has gone is dead: its leftover processes and cgroup
        are removed and it is recorded as exited (255, as Docker records containers it
        finds dead after a restart). Running containers keep running: their supervisors
        never depended on the daemon.
        """
        from ..runtime import cgroups
        from ..runtime.state import now
        report = []
        for record in self.containers.all():
            if record.observed_status(self.kernel) != DEAD:
                continue
            cgroups.manager(self.kernel, record.id).destroy()
            record.state.Status = EXITED
            record.state.ExitCode = 255
            record.state.FinishedAt = now()
            record.state.Error = "its supervisor disappeared; cleaned up when the daemon started"
            record.save_state()
            report.append(f"container {record.id[:12]} ({record.spec.name}): supervisor gone, "
                          "cleaned up and marked exited (255)")
            if record.spec.auto_remove:
                self._remove(record)
        # the dead containers' addresses go back to the pool (their veths went with
        # their namespaces when their processes were killed above)
        for cid in self.networks.reconcile():
            report.append(f"container {cid[:12]}: its network address was freed")
        from ..fileio import sweep_trash
        for path in sweep_trash(self.containers.root) + sweep_trash(self.snapshots.root):
            report.append(f"{path}: a removal cut short, finished")
        return report

    # -- looking ---------------------------------------------------------------------------
    def ps_rows(self, all_: bool = False) -> list[dict]:
        rows = []
        for r in self.containers.all():
            status = r.observed_status(self.kernel)
            if not all_ and status != RUNNING:
                continue
            rows.append({
                "ID": r.id[:12], "Image": r.spec.image,
                "Command": json.dumps(" ".join(r.spec.argv))[:22] + ('…"' if len(" ".join(r.spec.argv)) > 20 else ""),
                "CreatedAt": r.created, "RunningFor": human_age(r.created),
                "Status": status_text(r, status), "State": status,
                "Ports": ", ".join(f"{ip}:{hp}->{cp}/{proto}" for ip, hp, cp, proto in r.state.Ports)
                if status == RUNNING else "", "Names": r.spec.name,
            })
        return rows

    def inspect_container(self, ref: str) -> dict:
        r = self.containers.find(ref)
        status = r.observed_status(self.kernel)
        s = r.state
        return {
            "Id": r.id, "Created": r.created, "Path": r.spec.argv[0], "Args": list(r.spec.argv[1:]),
            "State": {"Status": status, "Running": status == RUNNING, "Paused": False,
                      "Restarting": False, "OOMKilled": s.OOMKilled, "Dead": status == DEAD,
                      "Pid": s.Pid if status == RUNNING else 0, "ExitCode": s.ExitCode,
                      "Error": s.Error or ("supervisor gone; state unknown" if status == DEAD else ""),
                      "StartedAt": s.StartedAt, "FinishedAt": s.FinishedAt},
            "Image": r.spec.image_id, "Name": "/" + r.spec.name, "LogPath": str(r.log_path),
            "Driver": "overlay",
            "Config": {"Hostname": r.spec.hostname, "User": r.spec.user, "Tty": r.spec.tty,
                       "OpenStdin": r.spec.stdin, "Env": list(r.spec.env), "Cmd": list(r.spec.cmd),
                       "Entrypoint": list(r.spec.entrypoint) or None, "Image": r.spec.image,
                       "WorkingDir": r.spec.working_dir},
            "HostConfig": {"Binds": [f"{b.source}:{b.target}{':ro' if b.readonly else ''}"
                                     for b in r.spec.binds],
                           "AutoRemove": r.spec.auto_remove, "ReadonlyRootfs": r.spec.readonly_rootfs,
                           "Memory": r.spec.resources.memory or 0,
                           "NanoCpus": r.spec.resources.nano_cpus or 0,
                           "PidsLimit": r.spec.resources.pids_limit,
                           "NetworkMode": r.spec.network,
                           "PortBindings": _port_map([(b.host_ip, b.host_port or "", b.container_port, b.proto)
                                                      for b in r.spec.ports]),
                           "LogConfig": {"Type": "json-file", "Config": {}}},
            "NetworkSettings": self._network_settings(r, status),
        }

    def _network_settings(self, r: Record, status: str) -> dict:
        """Docker's NetworkSettings: the ports and, per network, the live endpoint."""
        live = {net.name: (net, ep) for net, ep in self.networks.endpoints(r.id)} \
            if status == RUNNING else {}
        nets = {}
        names = [n.name for n in self.networks.memberships(r.id)] if r.spec.network not in ("none", "host") \
            else [r.spec.network]
        for name in names:
            net, ep = live.get(name, (None, None))
            nets[name] = {"NetworkID": net.id if net else "", "EndpointID": ep.veth if ep else "",
                          "IPAddress": ep.ip if ep else "", "IPPrefixLen": net.prefixlen if net else 0,
                          "Gateway": net.gateway if net else "", "MacAddress": "",
                          "Aliases": [r.spec.name] if ep and net.names_resolve else None}
        first = next(iter(live.values()), (None, None))
        return {"IPAddress": first[1].ip if first[1] else "",
                "IPPrefixLen": first[0].prefixlen if first[0] else 0,
                "Gateway": first[0].gateway if first[0] else "",
                "Ports": _port_map(r.state.Ports) if status == RUNNING else {},
                "Networks": nets}

    def port(self, ref: str) -> list[str]:
        """``minidocker port``: "80/tcp -> 0.0.0.0:8080" for each published port."""
        r = self.containers.find(ref)
        if r.observed_status(self.kernel) != RUNNING:
            return []
        return [f"{cp}/{proto} -> {ip}:{hp}" for ip, hp, cp, proto in r.state.Ports]

    def logs(self, ref: str, follow: bool = False, tail: int | None = None) -> Iterator[tuple[str, str]]:
        """(stream, text) pairs from the JSON log; with ``follow`` until the container exits."""
        record = self.containers.find(ref)
        try:
            f = open(record.log_path, "rb")
        except FileNotFoundError:
            return
        with f:
            lines = f.readlines()
            if tail is not None:
                lines = lines[-tail:] if tail > 0 else []
            for line in lines:
                yield _decode(line)
            if follow:
                yield from self._follow(record, f)

    def _follow(self, record: Record, f) -> Iterator[tuple[str, str]]:
        """What the log ``f`` gets from where it is read up to, until the container ends."""
        with _ExitWatch(self.kernel) as watch:
            while True:
                line = f.readline()
                if line:
                    yield _decode(line)
                    continue
                try:
                    current = self.containers.load(record.id)
                except NotFound:
                    return
                if current.observed_status(self.kernel) != RUNNING:
                    for line in f.readlines():
                        yield _decode(line)
                    return
                watch.sleep(current.state.SupervisorPid, 0.05)

    def ask_supervisor(self, record: Record, op: str):
        """What only the container's supervisor can see (``top``, ``namespaces``), asked
        through its exec port: a simulated container lives in its supervisor's process."""
        from ..runtime.supervisor import Attach, remote_exec
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            return remote_exec(str(record.dir / "exec.sock"), {"op": op}, Attach(None, devnull, devnull))
        finally:
            os.close(devnull)

    def top(self, ref: str) -> list[dict]:
        from ..runtime import cgroups
        record = self.containers.find(ref)
        if record.observed_status(self.kernel) != RUNNING:
            raise Conflict(f"container {record.id[:12]} is not running")
        if self._elsewhere(record):
            return self.ask_supervisor(record, "top")
        rows = []
        for pid in cgroups.manager(self.kernel, record.id).pids():
            try:
                stat = self.kernel.read_file(f"/proc/{pid}/stat")
                cmdline = self.kernel.read_file(f"/proc/{pid}/cmdline").replace("\0", " ").strip()
                status = self.kernel.read_file(f"/proc/{pid}/status")
            except (FileNotFoundError, ProcessLookupError):
                continue  # it exited while we looked
            ppid = stat.rsplit(")", 1)[1].split()[1]
            uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "?")
            rows.append({"UID": uid, "PID": str(pid), "PPID": ppid, "CMD": cmdline})
        return rows


def _port_map(ports) -> dict:
    """[(host ip, host port, container port, proto)] → Docker's {"80/tcp": [{"HostIp", "HostPort"}]}."""
    out: dict = {}
    for ip, hp, cp, proto in ports:
        out.setdefault(f"{cp}/{proto}", []).append({"HostIp": ip, "HostPort": str(hp)})
    return out


def _decode(line: bytes) -> tuple[str, str]:
    try:
        obj = json.loads(line)
        return obj.get("stream", "stdout"), obj.get("log", "")
    except ValueError:
        return "stdout", line.decode("utf-8", "replace")


def status_text(r: Record, status: str) -> str:
    if status == RUNNING:
        return "Up " + human_age(r.state.StartedAt).removesuffix(" ago")
    if status == EXITED:
        return f"Exited ({r.state.ExitCode}) {human_age(r.state.FinishedAt)}"
    if status == DEAD:
        return "Dead"
    return "Created"


def _signal_number(sig: str | int) -> int:
    if isinstance(sig, int) or str(sig).isdigit():
        n = int(sig)
        if not 0 < n < signals.NSIG:
            raise RunError(f"invalid signal: {sig}")
        return n
    name = str(sig).upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(getattr(signals, name))
    except AttributeError:
        raise RunError(f"invalid signal: {sig}") from None


class _ExitWatch:
    """Sleeps that end early when a container's supervisor ends: it records the exit,
    then ends, so a waiter that looks again then sees the exit at once instead of at
    its next look (the supervisor's pidfd, where the kernel has them)."""

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.pid = 0
        self.fd: int | None = None

    def sleep(self, pid: int, seconds: float) -> None:
        if pid != self.pid:
            self.close()
            self.pid = pid
            self.fd = self.kernel.process_handle(pid) if pid else None
        if self.fd is None:
            time.sleep(seconds)
            return
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        if poller.poll(seconds * 1000):
            os.close(self.fd)   # it has ended: later sleeps are plain ones
            self.fd = None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> "_ExitWatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

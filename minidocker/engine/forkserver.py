"""The daemon's fork server: container starts without a fresh interpreter.

The daemon serves its API from threads (``asyncio.to_thread``), and a process
with threads must not fork: another thread may hold a lock (the allocator's,
the import system's, a logging handler's) that the child would find taken
forever. So the daemon used to start every container with a whole
``python -m minidocker start ID`` child, which spends most of its ~0.1 s
starting Python and importing the runtime (0.2 s more for pyroute2 on a
bridge network) before the start itself, ~15 ms, begins.

multiprocessing's "forkserver" start method solves the same problem, and so
does this module, the same way. The daemon starts the fork server once, a fresh
interpreter (``main`` here, with the daemon's ``sys.path``) in a session of its
own: a single-threaded process that imports what a start needs and then waits
for requests on a ``SOCK_SEQPACKET`` socket pair.

For each request it forks the container's supervisor, which does what
``minidocker start ID`` does (``Engine(root).start(ID)``) with two forks less:
``runtime.supervisor.detach`` normally forks a short-lived session leader that
forks the supervisor and exits, so that init adopts it. Here the server's child
is the supervisor (``detach(report_to=…)``), in a session of its own, adopted by
init when the server ends. It says on a pipe when the container runs; the
server passes that on as ``{"code": 0}`` or ``{"code": N, "message": M}`` (the
start's exit code and message, as the CLI would exit and print them), and
answers for a child that dies before saying anything.

A fork of this interpreter costs 1.3-1.7 ms on the 2-core VM (page tables, then
copy-on-write faults), and a start makes two: the supervisor and the
container's first process. Starts on a bridge network also need pyroute2, whose
12 MB would make each of those forks ~0.5 ms dearer for every container. So the
server forks a sub-server that imports it, and hands the bridge starts on to it.

The first cgroup move after a quiet moment waits for an RCU grace period (8-16
ms on this VM when it is idle), and the container's first process makes one as
it joins its cgroups. So as a create or a start request comes in, a thread of
the daemon moves the daemon into its own cgroup (``ForkServer.prime``,
``cgroups.prime_moves``): the wait then runs while the container is created and
its supervisor set up. The thread goes on moving it every few milliseconds for
a few seconds after the last request, which keeps the kernel's moves fast, so a
burst of starts (a class's loop, a compose file) waits once, not at each start.

Why a fresh interpreter rather than a fork of the daemon made before its first
thread: a fork would carry the daemon's command line into every supervisor
(``ps`` would show each container's supervisor as ``minidocker daemon …``, and
``pkill -f "minidocker daemon"`` would stop every container), and the daemon's
memory (aiohttp, its engine) into each of them.

Each request carries its own reply socket (``SCM_RIGHTS``), so answers to
concurrent starts cannot mix. The server reaps its children (a ``pidfd`` per
child wakes it) and exits once the daemon's end of the socket closes and the
starts under way have answered: supervisors outlive it. When the server is gone,
``ForkServer.start`` answers None and the daemon falls back to the ``minidocker
start`` child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time

MAX_MESSAGE = 1 << 16
# The server's interpreter imports minidocker from the daemon's own sys.path: with
# ``-m`` the working directory would come first, and another minidocker there would win.
_BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
         "from minidocker.engine.forkserver import main; sys.exit(main(sys.argv[2:]))")
WORKERS_AT_EXIT = 30.0   # seconds the server waits for the starts under way once the daemon left
# The kernel keeps cgroup moves fast for about one RCU grace period after the last one
# (10-20 ms on the 2-core VM; a move after 20 ms of quiet waited 8-16 ms, one every 10 ms
# took 0.04 ms). Each keeping move costs ~0.04 ms, and while moves are kept fast every
# fork and exit on the machine takes a slightly slower path: so only for a while.
KEEP_WARM = 5.0
WARM_EVERY = 0.008


class ForkServer:
    """The daemon's side: the server's PID and our end of its request socket."""

    def __init__(self, proc: subprocess.Popen | None = None, control: socket.socket | None = None,
                 why: str = ""):
        self.proc = proc
        self.pid = proc.pid if proc else None
        self.control = control
        self.why = why   # why there is no fork server, when there is none
        self._priming = threading.Lock()
        self._primer = None   # made on first use: see prime()
        self._keeper: threading.Thread | None = None
        self._warm_until = 0.0

    def prime(self) -> None:
        """A container start may follow: have the kernel's wait for the first cgroup move
        begin now, in a thread of the daemon (see ``cgroups.prime_moves``), so that it
        overlaps the create and the set-up instead of delaying the container's first
        process; and keep the moves fast for ``KEEP_WARM`` seconds (a move every
        ``WARM_EVERY``), since starts come in bursts. Nothing on the simulated kernel."""
        if self._primer is _nothing:
            return
        with self._priming:
            self._warm_until = time.monotonic() + KEEP_WARM
            if self._keeper is not None:
                return   # the keeper runs: it sees the new deadline
            self._keeper = threading.Thread(target=self._keep_warm, name="minidocker-cgroup-primer",
                                            daemon=True)
            self._keeper.start()

    def _keep_warm(self) -> None:
        try:
            if self._primer is None:
                self._primer = _cgroup_primer()
            while self._primer is not _nothing:
                self._primer()
                with self._priming:
                    if time.monotonic() >= self._warm_until:
                        self._keeper = None
                        return
                time.sleep(WARM_EVERY)
        except Exception:   # priming only saves time: never let it get in the way
            self._primer = _nothing
        with self._priming:
            self._keeper = None

    @classmethod
    def launch(cls, root: str) -> "ForkServer":
        """Start the server for state root ``root`` (the result has none if it cannot)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(theirs.fileno()), root],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, start_new_session=True,
                env=_server_env(root))
        except OSError as e:
            ours.close()
            return cls(why=f"cannot run it: {e.strerror}")
        finally:
            theirs.close()
        ours.setblocking(False)
        return cls(proc, ours)

    async def start(self, cid: str, network: bool = False) -> tuple[int, str] | None:
        """Start container ``cid`` through the server: (exit code, message), or None
        when there is no server (any more): the caller starts it another way.
        ``network``: it joins a bridge network (its supervisor needs pyroute2)."""
        if self.control is None:
            return None
        self.prime()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with theirs:
                request = json.dumps({"start": cid, "network": network}).encode()
                while True:
                    try:
                        socket.send_fds(self.control, [request], [theirs.fileno()])
                        break
                    except BlockingIOError:
                        await asyncio.sleep(0.005)   # a backlog of requests: the server catches up
                    except OSError as e:
                        self._lost(f"its socket says {e.strerror}")
                        return None
            ours.setblocking(False)
            answer = await asyncio.get_running_loop().sock_recv(ours, MAX_MESSAGE)
        finally:
            ours.close()
        if not answer:   # neither the supervisor nor the server answered: the server died
            if self._exited():
                self._lost("it exited")
                return None
            return 1, "the fork server's child ended without an answer"
        reply = json.loads(answer)
        return reply["code"], reply.get("message", "")

    def _exited(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def _lost(self, why: str) -> None:
        """Say once that the server is gone; later starts go the old way."""
        if self.control is not None:
            self.control.close()
            self.control = None
            self.why = why
            print(f"minidocker daemon: the fork server is gone ({why}); containers start "
                  "through a `minidocker start` child from now on", flush=True)

    def close(self, timeout: float = WORKERS_AT_EXIT + 5) -> None:
        """End the server (it finishes the starts it has begun) and reap it."""
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)


def _server_env(root: str) -> dict[str, str]:
    """The daemon's environment with its state root, as its `minidocker` children get it
    (``Api.child_env``): no MINIDOCKER_HOST, which would send their work back to a daemon."""
    env = {k: v for k, v in os.environ.items() if k != "MINIDOCKER_HOST"}
    env["MINIDOCKER_ROOT"] = root
    return env


class _Server:
    """The fork server itself: one thread, a poll loop over the request socket, the
    answer pipe of each start under way and a pidfd per child."""

    def __init__(self, control: socket.socket, root: str, network: bool = False, engine=None):
        self.control = control
        self.root = root
        self.engine = engine   # the main server's, for its sub-server; made in ``run`` otherwise
        self.network = network   # this is the sub-server for starts on bridge networks
        self.net_server: tuple[int, socket.socket] | None = None   # (pid, our end), in the main one
        self.pending: dict[int, tuple[int, socket.socket]] = {}   # answer pipe -> (pid, reply)
        self.children: dict[int, int | None] = {}   # pid -> pidfd
        self.poll = select.poll()
        self.by_fd: dict[int, int] = {}   # pidfd -> pid

    def run(self) -> None:
        import gc
        from . import Engine
        from .. import kernel as kernels
        if not self.network:
            _preload()
            _check_single_thread()
            self.engine = Engine(self.root)
            self.engine.containers   # made once here: each child would make it again
            if kernels.choice()[0] == "linux":
                self.engine.kernel   # stateless, so made once here (0.5 ms per start otherwise);
                # a simulated kernel holds its processes: each child makes its own, on first use
                from ..runtime import cgroups
                cgroups.fix_layout(self.engine.kernel)
                self._fork_net_server()
        else:
            _preload_network()
            _check_single_thread()
        # What exists now, the children only read: keep the collector off those pages, so
        # they stay shared with the server instead of being copied into every child.
        gc.freeze()
        self.poll.register(self.control, select.POLLIN)
        open_ = True
        deadline = None
        # Once the daemon has gone, only the starts under way are waited for: a supervisor
        # that has answered lives on without us (init adopts it).
        while open_ or self.pending:
            if not open_ and deadline is None:
                deadline = time.monotonic() + WORKERS_AT_EXIT
            if deadline is not None and time.monotonic() > deadline:
                break   # leave the stragglers to init: they answer no one now
            # Without pidfds (old kernels), look for ended children every 50 ms.
            wait = None if all(fd is not None for fd in self.children.values()) else 50
            if deadline is not None:
                wait = min(wait or 1000, 1000)
            for fd, _ in self.poll.poll(wait):
                if fd == self.control.fileno():
                    open_ = self._request()
                    if not open_:
                        self.poll.unregister(self.control)
                        self.control.close()
                        if self.net_server is not None:   # it finishes its starts and ends
                            self.net_server[1].close()
                            self.net_server = None
                elif fd in self.pending:
                    self._answer(fd)
                elif fd in self.by_fd:
                    self._reap(self.by_fd[fd], 0)
            for pid, pidfd in list(self.children.items()):
                if pidfd is None:
                    self._reap(pid, os.WNOHANG)

    def _request(self) -> bool:
        """Take one request and fork its supervisor; False once the daemon's end closed."""
        try:
            data, fds, flags, _ = socket.recv_fds(self.control, MAX_MESSAGE, 4)
        except (ConnectionResetError, BrokenPipeError):
            return False
        if not data and not fds:
            return False
        for fd in fds[1:]:
            os.close(fd)
        if not fds:
            return True   # nowhere to answer: a malformed request
        reply = socket.socket(fileno=fds[0])
        try:
            request = json.loads(data)
            cid = request["start"]
            if not isinstance(cid, str) or flags & socket.MSG_CTRUNC:
                raise ValueError(cid)
        except (ValueError, KeyError, TypeError):
            _send(reply, {"code": 1, "message": "malformed fork server request"})
            return True
        if request.get("network") and self.net_server is not None:
            try:
                socket.send_fds(self.net_server[1], [data], [reply.fileno()])
                reply.close()
                return True
            except OSError:   # it died: this server starts it (its supervisor imports pyroute2)
                self.net_server[1].close()
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.net_server[0], os.WNOHANG)
                self.net_server = None
        answer_r, answer_w = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError as e:
            os.close(answer_r)
            os.close(answer_w)
            _send(reply, {"code": 1, "message": f"cannot fork: {e.strerror}"})
            return True
        if pid == 0:
            os.close(answer_r)
            reply.close()
            self._supervise(cid, answer_w)   # never returns
        os.close(answer_w)
        self.pending[answer_r] = (pid, reply)
        self.poll.register(answer_r, select.POLLIN)
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        self.children[pid] = pidfd
        if pidfd is not None:
            self.by_fd[pidfd] = pid
            self.poll.register(pidfd, select.POLLIN)
        return True

    def _fork_net_server(self) -> None:
        """Fork the sub-server that starts containers on bridge networks: it imports
        pyroute2 (12 MB, ~0.2 s), which would make every fork of this server ~0.5 ms
        dearer (page tables and copy-on-write faults, twice per start, and the exec);
        ``--network none`` and ``host`` starts are forked from this leaner server."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return   # this server starts those too
        if pid == 0:
            code = 1
            try:
                ours.close()
                self.control.close()
                _Server(theirs, self.root, network=True, engine=self.engine).run()
                code = 0
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                os._exit(code)
        theirs.close()
        self.net_server = (pid, ours)

    def _answer(self, fd: int) -> None:
        """A child said how its start went (or closed its pipe unanswered, by dying):
        pass it on to the daemon."""
        pid, reply = self.pending.pop(fd)
        self.poll.unregister(fd)
        # one read: the child says it in one write (of less than PIPE_BUF), and the pipe
        # may stay open behind it (a thread of a simulated supervisor holds it)
        data = os.read(fd, MAX_MESSAGE)
        os.close(fd)
        if data == b"ok":
            answer = {"code": 0}
        elif data:
            try:
                answer = json.loads(data)
            except ValueError:
                answer = {"code": 1, "message": "the fork server's child answered nonsense"}
        else:   # it ended before answering: say how
            status = self._reap(pid, 0)
            what = "exit 0" if status is None else (
                f"killed by signal {-os.waitstatus_to_exitcode(status)}" if os.WIFSIGNALED(status)
                else f"exit {os.waitstatus_to_exitcode(status)}")
            answer = {"code": 1, "message": f"the fork server's child failed ({what})"}
        _send(reply, answer)

    def _reap(self, pid: int, options: int) -> int | None:
        """Reap an ended child (its wait status), or None if it runs on or was reaped."""
        if pid not in self.children:
            return None
        try:
            done, status = os.waitpid(pid, options)
        except ChildProcessError:
            done, status = pid, 1 << 8
        if not done:
            return None
        pidfd = self.children.pop(pid)
        if pidfd is not None:
            self.poll.unregister(pidfd)
            del self.by_fd[pidfd]
            os.close(pidfd)
        return status

    def _supervise(self, cid: str, answer: int) -> None:
        """The child: become ``cid``'s supervisor, say on ``answer`` when the container
        runs (or why not), supervise it to its end, exit."""
        code = 1
        try:
            # Nothing of the server's may outlive it in the supervisor or the container.
            self.control.close()
            for fd, (_, other) in self.pending.items():
                os.close(fd)
                other.close()
            for pidfd in self.children.values():
                if pidfd is not None:
                    os.close(pidfd)
            if self.net_server is not None:
                self.net_server[1].close()
            failure = start_container(self.engine, cid, answer)   # returns only if it failed early
            os.write(answer, json.dumps(failure).encode())
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)


def _send(reply: socket.socket, answer: dict) -> None:
    with contextlib.suppress(OSError):
        reply.send(json.dumps(answer).encode())
    reply.close()


def start_container(engine, cid: str, answer: int) -> dict:
    """What ``minidocker start ID`` does, with this process as the container's
    supervisor: it says "ok" (or the failure) on ``answer`` once the container runs,
    and ends with it. Returns only when the start failed before there was a
    supervisor: the start's exit code and message (``{"code": N, "message": M}``,
    as the CLI would exit and print them). ``engine`` has no kernel yet: it gets one
    of its own here, as a fresh ``minidocker start`` would, from the same
    ``MINIDOCKER_KERNEL`` (the server made a real one already)."""
    from ..errors import MinidockerError
    try:
        if engine.kernel.simulated:
            engine.kernel.detach_in_process = False   # the container must outlive the server
        # by its full ID (what the daemon sends): no listing of every container
        engine.start(engine.containers.load(cid), report_to=answer)
    except MinidockerError as e:   # StartFailed among them, with Docker's exit code
        return {"code": e.exit_code, "message": str(e).replace("\n", " ")}
    except OSError as e:   # what the CLI reports as a host error
        where = f": {e.filename}" if e.filename else ""
        return {"code": 125, "message": f"{e.strerror or e}{where}"}
    except Exception as e:
        return {"code": 1, "message": f"{type(e).__name__}: {e}"}
    return {"code": 0}   # it was running already: two starts at once, and the other one won


def _nothing() -> None:
    pass


def _cgroup_primer():
    """For the real kernel, a call that primes the cgroup moves a container's first
    process makes (``cgroups.prime_moves``); for the simulated one, ``_nothing``."""
    from .. import kernel as kernels
    if kernels.choice()[0] != "linux":
        return _nothing
    from ..kernel.linux import LinuxKernel
    from ..runtime import cgroups
    k = LinuxKernel()
    layout = cgroups.host_layout(k)
    return lambda: cgroups.prime_moves(k, layout)


# What a start imports: the runtime, and for the real kernel the netlink side of
# the network (pyroute2 alone costs a fresh process ~0.2 s).
_PRELOAD = ("minidocker.engine.containers", "minidocker.runtime.supervisor", "minidocker.runtime.init",
            "minidocker.runtime.cgroups", "minidocker.runtime.rootfs", "minidocker.runtime.user",
            "minidocker.runtime.netsetup", "minidocker.runtime.networks", "minidocker.runtime.portproxy")
_PRELOAD_SIM = ("minidocker.kernel.sim.kernel",)
_PRELOAD_LINUX = ("minidocker.kernel.linux",)
_PRELOAD_NETWORK = ("minidocker.kernel.netlink", "pyroute2", "pyroute2.netlink.exceptions")


def _import(modules) -> None:
    import importlib
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            pass   # a start that needs it says so itself


def _check_single_thread() -> None:
    if threading.active_count() != 1:
        raise RuntimeError("importing the runtime started a thread: the fork server cannot fork")


def _preload() -> None:
    """Import what a start needs once, in the server, so no child pays for it."""
    from .. import kernel as kernels
    name, _ = kernels.choice()
    _import(_PRELOAD + (_PRELOAD_SIM if name == "sim" else _PRELOAD_LINUX))


def _preload_network() -> None:
    """What a start on a bridge network needs besides: the netlink side (the sub-server)."""
    _import(_PRELOAD_NETWORK)
    if "pyroute2" not in sys.modules:
        return
    # pyroute2 builds its message classes on first use: one read-only dump does that
    # here, in the daemon's network namespace, and every child inherits them.
    from pyroute2 import IPRoute
    with contextlib.suppress(Exception), IPRoute() as ipr:
        ipr.get_links()
        ipr.get_addr()
        ipr.get_routes()
    with contextlib.suppress(Exception):   # it only saves time
        _rehearse_network()


def _rehearse_network() -> None:
    """Make each request of a bridge start once, in a scratch network namespace.

    pyroute2 sets much up on a request's first use (its message classes, a socket's
    event loop); every supervisor forked from here would pay for it again, ~3 ms per
    bridge start. The scratch namespace belongs to a child that holds it until this
    ends, so nothing of the machine's is touched."""
    from ..kernel import netlink
    from ..kernel.base import CLONE_NEWNET
    from ..kernel.linux import LinuxKernel
    from ..runtime import netsetup
    k = LinuxKernel()
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    hold_r, hold_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(hold_w)
            k.unshare(CLONE_NEWNET)
            os.write(ready_w, b"1")
            os.read(hold_r, 1)   # until the server is done with the namespace
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            return
        netns = f"/proc/{pid}/ns/net"
        netsetup.uplink_mtu(k)
        netlink.link_gone("lo", 0)
        netlink.link_add("md-rehearsal", "veth", peer="md-rehearsal1", netns=netns)
        netlink.link_set("md-rehearsal", up=True, netns=netns)
        netlink.addr_add("md-rehearsal", "192.0.2.1/24", netns=netns)
        netlink.route_add("default", "192.0.2.254", netns=netns)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(pid, 0)
        netlink.forget_host_session()   # a socket of its own for each supervisor

def main(argv: list[str]) -> int:
    """The server's process: ``FD ROOT``, serve the request socket FD for state root ROOT."""
    fd, root = int(argv[0]), argv[1]
    _Server(socket.socket(fileno=fd), root).run()
    return 0


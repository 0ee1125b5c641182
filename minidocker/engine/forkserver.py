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
interpreter (``main`` here, with the daemon's ``sys.path``) in a session of its own: a
single-threaded process that imports what a start needs (pyroute2 included)
and then waits for requests on a ``SOCK_SEQPACKET`` socket pair. For each
request it forks a worker, which does what ``minidocker start ID`` does
(``Engine(root).start(ID)``) with one fork less: ``runtime.supervisor.detach``
normally forks a short-lived session leader that forks the supervisor and exits;
here the worker is that leader. It forks the supervisor (which outlives worker,
fork server and daemon: init adopts it), waits until the container runs, and
answers ``{"code": 0}`` or ``{"code": N, "message": M}`` (the start's exit code
and message, as the CLI would exit and print them).

The first cgroup move after a quiet moment waits for an RCU grace period (10-17
ms on this VM when it is idle), and the container's first process makes one as
it joins its cgroups. So as a create or a start request comes in, a thread of
the daemon moves the daemon into its own cgroup (``ForkServer.prime``,
``cgroups.prime_moves``): the wait then runs while the container is created and
its supervisor set up.

Why a fresh interpreter rather than a fork of the daemon made before its first
thread: a fork would carry the daemon's command line into every worker and
supervisor (``ps`` would show each container's supervisor as ``minidocker
daemon …``, and ``pkill -f "minidocker daemon"`` would stop every container),
and the daemon's memory (aiohttp, its engine) into each of them.

Each request carries its own reply socket (``SCM_RIGHTS``), so answers to
concurrent starts cannot mix. The server reaps its workers (a ``pidfd`` per
worker wakes it) and exits once the daemon's end of the socket closes and its
last worker has answered. When the server is gone, ``ForkServer.start``
answers None and the daemon falls back to the ``minidocker start`` child.
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
WORKERS_AT_EXIT = 30.0   # seconds the server waits for its last workers once the daemon left


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

    def prime(self) -> None:
        """A container start may follow: have the kernel's wait for the first cgroup move
        begin now, in a thread of the daemon (see ``cgroups.prime_moves``), so that it
        overlaps the create and the set-up instead of delaying the container's first
        process. Once at a time; nothing on the simulated kernel."""
        if self._primer is _nothing or not self._priming.acquire(blocking=False):
            return   # nothing to prime, or one is under way: the next moves profit from it too

        def run():
            try:
                if self._primer is None:
                    self._primer = _cgroup_primer()
                self._primer()
            except Exception:   # priming only saves time: never let it get in the way
                self._primer = _nothing
            finally:
                self._priming.release()
        threading.Thread(target=run, name="minidocker-cgroup-primer", daemon=True).start()

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

    async def start(self, cid: str) -> tuple[int, str] | None:
        """Start container ``cid`` through the server: (exit code, message), or None
        when there is no server (any more): the caller starts it another way."""
        if self.control is None:
            return None
        self.prime()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            with theirs:
                request = json.dumps({"start": cid}).encode()
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
        if not answer:   # neither the worker nor the server answered: the server died
            if self._exited():
                self._lost("it exited")
                return None
            return 1, "the fork server's worker ended without an answer"
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
    """The fork server itself: one thread, a poll loop over the request socket and
    a pidfd per worker."""

    def __init__(self, control: socket.socket, root: str):
        self.control = control
        self.root = root
        self.workers: dict[int, tuple[int | None, socket.socket]] = {}  # pid -> (pidfd, reply)
        self.poll = select.poll()
        self.by_fd: dict[int, int] = {}   # pidfd -> pid

    def run(self) -> None:
        import gc
        _preload()
        if threading.active_count() != 1:
            raise RuntimeError("importing the runtime started a thread: the fork server cannot fork")
        from . import Engine
        self.engine = Engine(self.root)   # its kernel is made in each worker, on first use
        # What exists now, the workers only read: keep the collector off those pages, so
        # they stay shared with the server instead of being copied into every worker.
        gc.freeze()
        self.poll.register(self.control, select.POLLIN)
        open_ = True
        deadline = None
        while open_ or self.workers:
            if not open_ and deadline is None:
                deadline = time.monotonic() + WORKERS_AT_EXIT
            if deadline is not None and time.monotonic() > deadline:
                break   # leave the stragglers to init: they answer no one now
            # Without pidfds (old kernels), look for ended workers every 50 ms.
            wait = None if all(fd is not None for fd, _ in self.workers.values()) else 50
            if deadline is not None:
                wait = min(wait or 1000, 1000)
            for fd, _ in self.poll.poll(wait):
                if fd == self.control.fileno():
                    open_ = self._request()
                    if not open_:
                        self.poll.unregister(self.control)
                        self.control.close()
                elif fd in self.by_fd:
                    self._reap(self.by_fd[fd], 0)
            for pid, (pidfd, _) in list(self.workers.items()):
                if pidfd is None:
                    self._reap(pid, os.WNOHANG)

    def _request(self) -> bool:
        """Take one request and fork its worker; False once the daemon's end closed."""
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
            cid = json.loads(data)["start"]
            if not isinstance(cid, str) or flags & socket.MSG_CTRUNC:
                raise ValueError(cid)
        except (ValueError, KeyError, TypeError):
            with contextlib.suppress(OSError):
                reply.send(json.dumps({"code": 1, "message": "malformed fork server request"}).encode())
            reply.close()
            return True
        try:
            pid = os.fork()
        except OSError as e:
            with contextlib.suppress(OSError):
                reply.send(json.dumps({"code": 1, "message": f"cannot fork: {e.strerror}"}).encode())
            reply.close()
            return True
        if pid == 0:
            self._work(reply, cid)   # never returns
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pidfd = None
        self.workers[pid] = (pidfd, reply)
        if pidfd is not None:
            self.by_fd[pidfd] = pid
            self.poll.register(pidfd, select.POLLIN)
        return True

    def _reap(self, pid: int, options: int) -> None:
        try:
            done, status = os.waitpid(pid, options)
        except ChildProcessError:
            done, status = pid, 1 << 8
        if not done:
            return
        pidfd, reply = self.workers.pop(pid)
        if pidfd is not None:
            self.poll.unregister(pidfd)
            del self.by_fd[pidfd]
            os.close(pidfd)
        if status != 0:   # it ended before answering: answer for it
            what = (f"killed by signal {-os.waitstatus_to_exitcode(status)}"
                    if os.WIFSIGNALED(status) else f"exit {os.waitstatus_to_exitcode(status)}")
            with contextlib.suppress(OSError):
                reply.send(json.dumps({"code": 1, "message": f"the fork server's worker failed ({what})"})
                           .encode())
        reply.close()

    def _work(self, reply: socket.socket, cid: str) -> None:
        """The worker: start ``cid``, answer on ``reply``, exit (0 only once it answered)."""
        code = 1
        try:
            # Nothing of the server's may outlive it in the worker or the supervisor.
            self.control.close()
            for pidfd, other in self.workers.values():
                if pidfd is not None:
                    os.close(pidfd)
                other.close()
            # The supervisor forked below must not keep the reply socket open: the daemon
            # reads its end to EOF when a worker dies without an answer.
            os.register_at_fork(after_in_child=lambda: reply.fileno() != -1 and os.close(reply.detach()))
            answer = start_container(self.engine, cid)
            reply.send(json.dumps(answer).encode())
            code = 0
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)


def start_container(engine, cid: str) -> dict:
    """What ``minidocker start ID`` does, in a process that ends once it has the
    answer: ``{"code": 0}`` or the start's exit code and message (``{"code": N,
    "message": M}``). ``engine`` has no kernel yet: it gets one of its own here,
    as a fresh ``minidocker start`` would, from the same ``MINIDOCKER_KERNEL``."""
    from ..errors import MinidockerError
    try:
        if engine.kernel.simulated:
            engine.kernel.detach_in_process = False   # the container must outlive this worker
        # by its full ID (what the daemon sends): no listing of every container
        engine.start(engine.containers.load(cid), caller_exits=True)
    except MinidockerError as e:   # StartFailed among them, with Docker's exit code
        return {"code": e.exit_code, "message": str(e).replace("\n", " ")}
    except OSError as e:   # what the CLI reports as a host error
        where = f": {e.filename}" if e.filename else ""
        return {"code": 125, "message": f"{e.strerror or e}{where}"}
    except Exception as e:
        return {"code": 1, "message": f"{type(e).__name__}: {e}"}
    return {"code": 0}


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
_PRELOAD_LINUX = ("minidocker.kernel.linux", "minidocker.kernel.netlink",
                  "pyroute2", "pyroute2.netlink.exceptions")


def _preload() -> None:
    """Import what a start needs once, in the server, so no worker pays for it."""
    import importlib
    from .. import kernel as kernels
    name, _ = kernels.choice()
    for module in _PRELOAD + (_PRELOAD_SIM if name == "sim" else _PRELOAD_LINUX):
        try:
            importlib.import_module(module)
        except ImportError:
            pass   # a start that needs it says so itself
    if name == "sim" or "pyroute2" not in sys.modules:
        return
    # pyroute2 builds its message classes on first use: one read-only dump does that
    # here, in the daemon's network namespace, and every worker inherits them.
    from pyroute2 import IPRoute
    with contextlib.suppress(Exception), IPRoute() as ipr:
        ipr.get_links()
        ipr.get_addr()
        ipr.get_routes()

def main(argv: list[str]) -> int:
    """The server's process: ``FD ROOT``, serve the request socket FD for state root ROOT."""
    fd, root = int(argv[0]), argv[1]
    _Server(socket.socket(fileno=fd), root).run()
    return 0


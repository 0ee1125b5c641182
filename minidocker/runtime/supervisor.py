"""The supervisor: the process that owns one running container.

It creates the container's cgroup, forks the container's first process into
a new PID namespace (``runtime.init`` does the rest there), then stays with
it: copies its output into the JSON-lines log (and to an attached terminal),
forwards signals, reaps it, records the exit code and OOM kill, and removes
the cgroup (and with ``--rm`` the whole container).

Foreground ``run`` makes the CLI process itself the supervisor; ``run -d``
and ``start`` fork a detached one (new session, stdio on /dev/null), so the
container outlives the CLI. Either way the steps are the same code.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import threading
import socket

from ..errors import MinidockerError
from ..kernel.base import CLONE_NEWPID, Kernel, Mount
from . import cgroups
from .attach import Attach, restore_terminal_settings  # noqa: F401  (callers import them from here)
from .init import InitPlan, become_container
from .state import EXITED, RUNNING, Record, now


class StartFailed(MinidockerError):
    """The container's process could not start; carries Docker's exit code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.exit_code = code


def _write_etc(record: Record) -> dict[str, str]:
    spec = record.spec
    files = {
        "/etc/hostname": f"{spec.hostname}\n",
        "/etc/hosts": ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                       f"127.0.1.1\t{spec.hostname}\n"),
        # no network yet: name resolution has nowhere to go but loopback
        "/etc/resolv.conf": "nameserver 127.0.0.1\n",
    }
    if spec.network == "host":
        files["/etc/resolv.conf"] = _host_file("/etc/resolv.conf")
        files["/etc/hosts"] = _host_file("/etc/hosts") + f"127.0.1.1\t{spec.hostname}\n"
    elif spec.network != "none":
        files["/etc/resolv.conf"] = _bridge_resolv_conf(_host_file("/etc/resolv.conf"))
    out = {}
    for target, text in files.items():
        path = record.dir / os.path.basename(target)
        path.write_text(text)
        out[target] = str(path)
    return out


def _bridge_resolv_conf(host: str) -> str:
    """The host's resolv.conf without loopback name servers, which a container on a
    bridge cannot reach (Docker filters them the same way)."""
    kept = [line for line in host.splitlines()
            if not (line.split()[:1] == ["nameserver"] and len(line.split()) > 1
                    and (line.split()[1].startswith("127.") or line.split()[1] == "::1"))]
    if not any(line.startswith("nameserver") for line in kept):
        kept.append("# the host's name servers are on its loopback, out of the container's reach")
    return "\n".join(kept) + "\n"


def _host_file(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


class _NoLog:
    def write(self, stream: str, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


class _Log:
    """Docker's json-file format: {"log": ..., "stream": ..., "time": ...} per line."""

    def __init__(self, path):
        self.f = open(path, "ab", buffering=0)
        self.partial = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        data = self.partial[stream] + data
        *lines, rest = data.split(b"\n")
        self.partial[stream] = rest
        out = b"".join(self._line(stream, line + b"\n") for line in lines)
        if out:
            self.f.write(out)

    def _line(self, stream: str, data: bytes) -> bytes:
        return json.dumps({"log": data.decode("utf-8", "replace"), "stream": stream,
                           "time": now()}).encode() + b"\n"

    def close(self) -> None:
        for stream, rest in self.partial.items():
            if rest:
                self.f.write(self._line(stream, rest))
        self.f.close()


class NamespaceSync:
    """Two pipes between the runtime and a starting container: the container says its
    namespaces exist, the runtime configures them from outside (``configure(pid)``:
    veths into its network namespace), then lets it go on toward ``execve``. What needs
    no namespace of the container (``prepare()``: its address, the bridge) is done
    while the container makes them."""

    def __init__(self, configure, prepare=None):
        self.configure = configure
        self.prepare = prepare
        self.ready_r, self.ready_w = os.pipe2(os.O_CLOEXEC)
        self.go_r, self.go_w = os.pipe2(os.O_CLOEXEC)

    @property
    def child_ends(self) -> tuple[int, int]:
        return self.ready_w, self.go_r

    def run(self, k: Kernel, pid: int) -> BaseException | None:
        """Wire the child's namespaces and let it go on; what went wrong, if anything (the
        child is killed then; the caller reports the child's own error first, if it had one)."""
        os.close(self.ready_w)
        os.close(self.go_r)
        try:
            try:
                if self.prepare is not None:
                    self.prepare()
                if os.read(self.ready_r, 1) != b"1":
                    return None  # the container failed before: its error pipe says why
                self.configure(pid)
            except BaseException as e:
                with contextlib.suppress(ProcessLookupError):
                    k.kill(pid, signal.SIGKILL)
                return e
            try:
                os.write(self.go_w, b"1")
            except BrokenPipeError:
                pass  # it failed meanwhile (building its rootfs): its error pipe says why
            return None
        finally:
            os.close(self.ready_r)
            os.close(self.go_w)


def _setup_failure(e: BaseException) -> BaseException:
    if isinstance(e, MinidockerError):
        return StartFailed(getattr(e, "exit_code", 125) or 125, str(e))
    if isinstance(e, OSError):
        return StartFailed(125, f"cannot set up the container's network: {e.strerror or e}")
    return e


def spawn(k: Kernel, child_main, *, tty: bool, stdin: bool, attach: Attach | None,
          pid_namespace: str | None = None, stdin_fd: int | None = None,
          sync: NamespaceSync | None = None) -> tuple[int, list[int]]:
    """Fork the first process of a container (or of an ``exec``) with its stdio plumbed.

    ``child_main(error_fd, console)`` runs in the child and never returns. The
    child is PID 1 of a new PID namespace, or joins ``pid_namespace``. Returns
    the child's PID and our ends of its output (one pty master, or the stdout
    and stderr pipes) once it has exec'd; raises ``StartFailed`` otherwise.
    """
    if tty:
        console, console_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        child_stdio = (devnull, devnull, devnull)  # replaced by the pty inside
        ours: list[int] = []
    else:
        console = console_child = None
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        if stdin_fd is None:
            stdin_fd = attach.stdin if (attach and stdin and attach.stdin is not None) \
                else os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        child_stdio = (stdin_fd, out_w, err_w)
        ours = [out_r, err_r]
    err_r_pipe, err_w_pipe = os.pipe2(os.O_CLOEXEC)
    if pid_namespace is None:
        k.unshare(CLONE_NEWPID)  # the next child is PID 1 of a new PID namespace
    else:
        k.setns(pid_namespace, CLONE_NEWPID)  # the next child joins the container's
    console_fd = console_child.fileno() if console_child else None

    def child() -> None:
        try:
            for i, fd in enumerate(child_stdio):
                k.fs.dup2(fd, i)  # dup2 clears close-on-exec on the copy
            k.fs.close(err_r_pipe)
        finally:
            child_main(err_w_pipe, console_fd)

    pid = k.fork(child)
    # Back to our own PID namespace for later children: a notebook or test
    # process that ran a container must still be able to fork.
    k.setns("/proc/self/ns/pid", CLONE_NEWPID)
    os.close(err_w_pipe)
    for fd in set(child_stdio):
        if not (attach and fd == attach.stdin):
            os.close(fd)
    problem = sync.run(k, pid) if sync is not None else None
    if console is not None:
        console_child.close()
        _, fds, _, _ = socket.recv_fds(console, 16, 1)
        console.close()
        ours = fds  # empty when the child failed before making its terminal
        if fds and attach is not None:
            _copy_window_size(attach.stdout, fds[0])
    failure = _read_all(err_r_pipe)
    os.close(err_r_pipe)
    if failure or problem:
        k.waitpid(pid)
        for fd in ours:
            os.close(fd)
        if not failure:
            raise _setup_failure(problem)
        info = json.loads(failure)
        raise StartFailed(info["code"], info["message"])
    return pid, ours


def supervise(k: Kernel, record: Record, layers: list[Mount], attach: Attach | None,
              started: "StartSignal | None" = None, networks=None) -> int:
    """Run the container to its end; return its exit code (Docker's rules).

    ``networks`` (the store of ``runtime.networks``) is needed when the container
    joins bridge networks."""
    spec = record.spec
    cg = cgroups.manager(k, spec.id)
    net = None
    try:
        try:
            cg.create(spec.resources)
        except OSError as e:
            raise StartFailed(125, f"cannot set up the container's cgroup: {e.strerror or e}") from None
        etc = _write_etc(record)
        (record.dir / "rootfs").mkdir(exist_ok=True)
        sync = None
        if spec.network not in ("none", "host"):
            from .netsetup import ContainerNetwork
            try:
                net = ContainerNetwork(k, networks, spec)
            except MinidockerError as e:
                raise StartFailed(125, str(e)) from None
            sync = NamespaceSync(net.configure, net.prepare)
        plan = InitPlan(spec, str(record.dir / "rootfs"), tuple(layers), etc, tuple(cg.join_files()),
                        sync.child_ends if sync else None)
        log = _Log(record.log_path)  # exists before the state says "running": readers may follow it
        port_r = port_w = None
        if attach is None and spec.stdin and not spec.tty:
            port_r, port_w = os.pipe2(os.O_CLOEXEC)
        pid, ours = spawn(k, lambda err, console: become_container(k, plan, err, console),
                          tty=spec.tty, stdin=spec.stdin, attach=attach, stdin_fd=port_r, sync=sync)
        port = None
        if attach is None and spec.tty:  # the daemon's attach and resize reach the terminal here
            from .terminal import TerminalPort
            port = TerminalPort(str(record.dir / "attach.sock"), ours[0], typing=spec.stdin)
        elif attach is None and spec.stdin:
            port = _StdinPort(str(record.dir / "stdin.sock"), port_w)
        record.state.Status = RUNNING
        record.state.Pid = pid
        record.state.SupervisorPid = os.getpid()
        record.state.StartedAt = now()
        record.state.Error = ""
        record.state.Ports = [[b.host_ip, b.host_port, b.container_port, b.proto]
                              for b in (net.proxy.bindings if net else ())]
        record.save_state()
        if started is not None:
            started.ok()
        status = relay(k, pid, ours, spec.tty, attach, spec.stdin, log, port)
    except StartFailed as e:
        _release(net)
        cg.destroy()
        record.state.Status, record.state.ExitCode, record.state.Error = EXITED, e.exit_code, str(e)
        record.state.FinishedAt = now()
        record.save_state()
        raise
    except BaseException as e:
        _release(net)
        cg.destroy()
        # Its processes are gone with the cgroup: the state must not go on saying "running"
        # (a detached supervisor has nobody else to tell).
        if record.state.Status == RUNNING:
            record.state.Status, record.state.ExitCode = EXITED, 255
            record.state.Error = f"its supervisor failed: {type(e).__name__}: {e}"
            record.state.FinishedAt = now()
            try:
                record.save_state()
            except OSError:
                pass  # removed meanwhile: nobody is left to tell
        raise
    _release(net)
    code = exit_code(status)
    oom = cg.oom_killed()
    cg.destroy()
    record.state.Ports = []
    record.state.Status = EXITED
    record.state.ExitCode = code
    record.state.OOMKilled = oom
    record.state.FinishedAt = now()
    record.save_state()
    return code


def _release(net) -> None:
    if net is not None:
        net.release()


def exit_code(status: int) -> int:
    """Docker's exit code for a wait status: the code, or 128+N when killed by signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _copy_window_size(terminal: int, pty_master: int) -> None:
    import fcntl
    import termios
    try:
        size = fcntl.ioctl(terminal, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(pty_master, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # not a terminal: keep the default size


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except InterruptedError:
            continue
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def relay(k: Kernel, pid: int, fds: list[int], tty: bool, attach: Attach | None,
          stdin: bool, log: "_Log | None", port=None) -> int:
    """Copy output to the log (and the attached terminal, and the clients of ``port``) until
    ``pid`` exits; its wait status."""
    log = log or _NoLog()
    streams = {fds[0]: "stdout"} if tty else {fds[0]: "stdout", fds[1]: "stderr"}
    targets = {"stdout": attach.stdout, "stderr": attach.stderr} if attach else {}
    forward_in = attach.stdin if (tty and attach and stdin) else None

    def deliver(stream: str, data: bytes) -> None:
        _deliver(stream, data, log, targets)
        if port:
            port.output(data)

    def forward(signum, _frame):
        try:
            k.kill(pid, signum)
        except ProcessLookupError:
            pass

    def resized(_signum=None, _frame=None):
        _copy_window_size(attach.stdout, fds[0])  # the kernel tells the container's foreground

    # Only the main thread may set handlers; a run from another thread (a notebook's
    # background cell, say) leaves signals to whoever owns them.
    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)} \
        if main else {}
    if main and tty and attach is not None:
        old[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resized)
        resized()  # a change between the terminal's making and the handler is not lost
    status = None
    open_fds = set(streams)
    try:
        while open_fds or status is None:
            if not open_fds:
                _, status = k.waitpid(pid)
                break
            # a client that does not keep up holds the output back (as Docker's attach does)
            watch = ([] if port and port.full() else list(open_fds)) + \
                ([forward_in] if forward_in is not None else []) + (port.fds() if port else [])
            try:
                ready, writable, _ = select.select(watch, port.writers() if port else [], [], 0.5)
            except InterruptedError:
                continue
            for fd in writable:
                port.flush(fd)
            for fd in ready:
                if fd == forward_in:
                    data = os.read(fd, 65536)
                    if data:
                        os.write(fds[0], data)
                    else:
                        forward_in = None
                    continue
                if fd not in open_fds:
                    # The port's, which may have closed it (a client gone) or stopped
                    # reading it since the select: only the port can say, never read it here.
                    port.handle(fd)
                    continue
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue  # a terminal shared through a TerminalPort is non-blocking
                except OSError as e:
                    if e.errno != errno.EIO:  # a pty reports EIO once the last writer closed
                        raise
                    data = b""
                if not data:
                    open_fds.discard(fd)
                    continue
                deliver(streams[fd], data)
            if status is None:
                wpid, wstatus = k.waitpid(pid, os.WNOHANG)
                if wpid:
                    status = wstatus
                    # PID 1 is gone, so is its namespace: drain what is buffered and stop.
                    for fd in list(open_fds):
                        _drain(fd, streams[fd], deliver)
                    open_fds.clear()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if port:
            port.close()
        for fd in fds:
            os.close(fd)
        log.close()
    return status


@contextlib.contextmanager
def short_socket_path(path: str):
    """``path`` named through its directory's descriptor: ``/proc/self/fd/N/name``."""
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{os.path.basename(path)}"
    finally:
        os.close(fd)


class ExecPort:
    """``exec`` for a container whose processes only its supervisor can reach.

    On the simulated kernel a detached container lives inside its supervisor, so
    an ``exec`` from another process is handed over here: a unix socket in the
    container's directory takes one JSON request with the caller's stdin, stdout
    and stderr (SCM_RIGHTS), runs it with ``handler(request, attach)`` in the
    supervisor, and answers ``{"code": N}`` or ``{"code": N, "message": M}``. A
    request ``{"op": "top"}`` asks for the container's process list instead.
    """

    def __init__(self, path: str, handler):
        self.path, self.handler = path, handler
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with short_socket_path(path) as short:
            self.listener.bind(short)
            os.chmod(short, 0o600)
        self.listener.listen(4)
        threading.Thread(target=self._serve, daemon=True, name="minidocker-exec-port").start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed: the container has ended
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
                request = json.loads(data)
                try:
                    result = self.handler(request, Attach(fds[0], fds[1], fds[2]))
                    reply = {"rows": result} if request.get("op") else {"code": result}
                except MinidockerError as e:
                    reply = {"code": e.exit_code, "message": str(e)}
                finally:
                    for fd in fds:
                        os.close(fd)
                conn.sendall(json.dumps(reply).encode())
            except (OSError, ValueError, IndexError):
                pass  # a broken request: the caller sees its connection close

    def close(self) -> None:
        self.listener.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def remote_exec(path: str, request: dict, attach: Attach) -> int:
    """Ask a container's ``ExecPort`` to run ``request`` on our stdio; its exit code."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            with short_socket_path(path) as short:
                sock.connect(short)
        except OSError:
            raise MinidockerError("exec: the container's supervisor does not answer") from None
        stdin = attach.stdin if attach.stdin is not None else os.open(os.devnull, os.O_RDONLY)
        try:
            socket.send_fds(sock, [json.dumps(request).encode()], [stdin, attach.stdout, attach.stderr])
        finally:
            if attach.stdin is None:
                os.close(stdin)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    try:
        answer = json.loads(reply)
    except ValueError:
        raise MinidockerError("exec: the container's supervisor ended the exec without a reply") from None
    if "message" in answer:
        raise StartFailed(answer["code"], answer["message"])
    return answer["rows"] if request.get("op") else answer["code"]


class _StdinPort:
    """stdin of a detached ``-i`` container without a terminal: a unix socket in its directory.

    The first client's bytes go to the container's stdin pipe; its half-close is
    the container's end of input, as with Docker's StdinOnce. The daemon's attach
    connects here (output goes through the log). With ``-t``, see ``terminal.TerminalPort``.
    """

    def __init__(self, path: str, sink: int):
        self.path, self.sink = path, sink
        self.listener: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with short_socket_path(path) as short:  # socket paths are limited to 108 bytes
            self.listener.bind(short)
            os.chmod(short, 0o600)
        self.listener.listen(1)
        self.client: socket.socket | None = None

    def fds(self) -> list[int]:
        return [s.fileno() for s in (self.listener, self.client) if s is not None]

    def writers(self) -> list[int]:
        return []  # output goes through the log

    def full(self) -> bool:
        return False

    def output(self, data: bytes) -> None:
        pass

    def handle(self, fd: int) -> None:
        if fd not in self.fds():
            return  # closed since the select that found it ready
        if self.listener is not None and fd == self.listener.fileno():
            conn, _ = self.listener.accept()
            if self.client is not None:
                conn.close()  # one writer at a time
            else:
                self.client = conn
            return
        data = self.client.recv(65536)
        if data:
            os.write(self.sink, data)
            return
        self.client.close()
        self.client = None
        self._close_listener()
        self._close_sink()

    def _close_listener(self) -> None:
        close_listener(self.listener, self.path)
        self.listener = None

    def _close_sink(self) -> None:
        if self.sink is not None:
            os.close(self.sink)
            self.sink = None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self._close_listener()
        self._close_sink()


def close_listener(listener: socket.socket | None, path: str) -> None:
    """Close a port's listening socket (if open) and remove its name."""
    if listener is not None:
        listener.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _drain(fd, stream, deliver) -> None:
    os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            return
        if not data:
            return
        deliver(stream, data)


def _deliver(stream: str, data: bytes, log, targets: dict[str, int]) -> None:
    """Output to the log, and to the attached terminal while it still listens."""
    log.write(stream, data)
    if stream in targets:
        try:
            os.write(targets[stream], data)
        except OSError:
            targets.pop(stream)


class StartSignal:
    """The detached supervisor's one message to whoever waits for the start: "ok" once
    the container runs, or the error that stopped it — never both, never after closing
    (a closed descriptor's number may already belong to the container's log)."""

    def __init__(self, fd: int):
        self.fd: int | None = fd

    def ok(self) -> None:
        self._send(b"ok")

    def fail(self, code: int, message: str) -> None:
        self._send(json.dumps({"code": code, "message": message}).encode())

    def _send(self, data: bytes) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, data)
        finally:
            os.close(self.fd)
            self.fd = None


def detach(run, in_process: bool = False, report_to: int | None = None) -> int:
    """Run ``run(started)`` in a detached supervisor; wait only until it has started.

    ``run`` calls ``started.ok()`` once the container runs. The supervisor is a
    forked process in a session of its own (a short-lived leader forks it and
    exits, so init adopts it), or with ``in_process`` a thread of this one (the
    simulator in a notebook, whose containers must stay in its view).
    Returns 0 once the container runs; raises StartFailed with the supervisor's message.

    With ``report_to``, this process becomes the supervisor itself (the daemon's
    fork server forks one per start; see ``engine.forkserver``): it says "ok" or
    the failure on that descriptor and never returns.
    """
    if report_to is not None:
        r, w = None, report_to
    else:
        r, w = os.pipe2(os.O_CLOEXEC)
    started = StartSignal(w)

    def supervisor() -> None:
        try:
            run(started)
        except StartFailed as e:
            started.fail(e.exit_code, str(e))
        except BaseException as e:
            started.fail(125, str(e))
        finally:
            started.fail(125, "the container's supervisor ended before the container started")

    if in_process:
        threading.Thread(target=supervisor, daemon=True, name="minidocker-supervisor").start()
        return _started(r)
    if report_to is not None:
        pid = 0
    else:
        pid = os.fork()
    if pid == 0:
        if r is not None:
            os.close(r)
        try:
            os.setsid()
            if report_to is None and os.fork() != 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            supervisor()
        finally:
            os._exit(0)
    started.fd = None
    os.close(w)
    os.waitpid(pid, 0)
    return _started(r)


def _started(r: int) -> int:
    """What the supervisor said on its start pipe: 0, or StartFailed."""
    data = _read_all(r)
    os.close(r)
    if data == b"ok" or data.startswith(b"ok"):
        return 0
    if not data:
        raise StartFailed(125, "the container's supervisor exited before the container started")
    info = json.loads(data)
    raise StartFailed(info["code"], info["message"])

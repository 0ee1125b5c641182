"""The container's first process: from a forked copy of the runtime to the user's program.

``become_container`` runs in the child the supervisor forked after
``unshare(CLONE_NEWPID)``, so it is PID 1 of a new PID namespace. In order:
join the cgroups (before anything else, so every later byte is accounted),
leave the host's mount/UTS/IPC/network/cgroup namespaces, set the hostname,
build the rootfs and ``pivot_root`` into it, resolve the user inside the
container, close every descriptor the runtime holds, enter the working
directory, drop capabilities and privileges, and ``execve``.

Any failure is written as one JSON line to the error pipe (close-on-exec, so
a successful ``execve`` closes it empty) and ends the process with Docker's
code: 125 for a runtime error, 126 when the program cannot be executed,
127 when it is not found.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
from dataclasses import dataclass

from ..errors import MinidockerError
from ..fsroot import Root, split
from ..kernel.base import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS,
                           CLONE_NEWUTS, Kernel, Mount)

# The namespaces an exec joins, in runc's order (the PID namespace is joined by
# the parent before it forks); the mount namespace last but one, so the
# container's /proc/PID/ns files are still reachable through the host's /proc.
JOIN_ORDER = (("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS), ("net", CLONE_NEWNET),
              ("cgroup", CLONE_NEWCGROUP), ("mnt", CLONE_NEWNS))
from . import rootfs, user
from .spec import DEFAULT_CAPABILITIES, DEFAULT_PATH, ContainerSpec

NAMESPACES = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP


@dataclass(frozen=True)
class InitPlan:
    """Everything the container's first process needs, decided by the supervisor."""

    spec: ContainerSpec
    rootfs: str
    layers: tuple[Mount, ...]
    etc_files: dict[str, str]
    cgroup_join: tuple[str, ...]
    # (ready, go) pipe ends: say the namespaces exist, then wait while the runtime
    # configures them from outside (veths into the network namespace), as OCI hooks do
    sync: tuple[int, int] | None = None


@dataclass(frozen=True)
class ExecPlan:
    """A further process in a running container (``minidocker exec``)."""

    container_pid: int                 # host PID of the container's PID 1
    argv: tuple[str, ...]
    env: tuple[str, ...]               # the container's, then -e overrides
    working_dir: str
    user: str
    tty: bool
    cgroup_join: tuple[str, ...]


class ExecFailed(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def become_container(k: Kernel, plan: InitPlan, error_fd: int, console: int | None) -> None:
    """Turn this (forked) process into the container; never returns.

    ``console`` is a unix socket when the container gets a terminal: the pty
    is made inside the container's own devpts (so ``tty`` and job control
    work there) and its master end is sent back through the socket, as runc
    does with its console socket.
    """
    _run_or_report(k, error_fd, lambda: _setup_and_exec(k, plan, error_fd, console))


def _run_or_report(k: Kernel, error_fd: int, steps) -> None:
    """Run ``steps`` (which end in execve); on any failure report it and exit with
    Docker's code. The runtime's Python must never go on inside a container."""
    code, message = 125, "unknown error"
    try:
        steps()
    except SystemExit:
        raise  # the process ends as asked (a simulated kernel's execve ends it this way)
    except ExecFailed as e:
        code, message = e.code, str(e)
    except MinidockerError as e:
        message = str(e)
    except OSError as e:
        message = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    except BaseException as e:
        message = f"{type(e).__name__}: {e}"
    try:
        k.fs.write(error_fd, json.dumps({"code": code, "message": message}).encode())
    finally:
        k.fs._exit(code)


def _setup_and_exec(k: Kernel, plan: InitPlan, error_fd: int, console: int | None) -> None:
    spec = plan.spec
    for path in plan.cgroup_join:
        k.write_file(path, "0")
    k.setsid()
    if spec.network == "host":  # build steps, so package managers reach the network
        k.unshare(NAMESPACES & ~CLONE_NEWNET)
        k.sethostname(spec.hostname)
    else:
        k.unshare(NAMESPACES)
        k.sethostname(spec.hostname)
        k.loopback_up()
    if plan.sync is not None:
        # the namespaces exist: the runtime may wire them while the rootfs is built here
        k.fs.write(plan.sync[0], b"1")
        k.fs.close(plan.sync[0])
    rootfs.setup(k, spec, plan.rootfs, list(plan.layers), plan.etc_files)
    if console is not None:
        _attach_terminal(k, console)
    ident = user.resolve(spec.user, _read(k, "/etc/passwd"), _read(k, "/etc/group"))
    env = _environment(spec.env, ident, hostname=spec.hostname, tty=spec.tty)
    if plan.sync is not None:
        _wait_for_runtime(k, plan.sync[1])
    k.close_fds(keep=(error_fd,))
    _enter_workdir(k, spec.working_dir, ident)
    k.limit_capabilities(frozenset(DEFAULT_CAPABILITIES.values()))
    k.set_identity(ident.uid, ident.gid, list(ident.groups))
    if spec.init:
        _reap_for(k, list(spec.argv), env, error_fd)
    _exec(k, list(spec.argv), env)


def _wait_for_runtime(k: Kernel, go: int) -> None:
    """Block until the runtime has configured the namespaces from outside (its "go")."""
    answer = k.fs.read(go, 1)
    k.fs.close(go)
    if answer != b"1":
        # the runtime reports what failed; this process only has to stop
        raise MinidockerError("the runtime could not set up the container's network")


def become_exec_process(k: Kernel, plan: ExecPlan, error_fd: int, console: int | None) -> None:
    """Join a running container's namespaces and cgroup, then exec; never returns."""
    _run_or_report(k, error_fd, lambda: _join_and_exec(k, plan, error_fd, console))


def _join_and_exec(k: Kernel, plan: ExecPlan, error_fd: int, console: int | None) -> None:
    for path in plan.cgroup_join:
        k.write_file(path, "0")
    k.setsid()
    for name, flag in JOIN_ORDER:
        k.setns(f"/proc/{plan.container_pid}/ns/{name}", flag)
    if console is not None:
        _attach_terminal(k, console)
    ident = user.resolve(plan.user, _read(k, "/etc/passwd"), _read(k, "/etc/group"))
    env = _environment(plan.env, ident, hostname=None, tty=plan.tty)
    k.close_fds(keep=(error_fd,))
    _enter_workdir(k, plan.working_dir, ident)
    k.limit_capabilities(frozenset(DEFAULT_CAPABILITIES.values()))
    k.set_identity(ident.uid, ident.gid, list(ident.groups))
    _exec(k, list(plan.argv), env)


def _attach_terminal(k: Kernel, console: int) -> None:
    master, slave = k.open_pty("/dev/pts/ptmx")
    k.send_fd(console, master)
    k.fs.close(master)
    for fd in (0, 1, 2):
        k.fs.dup2(slave, fd)
    k.fs.close(slave)
    k.set_controlling_tty(0)


def _reap_for(k: Kernel, argv: list[str], env: dict[str, str], error_fd: int) -> None:
    """``--init``: stay as PID 1, run the command as a child, forward signals, reap orphans.

    PID 1 of a namespace gets only the signals it has handlers for, and it
    inherits every orphan; a tiny init (like Docker's tini) handles both.
    """
    fs = k.fs
    ready_r, ready_w = fs.pipe2(os.O_CLOEXEC)

    def command() -> None:
        fs.close(ready_r)
        for sig in range(1, signal.NSIG):
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        become_exec(k, argv, env, ready_w)

    child = k.fork(command)
    fs.close(ready_w)
    failure = b""
    while chunk := fs.read(ready_r, 65536):
        failure += chunk
    fs.close(ready_r)
    if failure:
        fs.write(error_fd, failure)
        _, status = k.waitpid(child)
        fs._exit(json.loads(failure)["code"])
    fs.close(error_fd)  # the command runs: tell the supervisor

    def forward(signum, _frame):
        try:
            k.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in range(1, signal.NSIG):
        if sig not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
            try:
                signal.signal(sig, forward)
            except (OSError, ValueError):
                pass
    while True:
        try:
            pid, status = k.waitpid(-1)
        except ChildProcessError:
            fs._exit(0)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            fs._exit(128 - code if code < 0 else code)


def become_exec(k: Kernel, argv: list[str], env: dict[str, str], error_fd: int) -> None:
    """Exec ``argv``; on failure report on ``error_fd`` and exit with Docker's code."""
    _run_or_report(k, error_fd, lambda: _exec(k, argv, env))


def _read(k: Kernel, path: str) -> str:
    """A small text file of the container (``/etc/passwd``); "" when absent."""
    fs = k.fs
    try:
        fd = fs.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        data = b""
        while chunk := fs.read(fd, 65536):
            data += chunk
        return data.decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        fs.close(fd)


def _environment(items, ident: user.Identity, hostname: str | None, tty: bool) -> dict[str, str]:
    env = {}
    for item in items:
        k, _, v = item.partition("=")
        env[k] = v
    env.setdefault("PATH", DEFAULT_PATH)
    if hostname is not None:
        env.setdefault("HOSTNAME", hostname)
    env.setdefault("HOME", ident.home or "/")
    if tty:
        env.setdefault("TERM", "xterm")
    return env


def _enter_workdir(k: Kernel, workdir: str, ident: user.Identity) -> None:
    # Resolved inside the new root, after every runtime descriptor is closed:
    # a -w like /proc/self/fd/N can then reach nothing of the host.
    root = Root("/", k.fs)
    try:
        k.chdir(root.dir(split(workdir or "/")))
    finally:
        root.close()
    if k.fs.getcwd().startswith("(unreachable)"):
        raise MinidockerError(f"working directory {workdir} is outside the container")


def _exec(k: Kernel, argv: list[str], env: dict[str, str]) -> None:
    """Look the program up in the container's PATH (as runc does), then execve it once."""
    prog = argv[0]
    if "/" in prog:
        path = prog
    else:
        path = next((os.path.join(d or ".", prog) for d in env.get("PATH", DEFAULT_PATH).split(":")
                     if _is_executable_file(k, os.path.join(d or ".", prog))), None)
        if path is None:
            raise ExecFailed(127, f'exec: "{prog}": executable file not found in $PATH')
    try:
        k.execve(path, argv, env)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            raise ExecFailed(127, f'exec: "{prog}": no such file or directory') from None
        if e.errno in (errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.EISDIR):
            raise ExecFailed(126, f'exec: "{prog}": permission denied') from None
        raise ExecFailed(126, f"exec {prog}: {e.strerror}") from None


def _is_executable_file(k: Kernel, path: str) -> bool:
    try:
        st = k.fs.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_mode & 0o111 != 0

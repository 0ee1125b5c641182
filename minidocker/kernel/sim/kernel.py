"""``SimKernel``: the ``Kernel`` interface answered by the simulator.

Each call does what Linux does, on simulated state: ``fork`` makes a
process (a thread here) with copies of its parent's descriptors and the
same namespaces; ``unshare`` gives it new ones; ``mount``, ``pivot_root``
and ``umount`` change its mount namespace (``mounts.py``); ``execve`` runs a
program of ``userland/`` in it; the cgroup files are a model of cgroup v2
(``cgroups.py``); ``/proc`` is generated (``procfs.py``); network
namespaces, the packet filter and sockets are ``network.py``,
``netfilter.py`` and ``sockets.py``.

What needs root on real files — owners, device nodes such as whiteouts,
``trusted.*`` attributes — is kept by ``meta.Meta``, so the simulated root
needs no real root. The runtime's own process is a process here too (the
"host"), with its real descriptors and the real filesystem as its root.

Networks: the host's network namespace is the simulated machine's (``lo`` and
an uplink ``eth0``, see ``network.py``), not the real one. ``connect`` from the
host reaches simulated listeners through the model and returns a real socket;
``open_port`` is the base class's, a real socket of the real host: the
published ports of simulated containers are real ports (loopback or any
address the machine has), relayed by the runtime's port proxy.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import signal
import stat
import threading
import time

from ...errors import MinidockerError
from ..base import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,
                    CLONE_NEWUTS, MNT_DETACH, MS_BIND, MS_PRIVATE, MS_RDONLY, MS_REMOUNT, MS_SLAVE,
                    Kernel)
from .cgroups import CgroupFS, CgroupTree
from .files import SIM_FD_BASE, UMASK, SimFiles
from .fs import FS, HostFS, MemFS, OverlayFS
from .meta import Meta, host_path
from .mounts import Loc, MountEntry, MountNamespace
from .network import Network, NetStack, sysctl_read, sysctl_write
from .process import (FdTable, Namespace, NetNamespace, OpenFile, PidNamespace, SimExit,
                      SimProcess, UtsNamespace)
from .procfs import ProcFS

CGROUP_MOUNT = "/sys/fs/cgroup"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MEMORY_FS = {"tmpfs": 0o755, "devpts": 0o755, "mqueue": 0o1777, "sysfs": 0o555, "shm": 0o1777}
_FD_LINK = re.compile(r"^/proc/self/fd/(\d+)$")
_NS_FILE = re.compile(r"^/proc/(self|\d+)/ns/(\w+)$")
_PROC_FILE = re.compile(r"^/proc/(self|\d+)/(\w+)$")
_NET_SYSCTL = "/proc/sys/net/"
# Busybox's shell runs applets in a forked copy of itself (FEATURE_PREFER_APPLETS).
_SHELLS = {"sh", "ash", "busybox"}
_FATAL_BY_DEFAULT = {signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGKILL, signal.SIGTERM,
                     signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM}


def _err(code: int, what: str = "") -> OSError:
    return OSError(code, os.strerror(code), what) if what else OSError(code, os.strerror(code))


class SimKernel(Kernel):
    name = "sim"
    simulated = True
    detach_in_process = True   # the CLI turns it off: its process ends after `run -d`

    def __init__(self, *, clock=None) -> None:
        self.meta = Meta()
        self.fs = SimFiles(self)
        self.clock = clock or time.monotonic
        self.cgroups = CgroupTree(CGROUP_MOUNT, kill=lambda pid: self._signal(pid, signal.SIGKILL))
        self.processes: dict[int, SimProcess] = {}
        self._lock = threading.RLock()
        self._local = threading.local()
        self._next_pid = itertools.count(7000)
        self.root_pid_ns = PidNamespace("pid")
        host = HostFS("/", self.meta)
        self.host_ns = MountNamespace(MountEntry(host, host.root(), source="/dev/root"))
        root = Loc(self.host_ns.root, host.root())
        self.network = Network()
        self.network.host.set_link("lo", up=True)
        self.network.add_uplink(self.network.host)
        self._host_template = dict(mnt=self.host_ns, root=root, cwd=root, pid_ns=self.root_pid_ns,
                                   uts=UtsNamespace("uts", hostname=os.uname().nodename),
                                   ipc=Namespace("ipc"), net=NetNamespace("net", stack=self.network.host),
                                   cgroup_ns=Namespace("cgroup"))
        self.registry = None   # set by bind_state_root: reaching other minidocker processes
        self._claimed: set[int] = set()   # the PIDs this kernel recorded in the registry

    def bind_state_root(self, root) -> None:
        """Share simulated PIDs and signals with other minidocker processes using ``root``."""
        from .registry import Registry
        if self.registry is None:
            self.registry = Registry(str(root))

    @property
    def privileged(self) -> bool:
        return True  # the simulated process is root: owners and whiteouts are recorded

    # -- processes ------------------------------------------------------------------------
    def current(self) -> SimProcess:
        """The calling thread's process; the runtime's own (host) process otherwise."""
        p = getattr(self._local, "process", None)
        if p is not None:
            return p
        pid = os.getpid()
        with self._lock:
            p = self.processes.get(pid)
            if p is None or not p.host:
                p = SimProcess(pid, os.getppid(), fds=FdTable(), host=True, argv=("minidocker",),
                               **self._host_template)
                p.numbers[self.root_pid_ns] = pid
                self.processes[pid] = p
                if not self.cgroups_has(pid):
                    self.cgroups.add_process(pid)
        return p

    def getpid(self) -> int:
        p = self.current()
        return p.pid_in(p.pid_ns)

    def context(self) -> dict:
        p = self.current()
        ns = {kind: self.namespace_of(p, kind).inode for kind in ("pid", "mnt", "uts", "ipc", "net",
                                                                   "cgroup")}
        cgroup = self.cgroups.cgroup_of(p.pid) if self.cgroups_has(p.pid) else "/"
        return {"ns": ns, "cgroup": cgroup, "host_pid": p.pid}

    def cgroups_has(self, pid: int) -> bool:
        try:
            self.cgroups.cgroup_of(pid)
            return True
        except ProcessLookupError:
            return False

    def _find(self, pid: int, seen_from: SimProcess) -> SimProcess | None:
        ns = seen_from.pid_ns
        for p in self.processes.values():
            if p.pid_in(ns) == pid:
                return p
        return None

    def _by_proc_pid(self, pid: int, me: SimProcess) -> SimProcess | None:
        """The process that ``/proc/PID`` names for ``me``: numbered as the PID namespace
        of the /proc it sees (the host's real /proc numbers processes as the host does)."""
        try:
            loc = self.lookup("/proc")
        except OSError:
            loc = None
        ns = loc.fs.ns if loc is not None and isinstance(loc.fs, ProcFS) else self.root_pid_ns
        for p in self.processes.values():
            if p.pid_in(ns) == pid:
                return p
        return None

    def pid_chain(self, p: SimProcess, from_ns: PidNamespace) -> list[int]:
        """NSpid: the process's numbers from ``from_ns`` down to its own namespace."""
        out, ns = [], p.pid_ns
        while ns is not None:
            out.append(p.pid_in(ns))
            if ns is from_ns:
                break
            ns = ns.parent
        return list(reversed(out))

    def ppid_in(self, p: SimProcess, ns: PidNamespace) -> int:
        parent = self.processes.get(p.ppid)
        return (parent.pid_in(ns) or 0) if parent is not None else 0

    def namespace_of(self, p: SimProcess, kind: str) -> Namespace:
        return {"pid": p.pid_ns, "uts": p.uts, "ipc": p.ipc, "net": p.net, "cgroup": p.cgroup_ns,
                "mnt": p.mnt.identity}[kind]

    def _new_child(self, parent: SimProcess) -> SimProcess:
        """fork(2)'s copy of ``parent``: numbered in each PID namespace up to the root,
        charged to its parent's cgroup (which may refuse: pids.max)."""
        ns = parent.children_ns or parent.pid_ns
        shared = parent.host and self.registry is not None   # others may signal it
        with self._lock:
            pid = next(self._next_pid)
            while pid in self.processes or pid == os.getpid() or \
                    (shared and not self.registry.claim(pid)):
                pid = next(self._next_pid)
            if shared:
                self._claimed.add(pid)
            try:
                self.cgroups.add_process(pid, parent=parent.pid)
            except BlockingIOError:
                if shared:
                    self._claimed.discard(pid)
                    self.registry.release(pid)
                raise _err(errno.EAGAIN, "fork") from None
            proc = SimProcess(pid, parent.pid, parent.mnt, parent.root, parent.cwd, ns, parent.uts,
                              parent.ipc, parent.net, parent.cgroup_ns, self._fork_fds(parent),
                              uid=parent.uid, gid=parent.gid, groups=parent.groups,
                              capabilities=parent.capabilities, sid=parent.sid, argv=parent.argv,
                              environ=dict(parent.environ))
            level = ns
            while level is not None:
                if level is self.root_pid_ns:
                    proc.numbers[level] = pid
                else:
                    proc.numbers[level] = level.next_pid
                    level.next_pid += 1
                level = level.parent
            self.processes[pid] = proc
        return proc

    def fork(self, child) -> int:
        parent = self.current()
        if parent.host and self.registry is not None:
            self._listen()
        proc = self._new_child(parent)
        proc.thread = threading.Thread(target=self._run, args=(proc, child), daemon=True,
                                       name=f"sim-pid-{proc.pid}")
        proc.thread.start()
        return proc.pid_in(parent.pid_ns)

    def run_child(self, parent: SimProcess, argv: list[str], env: dict[str, str], streams) -> int:
        """fork + execve + wait, in the calling thread (a shell running a command)."""
        if not argv:
            return 0
        child = self._new_child(parent)   # EAGAIN at pids.max: the caller says "can't fork"
        child.inline = True
        previous = getattr(self._local, "process", None)
        self._local.process = child
        parent.state = "S"  # waiting for its child
        try:
            status = self._exec(child, argv, env, streams, shell=parent.comm in _SHELLS)
        finally:
            self._local.process = previous
            parent.state = "R"
        self._exit_process(child, status)
        with self._lock:
            self.processes.pop(child.pid, None)   # reaped by the waiting parent
        return status

    def spawn_child(self, parent: SimProcess, argv: list[str], env: dict[str, str], streams) -> int:
        """fork + execve in a thread of its own (a shell's ``cmd &``); the child's pid."""
        child = self._new_child(parent)   # EAGAIN at pids.max
        shell = parent.comm in _SHELLS

        def body() -> None:
            self._local.process = child
            try:
                status = self._exec(child, argv, env, streams, shell=shell)
            except BaseException:
                status = 125 << 8
            self._exit_process(child, status)

        child.thread = threading.Thread(target=body, daemon=True, name=f"sim-pid-{child.pid}")
        child.thread.start()
        return child.pid_in(parent.pid_ns)

    def spawn_function(self, parent: SimProcess, fn) -> int:
        """fork(2) without execve: ``fn(child)`` runs as a copy of ``parent`` in a thread of
        its own and returns the child's exit code (a shell's ``{ …; } &``); the child's pid."""
        child = self._new_child(parent)   # EAGAIN at pids.max

        def body() -> None:
            self._local.process = child
            try:
                status = (fn(child) & 0xFF) << 8
            except SimExit as e:
                status = e.status
            except BaseException:
                status = 125 << 8
            self._exit_process(child, status)

        child.thread = threading.Thread(target=body, daemon=True, name=f"sim-pid-{child.pid}")
        child.thread.start()
        return child.pid_in(parent.pid_ns)

    def wait_child(self, parent: SimProcess, pid: int) -> int:
        """waitpid for a child made by ``spawn_child``; its wait status (the child is reaped)."""
        child = next((q for q in self.processes.values()
                      if q.ppid == parent.pid and q.pid_in(parent.pid_ns) == pid), None)
        if child is None:
            raise ChildProcessError(errno.ECHILD, os.strerror(errno.ECHILD))
        while child.status is None:
            if parent.pending:
                raise SimExit(parent.pending.pop(0))
            with child.done:
                child.done.wait(0.05)
        with self._lock:
            self.processes.pop(child.pid, None)
        return child.status

    def exec_in_place(self, p: SimProcess, argv: list[str], env: dict[str, str], streams) -> int:
        """execve in the calling process: ``argv`` runs as ``p`` itself (ash's last command;
        an applet then keeps the shell's command line, as busybox runs it without exec)."""
        p.fds.close_on_exec()
        return self._exec(p, argv, env, streams, shell=p.comm in _SHELLS)

    def _exec(self, p: SimProcess, argv: list[str], env: dict[str, str], streams, shell: bool) -> int:
        """Find ``argv[0]`` and run it as ``p``; a wait status."""
        from .exec import run_applet, run_program
        from .userland import missing
        from .userland.applets import APPLETS
        p.environ = env
        try:
            if shell and "/" not in argv[0] and argv[0] in APPLETS:
                return run_applet(self, p, argv[0], list(argv), streams)
            path = self._find_program(argv[0], env)
            if path is None:
                caller = self.processes.get(p.ppid)
                name = (caller.comm if caller is not None and p is not caller else p.comm) or "sh"
                streams[2].write((missing(name, argv[0]) + "\n").encode())
                return 127 << 8
            loc = self.lookup(path)
            st = loc.fs.stat(loc.key)
            if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
                streams[2].write(f"sim: permission denied: {argv[0]}\n".encode())
                return 126 << 8
            return run_program(self, p, self.path_of(loc), loc.fs.read(loc.key, 0, 256),
                               list(argv), streams)
        except SimExit as e:
            return e.status

    def _find_program(self, name: str, env: dict[str, str]) -> str | None:
        """PATH lookup, as execvp does, in the calling process's filesystem."""
        candidates = [name] if "/" in name else \
            [f"{d or '.'}/{name}" for d in env.get("PATH", DEFAULT_PATH).split(":")]
        for path in candidates:
            try:
                loc = self.lookup(path)
            except OSError:
                continue
            if stat.S_ISREG(loc.fs.stat(loc.key).st_mode):
                return path
        return None

    def charge_memory(self, p: SimProcess, nbytes: int) -> None:
        """Charge ``nbytes`` to ``p``'s cgroup; the OOM killer ends whoever the model picks."""
        from .userland.api import Killed
        if nbytes <= 0 or p.host:
            return
        while victims := self.cgroups.charge_memory(p.pid, nbytes):
            for pid in victims:
                if pid == p.pid:
                    raise Killed(signal.SIGKILL)
                self.oom_kill(pid)

    def oom_kill(self, pid: int) -> None:
        """The OOM killer's victim: killed, and its memory given back at once."""
        p = self.processes.get(pid)
        if p is None:
            return
        self._deliver(p, signal.SIGKILL)
        if self.cgroups_has(pid):
            self.cgroups.remove_process(pid)
        p.rss = 0

    def _fork_fds(self, parent: SimProcess) -> FdTable:
        table = parent.fds.copy()
        if parent.host:  # the child gets its own copies of the runtime's real descriptors
            for name in _open_fds():
                fd = int(name)
                try:
                    copy = os.dup(fd)
                except OSError:
                    continue
                table.install(OpenFile(real=copy), not os.get_inheritable(fd), at=fd)
        return table

    def _run(self, proc: SimProcess, fn) -> None:
        self._local.process = proc
        status = 125 << 8
        try:
            fn()
        except SimExit as e:
            status = e.status
        except BaseException:  # a bug in a simulated program: the process dies, the kernel lives
            status = 125 << 8
        self._exit_process(proc, status)

    def _listen(self) -> None:
        """Take signals that other minidocker processes send to the processes hosted here."""
        from .registry import NOTIFY
        if getattr(self, "_listening", None) == os.getpid() or \
                threading.current_thread() is not threading.main_thread():
            return

        def deliver(_signum, _frame):
            mine = {p.pid for p in self.processes.values() if not p.host and p.status is None}
            for pid, sig in self.registry.take(mine):
                target = self.processes.get(pid)
                if target is not None and target.status is None:
                    self._post(target, sig, self.root_pid_ns)  # sent from the host's namespace

        signal.signal(NOTIFY, deliver)
        self._listening = os.getpid()

    def _exit_process(self, proc: SimProcess, status: int) -> None:
        if self.registry is not None and proc.pid in self._claimed:
            # only a PID recorded here: a container's own children are not recorded, and
            # another process may have recorded the same number for one of its own
            self._claimed.discard(proc.pid)
            self.registry.release(proc.pid)
        proc.fds.close_all()
        for sock in proc.sockets:
            sock.close()
        proc.sockets.clear()
        with self._lock:
            if self.cgroups_has(proc.pid):
                self.cgroups.remove_process(proc.pid)
            if proc.pid_in(proc.pid_ns) == 1:  # the namespace's init: everyone else in it dies
                for other in self.processes.values():
                    if other is not proc and other.pid_in(proc.pid_ns) is not None \
                            and other.status is None:
                        self._deliver(other, signal.SIGKILL)
            for other in self.processes.values():
                if other.ppid == proc.pid and other is not proc:
                    other.ppid = proc.ppid  # orphans: to the parent (no subreaper model)
        with proc.done:
            proc.state, proc.status = "Z", status
            proc.done.notify_all()
        self._leave_net(proc.net)
        parent = self.processes.get(proc.ppid)
        if parent is not None:
            with parent.done:
                parent.done.notify_all()

    def waitpid(self, pid, options=0):
        me = self.current()
        deadline_poll = bool(options & os.WNOHANG)
        while True:
            with self._lock:
                kids = [p for p in self.processes.values() if p.ppid == me.pid and not p.host]
                if pid != -1:
                    kids = [p for p in kids if p.pid_in(me.pid_ns) == pid]
                if not kids:
                    raise ChildProcessError(errno.ECHILD, os.strerror(errno.ECHILD))
                done = [p for p in kids if p.status is not None]
                if done:
                    p = done[0]
                    del self.processes[p.pid]
                    return p.pid_in(me.pid_ns), p.status
            if deadline_poll:
                return 0, 0
            with me.done:
                me.done.wait(0.05)

    def process_alive(self, pid):
        p = self.processes.get(pid)
        if p is not None:
            return p.status is None
        if pid == os.getpid():
            return True
        if self.registry is not None and self.registry.host_of(pid) is not None:
            return True  # a simulated process hosted by another minidocker process
        from .. import host_process_alive   # a supervisor: a real process of the host
        return host_process_alive(pid)

    def kill(self, pid, sig):
        me = self.current()
        target = self._find(pid, me) if not me.host else self.processes.get(pid)
        if target is None or target.host:
            if me.host and target is None and self.registry is not None:
                if sig == 0 and self.registry.host_of(pid) is not None:
                    return
                if self.registry.send(pid, sig):  # hosted by another minidocker process
                    return
            # never a real process: simulated PIDs may be anyone's on the host
            raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH))
        if target.status is not None:
            return  # a zombie takes no more signals
        if sig == 0:
            return
        self._post(target, sig, me.pid_ns)

    def _post(self, target: SimProcess, sig: int, sender_ns: PidNamespace) -> None:
        if target.pid_in(target.pid_ns) == 1 and (sig != signal.SIGKILL or target.pid_ns is sender_ns):
            # A namespace's init gets only the signals it has a handler for (simulated programs
            # have none); SIGKILL reaches it only from an ancestor namespace. That is why
            # `docker stop` of a plain `sh` waits out its timeout, then kills.
            return
        self._deliver(target, sig)

    def _signal(self, pid: int, sig: int) -> None:
        p = self.processes.get(pid)
        if p is not None and p.status is None:
            self._deliver(p, sig)

    def _deliver(self, p: SimProcess, sig: int) -> None:
        if sig in _FATAL_BY_DEFAULT:
            p.pending.append(sig)
            p.wake.set()
        if sig == signal.SIGKILL:
            # A child run in its parent's thread holds the parent until it returns: it goes too
            # (on Linux it would live on, adopted; documented as a simplification).
            for q in list(self.processes.values()):
                if q.inline and q.ppid == p.pid and q.status is None:
                    self._deliver(q, sig)

    def check_signals(self, p: SimProcess | None = None) -> None:
        """Called by simulated programs between steps: a fatal signal ends the process."""
        p = p or self.current()
        if p.pending:
            sig = p.pending.pop(0)
            raise SimExit(sig)

    # -- namespaces ------------------------------------------------------------------------
    def unshare(self, flags):
        p = self.current()
        if p.host and flags & ~CLONE_NEWPID:
            raise _err(errno.EPERM, "the runtime's own process stays in the host's namespaces")
        if flags & CLONE_NEWPID:
            p.children_ns = (p.pid_ns).child()
        if flags & CLONE_NEWNS:
            ns, mapping = p.mnt.copy()
            p.mnt = ns
            p.root = Loc(mapping[p.root.mount.id], p.root.key)
            p.cwd = Loc(mapping[p.cwd.mount.id], p.cwd.key)
        if flags & CLONE_NEWUTS:
            p.uts = UtsNamespace("uts", hostname=p.uts.hostname)
        if flags & CLONE_NEWIPC:
            p.ipc = Namespace("ipc")
        if flags & CLONE_NEWNET:
            old, p.net = p.net, NetNamespace("net")
            p.net.stack = self.network.new_stack(f"net:[{p.net.inode}]")
            self._leave_net(old)
        if flags & CLONE_NEWCGROUP:
            p.cgroup_ns = Namespace("cgroup")

    def _ns_target(self, path: str) -> tuple[SimProcess, str]:
        """The process whose namespace the file ``/proc/PID/ns/KIND`` is, and KIND."""
        m = _NS_FILE.match(path)
        if m is None:
            raise _err(errno.EINVAL, path)
        me = self.current()
        who, kind = m.groups()
        target = me if who == "self" else self._by_proc_pid(int(who), me)
        if target is None or target.status is not None:
            if self.registry is not None and who != "self" and self.registry.host_of(int(who)):
                raise MinidockerError("exec: the simulator cannot join a container that another "
                                      "minidocker process runs; exec works from the process that "
                                      "started it (a notebook's Engine, say)")
            raise _err(errno.ENOENT, path)
        return target, kind

    def setns(self, path, nstype):
        target, kind = self._ns_target(path)
        me = self.current()
        if kind == "pid":
            me.children_ns = None if target is me else target.pid_ns
        elif kind == "mnt":
            me.mnt, me.root, me.cwd = target.mnt, target.root, target.root
        elif kind in ("uts", "ipc"):
            setattr(me, kind, getattr(target, kind))
        elif kind == "net":
            old, me.net = me.net, target.net
            self._leave_net(old)
        elif kind == "cgroup":
            me.cgroup_ns = target.cgroup_ns
        else:
            raise _err(errno.EINVAL, path)

    def sethostname(self, name):
        p = self.current()
        if p.host:
            raise _err(errno.EPERM, "the simulator does not rename the host")
        p.uts.hostname = name

    def setsid(self):
        p = self.current()
        p.sid = p.pid

    def loopback_up(self):
        self.current().net.stack.set_link("lo", up=True)

    # -- network: rtnetlink, the packet filter, sockets (network.py) --------------------------
    def _leave_net(self, ns: NetNamespace) -> None:
        """A process left ``ns``: with nobody left in it, the namespace goes (and its veths)."""
        with self._lock:
            if ns.stack is self.network.host or any(q.net is ns and q.status is None
                                                    for q in self.processes.values()):
                return
        ns.stack.gone()

    def _net(self, netns: str | None) -> NetStack:
        if netns is None:
            return self.current().net.stack
        target, kind = self._ns_target(netns)
        if kind != "net":
            raise _err(errno.EINVAL, netns)
        return target.net.stack

    def link_add(self, name, kind, *, peer=None, peer_netns=None, mtu=None, netns=None):
        far = self._net(peer_netns) if peer_netns else None
        self._net(netns).add_link(name, kind, peer=peer, peer_stack=far, mtu=mtu)

    def link_set(self, name, *, up=None, master=None, mtu=None, netns=None):
        self._net(netns).set_link(name, up=up, master=master, mtu=mtu)

    def link_gone(self, name, timeout):
        # the simulated kernel destroys a namespace, and its veths, as its last process ends
        return all(link.name != name for link in self.links())

    def link_delete(self, name, *, netns=None):
        self._net(netns).delete_link(name)

    def addr_add(self, name, cidr, *, netns=None):
        self._net(netns).add_address(name, cidr)

    def route_add(self, dst, gateway, *, netns=None):
        self._net(netns).add_route(dst, gateway)

    def links(self, *, netns=None):
        return self._net(netns).links()

    def routes(self, *, netns=None):
        return [r.route() for r in self._net(netns).table()]

    def firewall(self, rule, add=True):
        stack = self._net(None)
        with self.network.lock:
            stack.filter.apply(rule, add)
        return True

    def firewall_rules(self, table):
        stack = self._net(None)
        with self.network.lock:
            return stack.filter.rules(table)

    def connect(self, ip, port, proto="tcp"):
        return self.network.connect(self._net(None), ip, port, proto)

    def set_identity(self, uid, gid, groups):
        p = self.current()
        p.uid, p.gid, p.groups = uid, gid, tuple(groups)

    def limit_capabilities(self, keep):
        self.current().capabilities = frozenset(keep)

    def close_fds(self, keep):
        self.current().fds.close_all((0, 1, 2) + tuple(keep))  # stdio stays, as on Linux

    def open_pty(self, ptmx):
        # A real pseudo-terminal: its line discipline (echo, line editing, ^C) is the
        # host's, exactly what a container's terminal would give.
        master, slave = os.openpty()
        fds = self.current().fds
        return (fds.install(OpenFile(real=master), True), fds.install(OpenFile(real=slave), False))

    def send_fd(self, sock, fd):
        import socket
        p = self.current()
        real_sock = os.dup(p.fds.get(sock)[0].real)
        with socket.socket(fileno=real_sock) as s:
            socket.send_fds(s, [b"pty"], [p.fds.get(fd)[0].real])
        p.fds.close(sock)

    def set_controlling_tty(self, fd):
        self.current().tty = fd  # job control is the userland's business; nothing to set here

    # -- paths -------------------------------------------------------------------------------
    def _fd_loc(self, fd: int) -> Loc:
        p = self.current()
        f, _ = p.fds.get(fd)
        if f.loc is None:
            raise _err(errno.ENOTDIR)
        return f.loc

    def _start(self, path: str, dir_fd: int | None) -> tuple[SimProcess, Loc]:
        p = self.current()
        if dir_fd is not None and not path.startswith("/"):
            if p.host and dir_fd < SIM_FD_BASE:
                real = os.readlink(f"/proc/self/fd/{dir_fd}")
                return p, p.mnt.resolve(real, p.root, p.cwd, magic=self._magic)
            return p, self._fd_loc(dir_fd)
        if p.host:
            return p, p.mnt.resolve(os.getcwd(), p.root, p.root, magic=self._magic)
        return p, p.cwd

    def _magic(self, loc: Loc):
        fs = loc.fs
        return fs.magic(loc.key) if isinstance(fs, ProcFS) else None

    def lookup(self, path, dir_fd: int | None = None, *, follow: bool = True) -> Loc:
        """Where ``path`` leads for the calling process (``/proc/self/fd/N`` included)."""
        if isinstance(path, int):
            return self._fd_loc(path)
        m = _FD_LINK.match(path)
        if m and not self.current().host or m and int(m.group(1)) >= SIM_FD_BASE:
            return self._fd_loc(int(m.group(1)))
        p, cwd = self._start(path, dir_fd)
        return p.mnt.resolve(path, p.root, cwd, follow=follow, magic=self._magic)

    def lookup_parent(self, path, dir_fd: int | None = None) -> tuple[Loc, str]:
        p, cwd = self._start(path, dir_fd)
        return p.mnt.resolve(path, p.root, cwd, parent=True, magic=self._magic)

    def path_of(self, loc: Loc) -> str:
        p = self.current()
        return p.mnt.path_of(loc, p.root)

    def check_writable(self, loc: Loc, permission: bool = True) -> None:
        """May the calling process change ``loc`` (a file, or the directory an entry is
        made in or removed from)? Not on a read-only mount; and (``permission``: when it
        opens or changes the entry, not at each write to an open file) a process without
        CAP_DAC_OVERRIDE (any uid but 0) needs the write bit that applies to it."""
        if loc.mount.readonly or loc.fs.readonly:
            raise _err(errno.EROFS)
        if not permission:
            return
        p = self.current()
        caps = p.effective_capabilities
        if p.host or caps is None or 1 in caps:  # CAP_DAC_OVERRIDE
            return
        st = loc.fs.stat(loc.key)
        bit = 0o200 if st.st_uid == p.uid else 0o020 if st.st_gid in (p.gid, *p.groups) else 0o002
        if not st.st_mode & bit:
            raise _err(errno.EACCES)

    def chroot(self, path):
        p = self.current()
        if p.host:
            raise _err(errno.EPERM, "the runtime's own process keeps the host's root")
        loc = self.lookup(path)
        if not stat.S_ISDIR(loc.fs.stat(loc.key).st_mode):
            raise _err(errno.ENOTDIR, str(path))
        p.root = loc  # the working directory stays where it was, as chroot(2) leaves it

    def chdir(self, path):
        p = self.current()
        loc = self.lookup(path)
        if not stat.S_ISDIR(loc.fs.stat(loc.key).st_mode):
            raise _err(errno.ENOTDIR, str(path))
        if p.host:
            raise _err(errno.EPERM, "the runtime's own process keeps its directory")
        p.cwd = loc

    # -- root-only metadata, on real files or in simulated filesystems -------------------
    def _host_file(self, path, dir_fd=None) -> str | None:
        """The real path when the caller is the host and the file is a real one."""
        p = self.current()
        if not p.host:
            return None
        if isinstance(path, int):
            return host_path(path) if path < SIM_FD_BASE else None
        if dir_fd is not None and dir_fd >= SIM_FD_BASE:
            return None
        real = host_path(path, dir_fd)
        try:
            parent, _ = self.lookup_parent(real)
        except OSError:
            return real
        return real if isinstance(parent.fs, HostFS) else None

    def lstat(self, path):
        return self.meta.stat(path)

    def mknod(self, path, mode, device, *, dir_fd=None):
        real = self._host_file(path, dir_fd)
        if real is not None:
            return self.meta.make_device(real, mode, device)
        parent, name = self.lookup_parent(path, dir_fd)
        if parent.fs.lookup(parent.key, name) is not None:
            raise _err(errno.EEXIST, path)
        self.check_writable(parent)
        parent.fs.create(parent.key, name, stat.S_IFMT(mode) | (stat.S_IMODE(mode) & ~UMASK),
                         rdev=device)

    def symlink(self, target, path, *, dir_fd=None):
        real = self._host_file(path, dir_fd)
        if real is not None:
            return os.symlink(target, real)
        parent, name = self.lookup_parent(path, dir_fd)
        if parent.fs.lookup(parent.key, name) is not None:
            raise _err(errno.EEXIST, path)
        self.check_writable(parent)
        parent.fs.create(parent.key, name, stat.S_IFLNK | 0o777, target=target)

    def chown(self, path, uid, gid, *, dir_fd=None, follow_symlinks=True):
        real = self._host_file(path, dir_fd)
        if real is not None:
            if follow_symlinks and not isinstance(path, int):
                real = os.path.realpath(real)
            return self.meta.chown(real, uid, gid)
        loc = self.lookup(path, dir_fd, follow=follow_symlinks)
        self.check_writable(loc)
        caps = self.current().effective_capabilities
        if caps is not None and 0 not in caps:  # CAP_CHOWN
            raise _err(errno.EPERM)
        loc.fs.chown(loc.key, uid, gid)

    def setxattr(self, path, name, value, *, follow_symlinks=True):
        real = self._host_file(path)
        if real is not None:
            return self.meta.setxattr(real, name, value)
        loc = self.lookup(path, follow=follow_symlinks)
        loc.fs.setxattr(loc.key, name, value)

    def getxattr(self, path, name, *, follow_symlinks=True):
        real = self._host_file(path)
        if real is not None:
            return self.meta.getxattr(real, name)
        loc = self.lookup(path, follow=follow_symlinks)
        return loc.fs.getxattr(loc.key, name)

    def listxattr(self, path, *, follow_symlinks=True):
        real = self._host_file(path)
        if real is not None:
            return self.meta.listxattr(real)
        return []

    # -- mounts ----------------------------------------------------------------------------
    def _real_dir(self, path: str) -> str:
        loc = self.lookup(path)
        if not isinstance(loc.fs, HostFS):
            raise _err(errno.EINVAL, f"overlay layers must be real directories: {path}")
        return loc.key

    def mount(self, source, target, fstype, flags=0, data=""):
        p = self.current()
        at = self.lookup(target)
        if flags & (MS_PRIVATE | MS_SLAVE) and not fstype and not flags & MS_BIND:
            return  # propagation: the simulator never propagates mounts anyway
        if flags & MS_REMOUNT:
            m = p.mnt.mounted_on(at) or at.mount
            m.readonly = bool(flags & MS_RDONLY)
            return
        if flags & MS_BIND:
            src = self.lookup(source)
            # (MS_REC would also copy what is mounted below the source; nothing the
            # runtime binds has submounts, so a plain bind is what it gets)
            entry = MountEntry(src.fs, src.key, source=source, readonly=bool(flags & MS_RDONLY),
                               fstype=src.mount.fstype)
        elif fstype == "overlay":
            opts = dict(o.split("=", 1) for o in data.split(",") if "=" in o)
            if "lowerdir" not in opts:
                raise _err(errno.EINVAL, f"overlay needs lowerdir: {target}")
            lowers = [self._real_dir(d) for d in opts["lowerdir"].split(":")]
            upper = self._real_dir(opts["upperdir"]) if "upperdir" in opts else None
            # Linux's overlayfs refuses these too (ovl_fill_super): a writable overlay
            # needs a work directory, and a read-only one at least two lower layers.
            if upper is not None and "workdir" not in opts:
                raise _err(errno.EINVAL, f"overlay: upperdir needs a workdir: {target}")
            if upper is None and len(lowers) < 2:
                raise _err(errno.EINVAL, f"overlay: at least 2 lowerdir without an upperdir: {target}")
            fs: FS = OverlayFS(lowers, upper, self.meta)
            entry = MountEntry(fs, fs.root(), source=source, options=tuple(data.split(",")),
                               readonly=upper is None)
        elif fstype == "proc":
            fs = ProcFS(self, p.pid_ns)
            entry = MountEntry(fs, fs.root(), source="proc")
        elif fstype in _MEMORY_FS:
            opts = dict(o.split("=", 1) for o in (data or "").split(",") if "=" in o)
            mode = int(opts["mode"], 8) if opts.get("mode", "").isdigit() else _MEMORY_FS[fstype]
            fs = MemFS(fstype, mode, readonly=bool(flags & MS_RDONLY))
            entry = MountEntry(fs, fs.root(), source=source, readonly=bool(flags & MS_RDONLY))
        else:
            raise _err(errno.ENODEV, f"the simulator has no {fstype!r} filesystem")
        entry.options = entry.options or tuple(o for o in (data or "").split(",") if o)
        if not entry.fstype:
            entry.fstype = fstype or entry.fs.fstype
        p.mnt.attach(entry, at)

    def umount(self, target, flags=0):
        p = self.current()
        at = self.lookup(target)
        m = p.mnt.mounted_on(at)
        if m is None:
            if at.key != at.mount.root_key or at.mount.parent is None:
                raise _err(errno.EINVAL, f"not a mount point: {target}")
            m = at.mount
        if not flags & MNT_DETACH and any(x.parent is m for x in p.mnt.mounts):
            raise _err(errno.EBUSY, target)
        p.mnt.detach(m)

    def pivot_root(self, new_root, put_old):
        p = self.current()
        if p.host:
            raise _err(errno.EPERM, "the runtime's own process keeps the host's root")
        new = self.lookup(new_root)
        if new.key != new.mount.root_key or new.mount is p.mnt.root:
            raise _err(errno.EINVAL, "pivot_root: the new root must be a mount point")
        old_root = p.mnt.root
        put = self.lookup(put_old)
        ns = p.mnt
        new_m = new.mount
        new_m.parent, new_m.where = None, None
        old_root.parent, old_root.where = put.mount, put.key
        ns.root = new_m
        ns.mounts = _parents_first(ns.mounts, new_m)
        new_loc = Loc(new_m, new_m.root_key)
        for q in self.processes.values():
            if q.mnt is ns and q.root.mount is old_root:
                q.root = new_loc
                if q.cwd.mount is old_root and q.cwd.key == old_root.root_key:
                    q.cwd = new_loc

    def view(self, path: str) -> "View":
        """The tree at ``path`` as the calling process sees it (tests, notebooks)."""
        return View(self, self.lookup(path))

    def mount_table(self, p: SimProcess, info: bool) -> str:
        """/proc/PID/mounts or mountinfo of ``p``: its namespace, paths from its root."""
        lines = []
        for m in p.mnt.mounts:
            where = p.mnt.path_of(Loc(m, m.root_key), p.root)
            if where.startswith("(unreachable)"):
                continue
            fstype = m.fstype or m.fs.fstype
            opts = ("ro" if m.readonly else "rw")
            extra = ",".join(o for o in m.options if o not in ("ro", "rw")) if m.options else ""
            if info:
                parent = m.parent.id if m.parent else m.id
                lines.append(f"{m.id} {parent} 0:{m.id} / {where} {opts} - {fstype} {m.source} "
                             f"{opts}{',' + extra if extra else ''}")
            else:
                lines.append(f"{m.source} {where} {fstype} {opts}{',' + extra if extra else ''} 0 0")
        if p.host and info:  # where the simulated cgroup v2 hierarchy is, for the runtime
            lines.append(f"9000 {p.mnt.root.id} 0:9000 / {CGROUP_MOUNT} rw - cgroup2 cgroup2 rw")
        return "\n".join(lines) + "\n"

    # -- control files: cgroupfs and /proc ------------------------------------------------
    def _cgroup_path(self, path: str) -> bool:
        return path == CGROUP_MOUNT or path.startswith(CGROUP_MOUNT + "/")

    def read_file(self, path):
        p = self.current()
        if self._cgroup_path(path):
            return self.cgroups.read_file(path)
        if path.startswith(_NET_SYSCTL):
            return sysctl_read(p.net.stack, path)
        m = _PROC_FILE.match(path)
        if m and p.host:
            who, name = m.groups()
            target = p if who == "self" else self.processes.get(int(who))
            if target is None:
                raise _err(errno.ENOENT, path)
            if name == "cgroup":
                return self.cgroups.proc_cgroup(target.pid)
            if name in ("mountinfo", "mounts"):
                return self.mount_table(target, info=name == "mountinfo")
            return ProcFS(self, self.root_pid_ns).text((str(target.pid), name))
        fd = self.fs.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            chunks = []
            while chunk := self.fs.read(fd, 65536):
                chunks.append(chunk)
            return b"".join(chunks).decode()
        finally:
            self.fs.close(fd)

    def write_file(self, path, data):
        if self._cgroup_path(path):
            return CgroupFS(self.cgroups, self.current().pid).write_file(path, data)
        if path.startswith(_NET_SYSCTL):
            return sysctl_write(self.current().net.stack, path, data)
        fd = self.fs.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            self.fs.write(fd, data.encode())
        finally:
            self.fs.close(fd)

    def make_dir(self, path):
        if self._cgroup_path(path):
            return self.cgroups.make_dir(path)
        self.fs.mkdir(path, 0o755)

    def remove_dir(self, path):
        if self._cgroup_path(path):
            return self.cgroups.remove_dir(path)
        self.fs.rmdir(path)

    # -- execve ---------------------------------------------------------------------------------
    def execve(self, path, argv, env):
        from .exec import run_program
        p = self.current()
        if p.host:
            raise _err(errno.EPERM, "the simulator does not replace the runtime's own process")
        loc = self.lookup(path)
        st = loc.fs.stat(loc.key)
        if stat.S_ISDIR(st.st_mode) or not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
            raise _err(errno.EACCES, path)
        head = loc.fs.read(loc.key, 0, 256)
        p.fds.close_on_exec()
        p.argv, p.environ = tuple(argv), dict(env)
        raise SimExit(run_program(self, p, self.path_of(loc), head, list(argv)))


class View:
    """Path operations below one place of the caller's tree (relative paths only)."""

    def __init__(self, kernel: SimKernel, top: Loc):
        self.k, self.top = kernel, top

    def _ns(self) -> MountNamespace:
        return self.k.current().mnt

    def _loc(self, path: str, follow: bool = True) -> Loc:
        if path in ("", "."):
            return self._ns().cross(self.top)
        return self._ns().resolve(path, self.top, self.top, follow=follow)

    def _parent(self, path: str) -> tuple[Loc, str]:
        loc, name = self._ns().resolve(path, self.top, self.top, parent=True)
        self.k.check_writable(loc)
        return loc, name

    def exists(self, path: str) -> bool:
        try:
            self._loc(path, follow=False)
        except OSError:
            return False
        return True

    def lstat(self, path: str):
        loc = self._loc(path, follow=False)
        return loc.fs.stat(loc.key)

    def listdir(self, path: str = ".") -> list[str]:
        loc = self._loc(path)
        return loc.fs.listdir(loc.key)

    def read(self, path: str) -> bytes:
        loc = self._loc(path)
        if stat.S_ISDIR(loc.fs.stat(loc.key).st_mode):
            raise _err(errno.EISDIR, path)
        return loc.fs.read(loc.key, 0, loc.fs.stat(loc.key).st_size)

    def write(self, path: str, data: bytes) -> None:
        parent, name = self._parent(path)
        key = parent.fs.lookup(parent.key, name)
        if key is None:
            key = parent.fs.create(parent.key, name, stat.S_IFREG | 0o644)
        else:
            parent.fs.truncate(key, 0)
        parent.fs.write(key, 0, data)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        parent, name = self._parent(path)
        if parent.fs.lookup(parent.key, name) is not None:
            raise _err(errno.EEXIST, path)
        parent.fs.create(parent.key, name, stat.S_IFDIR | mode)

    def unlink(self, path: str) -> None:
        parent, name = self._parent(path)
        parent.fs.remove(parent.key, name, directory=False)

    def rmdir(self, path: str) -> None:
        parent, name = self._parent(path)
        parent.fs.remove(parent.key, name, directory=True)

    def rename(self, src: str, dst: str) -> None:
        sp, sn = self._parent(src)
        dp, dn = self._parent(dst)
        if sp.mount is not dp.mount:
            raise _err(errno.EXDEV, src)
        sp.fs.rename(sp.key, sn, dp.key, dn)


def _parents_first(mounts: list[MountEntry], root: MountEntry) -> list[MountEntry]:
    out, seen = [], set()
    pending = [root]
    while pending:
        m = pending.pop(0)
        if m.id in seen:
            continue
        seen.add(m.id)
        out.append(m)
        pending.extend(c for c in mounts if c.parent is m)
    return out


def _open_fds() -> list[str]:
    for d in ("/proc/self/fd", "/dev/fd"):
        try:
            return os.listdir(d)
        except OSError:
            continue
    return []

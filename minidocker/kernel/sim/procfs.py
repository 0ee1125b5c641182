"""``/proc`` of the simulator (proc(5)): generated from the process table on every read.

A proc mount belongs to the PID namespace of the process that mounted it
and lists only the processes that namespace can see, under their numbers
there — that is how a container's ``ps`` shows its own program as PID 1.
``/proc/self`` names the reader. ``/proc/PID/fd/N``, ``root`` and ``cwd``
are "magic links": looking them up lands on the open file or directory
itself, not on the text ``readlink`` shows. The files Docker masks
(``kcore``, ``keys``, ``timer_list`` …) exist so that masking them can be
seen to work. ``/proc/sys/net/ipv4/ip_forward`` is the reader's network
namespace's (``network.py``).
"""

from __future__ import annotations

import errno
import os
import stat

from .fs import FS
from .meta import SimStat
from .network import sysctl_read
from .process import PidNamespace, SimProcess

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .kernel import SimKernel

_DIR, _FILE, _LINK = stat.S_IFDIR | 0o555, stat.S_IFREG | 0o444, stat.S_IFLNK | 0o777
# (no kcore: many kernels, this project's CI machine's among them, are built without it)
_TOP_FILES = ("cpuinfo", "filesystems", "interrupts", "keys", "loadavg", "meminfo",
              "mounts", "sysrq-trigger", "timer_list", "uptime", "version")
_TOP_DIRS = ("acpi", "bus", "fs", "irq", "sys")
_PID_FILES = ("cgroup", "cmdline", "comm", "environ", "mountinfo", "mounts", "stat", "status")
_NS_KINDS = ("cgroup", "ipc", "mnt", "net", "pid", "uts")
_SYS_DIRS = {("sys",): ["kernel", "net"], ("sys", "kernel"): ["hostname"], ("sys", "net"): ["ipv4"],
             ("sys", "net", "ipv4"): ["ip_forward"]}
_SYS_FILES = {("sys", "kernel", "hostname"), ("sys", "net", "ipv4", "ip_forward")}


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class ProcFS(FS):
    fstype = "proc"
    readonly = True

    def __init__(self, kernel: "SimKernel", pid_ns: PidNamespace):
        self.k = kernel
        self.ns = pid_ns

    def root(self):
        return ()

    # -- what exists -----------------------------------------------------------------
    def _visible(self) -> dict[int, SimProcess]:
        return {p.pid_in(self.ns): p for p in self.k.processes.values()
                if p.pid_in(self.ns) is not None and p.status is None}

    def _proc(self, name: str) -> SimProcess | None:
        return self._visible().get(int(name)) if name.isdigit() else None

    def _kind(self, key: tuple[str, ...]) -> int | None:
        """The file type of ``key``, None when it does not exist."""
        if not key:
            return _DIR
        head, rest = key[0], key[1:]
        if head == "self":
            return _LINK if not rest else None
        if head.isdigit():
            if self._proc(head) is None:
                return None
            if not rest:
                return _DIR
            if len(rest) == 1:
                if rest[0] in _PID_FILES:
                    return _FILE
                if rest[0] in ("ns", "fd"):
                    return _DIR
                if rest[0] in ("root", "cwd", "exe"):
                    return _LINK
                return None
            if len(rest) == 2 and rest[0] == "ns" and rest[1] in _NS_KINDS:
                return _LINK
            if len(rest) == 2 and rest[0] == "fd" and rest[1].isdigit():
                p = self._proc(head)
                return _LINK if int(rest[1]) in p.fds.entries else None
            return None
        if len(key) == 1 and head in _TOP_FILES:
            return _FILE
        if key in _SYS_FILES:
            return _FILE
        if head in _TOP_DIRS:
            return _DIR if len(key) == 1 or key in _SYS_DIRS else None
        return None

    def lookup(self, key, name):
        child = key + (name,)
        return child if self._kind(child) is not None else None

    def create(self, parent, name, mode, *, target="", rdev=0):
        raise _err(errno.ENOENT)  # proc's lookup answers first: what is not there cannot be made

    def stat(self, key):
        kind = self._kind(key)
        if kind is None:
            raise _err(errno.ENOENT)
        return SimStat(kind, 0, ino=hash(key) & 0xFFFFFF, nlink=1)

    def listdir(self, key):
        if not key:
            return sorted([str(n) for n in self._visible()] + ["self"] + list(_TOP_FILES)
                          + list(_TOP_DIRS))
        if key[0].isdigit() and len(key) == 1:
            return sorted(_PID_FILES + ("cwd", "exe", "fd", "ns", "root"))
        if key[0].isdigit() and key[1:] == ("ns",):
            return sorted(_NS_KINDS)
        if key[0].isdigit() and key[1:] == ("fd",):
            return [str(fd) for fd in sorted(self._proc(key[0]).fds.entries)]
        if key in _SYS_DIRS:
            return list(_SYS_DIRS[key])
        if self._kind(key) == _DIR:
            return []
        raise _err(errno.ENOTDIR)

    def readlink(self, key):
        if key == ("self",):
            me = self.k.current().pid_in(self.ns)
            if me is None:
                raise _err(errno.ENOENT)
            return str(me)
        p = self._proc(key[0]) if key and key[0].isdigit() else None
        if p is None or self._kind(key) != _LINK:
            raise _err(errno.EINVAL)
        if key[1] == "ns":
            return f"{key[2]}:[{self.k.namespace_of(p, key[2]).inode}]"
        if key[1] in ("root", "cwd"):
            loc = p.root if key[1] == "root" else p.cwd
            return p.mnt.path_of(loc, p.root)
        if key[1] == "exe":
            return p.argv[0] if p.argv else ""
        f, _ = p.fds.get(int(key[2]))
        return f.path or (f"pipe:[{f.real}]" if f.real is not None else "anon_inode:[sim]")

    def magic(self, key):
        """Where a magic link leads (None for ordinary entries)."""
        if len(key) < 2 or not key[0].isdigit():
            return None
        p = self._proc(key[0])
        if p is None:
            return None
        if key[1:] == ("root",):
            return p.root
        if key[1:] == ("cwd",):
            return p.cwd
        if len(key) == 3 and key[1] == "fd" and key[2].isdigit():
            f, _ = p.fds.get(int(key[2]))
            return f.loc
        return None

    def read(self, key, offset, size):
        return self.text(key).encode()[offset:offset + size]

    # -- contents ----------------------------------------------------------------------
    def text(self, key) -> str:
        if self._kind(key) != _FILE:
            raise _err(errno.EISDIR if self._kind(key) == _DIR else errno.ENOENT)
        if key == ("sys", "kernel", "hostname"):
            return self.k.current().uts.hostname + "\n"
        if key[0] == "sys":
            return sysctl_read(self.k.current().net.stack, "/proc/" + "/".join(key))
        if len(key) == 1:
            return self._top(key[0])
        p = self._proc(key[0])
        k = self.k
        name = key[1]
        if name == "cmdline":
            return "".join(a + "\0" for a in p.argv)
        if name == "comm":
            return (p.comm or os.path.basename(p.argv[0] if p.argv else "?"))[:15] + "\n"
        if name == "environ":
            return "".join(f"{a}={b}\0" for a, b in p.environ.items())
        if name == "cgroup":
            return f"0::{k.cgroups.cgroup_of(p.pid) if k.cgroups_has(p.pid) else '/'}\n"
        if name in ("mounts", "mountinfo"):
            return k.mount_table(p, info=name == "mountinfo")
        if name == "stat":
            ppid = k.ppid_in(p, self.ns)
            return f"{key[0]} ({os.path.basename(p.argv[0]) if p.argv else '?'}) {p.state} {ppid}\n"
        if name == "status":
            chain = "\t".join(str(n) for n in k.pid_chain(p, self.ns))
            return (f"Name:\t{p.comm or (os.path.basename(p.argv[0]) if p.argv else '?')}\n"
                    f"Umask:\t0022\n"
                    f"State:\t{p.state} ({'running' if p.state == 'R' else 'sleeping'})\n"
                    f"Pid:\t{key[0]}\nPPid:\t{k.ppid_in(p, self.ns)}\nNSpid:\t{chain}\n"
                    f"Uid:\t{p.uid}\t{p.uid}\t{p.uid}\t{p.uid}\n"
                    f"Gid:\t{p.gid}\t{p.gid}\t{p.gid}\t{p.gid}\n"
                    f"VmRSS:\t{p.rss // 1024} kB\n" + _cap_lines(p))
        raise _err(errno.ENOENT)

    def _top(self, name: str) -> str:
        k = self.k
        if name == "mounts":
            return k.mount_table(k.current(), info=False)
        if name == "meminfo":
            return "MemTotal:        2048000 kB\nMemFree:         1024000 kB\n"
        if name == "uptime":
            up = k.clock()
            return f"{up:.2f} {up:.2f}\n"
        if name == "version":
            return "Linux version 6.1.0-sim (minidocker simulated kernel)\n"
        if name == "loadavg":
            return f"0.00 0.00 0.00 1/{len(self._visible())} 1\n"
        if name == "cpuinfo":
            return "processor\t: 0\nmodel name\t: minidocker simulated CPU\n"
        if name == "filesystems":
            return "nodev\tproc\nnodev\ttmpfs\nnodev\toverlay\nnodev\tdevpts\nnodev\tmqueue\n" \
                   "nodev\tsysfs\nnodev\tcgroup2\n"
        return ""  # kcore, keys, timer_list …: what Docker hides; empty here


LAST_CAP = 40  # CAP_CHECKPOINT_RESTORE, as on the Linux kernels minidocker runs on


def _cap_lines(p) -> str:
    """The capability sets of /proc/PID/status, as Linux shows them: the runtime sets
    inheritable, permitted, effective and bounding to the container's list; a process
    that is not uid 0 keeps the bounding and inheritable sets but nothing permitted."""
    every = (1 << (LAST_CAP + 1)) - 1
    mask = lambda caps: every if caps is None else sum(1 << c for c in caps)
    bounding = mask(p.capabilities)
    inheritable = 0 if p.capabilities is None else bounding
    effective = mask(p.effective_capabilities)
    return (f"CapInh:\t{inheritable:016x}\nCapPrm:\t{effective:016x}\nCapEff:\t{effective:016x}\n"
            f"CapBnd:\t{bounding:016x}\nCapAmb:\t{0:016x}\n")

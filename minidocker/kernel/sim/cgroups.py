"""The simulated cgroup v2 unified hierarchy: the cgroupfs a container runtime sees.

Imitates the kernel's cgroup v2 (Documentation/admin-guide/cgroup-v2.rst,
kernel/cgroup/cgroup.c, mm/memcontrol.c, kernel/sched/fair.c's CFS bandwidth
control, kernel/cgroup/pids.c) closely enough that the runtime's real
``V2Manager`` (``minidocker/runtime/cgroups.py``) runs against it unchanged.

What it owns
  * A tree of cgroups below a mount point (default ``/sys/fs/cgroup``). Every
    cgroup shows the interface files a v2 cgroupfs shows, and a controller's
    files (``memory.*``, ``cpu.max``, ``pids.*``) only while the controller is
    enabled in the parent's ``cgroup.subtree_control``. The root offers
    ``cpu memory pids`` and, like the real root, has no ``*.max``/``*.current``,
    ``cgroup.events``, ``cgroup.kill`` or ``cgroup.type``.
  * Membership: every process is in exactly one cgroup. ``add_process`` is
    fork (the child starts in its parent's cgroup), writing a pid to
    ``cgroup.procs`` moves it, ``remove_process`` is exit.
  * Accounting and limits for memory, cpu and pids (models below).

The file-level API (``make_dir``, ``remove_dir``, ``read_file``,
``write_file``, ``listdir``, ``exists``) takes filesystem paths under the mount
point and fails like the kernel: ``OSError(errno, strerror, path)`` with the
errno the real syscall returns (EINVAL for a bad value, EBUSY for the
no-internal-processes rule or rmdir of a populated cgroup, ESRCH for an
unknown pid, EACCES for writing a read-only file or reading ``cgroup.kill``,
ENOENT, EEXIST, ENOTDIR, EISDIR). Values are parsed as the kernel parses
them (``memparse`` suffixes and ``max`` for memory, ``kstrtoint`` base 0 for
pids, ``sscanf("%20s %llu")`` for ``cpu.max``). ``CgroupFS`` binds the tree to
one calling process, so "0" written to ``cgroup.procs`` means that process:
it has the ``read_file/write_file/make_dir/remove_dir`` methods of a
``Kernel``, for a simulated kernel to delegate to.

The process-level API (``add_process``, ``remove_process``, ``cgroup_of``,
``procs``, ``charge_memory``, ``uncharge_memory``, ``charge_cpu``,
``kill_all``) takes cgroup paths as ``/proc/PID/cgroup`` shows them (``/`` is
the root, ``/minidocker/abc`` a container).

The no-internal-processes rule follows the kernel's own checks
(``cgroup_vet_subtree_control_enable`` and ``cgroup_migrate_vet_dst``): the
root is exempt; a non-root cgroup that holds processes cannot enable
``memory`` (a domain controller) for its children (EBUSY), and a process
cannot move into a non-root cgroup that delegates ``memory`` (EBUSY).
``cpu`` and ``pids`` are *threaded* controllers, and the kernel lets a cgroup
with processes delegate only those (it may become a "thread root"); the model
keeps that exception and its consequences (``cgroup.type`` then reads
``domain threaded``; enabling ``memory`` there, or using the children as
domains, fails with EOPNOTSUPP), though it has no threaded mode of its own.

Memory (memcg) model
  Charges are bytes, charged when a program calls ``System.allocate`` and
  counted against ``memory.max`` of the process's cgroup *and every
  ancestor* (``memory.current`` is hierarchical, limits are stored in 4 KiB
  pages as the kernel stores them). There is no reclaim and no swap: every
  charged byte is anonymous memory that cannot be reclaimed, so a charge that
  would cross a limit goes straight to the OOM killer of the *nearest*
  cgroup whose limit it would cross. ``charge_memory`` then charges nothing
  and returns the pids to kill: the process with the most memory (its RSS,
  wherever charged; ties go to the last one scanned, as in the kernel) among
  all processes in that cgroup's subtree -- or, when ``memory.oom.group`` is 1
  on a cgroup between the victim and the limit, every process below the
  highest such cgroup. ``memory.events`` gets ``max`` and ``oom`` in the
  cgroup whose limit was hit and ``oom_kill`` (one per killed process) in the
  victim's cgroup, each propagated to the non-root ancestors as in v2
  (``memory.events.local`` keeps the local counts). The caller kills the
  victims (``remove_process``) and retries the charge, as the kernel retries
  after an OOM kill. Charges stay with the cgroup that was charged when a
  process moves (v2 never moves charges); an exiting process uncharges all.
  Lowering ``memory.max`` below usage OOM-kills until it fits.

pids model
  ``pids.current`` counts the processes in the subtree (the model has no
  threads). ``add_process`` fails with EAGAIN (``BlockingIOError``), as
  fork(2) does, when the new process would take any ancestor's
  ``pids.current`` over its ``pids.max``; ``pids.events max`` counts the
  failure in the cgroup whose limit was hit and its non-root ancestors (Linux
  6.9+). Moving processes in is never refused, so ``pids.current`` may exceed
  ``pids.max`` (cgroup-v2.rst says so).

cpu model (CFS bandwidth control)
  One CPU. A process that runs ``usec`` of CPU does so as a busy loop;
  ``cpu.max`` = ``Q P`` lets its cgroup run Q microseconds in every period of
  P microseconds (periods aligned to time 0 of the injected clock), then
  throttles it until the next period, so a busy loop gets Q/P of the CPU
  (at most all of it). Every ancestor's limit applies; a cgroup's
  ``nr_periods`` counts periods in which it ran, ``nr_throttled`` and
  ``throttled_usec`` the times and time it was throttled. ``charge_cpu``
  returns the wall-clock seconds the run took and advances the tree's own
  clock; ``usage_usec`` (all user time) is kept for every cgroup up to the
  root, with or without the cpu controller, as the kernel's ``cpu.stat`` is.

Simplifications, stated plainly
  No threads or threaded mode (``cgroup.type`` accepts no writes but
  "threaded", which fails with EOPNOTSUPP), no ``cgroup.freeze``,
  ``memory.min/low/high`` (their event counters stay 0), no swap
  (``memory.swap.current`` is always 0), no ``memory.stat``, no
  ``cpu.weight`` or ``cpu.max.burst``, no PSI files, no io/cpuset, no
  permissions, no cgroup namespaces, no kernel threads; pids are global (the
  process layer translates them for PID namespaces); charges are byte-exact,
  not page-rounded. Deterministic: no real time is read anywhere.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator

#: Controllers the simulated machine has, in the kernel's order (by subsystem id).
CONTROLLERS = ("cpu", "memory", "pids")
#: Controllers that may be enabled in a cgroup with processes that could become a thread root.
THREADED_CONTROLLERS = frozenset({"cpu", "pids"})

PAGE_SIZE = 4096
PAGE_COUNTER_MAX = (2**63 - 1) // PAGE_SIZE      # "max" for memory.max, in pages
PIDS_MAX = 4_194_304 + 1                          # PID_MAX_LIMIT + 1 means "max"
MIN_CFS_US = 1_000                                # 1 ms: the smallest quota and period
MAX_CFS_PERIOD_US = 1_000_000                     # 1 s: the largest period
MAX_CFS_RUNTIME_US = (1 << 44) - 1
DEFAULT_CFS_PERIOD_US = 100_000

_MEMORY_EVENTS = ("low", "high", "max", "oom", "oom_kill", "oom_group_kill")

# name -> (controller or None for core files, "r"/"w"/"rw", present in the root)
_FILES = {
    "cgroup.controllers": (None, "r", True),
    "cgroup.events": (None, "r", False),
    "cgroup.kill": (None, "w", False),
    "cgroup.procs": (None, "rw", True),
    "cgroup.stat": (None, "r", True),
    "cgroup.subtree_control": (None, "rw", True),
    "cgroup.type": (None, "rw", False),
    "cpu.stat": (None, "r", True),          # present without the cpu controller, as in the kernel
    "cpu.max": ("cpu", "rw", False),
    "memory.current": ("memory", "r", False),
    "memory.events": ("memory", "r", False),
    "memory.events.local": ("memory", "r", False),
    "memory.max": ("memory", "rw", False),
    "memory.oom.group": ("memory", "rw", False),
    "memory.peak": ("memory", "r", False),
    "memory.swap.current": ("memory", "r", False),
    "memory.swap.max": ("memory", "rw", False),
    "pids.current": ("pids", "r", False),
    "pids.events": ("pids", "r", False),
    "pids.max": ("pids", "rw", False),
}


def _oserror(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class _Cgroup:
    """One cgroup: membership, delegation, and each controller's state."""

    def __init__(self, name: str, parent: _Cgroup | None):
        self.name = name
        self.parent = parent
        self.children: dict[str, _Cgroup] = {}
        self.procs: set[int] = set()
        self.subtree_control: set[str] = set()
        self.usage_usec = 0                  # cpu.stat's core part: kept with or without cpu
        self.mem_local = 0                   # bytes charged to this cgroup's own memcg
        self.mem_usage = 0                   # memory.current: this memcg and its descendants
        for ctrl in CONTROLLERS:
            self.reset(ctrl)

    def reset(self, ctrl: str) -> None:
        """Fresh controller state, as a newly created css has."""
        if ctrl == "memory":
            self.mem_max = PAGE_COUNTER_MAX  # pages
            self.swap_max = PAGE_COUNTER_MAX
            self.oom_group = 0
            self.mem_peak = self.mem_usage
            self.mem_events = dict.fromkeys(_MEMORY_EVENTS, 0)
            self.mem_events_local = dict.fromkeys(_MEMORY_EVENTS, 0)
        elif ctrl == "cpu":
            self.cpu_quota: int | None = None
            self.cpu_period = DEFAULT_CFS_PERIOD_US
            self.nr_periods = self.nr_throttled = self.throttled_usec = 0
            self.bw_period = -1              # index of the period bw_used belongs to
            self.bw_used = 0
        elif ctrl == "pids":
            self.pids_max = PIDS_MAX
            self.pids_events_max = 0

    # -- shape --------------------------------------------------------------------
    @property
    def is_root(self) -> bool:
        return self.parent is None

    @property
    def path(self) -> str:
        parts = []
        node: _Cgroup | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return "/" + "/".join(reversed(parts))

    def ancestry(self) -> Iterator[_Cgroup]:
        """Self, then each ancestor up to the root."""
        node: _Cgroup | None = self
        while node is not None:
            yield node
            node = node.parent

    def walk(self) -> Iterator[_Cgroup]:
        """Pre-order, children by name."""
        yield self
        for name in sorted(self.children):
            yield from self.children[name].walk()

    def controllers(self) -> list[str]:
        """cgroup.controllers: what the parent delegates (the root has all)."""
        if self.parent is None:
            return list(CONTROLLERS)
        return [c for c in CONTROLLERS if c in self.parent.subtree_control]

    def has(self, ctrl: str) -> bool:
        return ctrl in self.controllers()

    def effective(self, ctrl: str) -> _Cgroup:
        """The nearest cgroup (self or an ancestor) with ``ctrl``: whose state governs self."""
        for node in self.ancestry():
            if node.has(ctrl):
                return node
        raise AssertionError("the root has every controller")

    def subtree_procs(self) -> list[int]:
        return [pid for node in self.walk() for pid in sorted(node.procs)]

    def populated(self) -> bool:
        return any(node.procs for node in self.walk())

    def files(self) -> list[str]:
        have = set(self.controllers())
        return [name for name, (ctrl, _, on_root) in _FILES.items()
                if (on_root or not self.is_root) and (ctrl is None or ctrl in have)]

    # -- the kernel's no-internal-processes predicates (cgroup.c), without threaded mode
    def can_be_thread_root(self) -> bool:
        if self.is_root:
            return True
        if any(child.populated() for child in self.children.values()):
            return False
        return "memory" not in self.subtree_control

    def is_thread_root(self) -> bool:
        return bool(self.procs) and bool(self.subtree_control & THREADED_CONTROLLERS)

    def is_valid_domain(self) -> bool:
        return not any(not a.is_root and a.is_thread_root() for a in self.ancestry() if a is not self)


class CgroupTree:
    """A cgroup v2 hierarchy mounted at ``mount``.

    ``kill(pid)`` delivers SIGKILL for ``cgroup.kill`` and for OOM kills caused
    by lowering ``memory.max``; the process layer calls ``remove_process`` once
    the process is gone. Without it, the tree removes the process at once.
    """

    def __init__(self, mount: str = "/sys/fs/cgroup", *,
                 kill: Callable[[int], None] | None = None):
        self.mount = posixpath.normpath(mount)
        self.root = _Cgroup("", None)
        self._kill_hook = kill
        self._where: dict[int, _Cgroup] = {}
        self._charges: dict[int, dict[_Cgroup, int]] = {}   # pid -> memcg -> bytes
        self._clock_us = 0

    # =============================================================================
    # file level: what mkdir/rmdir/read/write on the cgroupfs do
    # =============================================================================
    def _lookup(self, path: str) -> tuple[_Cgroup, str | None]:
        """(cgroup, file name) for a file, (cgroup, None) for a directory."""
        norm = posixpath.normpath(path)
        if norm == self.mount:
            return self.root, None
        prefix = self.mount.rstrip("/") + "/"
        if not norm.startswith(prefix):
            raise _oserror(errno.ENOENT, path)
        parts = norm[len(prefix):].split("/")
        node = self.root
        for i, part in enumerate(parts):
            if part in node.children:
                node = node.children[part]
            elif part in node.files():
                if i < len(parts) - 1:
                    raise _oserror(errno.ENOTDIR, path)
                return node, part
            else:
                raise _oserror(errno.ENOENT, path)
        return node, None

    def exists(self, path: str) -> bool:
        try:
            self._lookup(path)
        except OSError:
            return False
        return True

    def is_dir(self, path: str) -> bool:
        try:
            return self._lookup(path)[1] is None
        except OSError:
            return False

    def listdir(self, path: str) -> list[str]:
        node, name = self._lookup(path)
        if name is not None:
            raise _oserror(errno.ENOTDIR, path)
        return sorted(list(node.children) + node.files())

    def make_dir(self, path: str) -> None:
        """mkdir(2): a new cgroup, with the files its parent's subtree_control grants."""
        norm = posixpath.normpath(path)
        if norm == self.mount:
            raise _oserror(errno.EEXIST, path)
        parent, name = self._lookup(posixpath.dirname(norm))
        if name is not None:
            raise _oserror(errno.ENOTDIR, path)
        base = posixpath.basename(norm)
        if base in parent.children or base in parent.files():
            raise _oserror(errno.EEXIST, path)
        if "\n" in base:
            raise _oserror(errno.EINVAL, path)   # cgroup_mkdir refuses newlines in names
        parent.children[base] = _Cgroup(base, parent)

    def remove_dir(self, path: str) -> None:
        """rmdir(2): only an empty cgroup (no processes, no children) goes."""
        node, name = self._lookup(path)
        if name is not None:
            raise _oserror(errno.ENOTDIR, path)
        if node.is_root or node.populated() or node.children:
            raise _oserror(errno.EBUSY, path)
        parent = node.parent
        assert parent is not None
        if node.has("memory"):
            self._reparent_memory(node, parent)
        del parent.children[node.name]

    def read_file(self, path: str) -> str:
        node, name = self._lookup(path)
        if name is None:
            raise _oserror(errno.EISDIR, path)
        if "r" not in _FILES[name][1]:
            raise _oserror(errno.EACCES, path)
        return getattr(self, "_show_" + name.replace(".", "_"))(node)

    def write_file(self, path: str, data: str | bytes, *, caller_pid: int | None = None) -> None:
        """One write(2) of ``data``; ``caller_pid`` is who writes ("0" to cgroup.procs)."""
        node, name = self._lookup(path)
        if name is None:
            raise _oserror(errno.EISDIR, path)
        if "w" not in _FILES[name][1]:
            raise _oserror(errno.EACCES, path)
        text = data.decode() if isinstance(data, bytes) else data
        handler = getattr(self, "_write_" + name.replace(".", "_"))
        try:
            handler(node, text, caller_pid)
        except _Errno as e:
            raise _oserror(e.code, path) from None

    # -- core files ----------------------------------------------------------------
    def _show_cgroup_controllers(self, node):
        return " ".join(node.controllers()) + "\n"

    def _show_cgroup_subtree_control(self, node):
        return " ".join(c for c in CONTROLLERS if c in node.subtree_control) + "\n"

    def _show_cgroup_procs(self, node):
        return "".join(f"{pid}\n" for pid in sorted(node.procs))

    def _show_cgroup_events(self, node):
        return f"populated {int(node.populated())}\nfrozen 0\n"

    def _show_cgroup_stat(self, node):
        return f"nr_descendants {sum(1 for _ in node.walk()) - 1}\nnr_dying_descendants 0\n"

    def _show_cgroup_type(self, node):
        if not node.is_valid_domain():
            return "domain invalid\n"
        return "domain threaded\n" if node.is_thread_root() else "domain\n"

    def _show_cpu_stat(self, node):
        lines = [f"usage_usec {node.usage_usec}", f"user_usec {node.usage_usec}", "system_usec 0"]
        if not node.is_root and node.has("cpu"):
            lines += [f"nr_periods {node.nr_periods}", f"nr_throttled {node.nr_throttled}",
                      f"throttled_usec {node.throttled_usec}", "nr_bursts 0", "burst_usec 0"]
        return "\n".join(lines) + "\n"

    def _write_cgroup_procs(self, node, text, caller_pid):
        pid = _kstrtoint(text.strip())
        if pid < 0:
            raise _Errno(errno.EINVAL)
        if pid == 0:
            pid = caller_pid if caller_pid is not None else -1
        if pid not in self._where:
            raise _Errno(errno.ESRCH)
        self._vet_destination(node)
        self._move(pid, node)

    def _write_cgroup_kill(self, node, text, caller_pid):
        if _kstrtoint(text.strip()) != 1:
            raise _Errno(errno.ERANGE)
        self._deliver_kill(self._kill_all(node))

    def _write_cgroup_type(self, node, text, caller_pid):
        if text.strip() != "threaded":
            raise _Errno(errno.EINVAL)
        raise _Errno(errno.EOPNOTSUPP)   # the model has no threaded mode

    def _write_cgroup_subtree_control(self, node, text, caller_pid):
        enable, disable = set(), set()
        for tok in text.strip().split(" "):
            if not tok:
                continue
            if tok[1:] not in CONTROLLERS or tok[0] not in "+-":
                raise _Errno(errno.EINVAL)
            (enable if tok[0] == "+" else disable).add(tok[1:])
            (disable if tok[0] == "+" else enable).discard(tok[1:])
        enable -= node.subtree_control
        disable &= node.subtree_control
        if any(c not in node.controllers() for c in enable):
            raise _Errno(errno.ENOENT)   # top-down: only what the parent delegates
        if any(c in child.subtree_control for c in disable for child in node.children.values()):
            raise _Errno(errno.EBUSY)    # a child still delegates it further down
        if enable:
            self._vet_enable(node, enable)
        for ctrl in disable:
            for child in node.children.values():
                if ctrl == "memory":
                    self._reparent_memory(child, node)
                child.reset(ctrl)
        for child in node.children.values():
            for ctrl in enable:
                child.reset(ctrl)
        node.subtree_control = (node.subtree_control | enable) - disable

    def _vet_enable(self, node: _Cgroup, enable: set[str]) -> None:
        """cgroup_vet_subtree_control_enable: the no-internal-processes rule, enabling side."""
        if not node.is_valid_domain():
            raise _Errno(errno.EOPNOTSUPP)
        if node.is_root:
            return
        if enable - THREADED_CONTROLLERS:
            if node.is_thread_root():
                raise _Errno(errno.EOPNOTSUPP)
        elif node.can_be_thread_root():
            return
        if node.procs:
            raise _Errno(errno.EBUSY)

    def _vet_destination(self, node: _Cgroup) -> None:
        """cgroup_migrate_vet_dst: the no-internal-processes rule, moving side."""
        if not node.is_valid_domain():
            raise _Errno(errno.EOPNOTSUPP)
        if node.can_be_thread_root():
            return
        if node.subtree_control:
            raise _Errno(errno.EBUSY)

    # -- memory files --------------------------------------------------------------
    def _show_memory_current(self, node):
        return f"{node.mem_usage}\n"

    def _show_memory_peak(self, node):
        return f"{node.mem_peak}\n"

    def _show_memory_swap_current(self, node):
        return "0\n"

    def _show_memory_max(self, node):
        return _pages_text(node.mem_max)

    def _show_memory_swap_max(self, node):
        return _pages_text(node.swap_max)

    def _show_memory_oom_group(self, node):
        return f"{node.oom_group}\n"

    def _show_memory_events(self, node):
        return "".join(f"{k} {node.mem_events[k]}\n" for k in _MEMORY_EVENTS)

    def _show_memory_events_local(self, node):
        return "".join(f"{k} {node.mem_events_local[k]}\n" for k in _MEMORY_EVENTS)

    def _write_memory_max(self, node, text, caller_pid):
        node.mem_max = _page_counter_memparse(text.strip())
        self._oom_until_within(node)

    def _write_memory_swap_max(self, node, text, caller_pid):
        node.swap_max = _page_counter_memparse(text.strip())

    def _write_memory_oom_group(self, node, text, caller_pid):
        value = _kstrtoint(text.strip())
        if value not in (0, 1):
            raise _Errno(errno.EINVAL)
        node.oom_group = value

    # -- cpu files -----------------------------------------------------------------
    def _show_cpu_max(self, node):
        quota = "max" if node.cpu_quota is None else str(node.cpu_quota)
        return f"{quota} {node.cpu_period}\n"

    def _write_cpu_max(self, node, text, caller_pid):
        # cpu_period_quota_parse: sscanf(buf, "%20s %llu", tok, &period); a missing
        # period keeps the current one; the quota is a number or "max".
        m = re.match(r"\s*(\S{1,20})", text)
        if not m:
            raise _Errno(errno.EINVAL)
        tok = m.group(1)
        p = re.match(r"\s*([0-9]+)", text[m.end():])
        period = int(p.group(1)) if p else node.cpu_period
        q = re.match(r"[0-9]+", tok)
        if q:
            quota: int | None = int(q.group(0))
        elif tok == "max":
            quota = None
        else:
            raise _Errno(errno.EINVAL)
        # tg_set_cfs_bandwidth's bounds
        if period < MIN_CFS_US or period > MAX_CFS_PERIOD_US:
            raise _Errno(errno.EINVAL)
        if quota is not None and (quota < MIN_CFS_US or quota > MAX_CFS_RUNTIME_US):
            raise _Errno(errno.EINVAL)
        node.cpu_quota, node.cpu_period = quota, period

    # -- pids files ----------------------------------------------------------------
    def _show_pids_current(self, node):
        return f"{len(node.subtree_procs())}\n"

    def _show_pids_max(self, node):
        return "max\n" if node.pids_max >= PIDS_MAX else f"{node.pids_max}\n"

    def _show_pids_events(self, node):
        return f"max {node.pids_events_max}\n"

    def _write_pids_max(self, node, text, caller_pid):
        text = text.strip()
        if text == "max":
            node.pids_max = PIDS_MAX
            return
        limit = _kstrtoint(text, bits=64)
        if limit < 0 or limit >= PIDS_MAX:
            raise _Errno(errno.EINVAL)
        node.pids_max = limit

    # =============================================================================
    # process level: hooks for the simulated process table
    # =============================================================================
    def _node(self, cgroup: str) -> _Cgroup:
        node = self.root
        for part in posixpath.normpath("/" + cgroup).split("/"):
            if not part:
                continue
            if part not in node.children:
                raise _oserror(errno.ENOENT, cgroup)
            node = node.children[part]
        return node

    def _proc_node(self, pid: int) -> _Cgroup:
        try:
            return self._where[pid]
        except KeyError:
            raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH), str(pid)) from None

    def add_process(self, pid: int, cgroup: str | None = None, *, parent: int | None = None) -> None:
        """A new process (fork): in ``cgroup`` if given (like CLONE_INTO_CGROUP),
        else in the cgroup of ``parent``, else in the root.

        Raises ``BlockingIOError`` (EAGAIN) when it would take some cgroup over
        its ``pids.max``, as fork(2) does."""
        if pid in self._where:
            raise ValueError(f"pid {pid} is already in the cgroup tree")
        if cgroup is not None:
            node = self._node(cgroup)
            try:
                self._vet_destination(node)
            except _Errno as e:
                raise _oserror(e.code, cgroup) from None
        elif parent is not None:
            node = self._proc_node(parent)
        else:
            node = self.root
        for limited in node.effective("pids").ancestry():
            if limited.is_root:
                break
            if len(limited.subtree_procs()) + 1 > limited.pids_max:
                for counted in limited.ancestry():
                    if not counted.is_root:
                        counted.pids_events_max += 1
                raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        node.procs.add(pid)
        self._where[pid] = node
        self._charges[pid] = {}

    def remove_process(self, pid: int) -> None:
        """The process exited: it leaves its cgroup and its memory is uncharged.
        Unknown pids are ignored, so a kill hook and an exit may both call it."""
        node = self._where.pop(pid, None)
        if node is None:
            return
        node.procs.discard(pid)
        for memcg, nbytes in self._charges.pop(pid).items():
            self._uncharge(memcg, nbytes)

    def cgroup_of(self, pid: int) -> str:
        return self._proc_node(pid).path

    def proc_cgroup(self, pid: int) -> str:
        """The text of /proc/PID/cgroup on a v2-only host."""
        return f"0::{self.cgroup_of(pid)}\n"

    def procs(self, cgroup: str) -> list[int]:
        return sorted(self._node(cgroup).procs)

    def rss(self, pid: int) -> int:
        """Bytes charged for ``pid``, wherever they were charged."""
        self._proc_node(pid)
        return sum(self._charges[pid].values())

    def _move(self, pid: int, node: _Cgroup) -> None:
        self._where[pid].procs.discard(pid)
        node.procs.add(pid)
        self._where[pid] = node   # memory stays charged where it was (v2 never moves charges)

    # -- memory --------------------------------------------------------------------
    def charge_memory(self, pid: int, nbytes: int) -> list[int]:
        """Charge ``nbytes`` for ``pid``: ``[]`` when charged, else charge nothing
        and return the pids the OOM killer picks (the caller kills them and retries)."""
        if nbytes < 0:
            raise ValueError("a charge is never negative; use uncharge_memory")
        memcg = self._proc_node(pid).effective("memory")
        for node in memcg.ancestry():
            if node.is_root:
                break
            if node.mem_usage + nbytes > node.mem_max * PAGE_SIZE:
                self._memory_event(node, "max")
                self._memory_event(node, "oom")
                return self._oom_kill(node)
        memcg.mem_local += nbytes
        for node in memcg.ancestry():
            node.mem_usage += nbytes
            node.mem_peak = max(node.mem_peak, node.mem_usage)
        ledger = self._charges[pid]
        ledger[memcg] = ledger.get(memcg, 0) + nbytes
        return []

    def uncharge_memory(self, pid: int, nbytes: int) -> None:
        """``pid`` frees ``nbytes`` (at most what it holds): from its present
        cgroup's charge first, then from where it was charged before it moved."""
        if nbytes < 0:
            raise ValueError("cannot free a negative amount")
        memcg = self._proc_node(pid).effective("memory")
        ledger = self._charges[pid]
        for node in sorted(ledger, key=lambda n: n is not memcg):
            take = min(nbytes, ledger[node])
            self._uncharge(node, take)
            ledger[node] -= take
            if not ledger[node]:
                del ledger[node]
            nbytes -= take
            if not nbytes:
                break

    def _uncharge(self, memcg: _Cgroup, nbytes: int) -> None:
        memcg.mem_local -= nbytes
        for node in memcg.ancestry():
            node.mem_usage -= nbytes

    def _memory_event(self, node: _Cgroup, event: str) -> None:
        node.mem_events_local[event] += 1
        for counted in node.ancestry():
            if counted.is_root:
                break
            counted.mem_events[event] += 1

    def _oom_kill(self, domain: _Cgroup, spared: frozenset[int] = frozenset()) -> list[int]:
        """The OOM killer within ``domain``'s subtree: the victim (and its group)."""
        candidates = [pid for pid in domain.subtree_procs() if pid not in spared]
        if not candidates:
            return []
        victim = candidates[0]
        for pid in candidates:   # the kernel keeps the last of equals
            if self.rss(pid) >= self.rss(victim):
                victim = pid
        group = None
        for node in self._where[victim].ancestry():   # the highest oom.group up to the domain
            if node.has("memory") and node.oom_group:
                group = node
            if node is domain:
                break
        victims = [victim]
        if group is not None:
            self._memory_event(group, "oom_group_kill")
            victims += [p for p in group.subtree_procs() if p != victim and p not in spared]
        for pid in victims:
            self._memory_event(self._where[pid].effective("memory"), "oom_kill")
        return victims

    def _oom_until_within(self, node: _Cgroup) -> None:
        """memory_max_write: with nothing to reclaim, OOM-kill until usage fits."""
        killed: set[int] = set()
        while True:
            freed = sum(b for pid in killed for memcg, b in self._charges.get(pid, {}).items()
                        if node in memcg.ancestry())
            if node.mem_usage - freed <= node.mem_max * PAGE_SIZE:
                break
            self._memory_event(node, "oom")
            victims = self._oom_kill(node, frozenset(killed))
            if not victims:
                break
            killed.update(victims)
            self._deliver_kill(victims)

    def _reparent_memory(self, child: _Cgroup, parent: _Cgroup) -> None:
        """A memcg goes away (rmdir, or memory no longer delegated): its charges
        move to the parent, as the kernel reparents the pages of an offline memcg."""
        parent.mem_local += child.mem_local
        child.mem_local = 0
        child.mem_usage = 0
        for ledger in self._charges.values():
            if child in ledger:
                ledger[parent] = ledger.get(parent, 0) + ledger.pop(child)

    # -- cpu -----------------------------------------------------------------------
    def charge_cpu(self, pid: int, usec: int, now: float | None = None) -> float:
        """``pid`` runs a busy loop of ``usec`` CPU microseconds starting at ``now``
        (seconds on the simulator's clock; default: where the last run ended).
        Returns the wall-clock seconds it takes under the cgroups' ``cpu.max``."""
        node = self._proc_node(pid)
        usec = int(usec)
        if usec < 0:
            raise ValueError("CPU time is never negative")
        start = self._clock_us if now is None else round(now * 1_000_000)
        for counted in node.ancestry():
            counted.usage_usec += usec
        levels = [c for c in node.effective("cpu").ancestry()
                  if not c.is_root and c.cpu_quota is not None]
        t, work = start, usec
        while work > 0:
            for lv in levels:
                if t // lv.cpu_period != lv.bw_period:
                    lv.bw_period, lv.bw_used = t // lv.cpu_period, 0
            exhausted = [lv for lv in levels if lv.bw_used >= lv.cpu_quota]
            if exhausted:   # throttled until every exhausted level's next period
                resume = max((lv.bw_period + 1) * lv.cpu_period for lv in exhausted)
                for lv in exhausted:
                    lv.nr_throttled += 1
                    lv.throttled_usec += (lv.bw_period + 1) * lv.cpu_period - t
                t = resume
                continue
            step = work
            for lv in levels:
                step = min(step, lv.cpu_quota - lv.bw_used, (lv.bw_period + 1) * lv.cpu_period - t)
            for lv in levels:
                if lv.bw_used == 0:
                    lv.nr_periods += 1
                lv.bw_used += step
            t += step
            work -= step
        self._clock_us = max(self._clock_us, t)
        return (t - start) / 1_000_000

    # -- cgroup.kill ---------------------------------------------------------------
    def kill_all(self, cgroup: str) -> list[int]:
        """The pids ``cgroup.kill`` of ``cgroup`` SIGKILLs: every process below it."""
        return self._kill_all(self._node(cgroup))

    def _kill_all(self, node: _Cgroup) -> list[int]:
        return node.subtree_procs()

    def _deliver_kill(self, pids: list[int]) -> None:
        for pid in pids:
            if self._kill_hook is not None:
                self._kill_hook(pid)
            else:
                self.remove_process(pid)

    # =============================================================================
    # plain data for diagrams
    # =============================================================================
    def snapshot(self) -> list[dict]:
        """Every cgroup, pre-order, with the limits and usage its files show
        (a controller's keys appear only where the controller is enabled)."""
        out = []
        for node in self.root.walk():
            files = node.files()
            entry: dict = {
                "path": node.path,
                "controllers": node.controllers(),
                "subtree_control": [c for c in CONTROLLERS if c in node.subtree_control],
                "procs": sorted(node.procs),
                "populated": node.populated(),
                "cpu.stat": {"usage_usec": node.usage_usec},
            }
            if "memory.max" in files:
                entry["memory.max"] = _pages_value(node.mem_max)
                entry["memory.current"] = node.mem_usage
                entry["memory.peak"] = node.mem_peak
                entry["memory.events"] = dict(node.mem_events)
                entry["memory.oom.group"] = node.oom_group
            if "cpu.max" in files:
                entry["cpu.max"] = ["max" if node.cpu_quota is None else node.cpu_quota, node.cpu_period]
                entry["cpu.stat"].update(nr_periods=node.nr_periods, nr_throttled=node.nr_throttled,
                                         throttled_usec=node.throttled_usec)
            if "pids.max" in files:
                entry["pids.max"] = "max" if node.pids_max >= PIDS_MAX else node.pids_max
                entry["pids.current"] = len(node.subtree_procs())
                entry["pids.events"] = {"max": node.pids_events_max}
            out.append(entry)
        return out

    def describe(self) -> str:
        """The snapshot as an indented text tree, one cgroup a line."""
        lines = []
        for entry in self.snapshot():
            depth = 0 if entry["path"] == "/" else entry["path"].count("/")
            name = self.mount if entry["path"] == "/" else entry["path"].rsplit("/", 1)[1]
            bits = [name + "/"]
            if entry["subtree_control"]:
                bits.append("[" + " ".join("+" + c for c in entry["subtree_control"]) + "]")
            if "memory.max" in entry:
                bits.append(f"memory {entry['memory.current']}/{entry['memory.max']}")
            if "cpu.max" in entry:
                quota, period = entry["cpu.max"]
                bits.append(f"cpu {quota}/{period} used {entry['cpu.stat']['usage_usec']}us")
            if "pids.max" in entry:
                bits.append(f"pids {entry['pids.current']}/{entry['pids.max']}")
            if entry["procs"]:
                bits.append("procs " + ",".join(map(str, entry["procs"])))
            lines.append("  " * depth + "  ".join(bits))
        return "\n".join(lines) + "\n"


class CgroupFS:
    """The cgroupfs as one process sees it: the ``Kernel`` control-file calls
    (``read_file``, ``write_file``, ``make_dir``, ``remove_dir``) made by
    process ``pid``, so writing "0" to ``cgroup.procs`` moves that process."""

    def __init__(self, tree: CgroupTree, pid: int):
        self.tree = tree
        self.pid = pid

    def getpid(self) -> int:
        return self.pid

    def read_file(self, path: str) -> str:
        return self.tree.read_file(path)

    def write_file(self, path: str, data: str) -> None:
        self.tree.write_file(path, data, caller_pid=self.pid)

    def make_dir(self, path: str) -> None:
        self.tree.make_dir(path)

    def remove_dir(self, path: str) -> None:
        self.tree.remove_dir(path)

    def listdir(self, path: str) -> list[str]:
        return self.tree.listdir(path)

    def exists(self, path: str) -> bool:
        return self.tree.exists(path)


# -- the kernel's parsers ---------------------------------------------------------

class _Errno(Exception):
    """An errno from a write handler; ``write_file`` adds the path."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _radix(s: str) -> tuple[int, str]:
    """_parse_integer_fixup_radix for base 0: 0x → 16, leading 0 → 8, else 10."""
    if len(s) > 2 and s[0] == "0" and s[1] in "xX" and s[2] in "0123456789abcdefABCDEF":
        return 16, s[2:]
    return (8 if s.startswith("0") else 10), s


_DIGITS = "0123456789abcdef"


def _leading_digits(s: str, base: int) -> str:
    n = 0
    while n < len(s) and s[n].lower() in _DIGITS[:base]:
        n += 1
    return s[:n]


def _kstrtoint(s: str, bits: int = 32) -> int:
    """kstrtoint/kstrtoll with base 0: the whole string (one trailing newline
    allowed) must be the number; EINVAL if it is not, ERANGE if it overflows."""
    if s.endswith("\n"):
        s = s[:-1]
    sign = -1 if s.startswith("-") else 1
    if s[:1] in "+-" and s:
        s = s[1:]
    base, digits = _radix(s)
    if not digits or _leading_digits(digits, base) != digits:
        raise _Errno(errno.EINVAL)
    value = sign * int(digits, base)
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise _Errno(errno.ERANGE)
    return value


def _page_counter_memparse(s: str) -> int:
    """page_counter_memparse: "max", or memparse (base 0, K/M/G/T/P/E suffix) of
    the whole string; the limit is kept in pages, rounded down."""
    if s == "max":
        return PAGE_COUNTER_MAX
    base, rest = _radix(s)
    digits = _leading_digits(rest, base)
    value = int(digits, base) if digits else 0
    rest = rest[len(digits):] if digits else s
    if rest[:1] and rest[0] in "kKmMgGtTpPeE":
        value <<= 10 * ("kmgtpe".index(rest[0].lower()) + 1)
        rest = rest[1:]
    if rest:
        raise _Errno(errno.EINVAL)
    return min(value // PAGE_SIZE, PAGE_COUNTER_MAX)


def _pages_text(pages: int) -> str:
    return "max\n" if pages >= PAGE_COUNTER_MAX else f"{pages * PAGE_SIZE}\n"


def _pages_value(pages: int) -> int | str:
    return "max" if pages >= PAGE_COUNTER_MAX else pages * PAGE_SIZE

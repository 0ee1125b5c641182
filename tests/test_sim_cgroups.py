"""The simulated cgroup v2 hierarchy behaves like the kernel's, to the real V2Manager too."""

from __future__ import annotations

import errno
import signal

import pytest

from minidocker.errors import MinidockerError
from minidocker.kernel.sim.cgroups import CgroupFS, CgroupTree
from minidocker.runtime import cgroups
from minidocker.runtime.spec import Resources

M = "/sys/fs/cgroup"
MIB = 1 << 20
MOUNTINFO_V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def errno_of(call, *args, **kwargs) -> int:
    with pytest.raises(OSError) as info:
        call(*args, **kwargs)
    return info.value.errno


def counters(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in text.splitlines())}


@pytest.fixture
def tree():
    """A booted machine: init (pid 1) in the root, every controller delegated below it."""
    t = CgroupTree()
    t.add_process(1)
    t.write_file(f"{M}/cgroup.subtree_control", "+cpu +memory +pids")
    return t


def container(tree, name="c", pid=100, **limits):
    """A cgroup /<name> with ``limits`` (file name → value) and process ``pid`` in it."""
    tree.make_dir(f"{M}/{name}")
    for filename, value in limits.items():
        tree.write_file(f"{M}/{name}/{filename.replace('_', '.')}", value)
    tree.add_process(pid, f"/{name}")
    return f"{M}/{name}"


class SimCgroupKernel(CgroupFS):
    """What V2Manager needs of a Kernel: the cgroupfs calls, and kill for its clean-up."""

    def kill(self, pid, sig):
        assert sig == signal.SIGKILL
        self.tree.cgroup_of(pid)        # ProcessLookupError (ESRCH) for a pid that is gone
        self.tree.remove_process(pid)


# -- the tree and its files ------------------------------------------------------------

def test_root_offers_cpu_memory_pids_and_has_no_limit_files():
    t = CgroupTree()
    assert t.read_file(f"{M}/cgroup.controllers") == "cpu memory pids\n"
    assert t.read_file(f"{M}/cgroup.subtree_control") == "\n"
    names = t.listdir(M)
    assert "cgroup.procs" in names and "cpu.stat" in names
    for absent in ("memory.max", "memory.current", "cpu.max", "pids.max", "cgroup.kill",
                   "cgroup.events", "cgroup.type"):
        assert absent not in names
        assert errno_of(t.read_file, f"{M}/{absent}") == errno.ENOENT


def test_controller_files_appear_only_where_the_parent_delegates():
    t = CgroupTree()
    t.make_dir(f"{M}/a")
    assert t.read_file(f"{M}/a/cgroup.controllers") == "\n"
    assert not t.exists(f"{M}/a/memory.max") and t.exists(f"{M}/a/cpu.stat")
    t.write_file(f"{M}/cgroup.subtree_control", "+memory")
    assert t.read_file(f"{M}/a/cgroup.controllers") == "memory\n"
    assert t.exists(f"{M}/a/memory.max") and not t.exists(f"{M}/a/cpu.max")
    assert not t.exists(f"{M}/a/pids.max")
    t.write_file(f"{M}/cgroup.subtree_control", "+pids +cpu")
    assert t.read_file(f"{M}/cgroup.subtree_control") == "cpu memory pids\n"
    assert {"cpu.max", "pids.max", "pids.current", "memory.peak"} <= set(t.listdir(f"{M}/a"))


def test_a_new_cgroup_reads_like_a_fresh_kernel_cgroup(tree):
    tree.make_dir(f"{M}/a")
    a = f"{M}/a"
    assert tree.read_file(f"{a}/memory.max") == "max\n"
    assert tree.read_file(f"{a}/memory.swap.max") == "max\n"
    assert tree.read_file(f"{a}/memory.current") == "0\n"
    assert tree.read_file(f"{a}/cpu.max") == "max 100000\n"
    assert tree.read_file(f"{a}/pids.max") == "max\n"
    assert tree.read_file(f"{a}/pids.events") == "max 0\n"
    assert tree.read_file(f"{a}/cgroup.procs") == ""
    assert tree.read_file(f"{a}/cgroup.type") == "domain\n"
    assert tree.read_file(f"{a}/cgroup.events") == "populated 0\nfrozen 0\n"
    assert list(counters(tree.read_file(f"{a}/memory.events"))) == \
        ["low", "high", "max", "oom", "oom_kill", "oom_group_kill"]
    assert list(counters(tree.read_file(f"{a}/cpu.stat")))[:6] == \
        ["usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec"]


def test_mkdir_and_rmdir_fail_with_the_kernels_errnos(tree):
    tree.make_dir(f"{M}/a")
    assert errno_of(tree.make_dir, f"{M}/a") == errno.EEXIST
    assert errno_of(tree.make_dir, M) == errno.EEXIST
    assert errno_of(tree.make_dir, f"{M}/a/memory.max") == errno.EEXIST
    assert errno_of(tree.make_dir, f"{M}/missing/b") == errno.ENOENT
    assert errno_of(tree.make_dir, f"{M}/a/memory.max/b") == errno.ENOTDIR
    assert errno_of(tree.remove_dir, f"{M}/a/memory.max") == errno.ENOTDIR
    assert errno_of(tree.remove_dir, f"{M}/missing") == errno.ENOENT
    assert errno_of(tree.remove_dir, M) == errno.EBUSY
    tree.remove_dir(f"{M}/a")
    assert not tree.exists(f"{M}/a")


def test_rmdir_of_a_cgroup_with_processes_or_children_is_ebusy(tree):
    path = container(tree, "busy", pid=7)
    with pytest.raises(OSError) as info:
        tree.remove_dir(path)
    assert info.value.errno == errno.EBUSY and info.value.filename == path
    tree.remove_process(7)
    tree.make_dir(f"{path}/child")
    assert errno_of(tree.remove_dir, path) == errno.EBUSY
    tree.remove_dir(f"{path}/child")
    tree.remove_dir(path)
    assert "busy" not in tree.listdir(M)


def test_read_only_files_refuse_writes_and_cgroup_kill_refuses_reads(tree):
    tree.make_dir(f"{M}/a")
    assert errno_of(tree.write_file, f"{M}/a/memory.current", "0") == errno.EACCES
    assert errno_of(tree.write_file, f"{M}/a/cgroup.controllers", "cpu") == errno.EACCES
    assert errno_of(tree.read_file, f"{M}/a/cgroup.kill") == errno.EACCES
    assert errno_of(tree.read_file, f"{M}/a") == errno.EISDIR
    assert errno_of(tree.write_file, f"{M}/a/no.such.file", "1") == errno.ENOENT


def test_subtree_control_takes_plus_and_minus_and_checks_every_token(tree):
    tree.make_dir(f"{M}/a")
    sc = f"{M}/a/cgroup.subtree_control"
    tree.write_file(sc, "+memory +cpu")
    tree.write_file(sc, "+pids -cpu")
    assert tree.read_file(sc) == "memory pids\n"
    assert errno_of(tree.write_file, sc, "memory") == errno.EINVAL       # no + or -
    assert errno_of(tree.write_file, sc, "+io") == errno.EINVAL          # no such controller here
    assert tree.read_file(sc) == "memory pids\n"                         # nothing half-applied
    tree.make_dir(f"{M}/a/b")                          # a delegates memory and pids, not cpu
    assert errno_of(tree.write_file, f"{M}/a/b/cgroup.subtree_control", "+cpu") == errno.ENOENT
    tree.write_file(f"{M}/a/b/cgroup.subtree_control", "+pids")


def test_a_controller_cannot_be_withdrawn_while_a_child_delegates_it(tree):
    tree.make_dir(f"{M}/a")
    tree.write_file(f"{M}/a/cgroup.subtree_control", "+memory")
    assert errno_of(tree.write_file, f"{M}/cgroup.subtree_control", "-memory") == errno.EBUSY
    tree.write_file(f"{M}/a/cgroup.subtree_control", "-memory")
    tree.write_file(f"{M}/a/memory.max", "1M")
    tree.write_file(f"{M}/cgroup.subtree_control", "-memory")
    assert not tree.exists(f"{M}/a/memory.max")
    tree.write_file(f"{M}/cgroup.subtree_control", "+memory")
    assert tree.read_file(f"{M}/a/memory.max") == "max\n"    # a new memcg: the old limit is gone


# -- processes and the no-internal-processes rule ----------------------------------------

def test_writing_a_pid_moves_the_process_out_of_wherever_it_was(tree):
    tree.make_dir(f"{M}/a")
    tree.make_dir(f"{M}/b")
    tree.add_process(5, "/a")
    tree.write_file(f"{M}/b/cgroup.procs", "5\n")
    assert tree.cgroup_of(5) == "/b"
    assert tree.read_file(f"{M}/a/cgroup.procs") == ""
    assert tree.read_file(f"{M}/b/cgroup.procs") == "5\n"
    assert tree.read_file(f"{M}/cgroup.procs") == "1\n"
    tree.write_file(f"{M}/cgroup.procs", "5")
    assert tree.procs("/") == [1, 5] and tree.procs("/b") == []


def test_zero_written_to_cgroup_procs_means_the_caller(tree):
    tree.make_dir(f"{M}/a")
    tree.add_process(42, parent=1)
    assert tree.cgroup_of(42) == "/"
    CgroupFS(tree, 42).write_file(f"{M}/a/cgroup.procs", "0")
    assert tree.cgroup_of(42) == "/a" and tree.cgroup_of(1) == "/"
    assert tree.proc_cgroup(42) == "0::/a\n"


def test_writing_a_missing_pid_is_esrch_and_a_malformed_one_einval(tree):
    tree.make_dir(f"{M}/a")
    procs = f"{M}/a/cgroup.procs"
    with pytest.raises(ProcessLookupError):
        tree.write_file(procs, "4242")
    for bad in ("abc", "-1", "1 2", ""):
        assert errno_of(tree.write_file, procs, bad) == errno.EINVAL
    tree.write_file(procs, "0x1")      # kstrtoint base 0, as the kernel parses it
    assert tree.cgroup_of(1) == "/a"


def test_enabling_memory_in_a_cgroup_with_processes_is_ebusy(tree):
    path = container(tree, "session", pid=10)
    assert errno_of(tree.write_file, f"{path}/cgroup.subtree_control", "+memory") == errno.EBUSY
    assert tree.read_file(f"{path}/cgroup.subtree_control") == "\n"
    tree.write_file(f"{M}/cgroup.procs", "10")           # empty it, and it may delegate
    tree.write_file(f"{path}/cgroup.subtree_control", "+memory")


def test_moving_a_process_into_a_cgroup_that_delegates_memory_is_ebusy(tree):
    tree.make_dir(f"{M}/a")
    tree.write_file(f"{M}/a/cgroup.subtree_control", "+memory")
    tree.add_process(5)
    assert errno_of(tree.write_file, f"{M}/a/cgroup.procs", "5") == errno.EBUSY
    assert errno_of(tree.add_process, 6, "/a") == errno.EBUSY   # clone into it: the same rule
    assert tree.cgroup_of(5) == "/"


def test_threaded_controllers_are_the_kernels_exception_to_the_rule(tree):
    # cpu and pids may be delegated by a cgroup with processes (it could become a
    # thread root), so the kernel allows it; memory then fails with EOPNOTSUPP.
    path = container(tree, "a", pid=10)
    tree.write_file(f"{path}/cgroup.subtree_control", "+cpu")
    assert tree.read_file(f"{path}/cgroup.type") == "domain threaded\n"
    assert errno_of(tree.write_file, f"{path}/cgroup.subtree_control", "+memory") == errno.EOPNOTSUPP
    tree.make_dir(f"{path}/child")
    assert tree.read_file(f"{path}/child/cgroup.type") == "domain invalid\n"
    assert errno_of(tree.write_file, f"{path}/child/cgroup.procs", "10") == errno.EOPNOTSUPP


def test_the_root_is_exempt_from_the_rule(tree):
    tree.add_process(2)
    tree.write_file(f"{M}/cgroup.subtree_control", "-memory")
    tree.write_file(f"{M}/cgroup.subtree_control", "+memory")
    tree.write_file(f"{M}/cgroup.procs", "2")
    assert tree.procs("/") == [1, 2]


def test_populated_follows_processes_anywhere_below(tree):
    tree.make_dir(f"{M}/a")
    tree.make_dir(f"{M}/a/b")
    tree.add_process(5, "/a/b")
    assert tree.read_file(f"{M}/a/cgroup.events").startswith("populated 1\n")
    tree.remove_process(5)
    assert tree.read_file(f"{M}/a/cgroup.events").startswith("populated 0\n")
    assert counters(tree.read_file(f"{M}/cgroup.stat"))["nr_descendants"] == 2


# -- the real V2Manager against the model ---------------------------------------------------

def test_v2_manager_runs_unchanged_and_leaves_the_tree_as_it_was(tree):
    tree.add_process(10, parent=1)                      # minidocker itself, in the root cgroup
    k = SimCgroupKernel(tree, 10)
    layout = cgroups.parse_layout(MOUNTINFO_V2, tree.proc_cgroup(10))
    before = [e["path"] for e in tree.snapshot()], tree.read_file(f"{M}/cgroup.subtree_control")

    m = cgroups.manager(k, "abc", layout)
    m.create(Resources(memory=64 * MIB, nano_cpus=500_000_000, pids_limit=10))
    path = f"{M}/minidocker/abc"
    assert m.paths() == {"": path}
    assert tree.read_file(f"{path}/memory.max") == f"{64 * MIB}\n"
    assert tree.read_file(f"{path}/cpu.max") == "50000 100000\n"
    assert tree.read_file(f"{path}/pids.max") == "10\n"
    assert m.join_files() == [f"{path}/cgroup.procs"]

    tree.add_process(100, parent=10)                    # the container's first process joins
    for f in m.join_files():
        SimCgroupKernel(tree, 100).write_file(f, "0")
    tree.add_process(101, parent=100)
    assert m.pids() == [100, 101]
    assert tree.charge_cpu(100, 1_000_000, now=0) == pytest.approx(1.95)
    assert m.cpu_usage_ns() == 1_000_000_000
    assert tree.charge_memory(101, 1 * MIB) == []
    assert tree.charge_memory(100, 63 * MIB) == []
    assert m.memory_usage() == 64 * MIB and not m.oom_killed()
    assert tree.charge_memory(101, 1) == [100]          # the bigger one dies
    tree.remove_process(100)
    assert m.oom_killed() and m.memory_usage() == 1 * MIB

    m.destroy()                                         # cgroup.kill takes 101, rmdir both levels
    assert not tree.exists(f"{M}/minidocker")
    with pytest.raises(ProcessLookupError):
        tree.cgroup_of(101)
    after = [e["path"] for e in tree.snapshot()], tree.read_file(f"{M}/cgroup.subtree_control")
    assert after == before


def _session(tree):
    tree.make_dir(f"{M}/user.slice")
    tree.write_file(f"{M}/user.slice/cgroup.subtree_control", "+cpu +memory +pids")
    tree.make_dir(f"{M}/user.slice/session")
    tree.add_process(10, "/user.slice/session")
    layout = cgroups.parse_layout(MOUNTINFO_V2, tree.proc_cgroup(10))
    assert layout.caller[""] == "/user.slice/session"
    return layout


def test_v2_manager_alone_in_its_cgroup_moves_itself_to_a_leaf_and_delegates(tree):
    # A delegated scope (systemd-run --scope -p Delegate=yes) holds only minidocker: the
    # no-internal-processes rule is met by moving minidocker's own process, nothing else.
    layout = _session(tree)
    m = cgroups.manager(SimCgroupKernel(tree, 10), "c4", layout)
    m.create(Resources(memory=64 * MIB))
    session = f"{M}/user.slice/session"
    assert tree.cgroup_of(10) == "/user.slice/session/minidocker/runtime"
    assert tree.read_file(f"{session}/minidocker/c4/memory.max") == f"{64 * MIB}\n"
    assert tree.procs("/user.slice/session") == []
    m.destroy()
    assert not tree.exists(f"{session}/minidocker/c4")
    assert tree.cgroup_of(10) == "/user.slice/session/minidocker/runtime"


def test_v2_manager_never_moves_other_processes_out_of_the_callers_cgroup(tree):
    layout = _session(tree)
    tree.add_process(11, "/user.slice/session")          # the user's shell, say
    before = tree.snapshot()
    m = cgroups.manager(SimCgroupKernel(tree, 10), "c4", layout)
    with pytest.raises(MinidockerError, match="other processes live in it .the no-internal-processes"):
        m.create(Resources(memory=64 * MIB))
    assert not tree.exists(f"{M}/user.slice/session/minidocker")
    assert tree.snapshot() == before


def test_v2_manager_names_a_controller_the_parent_does_not_delegate(tree):
    tree.write_file(f"{M}/cgroup.subtree_control", "-pids")
    tree.make_dir(f"{M}/app")
    tree.add_process(10, "/app")
    layout = cgroups.parse_layout(MOUNTINFO_V2, tree.proc_cgroup(10))
    with pytest.raises(MinidockerError, match="pids"):
        cgroups.manager(SimCgroupKernel(tree, 10), "c5", layout).create(Resources())


# -- memory ---------------------------------------------------------------------------------

def test_charges_up_to_the_limit_succeed_and_one_more_byte_ooms(tree):
    path = container(tree, pid=100, memory_max=str(64 * MIB))
    assert tree.charge_memory(100, 64 * MIB) == []
    assert tree.read_file(f"{path}/memory.current") == f"{64 * MIB}\n"
    assert tree.charge_memory(100, 1) == [100]
    assert tree.read_file(f"{path}/memory.current") == f"{64 * MIB}\n"   # the failed charge took nothing
    ev = counters(tree.read_file(f"{path}/memory.events"))
    assert (ev["max"], ev["oom"], ev["oom_kill"], ev["oom_group_kill"]) == (1, 1, 1, 0)
    tree.remove_process(100)
    assert tree.read_file(f"{path}/memory.current") == "0\n"
    assert tree.read_file(f"{path}/memory.peak") == f"{64 * MIB}\n"


def test_the_oom_victim_is_the_largest_process_in_the_cgroup(tree):
    container(tree, pid=100, memory_max="10M")
    for pid in (101, 102):
        tree.add_process(pid, parent=100)
    tree.charge_memory(100, 2 * MIB)
    tree.charge_memory(101, 5 * MIB)
    tree.charge_memory(102, 3 * MIB)
    assert tree.charge_memory(100, 1 * MIB) == [101]   # the allocator is not the victim
    tree.remove_process(101)
    assert tree.charge_memory(100, 1 * MIB) == []       # and the retry fits


def test_a_parent_limit_smaller_than_the_childs_applies(tree):
    tree.make_dir(f"{M}/parent")
    tree.write_file(f"{M}/parent/memory.max", "8M")
    tree.write_file(f"{M}/parent/cgroup.subtree_control", "+memory")
    tree.make_dir(f"{M}/parent/child")
    tree.write_file(f"{M}/parent/child/memory.max", "32M")
    tree.add_process(100, "/parent/child")
    assert tree.charge_memory(100, 8 * MIB) == []
    assert tree.read_file(f"{M}/parent/memory.current") == f"{8 * MIB}\n"
    assert tree.charge_memory(100, 1) == [100]
    parent = counters(tree.read_file(f"{M}/parent/memory.events"))
    child = counters(tree.read_file(f"{M}/parent/child/memory.events"))
    assert (parent["max"], parent["oom"], parent["oom_kill"]) == (1, 1, 1)   # hierarchical
    assert (child["max"], child["oom"], child["oom_kill"]) == (0, 0, 1)      # the victim's own
    local = counters(tree.read_file(f"{M}/parent/memory.events.local"))
    assert local["oom_kill"] == 0 and local["max"] == 1


def test_memory_oom_group_kills_the_whole_cgroup(tree):
    path = container(tree, pid=100, memory_max="4M", memory_oom_group="1")
    tree.add_process(101, parent=100)
    tree.add_process(102, parent=100)
    tree.charge_memory(101, 4 * MIB)
    assert sorted(tree.charge_memory(100, 1)) == [100, 101, 102]
    ev = counters(tree.read_file(f"{path}/memory.events"))
    assert ev["oom_kill"] == 3 and ev["oom_group_kill"] == 1 and ev["oom"] == 1


def test_memory_max_parses_like_the_kernel(tree):
    tree.make_dir(f"{M}/a")
    mm = f"{M}/a/memory.max"
    for bad in ("abc", "-1", "1.5G", "64 M", "64MB"):
        assert errno_of(tree.write_file, mm, bad) == errno.EINVAL
    for text, shown in (("64M", str(64 * MIB)), ("1g", str(1 << 30)), ("5000", "4096"),
                        (str(64 * MIB) + "\n", str(64 * MIB)), ("0x1000", "4096"), ("max", "max")):
        tree.write_file(mm, text)
        assert tree.read_file(mm) == shown + "\n"
    assert errno_of(tree.write_file, f"{M}/a/memory.oom.group", "2") == errno.EINVAL


def test_freeing_and_exiting_uncharge_every_level(tree):
    tree.make_dir(f"{M}/a")
    tree.write_file(f"{M}/a/cgroup.subtree_control", "+memory")
    tree.make_dir(f"{M}/a/b")
    tree.add_process(100, "/a/b")
    tree.charge_memory(100, 3 * MIB)
    tree.uncharge_memory(100, 1 * MIB)
    assert tree.read_file(f"{M}/a/memory.current") == f"{2 * MIB}\n"
    assert tree.rss(100) == 2 * MIB
    tree.remove_process(100)
    assert tree.read_file(f"{M}/a/memory.current") == "0\n"
    assert tree.read_file(f"{M}/a/b/memory.peak") == f"{3 * MIB}\n"


def test_memory_stays_charged_where_it_was_when_a_process_moves(tree):
    tree.make_dir(f"{M}/a")
    tree.make_dir(f"{M}/b")
    tree.add_process(100, "/a")
    tree.charge_memory(100, 2 * MIB)
    tree.write_file(f"{M}/b/cgroup.procs", "100")
    tree.charge_memory(100, 1 * MIB)
    assert tree.read_file(f"{M}/a/memory.current") == f"{2 * MIB}\n"
    assert tree.read_file(f"{M}/b/memory.current") == f"{1 * MIB}\n"
    tree.remove_process(100)
    assert tree.read_file(f"{M}/a/memory.current") == "0\n"
    assert tree.read_file(f"{M}/b/memory.current") == "0\n"


def test_charges_left_behind_in_a_removed_cgroup_move_to_its_parent(tree):
    tree.make_dir(f"{M}/a")
    tree.write_file(f"{M}/a/cgroup.subtree_control", "+memory")
    tree.make_dir(f"{M}/a/old")
    tree.add_process(100, "/a/old")
    tree.charge_memory(100, 2 * MIB)
    tree.write_file(f"{M}/cgroup.procs", "100")         # it leaves; its 2 MiB stay in /a/old
    tree.remove_dir(f"{M}/a/old")                      # empty of processes, not of charges
    assert tree.read_file(f"{M}/a/memory.current") == f"{2 * MIB}\n"
    tree.uncharge_memory(100, 2 * MIB)
    assert tree.read_file(f"{M}/a/memory.current") == "0\n"
    with pytest.raises(ValueError):
        tree.charge_memory(100, -1)


def test_lowering_memory_max_below_usage_oom_kills_until_it_fits():
    killed = []
    t = CgroupTree(kill=lambda pid: (killed.append(pid), t.remove_process(pid)))
    t.write_file(f"{M}/cgroup.subtree_control", "+memory")
    path = container(t, pid=100)
    t.add_process(101, parent=100)
    t.charge_memory(100, 6 * MIB)
    t.charge_memory(101, 2 * MIB)
    t.write_file(f"{path}/memory.max", "4M")
    assert killed == [100]
    assert t.read_file(f"{path}/memory.current") == f"{2 * MIB}\n"
    assert counters(t.read_file(f"{path}/memory.events"))["oom_kill"] == 1


# -- pids -----------------------------------------------------------------------------------

def test_with_pids_max_3_the_fourth_process_fails_with_eagain(tree):
    path = container(tree, pid=100, pids_max="3")
    tree.add_process(101, parent=100)
    tree.add_process(102, parent=100)
    with pytest.raises(BlockingIOError) as info:
        tree.add_process(103, parent=100)
    assert info.value.errno == errno.EAGAIN
    assert tree.read_file(f"{path}/pids.current") == "3\n"
    assert tree.read_file(f"{path}/pids.events") == "max 1\n"
    with pytest.raises(ProcessLookupError):
        tree.cgroup_of(103)
    tree.remove_process(102)
    tree.add_process(103, parent=100)                  # room again after an exit


def test_an_ancestors_pids_max_limits_its_descendants_and_counts_there(tree):
    tree.make_dir(f"{M}/a")
    tree.write_file(f"{M}/a/pids.max", "2")
    tree.write_file(f"{M}/a/cgroup.subtree_control", "+pids")
    tree.make_dir(f"{M}/a/x")
    tree.make_dir(f"{M}/a/y")
    tree.add_process(100, "/a/x")
    tree.add_process(101, "/a/y")
    assert errno_of(tree.add_process, 102, "/a/x") == errno.EAGAIN
    assert tree.read_file(f"{M}/a/pids.current") == "2\n"
    assert tree.read_file(f"{M}/a/pids.events") == "max 1\n"
    assert tree.read_file(f"{M}/a/x/pids.events") == "max 0\n"


def test_moving_processes_in_may_exceed_pids_max(tree):
    path = container(tree, pid=100, pids_max="1")
    tree.add_process(200)
    tree.write_file(f"{path}/cgroup.procs", "200")     # organisational moves are never refused
    assert tree.read_file(f"{path}/pids.current") == "2\n"


def test_pids_max_parses_like_the_kernel(tree):
    tree.make_dir(f"{M}/a")
    pm = f"{M}/a/pids.max"
    for bad in ("abc", "-1", "4194305", "1.5"):
        assert errno_of(tree.write_file, pm, bad) == errno.EINVAL
    assert errno_of(tree.write_file, pm, "99999999999999999999") == errno.ERANGE
    tree.write_file(pm, "0x10")
    assert tree.read_file(pm) == "16\n"
    tree.write_file(pm, "max\n")
    assert tree.read_file(pm) == "max\n"


# -- cpu ------------------------------------------------------------------------------------

def test_half_a_cpu_makes_one_second_of_cpu_take_about_two(tree):
    path = container(tree, pid=100, cpu_max="50000 100000")
    wall = tree.charge_cpu(100, 1_000_000, now=0.0)
    assert wall == pytest.approx(1.95)                 # 20 periods; the last one need not wait
    stat = counters(tree.read_file(f"{path}/cpu.stat"))
    assert stat["usage_usec"] == 1_000_000 and stat["user_usec"] == 1_000_000
    assert (stat["nr_periods"], stat["nr_throttled"], stat["throttled_usec"]) == (20, 19, 950_000)


def test_cpu_usage_adds_up_in_the_cgroup_and_every_ancestor(tree):
    tree.make_dir(f"{M}/a")
    tree.make_dir(f"{M}/a/b")
    tree.add_process(100, "/a/b")
    tree.add_process(101, "/a")
    assert tree.charge_cpu(100, 300) == pytest.approx(0.0003)   # no quota: full speed
    tree.charge_cpu(100, 200)
    tree.charge_cpu(101, 1000)
    assert counters(tree.read_file(f"{M}/a/b/cpu.stat"))["usage_usec"] == 500
    assert counters(tree.read_file(f"{M}/a/cpu.stat"))["usage_usec"] == 1500
    assert counters(tree.read_file(f"{M}/cpu.stat"))["usage_usec"] == 1500
    assert counters(tree.read_file(f"{M}/a/cpu.stat"))["nr_periods"] == 0


def test_back_to_back_runs_share_a_period_and_nr_throttled_grows(tree):
    path = container(tree, pid=100, cpu_max="50000 100000")
    assert tree.charge_cpu(100, 30_000, now=0.0) == pytest.approx(0.03)
    assert tree.charge_cpu(100, 30_000) == pytest.approx(0.08)   # 20 ms, wait 50 ms, 10 ms
    stat = counters(tree.read_file(f"{path}/cpu.stat"))
    assert (stat["nr_periods"], stat["nr_throttled"], stat["throttled_usec"]) == (2, 1, 50_000)
    assert tree.charge_cpu(100, 30_000, now=1.0) == pytest.approx(0.03)   # after a rest: a fresh period
    assert counters(tree.read_file(f"{path}/cpu.stat"))["nr_throttled"] == 1


def test_a_stricter_parent_quota_wins(tree):
    tree.make_dir(f"{M}/a")
    tree.write_file(f"{M}/a/cpu.max", "20000 100000")
    tree.write_file(f"{M}/a/cgroup.subtree_control", "+cpu")
    tree.make_dir(f"{M}/a/b")
    tree.write_file(f"{M}/a/b/cpu.max", "80000")
    tree.add_process(100, "/a/b")
    assert tree.charge_cpu(100, 100_000, now=0.0) == pytest.approx(0.42)   # 5 periods at 20 %
    assert counters(tree.read_file(f"{M}/a/cpu.stat"))["nr_throttled"] == 4
    assert counters(tree.read_file(f"{M}/a/b/cpu.stat"))["nr_throttled"] == 0


def test_more_than_one_cpu_of_quota_never_throttles_one_process(tree):
    path = container(tree, pid=100, cpu_max="200000 100000")
    assert tree.charge_cpu(100, 500_000, now=0.0) == pytest.approx(0.5)
    assert counters(tree.read_file(f"{path}/cpu.stat"))["nr_throttled"] == 0


def test_cpu_max_parses_like_the_kernel(tree):
    tree.make_dir(f"{M}/a")
    cm = f"{M}/a/cpu.max"
    tree.write_file(cm, "25000 50000")
    tree.write_file(cm, "max")                         # the period stays
    assert tree.read_file(cm) == "max 50000\n"
    tree.write_file(cm, "30000\n")
    assert tree.read_file(cm) == "30000 50000\n"
    for bad in ("abc", "", "-5 100000", "500 100000", "50000 500", "50000 2000000"):
        assert errno_of(tree.write_file, cm, bad) == errno.EINVAL
    assert tree.read_file(cm) == "30000 50000\n"


# -- cgroup.kill and diagrams ---------------------------------------------------------------

def test_cgroup_kill_sigkills_the_whole_subtree_through_the_kill_hook():
    killed = []
    t = CgroupTree(kill=killed.append)
    t.make_dir(f"{M}/a")
    t.make_dir(f"{M}/a/b")
    t.add_process(5, "/a")
    t.add_process(6, "/a/b")
    t.add_process(7)
    assert t.kill_all("/a") == [5, 6]
    t.write_file(f"{M}/a/cgroup.kill", "1")
    assert killed == [5, 6]
    assert t.procs("/a") == [5]                        # gone only when the process layer says so
    assert errno_of(t.write_file, f"{M}/a/cgroup.kill", "0") == errno.ERANGE
    assert errno_of(t.write_file, f"{M}/a/cgroup.kill", "yes") == errno.EINVAL


def test_snapshot_is_plain_data_for_diagrams(tree):
    container(tree, "abc", pid=100, memory_max="64M", pids_max="10", cpu_max="50000")
    tree.charge_memory(100, 1 * MIB)
    snap = tree.snapshot()
    assert [e["path"] for e in snap] == ["/", "/abc"]
    root, abc = snap
    assert root["procs"] == [1] and "memory.max" not in root
    assert root["subtree_control"] == ["cpu", "memory", "pids"]
    assert abc["memory.max"] == 64 * MIB and abc["memory.current"] == 1 * MIB
    assert abc["pids.max"] == 10 and abc["pids.current"] == 1 and abc["procs"] == [100]
    assert abc["cpu.max"] == [50000, 100000]
    text = tree.describe()
    assert "abc/" in text and f"memory {MIB}/{64 * MIB}" in text and "pids 1/10" in text

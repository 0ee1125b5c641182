"""cgroup managers: v2 against a fake cgroupfs laid out like a v2 host, v1 for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from minidocker.errors import MinidockerError
from minidocker.kernel import get_kernel
from minidocker.kernel.linux import LinuxKernel
from minidocker.runtime import cgroups
from minidocker.runtime.spec import Resources

MOUNTINFO_V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
MOUNTINFO_HYBRID = (
    "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
)


def test_layout_detects_v2_hybrid_and_v1():
    v2 = cgroups.parse_layout(MOUNTINFO_V2, "0::/user.slice/session-1.scope\n")
    assert v2.version == "v2" and v2.caller[""] == "/user.slice/session-1.scope"
    hybrid = cgroups.parse_layout(MOUNTINFO_HYBRID, "4:memory:/a/b\n1:cpu:/\n0::/\n")
    assert hybrid.version == "hybrid"
    assert hybrid.mounts["memory"] == "/sys/fs/cgroup/memory" and hybrid.caller["memory"] == "/a/b"
    v1 = cgroups.parse_layout(MOUNTINFO_HYBRID.rsplit("41 ", 1)[0], "4:memory:/\n")
    assert v1.version == "v1"
    with pytest.raises(MinidockerError, match="no cgroup"):
        cgroups.parse_layout("", "")


class FakeCgroupfs(LinuxKernel):
    """A kernel whose cgroupfs is a plain directory: mkdir creates the control
    files a v2 kernel would, and ``cgroup.kill`` empties ``cgroup.procs``."""

    FILES = {"cgroup.procs": "", "cgroup.controllers": "cpu memory pids",
             "cgroup.subtree_control": "", "memory.max": "max", "memory.swap.max": "max",
             "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
             "memory.current": "0", "cpu.max": "max 100000",
             "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
             "pids.max": "max", "cgroup.kill": ""}

    def __init__(self):
        self.writes: list[tuple[str, str]] = []

    def make_dir(self, path):
        os.mkdir(path)
        for name, text in self.FILES.items():
            with open(os.path.join(path, name), "w") as f:
                f.write(text)

    def write_file(self, path, data):
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        self.writes.append((path, data))
        name = os.path.basename(path)
        if name == "cgroup.subtree_control":
            current = set(open(path).read().split())
            current |= {w[1:] for w in data.split() if w.startswith("+")}
            data = " ".join(sorted(current))
        if name == "cgroup.kill":
            open(os.path.join(os.path.dirname(path), "cgroup.procs"), "w").close()
        with open(path, "w") as f:
            f.write(data)

    def remove_dir(self, path):
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)


@pytest.fixture
def fake_v2(tmp_path):
    kernel = FakeCgroupfs()
    root = tmp_path / "cgroup"
    root.mkdir()
    kernel.make_dir(str(root / "user.slice"))
    layout = cgroups.Layout("v2", {"": str(root)}, {"": "/user.slice"})
    return kernel, layout, root


def test_v2_manager_writes_limits_under_the_callers_cgroup(fake_v2):
    kernel, layout, root = fake_v2
    m = cgroups.manager(kernel, "c1", layout)
    m.create(Resources(memory=64 << 20, nano_cpus=500_000_000, pids_limit=20))
    path = root / "user.slice" / "minidocker" / "c1"
    assert m.paths() == {"": str(path)}
    assert (path / "memory.max").read_text() == str(64 << 20)
    assert (path / "cpu.max").read_text() == "50000 100000"
    assert (path / "pids.max").read_text() == "20"
    # controllers were delegated down to the container's level, not above the caller
    assert set((root / "user.slice" / "cgroup.subtree_control").read_text().split()) == \
        {"cpu", "memory", "pids"}
    assert not any(p.startswith(str(root / "cgroup.")) for p, _ in kernel.writes)
    assert m.join_files() == [str(path / "cgroup.procs")]


def test_v2_manager_reads_oom_and_usage(fake_v2):
    kernel, layout, root = fake_v2
    m = cgroups.manager(kernel, "c2", layout)
    m.create(Resources(memory=32 << 20))
    path = root / "user.slice" / "minidocker" / "c2"
    assert not m.oom_killed()
    (path / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (path / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\n")
    assert m.oom_killed()
    assert m.cpu_usage_ns() == 2_500_000


def test_v2_manager_destroy_kills_and_removes_its_cgroups_only(fake_v2):
    kernel, layout, root = fake_v2
    m = cgroups.manager(kernel, "c3", layout)
    m.create(Resources())
    m.destroy()
    assert ("%s" % (root / "user.slice" / "minidocker" / "c3" / "cgroup.kill"), "1") in kernel.writes
    assert not (root / "user.slice" / "minidocker").exists()
    assert (root / "user.slice").is_dir()


def test_v2_no_internal_processes_rule_is_explained(fake_v2):
    kernel, layout, root = fake_v2

    class Busy(FakeCgroupfs):
        def write_file(self, path, data):
            if path.endswith("user.slice/cgroup.subtree_control"):
                import errno
                raise OSError(errno.EBUSY, "busy")
            super().write_file(path, data)

    (root / "user.slice" / "cgroup.procs").write_text(f"{os.getpid()}\n4242\n")  # someone else too
    m = cgroups.manager(Busy(), "c4", layout)
    with pytest.raises(MinidockerError, match="other processes live in it .the no-internal-processes"):
        m.create(Resources(memory=64 << 20))
    assert not (root / "user.slice" / "minidocker").exists()


def test_v2_missing_controller_is_a_clear_error(fake_v2):
    kernel, layout, root = fake_v2
    (root / "user.slice" / "cgroup.controllers").write_text("cpu memory")
    with pytest.raises(MinidockerError, match="pids"):
        cgroups.manager(kernel, "c5", layout).create(Resources())


# -- v1, for real -------------------------------------------------------------------

@pytest.fixture
def real_v1():
    layout = cgroups.host_layout(get_kernel())
    if layout.version == "v2":
        pytest.skip("this host is cgroup v2 only; the v1 tests run where v1 is mounted")
    m = cgroups.manager(get_kernel(), "test-" + uuid.uuid4().hex[:12], layout)
    yield m
    m.destroy()


@pytest.mark.root
def test_v1_cgroups_are_created_below_the_callers_cgroup(real_v1):
    real_v1.create(Resources(memory=64 << 20, nano_cpus=250_000_000, pids_limit=7))
    caller = real_v1.layout.caller
    for ctrl, path in real_v1.paths().items():
        assert path.startswith(os.path.join(real_v1.layout.mounts[ctrl], caller.get(ctrl, "/").lstrip("/")))
        assert os.path.isdir(path)
    p = real_v1.paths()
    assert int(open(f"{p['memory']}/memory.limit_in_bytes").read()) == 64 << 20
    assert int(open(f"{p['cpu']}/cpu.cfs_quota_us").read()) == 25000
    assert open(f"{p['pids']}/pids.max").read().strip() == "7"


@pytest.mark.root
def test_v1_pids_limit_makes_fork_fail_and_destroy_cleans_up(real_v1):
    real_v1.create(Resources(pids_limit=3))
    join = " ".join(f"echo 0 > {f};" for f in real_v1.join_files())
    script = f"{join} for i in 1 2 3 4 5 6; do sleep 30 >/dev/null 2>&1 & done"
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert "fork" in r.stderr.lower() or "resource temporarily unavailable" in r.stderr.lower()
    paths = list(real_v1.paths().values())
    real_v1.destroy()
    assert not any(os.path.exists(p) for p in paths)


def test_v2_parent_removed_by_another_container_is_made_and_delegated_again(fake_v2):
    kernel, layout, root = fake_v2
    parent = root / "user.slice" / "minidocker"

    class Racy(FakeCgroupfs):
        raced = False

        def make_dir(self, path):
            if path.endswith("/r1") and not Racy.raced:  # the parent vanishes just before
                Racy.raced = True
                super().remove_dir(str(parent))
            super().make_dir(path)

    racy = Racy()
    m = cgroups.manager(racy, "r1", layout)
    m.create(Resources(memory=64 << 20))
    assert Racy.raced
    assert set((parent / "cgroup.subtree_control").read_text().split()) == {"cpu", "memory", "pids"}
    assert (parent / "r1" / "memory.max").read_text() == str(64 << 20)


def test_priming_moves_writes_this_process_into_its_own_cgroup_and_ignores_refusals(fake_v2):
    kernel, layout, root = fake_v2
    cgroups.prime_moves(kernel, layout)
    assert kernel.writes == [(str(root / "user.slice" / "cgroup.procs"), "0")]
    gone = cgroups.Layout("v2", {"": str(root)}, {"": "/no/such/scope"})
    cgroups.prime_moves(kernel, gone)   # FileNotFoundError, ignored
    hybrid = cgroups.Layout("hybrid", {"memory": str(root), "pids": str(root / "user.slice")},
                            {"memory": "/m", "pids": "/"})
    kernel.writes.clear()
    cgroups.prime_moves(kernel, hybrid)
    assert kernel.writes == [(str(root / "user.slice" / "cgroup.procs"), "0")]   # pids first


# In a child interpreter: the fork hook that keep_moves_fast installs would stay in this one.
_KEEPING = """
import json, os, sys, threading, time
from minidocker.kernel.linux import LinuxKernel
from minidocker.runtime import cgroups
cgroups.KEEP_EVERY = 0.005
before = open('/proc/self/cgroup').read()
cgroups.keep_moves_fast(LinuxKernel(), seconds=float(sys.argv[1]))
time.sleep(0.1)
primers = [t.name for t in threading.enumerate() if t.name == 'minidocker-cgroup-primer']
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(w, str(threading.active_count()).encode())
    os._exit(0)
os.close(w)
in_child = int(os.read(r, 10))
os.waitpid(pid, 0)
print(json.dumps({"primers": primers, "in_child": in_child, "threads_after": threading.active_count(),
                  "same_cgroup": open('/proc/self/cgroup').read() == before}))
"""


@pytest.mark.root
def test_moves_are_kept_fast_by_a_thread_that_ends_before_the_next_fork():
    proc = subprocess.run([sys.executable, "-c", _KEEPING, "30"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)
    assert seen["primers"] == ["minidocker-cgroup-primer"]   # it ran while nothing forked
    assert seen["in_child"] == 1 and seen["threads_after"] == 1   # and was gone at the fork
    assert seen["same_cgroup"]   # it moved this process only into the cgroup it was in


@pytest.mark.root
def test_moves_are_kept_fast_for_a_limited_time_only():
    script = _KEEPING.replace("time.sleep(0.1)", "time.sleep(0.5)")
    proc = subprocess.run([sys.executable, "-c", script, "0.1"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["primers"] == []   # its 0.1 s were over before the fork


def test_a_fixed_layout_is_read_once_and_used_by_every_manager_made_after(fake_v2, monkeypatch):
    kernel, layout, root = fake_v2
    reads = []
    texts = {"/proc/self/mountinfo": f"30 1 0:26 / {root} rw - cgroup2 cgroup2 rw\n",
             "/proc/self/cgroup": "0::/user.slice\n"}
    monkeypatch.setattr(kernel, "read_file", lambda path: reads.append(path) or texts[path],
                        raising=False)
    monkeypatch.setattr(cgroups, "_fixed", None)
    cgroups.fix_layout(kernel)
    assert reads == ["/proc/self/mountinfo", "/proc/self/cgroup"]
    texts["/proc/self/cgroup"] = "0::/elsewhere\n"   # moved later: the fixed layout stays
    manager = cgroups.manager(kernel, "c1")
    assert manager.paths() == {"": str(root / "user.slice" / "minidocker" / "c1")}
    assert len(reads) == 2

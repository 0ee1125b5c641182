"""Real containers on the real kernel: isolation, limits, lifecycle, clean-up.

Every test drives the CLI in a subprocess (as a user would) against a private
state root; the ``clean`` fixture checks afterwards that no mount, cgroup or
container directory of the test is left behind.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from minidocker.kernel import get_kernel
from minidocker.runtime import cgroups

pytestmark = pytest.mark.root

DOCKER_DEFAULT_CAPS = 0x00000000A80425FB


def md(*args, timeout=60, input=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minidocker", *args], capture_output=True,
                          text=True, timeout=timeout, input=input)


def out(*args) -> str:
    r = md(*args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _container_cgroups() -> set[str]:
    layout = cgroups.host_layout(get_kernel())
    found = set()
    for ctrl, mount in layout.mounts.items():
        parent = os.path.join(mount, layout.caller.get(ctrl, "/").lstrip("/"), "minidocker")
        if os.path.isdir(parent):
            found |= {os.path.join(parent, d) for d in os.listdir(parent)
                      if os.path.isdir(os.path.join(parent, d))}
    return found


@pytest.fixture
def clean(busybox, state_root):
    """Run a test, then prove it left no container, mount or cgroup behind."""
    before = _container_cgroups()
    yield
    containers = state_root / "containers"
    leftovers = [d for d in os.listdir(containers) if not d.startswith(".")] if containers.exists() else []
    for cid in leftovers:
        md("rm", "-f", cid)
    assert str(state_root) not in open("/proc/self/mountinfo").read()
    assert _abandoned(_container_cgroups() - before) == set()
    assert leftovers == [], "the test left containers behind"


def _abandoned(new: set[str]) -> set[str]:
    """Of cgroups made during a test, those left behind: still there after a moment, and empty.

    The cpu and pids hierarchies are shared by everything on the machine, so another
    minidocker run at the same time (a developer's, say) may have a live cgroup there;
    that one has processes or goes away on its own.
    """
    deadline = time.monotonic() + 3
    while True:
        left = {c for c in new if os.path.isdir(c) and not _has_processes(c)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def _has_processes(cgroup: str) -> bool:
    try:
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            return bool(f.read().strip())
    except OSError:
        return False


def run(*args, **kw) -> subprocess.CompletedProcess:
    return md("run", "--rm", *args, **kw)


# -- isolation ---------------------------------------------------------------------

def test_hostname_is_the_containers_own(clean):
    assert run("--hostname", "box1", "busybox", "hostname").stdout == "box1\n"
    generated = run("busybox", "hostname").stdout.strip()
    assert len(generated) == 12 and generated != os.uname().nodename


def test_the_command_is_pid_1_and_host_processes_are_invisible(clean):
    r = run("busybox", "sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'")
    pid, count = r.stdout.split()
    assert pid == "1"
    assert int(count) <= 3  # sh, ls, grep


def test_host_mounts_are_invisible_and_network_none_has_only_lo(clean):
    r = run("--network", "none", "busybox", "sh", "-c", "cat /proc/mounts; echo ---; ls /sys/class/net")
    mounts, nets = r.stdout.split("---\n")
    points = [line.split()[1] for line in mounts.splitlines()]
    assert points[0] == "/"
    assert all(p.split("/")[1] in ("", "proc", "dev", "sys", "etc") for p in points), points
    assert nets.split() == ["lo"]


def test_writes_stay_in_the_container_layer(clean, engine):
    out("run", "--name", "writer", "busybox", "sh", "-c", "echo changed > /etc/motd; rm /bin/ls")
    assert run("busybox", "sh", "-c", "cat /etc/motd 2>&1; ls / >/dev/null && echo ls-ok").stdout \
        == "cat: can't open '/etc/motd': No such file or directory\nls-ok\n"
    record = engine.containers.find("writer")
    upper = engine.snapshots.diff_dir(record.snapshot_key)
    assert open(os.path.join(upper, "etc", "motd")).read() == "changed\n"
    assert os.stat(os.path.join(upper, "bin", "ls")).st_rdev == 0  # a whiteout
    out("rm", "writer")


def test_capabilities_are_dockers_default_14(clean):
    status = run("busybox", "cat", "/proc/self/status").stdout
    caps = {line.split(":")[0]: int(line.split()[1], 16) for line in status.splitlines()
            if line.startswith("Cap")}
    assert caps["CapEff"] == caps["CapBnd"] == DOCKER_DEFAULT_CAPS
    assert bin(DOCKER_DEFAULT_CAPS).count("1") == 14
    r = run("busybox", "sh", "-c", "mount -t tmpfs none /mnt 2>&1; echo rc=$?")
    assert "rc=0" not in r.stdout


def test_sensitive_proc_paths_are_masked_or_read_only(clean):
    masked = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/interrupts",
                          "/proc/sched_debug") if os.path.exists(p)]
    assert masked, "the host has none of Docker's masked /proc files"
    script = "; ".join(f"wc -c < {p}" for p in masked)
    sizes = run("busybox", "sh", "-c", script).stdout.split()
    assert sizes == ["0"] * len(masked)
    r = run("busybox", "sh", "-c", "echo x > /proc/sys/kernel/domainname; echo rc=$?;"
            "echo x > /proc/sysrq-trigger; echo rc=$?")
    assert r.stdout.split() == ["rc=1", "rc=1"] and "Read-only file system" in r.stderr


def test_dev_has_the_standard_nodes_and_a_private_pts(clean):
    r = run("busybox", "sh", "-c", "ls /dev; ls /dev/pts; echo hi > /dev/null && echo null-ok")
    names = r.stdout.split()
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx",
                 "stdin", "stdout", "stderr", "fd"):
        assert name in names
    assert "null-ok" in names


def test_no_runtime_descriptor_leaks_into_the_container(clean):
    fds = run("busybox", "ls", "/proc/self/fd").stdout.split()
    assert sorted(fds) == ["0", "1", "2", "3"]  # 3 is ls's own listing of the directory


def test_workdir_cannot_escape_through_proc_fd(clean):
    for bad in ("/proc/self/fd/3", "/proc/self/cwd/../../..", "/proc/1/root/.."):
        r = run("-w", bad, "busybox", "sh", "-c", "pwd; ls /")
        if r.returncode == 0:
            assert "bin" in r.stdout and "work" not in r.stdout.split()
        else:
            assert r.returncode == 125 and "Traceback" not in r.stderr


def test_bind_mounts_and_read_only_flags(clean, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from host\n")
    r = run("-v", f"{shared}:/data", "busybox", "sh", "-c", "cat /data/in.txt; echo out > /data/out.txt")
    assert r.stdout == "from host\n" and (shared / "out.txt").read_text() == "out\n"
    r = run("-v", f"{shared}:/data:ro", "busybox", "sh", "-c", "echo no > /data/x 2>&1; echo rc=$?")
    assert "rc=1" in r.stdout and not (shared / "x").exists()
    r = run("--read-only", "busybox", "sh", "-c", "touch /x 2>&1; echo rc=$?")
    assert "Read-only file system" in r.stdout


def test_bind_target_through_an_image_symlink_stays_inside(clean, tmp_path, engine):
    # /var/run -> /host-like target inside the container: the bind lands inside the rootfs.
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    r = run("-v", f"{src}:/etc/../../../../tmp/escape", "busybox", "cat", "/tmp/escape/f")
    assert r.stdout == "x"
    assert not os.path.exists("/tmp/escape")


# -- identity and environment --------------------------------------------------------------

def test_env_workdir_and_user_are_applied(clean, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n")
    r = run("-e", "A=b", "--env-file", str(env_file), "-w", "/tmp/work", "-u", "nobody",
            "busybox", "sh", "-c", "echo $A $FROM_FILE; pwd; id -u; id -g; echo $PATH")
    a, path, uid, gid, env_path = r.stdout.splitlines()
    assert a == "b 1" and path == "/tmp/work" and uid == "65534" and gid == "65534"
    assert env_path.startswith("/usr/local/sbin")
    assert run("-u", "1234:5678", "busybox", "id").stdout.startswith("uid=1234 gid=5678")


def test_entrypoint_replaces_the_images_command(clean):
    assert run("--entrypoint", "echo", "busybox", "a", "b").stdout == "a b\n"


# -- exit codes --------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd, code", [
    (["true"], 0), (["sh", "-c", "exit 3"], 3), (["no-such-command"], 127),
    (["/etc/passwd"], 126), (["sh", "-c", "sleep 10 & kill -TERM $!; wait $!"], 143),
])
def test_exit_codes_follow_docker(clean, cmd, code):
    r = run("busybox", *cmd)
    assert r.returncode == code, r.stderr
    if code in (126, 127):
        assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--memory", "-1"], "invalid memory size"),
    (["--memory", "0"], "minimum memory limit"),
    (["--memory", "1b"], "minimum memory limit"),
    (["--memory", "abc"], "invalid memory size"),
    (["--pids-limit", "-5"], "pids-limit"),
    (["--cpus", "-1"], "--cpus"),
    (["-u", "nosuchuser"], "unable to find user nosuchuser"),
    (["-v", "relative:/x"], "absolute host path"),
    (["-v", "/nonexistent-path:/x"], "does not exist"),
    (["-w", "relative"], "absolute path"),
])
def test_bad_input_exits_125_with_one_line_and_leaves_nothing(clean, state_root, args, message):
    r = run(*args, "busybox", "true")
    assert r.returncode == 125, (r.returncode, r.stderr)
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert md("ps", "-aq").stdout.strip() == ""


def test_an_unknown_image_or_missing_command_exits_125(clean, tmp_path):
    r = md("run", "--rm", "nosuchimage")
    assert r.returncode == 125 and "Unable to find image" in r.stderr
    rootfs = tmp_path / "rootfs.tar"
    out("export", "-o", str(rootfs), "busybox")
    out("import", str(rootfs), "nocmd:1")  # an imported image has no Cmd
    r = md("run", "--rm", "nocmd:1")
    assert r.returncode == 125 and r.stderr.strip() == "minidocker: no command specified"
    assert md("ps", "-aq").stdout == "\n" or md("ps", "-aq").stdout == ""


def test_interactive_stdin_is_passed_through(clean):
    r = md("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z; echo done", input="hello\n")
    assert r.stdout == "HELLO\ndone\n"
    r = md("run", "--rm", "busybox", "cat", input="ignored without -i\n")
    assert r.stdout == ""


# -- limits --------------------------------------------------------------------------------------

def test_memory_limit_oom_kills_and_is_reported(clean):
    r = md("run", "--name", "hog", "--memory", "32m", "busybox", "sh", "-c",
           "dd if=/dev/zero of=/dev/shm/fill bs=1M count=60")
    assert r.returncode == 137
    [info] = json.loads(out("inspect", "hog"))
    assert info["State"]["OOMKilled"] is True and info["State"]["ExitCode"] == 137
    out("rm", "hog")


def test_pids_limit_makes_fork_fail(clean):
    r = run("--pids-limit", "4", "busybox", "sh", "-c",
            "for i in 1 2 3 4 5 6; do sleep 1 & done; wait")
    assert "can't fork" in r.stderr


def test_cpus_half_throttles_a_busy_loop(clean, engine):
    cid = out("run", "-d", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done").strip()
    try:
        m = cgroups.manager(get_kernel(), cid)
        time.sleep(0.3)
        u0, t0 = m.cpu_usage_ns(), time.monotonic()
        time.sleep(1.5)
        u1, t1 = m.cpu_usage_ns(), time.monotonic()
        share = (u1 - u0) / ((t1 - t0) * 1e9)
        assert 0.4 <= share <= 0.6, share
    finally:
        md("rm", "-f", cid)


# -- lifecycle -------------------------------------------------------------------------------------

def test_detached_container_logs_ps_and_wait(clean):
    cid = out("run", "-d", "--name", "talker", "busybox", "sh", "-c",
              "echo out; echo err >&2; sleep 0.5; echo done").strip()
    assert len(cid) == 64
    assert "talker" in out("ps")
    assert out("wait", "talker").strip() == "0"
    logs = md("logs", "talker")
    assert logs.stdout == "out\ndone\n" and logs.stderr == "err\n"
    assert md("logs", "--tail", "1", "talker").stdout == "done\n"
    log = os.path.join(os.environ["MINIDOCKER_ROOT"], "containers", cid, f"{cid}-json.log")
    lines = [json.loads(line) for line in open(log)]
    assert {line["stream"] for line in lines} == {"stdout", "stderr"}
    assert all(line["log"].endswith("\n") and line["time"].endswith("Z") for line in lines)
    assert "Exited (0)" in out("ps", "-a")
    out("rm", "talker")


def test_logs_follow_ends_when_the_container_exits(clean):
    out("run", "-d", "--name", "ticker", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done")
    assert md("logs", "-f", "ticker", timeout=20).stdout == "1\n2\n3\n"
    out("rm", "ticker")


def test_stop_sends_term_then_kill_after_the_timeout(clean):
    out("run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done")
    start = time.monotonic()
    out("stop", "-t", "1", "stubborn")
    assert time.monotonic() - start >= 1
    [info] = json.loads(out("inspect", "stubborn"))
    assert info["State"]["ExitCode"] == 137 and info["State"]["Status"] == "exited"
    out("rm", "stubborn")


def test_stop_of_a_container_that_handles_term_is_quick(clean):
    out("run", "-d", "--name", "polite", "busybox", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    start = time.monotonic()
    out("stop", "polite")
    assert time.monotonic() - start < 5
    assert out("wait", "polite").strip() == "7"
    out("rm", "polite")


def test_create_then_start_attached(clean):
    cid = out("create", "--name", "later", "busybox", "echo", "hello").strip()
    assert "Created" in out("ps", "-a")
    r = md("start", "-a", "later")
    assert r.stdout == "hello\n" and r.returncode == 0
    out("rm", cid)


def test_rm_refuses_a_running_container_unless_forced(clean):
    out("run", "-d", "--name", "busy", "busybox", "sleep", "100")
    r = md("rm", "busy")
    assert r.returncode == 1 and "container is running" in r.stderr
    out("rm", "-f", "busy")
    assert "busy" not in out("ps", "-a")


def test_kill_delivers_the_signal_to_pid_1(clean):
    out("run", "-d", "--name", "victim", "busybox", "sh", "-c",
        "trap 'exit 9' USR1; while :; do sleep 0.1; done")
    out("kill", "-s", "USR1", "victim")
    assert out("wait", "victim").strip() == "9"
    out("rm", "victim")
    out("run", "-d", "--name", "victim2", "busybox", "sleep", "100")
    out("kill", "victim2")  # SIGKILL reaches even a PID 1 without handlers
    assert out("wait", "victim2").strip() == "137"
    out("rm", "victim2")


def test_pid_1_ignores_unhandled_signals_unless_init_is_used(clean):
    # The kernel protects a namespace's init from signals it has no handler for;
    # --init puts a tiny reaper there that forwards them, as Docker's tini does.
    out("run", "-d", "--name", "plain", "busybox", "sleep", "100")
    out("kill", "-s", "TERM", "plain")
    time.sleep(0.3)
    assert "plain" in out("ps")  # still running
    out("rm", "-f", "plain")
    out("run", "-d", "--init", "--name", "tini", "busybox", "sleep", "100")
    out("kill", "-s", "TERM", "tini")
    assert out("wait", "tini").strip() == "143"
    out("rm", "tini")


def test_init_reaps_orphans_and_reports_exec_errors(clean):
    r = run("--init", "busybox", "sh", "-c", "sleep 0.1 & exec sleep 0.3")
    assert r.returncode == 0
    assert run("--init", "busybox", "nosuch").returncode == 127


def test_top_lists_the_containers_processes(clean):
    out("run", "-d", "--name", "toppy", "busybox", "sleep", "100")
    rows = out("top", "toppy").splitlines()
    assert rows[0].split() == ["UID", "PID", "PPID", "CMD"] and "sleep 100" in rows[1]
    out("rm", "-f", "toppy")


def test_auto_remove_leaves_nothing(clean, engine):
    r = run("busybox", "true")
    assert r.returncode == 0
    assert engine.containers.all() == []
    assert [i for i in engine.snapshots.walk() if i.key.startswith("container-")] == []


def test_a_dead_supervisor_is_reported_not_trusted(clean, engine):
    cid = out("run", "-d", "busybox", "sleep", "100").strip()
    record = engine.containers.find(cid)
    os.kill(record.state.SupervisorPid, 9)
    time.sleep(0.2)
    [info] = json.loads(out("inspect", cid))
    assert info["State"]["Status"] == "dead" and "supervisor" in info["State"]["Error"]
    out("rm", "-f", cid)


def test_an_image_in_use_cannot_be_removed(clean):
    out("create", "--name", "user", "busybox", "true")
    r = md("rmi", "busybox")
    assert r.returncode == 1 and "being used by container" in r.stderr
    out("rm", "user")


def in_terminal(*args: str, typed: bytes = b"") -> tuple[bytes, int]:
    """Run the CLI on a terminal of its own, type ``typed``; (what it showed, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-m", "minidocker", *args])
    output = b""
    try:
        if typed:
            os.write(fd, typed)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if fd in ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the other side of the terminal has gone
                    break
                if not chunk:
                    break
                output += chunk
    finally:
        _, status = os.waitpid(pid, 0)
    return output, os.waitstatus_to_exitcode(status)


def test_interactive_tty_gives_a_usable_shell(clean):
    output, code = in_terminal("run", "--rm", "-it", "busybox", "sh", typed=b"echo $((6*7)); tty; exit 5\n")
    assert b"42" in output and b"/dev/pts/0" in output
    assert code == 5


def test_attach_to_a_detached_terminal_follows_its_size_and_lets_go_with_the_detach_keys(clean):
    from conftest import Terminal, check_a_shell_follows_its_window
    out("run", "-dit", "--name", "shell", "busybox", "sh")
    with Terminal([sys.executable, "-m", "minidocker", "attach", "shell"]) as term:
        term.say("echo $((6*7))\n", "42\r\n")
        term.type(b"\x10\x11")                  # Ctrl-P Ctrl-Q
        assert term.wait() == 0, term.output
    with Terminal([sys.executable, "-m", "minidocker", "attach", "shell"], rows=27, columns=91) as term:
        term.type("\n")                         # the prompt again: the shell was waiting
        check_a_shell_follows_its_window(term, 27, 91, code=5)
    out("rm", "shell")


def test_a_foreground_terminal_follows_the_window_size(clean):
    from conftest import Terminal, check_a_shell_follows_its_window
    with Terminal([sys.executable, "-m", "minidocker", "run", "--rm", "-it", "busybox", "sh"],
                  rows=26, columns=90) as term:
        check_a_shell_follows_its_window(term, 26, 90, code=4)


# -- exec ------------------------------------------------------------------------------------

def test_exec_joins_the_containers_namespaces_and_files(clean):
    out("run", "-d", "--name", "host1", "--hostname", "inside", "busybox", "sh", "-c",
        "echo marker > /tmp/m; sleep 100")
    time.sleep(0.2)
    r = md("exec", "host1", "sh", "-c", "echo $$; hostname; cat /tmp/m; ls /proc | grep -c '^[0-9]'")
    pid, hostname, marker, count = r.stdout.split()
    assert int(pid) > 1 and hostname == "inside" and marker == "marker" and int(count) <= 5
    r = md("exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", "host1", "sh", "-c", "id -u; pwd; echo $X")
    assert r.stdout.split() == ["65534", "/tmp", "1"]
    assert md("exec", "host1", "sh", "-c", "exit 4").returncode == 4
    missing = md("exec", "host1", "nosuch")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    status = md("exec", "host1", "cat", "/proc/self/status").stdout
    cap_eff = next(line for line in status.splitlines() if line.startswith("CapEff"))
    assert int(cap_eff.split()[1], 16) == DOCKER_DEFAULT_CAPS
    out("rm", "-f", "host1")
    gone = md("exec", "host1", "true")
    assert gone.returncode == 1 and "No such container" in gone.stderr


def test_exec_into_a_stopped_container_is_refused(clean):
    out("create", "--name", "idle", "busybox", "true")
    r = md("exec", "idle", "true")
    assert r.returncode == 1 and "is not running" in r.stderr
    out("rm", "idle")


# -- explain and injected faults ------------------------------------------------------------------

def test_explain_prints_each_kernel_step_with_its_reason(clean):
    r = run("--explain", "busybox", "true")
    assert r.returncode == 0
    lines = r.stderr.splitlines()
    expected = ["unshare(CLONE_NEWPID): the next child becomes PID 1 of a new PID namespace",
                "pivot_root('.', '.'): make the container's filesystem the root",
                "limit_capabilities(", "execve('/bin/true', ['true'])"]
    for text in expected:
        assert any(text in line for line in lines), text
    order = [next(i for i, line in enumerate(lines) if text in line) for text in expected]
    assert order == sorted(order)
    assert all(line.startswith(("[runtime  ]", "[container]")) for line in lines)
    # the device nodes of /dev are told apart from whiteouts, and /dev's links keep their targets
    assert any("mknod('null'" in line and "a device node (1, 3)" in line for line in lines)
    assert any("symlink('/proc/self/fd/1', 'stdout')" in line for line in lines)
    assert any(line.startswith("[runtime  ] fork():") for line in lines)


def _engine_with_fault(state_root, op, nth):
    from minidocker.engine import Engine
    from minidocker.kernel.tracing import TracingKernel
    kernel = TracingKernel(get_kernel())
    kernel.fail(op, nth)
    return Engine(state_root, kernel=kernel)


@pytest.mark.parametrize("op, nth", [("mount", 3), ("pivot_root", 1), ("make_dir", 2),
                                     ("write_file", 1), ("set_identity", 1)])
def test_a_failed_step_leaves_no_cgroup_and_a_clear_error(clean, state_root, op, nth):
    from minidocker.errors import MinidockerError
    from minidocker.runtime.supervisor import Attach
    engine = _engine_with_fault(state_root, op, nth)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with pytest.raises(MinidockerError, match="injected fault") as info:
            engine.run("busybox", ["true"], attach=Attach(None, devnull, devnull), auto_remove=True)
    finally:
        os.close(devnull)
    assert info.value.exit_code == 125
    assert engine.containers.all() == []
    assert [i.key for i in engine.snapshots.walk() if i.key.startswith("container-")] == []


def test_parallel_runs_with_one_name_give_it_to_exactly_one(clean):
    procs = [subprocess.Popen([sys.executable, "-m", "minidocker", "create", "--name", "solo",
                               "busybox", "true"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    results = [p.communicate() + (p.returncode,) for p in procs]
    assert sorted(r[2] for r in results) == [0] + [1] * 5
    assert all("already in use" in r[1] for r in results if r[2])
    out("rm", "solo")


def test_without_root_run_says_it_needs_root(busybox, state_root):
    from minidocker.engine import Engine
    from minidocker.kernel.linux import LinuxKernel

    class Unprivileged(LinuxKernel):
        privileged = property(lambda self: False)

    engine = Engine(state_root, kernel=Unprivileged())
    from minidocker.errors import MinidockerError
    with pytest.raises(MinidockerError) as info:
        engine.create("busybox", ["true"])
    assert info.value.exit_code == 125
    assert str(info.value).endswith("needs root; run minidocker as root, or "
                                    "MINIDOCKER_KERNEL=sim for the simulated kernel")
    assert engine.containers.all() == []


def test_exec_with_a_terminal_but_no_stdin(clean):
    # The terminal is set up after the process entered the container's mounts, where the
    # host's Python library is out of reach: everything it needs must be loaded before.
    out("run", "-d", "--name", "termbox", "busybox", "sleep", "100")
    output, code = in_terminal("exec", "-t", "termbox", "sh", "-c", "tty; exit 6")
    out("rm", "-f", "termbox")
    assert b"/dev/pts/" in output, output
    assert code == 6

"""The minidocker CLI on the simulated kernel: separate processes, one simulated machine.

A detached container lives in its supervisor (a real process); ``ps``,
``logs``, ``stop`` and ``kill`` run in other processes and reach it through
the state root, as they would reach a real container through the kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest


@pytest.fixture
def md(tmp_path):
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "state"), MINIDOCKER_KERNEL="sim")

    def run(*args, timeout=60):
        return subprocess.run([sys.executable, "-m", "minidocker", *args], env=env, text=True,
                              capture_output=True, timeout=timeout)
    run.root = env["MINIDOCKER_ROOT"]
    return run


def test_run_prints_the_container_hostname_with_a_built_in_image(md):
    r = md("run", "--rm", "busybox", "hostname")
    assert r.returncode == 0 and len(r.stdout.strip()) == 12
    assert md("ps", "-aq").stdout == ""      # --rm removed it


def test_a_detached_container_is_seen_logged_and_stopped_from_other_processes(md):
    cid = md("run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo started; sleep 100").stdout.strip()
    assert len(cid) == 64
    deadline = time.monotonic() + 10
    while "started" not in md("logs", "bg").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert md("logs", "bg").stdout == "started\n"
    assert "Up " in md("ps").stdout
    started = time.monotonic()
    assert md("stop", "-t", "1", "bg").returncode == 0
    # sh as PID 1 ignores SIGTERM (no handler), so stop waits out the timeout, then kills
    assert time.monotonic() - started >= 1
    [info] = json.loads(md("inspect", "bg").stdout)
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 137
    assert md("rm", "bg").returncode == 0


def test_kill_reaches_a_detached_container(md):
    md("run", "-d", "--name", "k", "busybox", "sh", "-c", "sleep 100; true")
    assert md("kill", "k").returncode == 0
    assert md("wait", "k").stdout.strip() == "137"
    md("rm", "k")


def test_exec_from_another_process_runs_in_the_container_through_its_supervisor(md):
    md("run", "-d", "--name", "x", "--hostname", "inside", "busybox", "sh", "-c",
       "echo marker > /tmp/m; sleep 100; true")
    deadline = time.monotonic() + 10
    while md("exec", "x", "cat", "/tmp/m").stdout != "marker\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    r = md("exec", "x", "sh", "-c", "hostname; cat /tmp/m; exit 3")
    assert (r.returncode, r.stdout) == (3, "inside\nmarker\n")
    r = subprocess.run([sys.executable, "-m", "minidocker", "exec", "-i", "x", "cat"], input="typed\n",
                       text=True, capture_output=True, timeout=30,
                       env=dict(os.environ, MINIDOCKER_ROOT=md.root, MINIDOCKER_KERNEL="sim"))
    assert r.stdout == "typed\n"
    top = md("top", "x").stdout.splitlines()
    assert top[0].split() == ["UID", "PID", "PPID", "CMD"]
    assert any(line.endswith("sh -c echo marker > /tmp/m; sleep 100; true") for line in top[1:])
    missing = md("exec", "x", "nosuch")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr
    md("rm", "-f", "x")
    assert md("exec", "x", "true").returncode != 0


def test_attach_reaches_a_detached_terminal_and_lets_go_with_the_detach_keys(md):
    from conftest import Terminal
    md("run", "-dit", "--name", "shell", "busybox", "sh")
    env = dict(os.environ, MINIDOCKER_ROOT=md.root, MINIDOCKER_KERNEL="sim")
    with Terminal([sys.executable, "-m", "minidocker", "attach", "shell"], env=env) as term:
        term.say("echo $((6*7))\n", "42\r\n")
        term.type(b"\x10\x11")                  # Ctrl-P Ctrl-Q
        assert term.wait() == 0, term.output
    with Terminal([sys.executable, "-m", "minidocker", "attach", "shell"], env=env) as term:
        term.type("exit 5\n")
        assert term.wait() == 5, term.output
    r = md("attach", "shell")
    assert r.returncode == 1
    assert r.stderr == "minidocker: You cannot attach to a stopped container, start it first\n"
    md("rm", "shell")


def test_attach_without_a_terminal_passes_stdin_and_shows_output_from_now_on(md, tmp_path):
    md("run", "-di", "--name", "reader", "busybox", "sh", "-c",
       "echo before; while read l; do echo got $l; done; echo gone >&2; exit 7")
    deadline = time.monotonic() + 10
    while "before" not in md("logs", "reader").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    env = dict(os.environ, MINIDOCKER_ROOT=md.root, MINIDOCKER_KERNEL="sim")
    r = subprocess.run([sys.executable, "-m", "minidocker", "attach", "reader"], input="a\nb\n",
                       env=env, text=True, capture_output=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (7, "got a\ngot b\n", "gone\n")
    md("rm", "reader")


def test_an_unknown_kernel_name_is_one_clear_line(md, tmp_path):
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "s"), MINIDOCKER_KERNEL="bsd")
    r = subprocess.run([sys.executable, "-m", "minidocker", "ps"], env=env, text=True,
                       capture_output=True)
    assert r.returncode != 0
    assert r.stderr.strip() == "minidocker: unknown MINIDOCKER_KERNEL 'bsd': choose linux or sim"


def test_an_interactive_terminal_gives_a_usable_shell(tmp_path, monkeypatch):
    import pty
    import select
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path / "state"))
    monkeypatch.setenv("MINIDOCKER_KERNEL", "sim")
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-m", "minidocker", "run", "--rm", "-it",
                                  "busybox", "sh"])
    output = b""
    os.write(fd, b"echo $((6*7)); hostname | wc -c; exit 5\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if fd in ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 5
    assert b"/ # " in output            # the prompt of an interactive shell on a terminal
    assert b"42" in output and b"13" in output


def test_viz_namespaces_draws_a_container_another_process_runs(md):
    md("run", "-d", "--name", "drawn", "--hostname", "inside", "busybox", "sleep", "100")
    r = md("viz", "namespaces", "drawn")
    assert r.returncode == 0, r.stderr
    # its PID 1 (sleep) with its host PID, its own root overlay and /proc, its hostname
    for text in ("sleep 100", "PID here", "overlay", "/proc", "hostname inside"):
        assert text in r.stdout, text
    md("rm", "-f", "drawn")
    r = md("viz", "namespaces", "drawn")
    assert r.returncode == 1 and "No such container" in r.stderr


def test_a_container_childs_exit_does_not_unrecord_another_processs_pid(tmp_path):
    """Simulated PIDs that other processes must signal are recorded under the state root;
    a process that never recorded a PID (a container's child) must not erase the record
    another minidocker process made for the same number, or `stop` and `rm -f` of that
    container would find "No such process"."""
    import threading
    from minidocker.kernel.sim.kernel import SimKernel
    a, b = SimKernel(), SimKernel()       # two minidocker processes on one state root
    a.bind_state_root(tmp_path)
    b.bind_state_root(tmp_path)
    go, done = threading.Event(), threading.Event()

    def container():                      # b's container: 7000, recorded
        go.wait(10)
        b.waitpid(b.fork(lambda: b.fs._exit(0)))   # its child: 7001 in b, not recorded
        b.fs._exit(0)

    def detached():                       # meanwhile a's detached container: 7001, recorded
        done.wait(10)
        a.fs._exit(0)

    inside_b = b.fork(container)
    hosted = a.fork(detached)
    assert (inside_b, hosted) == (7000, 7001)
    go.set()
    b.waitpid(inside_b)
    try:
        assert a.registry.host_of(hosted) is not None
    finally:
        done.set()
        a.waitpid(hosted)
    assert a.registry.host_of(hosted) is None      # gone with its process


@pytest.fixture
def as_nobody():
    """Run the CLI as the unprivileged user ``nobody`` (no capabilities at all), with no
    MINIDOCKER_KERNEL: what a learner without root gets. The interpreter lives under
    /root (mode 700) here, so each call runs in a private mount namespace where /root is
    a traversable stand-in holding just the interpreter's tree."""
    import shlex
    import shutil
    import tempfile
    base = tempfile.mkdtemp(prefix="md-nobody-", dir="/tmp")
    home, fake = os.path.join(base, "home"), os.path.join(base, "fakeroot")
    os.makedirs(os.path.join(fake, ".pyenv"))
    os.mkdir(home)
    os.chmod(base, 0o755)
    os.chmod(fake, 0o711)
    os.chown(home, 65534, 65534)
    pyenv = "/root/.pyenv"
    setup = (f"mount --bind {pyenv} {fake}/.pyenv && mount --rbind {fake} /root && "
             if os.path.isdir(pyenv) else "")

    def run(*args, cwd=None, timeout=120, user="--reuid 65534 --regid 65534 --clear-groups"):
        env = ("env -i PATH=/usr/bin:/bin HOME={h} MINIDOCKER_ROOT={h}/state "
               "PYTHONDONTWRITEBYTECODE=1").format(h=home)
        command = (f"{setup}cd {shlex.quote(cwd or home)} && exec setpriv {user} "
                   f"--inh-caps=-all --bounding-set=-all {env} {sys.executable} "
                   f"-m minidocker {' '.join(shlex.quote(a) for a in args)}")
        return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", command],
                              text=True, capture_output=True, timeout=timeout)
    # Where the interpreter or the checkout sit in a directory nobody may enter, stay
    # uid 0 without any capability instead: just as unable to mount, chown or mknod.
    if run("--version").returncode != 0:
        run.__defaults__ = (None, 120, "")
    run.home = home
    yield run
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.root   # root only to set up the unprivileged user's view; the CLI runs as nobody
def test_without_root_the_cli_picks_the_simulator_and_every_verb_works(as_nobody):
    r = as_nobody("run", "--rm", "busybox", "sh", "-c", "id -u; hostname; ip route")
    assert r.returncode == 0, r.stderr
    assert "using the simulated kernel (not root)" in r.stderr or \
        "using the simulated kernel (root without CAP_SYS_ADMIN" in r.stderr
    uid, hostname, route = r.stdout.splitlines()[:3]
    assert uid == "0" and len(hostname) == 12 and route.startswith("default via 10.66.0.1")
    cid = as_nobody("run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo up; sleep 60").stdout.strip()
    assert len(cid) == 64
    deadline = time.monotonic() + 10
    while as_nobody("logs", "bg").stdout != "up\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert as_nobody("logs", "bg").stdout == "up\n"
    assert "bg" in as_nobody("ps").stdout
    assert json.loads(as_nobody("inspect", "bg").stdout)[0]["State"]["Running"] is True
    assert as_nobody("rm", "-f", "bg").returncode == 0
    context = os.path.join(as_nobody.home, "ctx")
    os.mkdir(context)
    with open(os.path.join(context, "Dockerfile"), "w") as f:
        f.write("FROM busybox\nRUN echo built > /built\nCMD [\"cat\", \"/built\"]\n")
    os.chmod(context, 0o755)
    first = as_nobody("build", "-t", "mine", context)
    assert first.returncode == 0, first.stderr
    again = as_nobody("build", "-t", "mine", context)
    assert "CACHED" in again.stdout + again.stderr
    assert as_nobody("run", "--rm", "mine").stdout == "built\n"
    assert "mine" in as_nobody("images").stdout
    assert "echo built > /built" in as_nobody("history", "mine").stdout


@pytest.mark.root
def test_root_without_capabilities_gets_the_simulator_too(tmp_path):
    """uid 0 in an unprivileged container cannot mount: the CLI must not pick the real kernel."""
    env = {k: v for k, v in os.environ.items() if k != "MINIDOCKER_KERNEL"}
    env["MINIDOCKER_ROOT"] = str(tmp_path / "state")
    r = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-m",
                        "minidocker", "run", "--rm", "busybox", "hostname"],
                       env=env, text=True, capture_output=True, timeout=60)
    assert r.returncode == 0 and len(r.stdout.strip()) == 12, r.stderr
    assert "using the simulated kernel (root without CAP_SYS_ADMIN" in r.stderr

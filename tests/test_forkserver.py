"""The daemon's fork server (``engine/forkserver.py``): containers started through the API
have a supervisor it forks, not a fresh ``minidocker start`` interpreter."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import start_daemon


class _Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.socket_path)


class Api:
    """Raw Engine API calls over the daemon's socket, one connection per caller."""

    def __init__(self, sock, root):
        self.conn = _Unix(str(sock))
        self.root = root   # the daemon's state root

    def __call__(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = self.conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw

    def run(self, cmd, **config):
        """create + start: (start status, start body, container ID)."""
        status, body = self("POST", "/containers/create", {"Image": "busybox", "Cmd": cmd, **config})
        assert status == 201, body
        status, started = self("POST", f"/containers/{body['Id']}/start")
        return status, started, body["Id"]

    def wait(self, cid):
        status, body = self("POST", f"/containers/{cid}/wait")
        assert status == 200, body
        return body["StatusCode"]

    def logs(self, cid) -> dict[str, bytes]:
        status, raw = self("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
        assert status == 200, raw
        out = {"stdout": b"", "stderr": b""}
        while raw:
            kind, size = struct.unpack(">BxxxL", raw[:8])
            out["stdout" if kind == 1 else "stderr"] += raw[8:8 + size]
            raw = raw[8 + size:]
        return out

    def inspect(self, cid):
        return self("GET", f"/containers/{cid}/json")[1]


def _daemon(tmp_path, root, env=None):
    """A daemon, its API, and its fork server's PID (from the line it prints first)."""
    sock = tmp_path / "md.sock"
    proc = start_daemon(sock, env)
    first = proc.stdout.readline()
    found = re.search(r"fork server \(PID (\d+)\)", first)
    assert found, first
    return proc, Api(sock, root), int(found.group(1))


def _stop(proc):
    proc.terminate()
    proc.wait(timeout=60)
    return proc.stdout.read()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def _session(pid: int) -> int:
    """Its session's ID; 0 when it has gone since it was listed (and been reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[3])
    except (FileNotFoundError, ProcessLookupError):
        return 0


def _supervisors(server: int) -> list[int]:
    """The server's children in a session of their own: supervisors (its sub-server for
    bridge networks stays in its session)."""
    return [pid for pid in _children(server) if _session(pid) == pid]


def _alive(pid: int) -> bool:
    """Running (a zombie has ended: it only waits for its parent, or init, to reap it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _supervisor(api, cid) -> int:
    from minidocker.runtime.state import Containers
    return Containers(api.root / "containers").load(cid).state.SupervisorPid


@pytest.fixture
def real_daemon(busybox, state_root, tmp_path):
    proc, api, server = _daemon(tmp_path, state_root)
    yield api, server, proc
    if proc.poll() is None:
        _stop(proc)


@pytest.mark.root
def test_the_fork_server_starts_containers_with_their_exit_codes_and_logs(real_daemon):
    api, server, _ = real_daemon
    status, body, cid = api.run(["sh", "-c", "echo to out; echo to err >&2; exit 3"],
                                HostConfig={"NetworkMode": "none"})
    assert status == 204, body
    assert api.wait(cid) == 3
    assert api.logs(cid) == {"stdout": b"to out\n", "stderr": b"to err\n"}
    status, body, cid = api.run(["sleep", "60"])   # the default bridge network
    assert status == 204, body
    assert "minidocker.engine.forkserver" in _cmdline(_supervisor(api, cid))
    assert api("POST", f"/containers/{cid}/start")[0] == 304
    assert api("DELETE", f"/containers/{cid}?force=1")[0] == 204


@pytest.mark.root
def test_twenty_concurrent_starts_each_get_their_own_exit_code_and_logs(real_daemon):
    api, _, _ = real_daemon
    def one(i):
        mine = Api(api.conn.socket_path, api.root)
        status, body, cid = mine.run(["sh", "-c", f"echo out-{i}; echo err-{i} >&2; exit {i % 5}"],
                                     HostConfig={"NetworkMode": "none"})
        assert status == 204, body
        return mine.wait(cid), mine.logs(cid)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert results == [(i % 5, {"stdout": f"out-{i}\n".encode(), "stderr": f"err-{i}\n".encode()})
                       for i in range(20)]


@pytest.mark.root
def test_a_start_that_fails_answers_with_docker_status_and_the_reason(real_daemon):
    api, _, _ = real_daemon
    status, body, cid = api.run(["true"], User="nosuchuser")
    assert (status, body["message"]) == \
        (400, "unable to find user nosuchuser: no matching entries in passwd file")
    assert api.inspect(cid)["State"]["Status"] == "exited"
    status, body, cid = api.run(["nosuchcommand"])
    assert (status, body["message"]) == \
        (400, 'exec: "nosuchcommand": executable file not found in $PATH')
    assert api.inspect(cid)["State"]["ExitCode"] == 127


@pytest.mark.root
def test_the_daemon_falls_back_to_a_start_child_when_the_fork_server_was_killed(real_daemon):
    api, server, proc = real_daemon
    os.kill(server, signal.SIGKILL)
    for i in range(2):
        status, body, cid = api.run(["sh", "-c", f"echo fallback-{i}; exit {i + 5}"])
        assert status == 204, body
        assert api.wait(cid) == i + 5
        assert api.logs(cid)["stdout"] == f"fallback-{i}\n".encode()
    status, body, cid = api.run(["true"], User="nosuchuser")
    # `minidocker start` exits 1 on any failure, so this path answers 500 where the fork
    # server passes on the start's own code (125, 126, 127: 400)
    assert status == 500 and "unable to find user nosuchuser" in body["message"]
    status, body, cid = api.run(["sleep", "60"])
    assert "minidocker start" in _cmdline(_supervisor(api, cid))
    api("DELETE", f"/containers/{cid}?force=1")
    out = _stop(proc)
    assert out.count("the fork server is gone") == 1, out


@pytest.mark.root
def test_no_supervisor_zombie_or_fork_server_is_left_behind(real_daemon):
    api, server, proc = real_daemon
    cids = [api.run(["true"], HostConfig={"NetworkMode": "none"})[2] for _ in range(5)]
    for cid in cids:
        assert api.wait(cid) == 0
    deadline = time.monotonic() + 10
    while _supervisors(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _supervisors(server) == []   # every supervisor reaped
    assert len(_children(server)) == 1  # what is left: the sub-server for bridge networks
    _stop(proc)
    assert not _alive(server)

    def servers():
        return [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                if "minidocker.engine.forkserver" in _cmdline(pid) and str(api.root) in _cmdline(pid)
                and _alive(pid)]
    while servers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert servers() == []


@pytest.mark.root
def test_bridge_starts_come_from_the_sub_server_that_has_pyroute2_and_others_from_the_lean_one(real_daemon):
    api, server, _ = real_daemon
    deadline = time.monotonic() + 20   # the server forks it once it has imported the runtime
    while not _children(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    [sub] = [pid for pid in _children(server) if pid not in _supervisors(server)]
    status, body, none_cid = api.run(["sleep", "60"], HostConfig={"NetworkMode": "none"})
    assert status == 204, body
    status, body, bridge_cid = api.run(["sleep", "60"])
    assert status == 204, body
    try:
        assert _supervisor(api, none_cid) in _supervisors(server)
        assert _supervisor(api, bridge_cid) in _supervisors(sub)
        assert api.inspect(bridge_cid)["NetworkSettings"]["IPAddress"].startswith("10.66.")
    finally:
        for cid in (none_cid, bridge_cid):
            api("DELETE", f"/containers/{cid}?force=1")


@pytest.mark.root
def test_running_containers_outlive_the_daemon_and_do_not_hold_its_fork_server(real_daemon):
    api, server, proc = real_daemon
    status, body, cid = api.run(["sleep", "60"], HostConfig={"NetworkMode": "none"})
    assert status == 204, body
    supervisor = _supervisor(api, cid)
    assert _supervisors(server) == [supervisor]   # the server's child is the supervisor
    began = time.monotonic()
    _stop(proc)
    while _alive(server) and time.monotonic() - began < 20:
        time.sleep(0.05)
    assert not _alive(server)
    assert time.monotonic() - began < 10      # it did not wait for the running container
    try:
        assert _alive(supervisor)
        assert api.root.joinpath("containers", cid).is_dir()
    finally:
        subprocess.run([sys.executable, "-m", "minidocker", "rm", "-f", cid], check=True,
                       env=dict(os.environ, MINIDOCKER_ROOT=str(api.root)), capture_output=True)
    assert not _alive(supervisor)


def test_detached_containers_on_the_simulated_kernel_start_through_the_fork_server(tmp_path):
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "state"), MINIDOCKER_KERNEL="sim")
    proc, api, server = _daemon(tmp_path, tmp_path / "state", env)
    try:
        status, body, cid = api.run(["sh", "-c", "echo simulated; exit 2"])
        assert status == 204, body
        assert api.wait(cid) == 2
        assert api.logs(cid)["stdout"] == b"simulated\n"
        status, body, cid = api.run(["sleep", "60"])
        assert status == 204, body
        assert "minidocker.engine.forkserver" in _cmdline(_supervisor(api, cid))
        assert api.inspect(cid)["State"]["Running"] is True
        assert api("POST", f"/containers/{cid}/kill")[0] == 204
        assert api.wait(cid) == 137
    finally:
        out = _stop(proc)
    assert not _alive(server), out


def test_the_fork_server_ends_when_the_daemon_is_killed(tmp_path):
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "state"), MINIDOCKER_KERNEL="sim")
    proc, api, server = _daemon(tmp_path, tmp_path / "state", env)
    assert api.run(["true"])[0] == 204
    proc.kill()   # no clean stop: only its closed socket tells the server
    proc.wait(timeout=20)
    deadline = time.monotonic() + 20
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(server)


def test_the_fork_server_imports_the_daemons_minidocker_not_one_in_the_working_directory(tmp_path):
    # `minidocker daemon` run from a checkout of another minidocker: `python -m` in the
    # fork server would import that one (the working directory comes first on its path)
    shadow = tmp_path / "elsewhere" / "minidocker"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('the wrong minidocker')\n")
    script = tmp_path / "bin" / "minidocker-daemon"
    script.parent.mkdir()
    script.write_text("import sys\nfrom minidocker.cli import main\nsys.exit(main())\n")
    sock = tmp_path / "md.sock"
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "state"), MINIDOCKER_KERNEL="sim",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.Popen([sys.executable, str(script), "daemon", "-H", f"unix://{sock}"], env=env,
                            cwd=shadow.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.05)
        api = Api(sock, tmp_path / "state")
        status, body, cid = api.run(["sleep", "60"])
        assert status == 204, body
        assert "minidocker.engine.forkserver" in _cmdline(_supervisor(api, cid))
        api("DELETE", f"/containers/{cid}?force=1")
    finally:
        out = _stop(proc)
    assert "the fork server is gone" not in out and "wrong minidocker" not in out, out


def test_priming_cgroup_moves_is_skipped_on_the_simulator_and_after_a_failure(monkeypatch):
    from minidocker.engine import forkserver
    monkeypatch.setenv("MINIDOCKER_KERNEL", "sim")
    forks = forkserver.ForkServer()

    def settled():
        deadline = time.monotonic() + 10
        while forks._keeper is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        return forks._keeper is None

    forks.prime()
    assert settled() and forks._primer is forkserver._nothing
    forks.prime()   # nothing to do: no thread at all
    assert forks._keeper is None

    def broken():
        raise OSError("no cgroupfs here")
    forks._primer = broken
    forks.prime()
    assert settled() and forks._primer is forkserver._nothing


def test_priming_goes_on_for_a_while_after_the_last_request_then_stops(monkeypatch):
    from minidocker.engine import forkserver
    monkeypatch.setattr(forkserver, "KEEP_WARM", 0.3)
    monkeypatch.setattr(forkserver, "WARM_EVERY", 0.01)
    forks = forkserver.ForkServer()
    moves = []
    forks._primer = lambda: moves.append(time.monotonic())
    began = time.monotonic()
    forks.prime()
    time.sleep(0.15)
    forks.prime()   # a second request: the same keeper, a later deadline
    deadline = time.monotonic() + 10
    while forks._keeper is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert forks._keeper is None
    assert moves[-1] - began >= 0.4          # kept on to 0.3 s after the second request
    assert len(moves) >= 10                  # every WARM_EVERY meanwhile, not once
    count = len(moves)
    time.sleep(0.1)
    assert len(moves) == count               # and then stopped
    forks.prime()
    deadline = time.monotonic() + 10
    while len(moves) == count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(moves) > count                # a later request starts it again

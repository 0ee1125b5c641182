"""`minidocker daemon`: the Docker Engine API, driven by the real docker CLI and docker-py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from conftest import (EARLY, Terminal, check_a_shell_follows_its_window,
                      check_what_came_before_the_attach_is_shown, start_daemon,
                      stop_daemon)

pytestmark = pytest.mark.root


@pytest.fixture
def daemon(busybox, state_root, tmp_path):
    sock = tmp_path / "md.sock"
    proc = start_daemon(sock)
    yield f"unix://{sock}"
    stop_daemon(proc)
    assert not sock.exists()  # the socket is removed on a clean stop


def docker(host, *args, input=None, timeout=60):
    return subprocess.run(["docker", *args], capture_output=True, text=True, input=input,
                          timeout=timeout, env=dict(os.environ, DOCKER_HOST=host))


def http(host, method, path, body=None) -> tuple[int, dict | list | str]:
    """A raw HTTP/1.1 request over the unix socket, for error cases the clients hide."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(host[len("unix://"):])
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
    raw = b""
    while chunk := s.recv(65536):
        raw += chunk
    s.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode(errors="replace")


@pytest.mark.tools("docker")
def test_the_docker_cli_sees_minidocker(daemon):
    v = docker(daemon, "version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}")
    assert v.returncode == 0 and v.stdout.strip() == "1.47 linux", v.stderr
    assert "busybox" in docker(daemon, "images").stdout
    assert docker(daemon, "info").returncode == 0
    history = docker(daemon, "history", "busybox").stdout
    assert "ADD file:" in history
    [image] = json.loads(docker(daemon, "inspect", "busybox").stdout)
    assert image["RepoTags"] == ["busybox:latest"]


@pytest.mark.tools("docker")
def test_docker_run_prints_output_and_propagates_the_exit_code(daemon):
    r = docker(daemon, "run", "--rm", "busybox", "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    r = docker(daemon, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert docker(daemon, "ps", "-aq").stdout == ""  # --rm removed both


@pytest.mark.tools("docker")
def test_detached_run_logs_stop_and_rm(daemon):
    cid = docker(daemon, "run", "-d", "--name", "web", "busybox", "sh", "-c",
                 "echo started; trap 'exit 0' TERM; while :; do sleep 0.1; done").stdout.strip()
    assert len(cid) == 64
    time.sleep(0.5)
    assert "web" in docker(daemon, "ps").stdout
    assert docker(daemon, "logs", "web").stdout == "started\n"
    assert docker(daemon, "stop", "web").returncode == 0
    assert docker(daemon, "wait", "web").stdout.strip() == "0"
    assert docker(daemon, "rm", "web").returncode == 0
    gone = docker(daemon, "rm", "web")
    assert gone.returncode == 1
    assert gone.stderr.strip() == "Error response from daemon: No such container: web"  # not raw JSON


@pytest.mark.tools("docker")
def test_pull_says_clearly_that_it_is_not_supported(daemon):
    r = docker(daemon, "pull", "alpine")
    assert r.returncode == 1 and "not supported" in r.stderr


def test_docker_py_drives_the_daemon(daemon):
    import docker as docker_py  # a test dependency (pyproject's "test" extra)
    client = docker_py.DockerClient(base_url=daemon)
    assert client.ping() is True
    assert client.version()["ApiVersion"] == "1.47"
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    assert any("busybox:latest" in i.tags for i in client.images.list())
    assert client.containers.list() == []


def test_api_errors_are_docker_shaped(daemon):
    assert http(daemon, "GET", "/containers/nope/json") == (404, {"message": "No such container: nope"})
    status, body = http(daemon, "POST", "/containers/create", b"{not json")
    assert status == 400 and "invalid JSON" in body["message"]
    status, body = http(daemon, "POST", "/containers/create", {"Image": "nosuch"})
    assert status == 404 and body["message"] == "No such image: nosuch"
    status, body = http(daemon, "POST", "/containers/create", {"Image": 7})
    assert status == 400
    deep = "[" * 100000 + "]" * 100000
    status, body = http(daemon, "POST", "/containers/create", deep.encode())
    assert status == 400
    status, body = http(daemon, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "60"]})
    assert status == 201
    cid = body["Id"]
    assert http(daemon, "POST", f"/v1.47/containers/{cid}/start")[0] == 204
    assert http(daemon, "POST", f"/containers/{cid}/start")[0] == 304
    status, body = http(daemon, "DELETE", f"/containers/{cid}")
    assert status == 409 and "running" in body["message"]
    assert http(daemon, "DELETE", f"/containers/{cid}?force=1")[0] == 204
    status, _ = http(daemon, "HEAD", "/_ping")
    assert status == 200


@pytest.mark.tools("docker")
def test_docker_build_through_the_legacy_builder_api(daemon, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY hello.txt /\nCMD [\"cat\", \"/hello.txt\"]\n")
    (ctx / "hello.txt").write_text("built by minidocker\n")
    iid = tmp_path / "iid"
    env_build = ["build", "-t", "viaapi:1", "--iidfile", str(iid), str(ctx)]
    r = subprocess.run(["docker", *env_build], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, DOCKER_HOST=daemon, DOCKER_BUILDKIT="0"))
    assert r.returncode == 0, r.stderr
    assert "Successfully tagged viaapi:1" in r.stdout and iid.read_text().startswith("sha256:")
    assert docker(daemon, "run", "--rm", "viaapi:1").stdout == "built by minidocker\n"
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    r = subprocess.run(["docker", "build", str(ctx)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, DOCKER_HOST=daemon, DOCKER_BUILDKIT="0"))
    assert r.returncode == 1 and "returned a non-zero code: 3" in r.stderr


def test_docker_py_builds_an_image(daemon, tmp_path):
    import docker as docker_py
    (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL built=by-docker-py\n")
    client = docker_py.DockerClient(base_url=daemon)
    image, logs = client.images.build(path=str(tmp_path), tag="pybuilt:1")
    assert image.labels == {"built": "by-docker-py"}
    assert any("stream" in line for line in logs)


def test_fifty_parallel_runs_get_their_own_output_and_exit_codes(daemon):
    import docker as docker_py
    from concurrent.futures import ThreadPoolExecutor
    client = docker_py.DockerClient(base_url=daemon, timeout=300)

    def one(i: int):
        c = client.containers.run("busybox", ["sh", "-c", f"echo run-{i}; exit {i % 7}"], detach=True)
        code = c.wait()["StatusCode"]
        out = c.logs()
        c.remove()
        return i, code, out

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(50)))
    assert [(code, out) for _, code, out in results] == \
        [(i % 7, f"run-{i}\n".encode()) for i in range(50)]
    assert client.containers.list(all=True) == []


@pytest.mark.tools("docker")
def test_docker_run_with_stdin(daemon):
    r = docker(daemon, "run", "-i", "--rm", "busybox", "sh", "-c", "tr a-z A-Z; echo end",
               input="hello stdin\n")
    assert (r.returncode, r.stdout) == (0, "HELLO STDIN\nend\n"), r.stderr


@pytest.mark.tools("docker")
def test_docker_exec_and_restart(daemon):
    assert docker(daemon, "run", "-d", "--name", "box", "busybox", "sleep", "100").returncode == 0
    r = docker(daemon, "exec", "box", "sh", "-c", "echo in exec; exit 4")
    assert (r.returncode, r.stdout) == (4, "in exec\n")
    r = docker(daemon, "exec", "-i", "box", "cat", input="through stdin\n")
    assert (r.returncode, r.stdout) == (0, "through stdin\n")
    assert docker(daemon, "restart", "-t", "1", "box").returncode == 0
    assert "Up" in docker(daemon, "ps", "--format", "{{.Status}}").stdout
    assert docker(daemon, "rm", "-f", "box").returncode == 0


def test_containers_survive_a_daemon_restart_and_dead_ones_are_cleaned_up(busybox, engine, tmp_path):
    sock = tmp_path / "r.sock"
    daemons = []

    def start_daemon():
        proc = subprocess.Popen([sys.executable, "-m", "minidocker", "daemon", "-H", f"unix://{sock}"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        daemons.append(proc)
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        return proc

    try:
        _survive_a_restart(engine, f"unix://{sock}", start_daemon)
    finally:   # no daemon outlives the test, whatever failed
        for proc in daemons:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _survive_a_restart(engine, host, start_daemon):
    first = start_daemon()
    status, body = http(host, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "100"]})
    survivor = body["Id"]
    http(host, "POST", f"/containers/{survivor}/start")
    status, body = http(host, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "100"]})
    victim = body["Id"]
    http(host, "POST", f"/containers/{victim}/start")
    first.terminate()
    first.wait(timeout=20)
    os.kill(engine.containers.find(victim).state.SupervisorPid, 9)  # a crash while the daemon is down
    # and what a daemon killed in the middle of its background removals leaves
    trashes = [engine.containers.root / f".trash-{'f' * 64}-0000", engine.snapshots.root / ".trash-99-0000"]
    for trash in trashes:
        (trash / "fs" / "etc").mkdir(parents=True)
        (trash / "fs" / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    time.sleep(0.2)
    second = start_daemon()
    try:
        status, info = http(host, "GET", f"/containers/{survivor}/json")
        assert info["State"]["Running"] is True
        status, info = http(host, "GET", f"/containers/{victim}/json")
        assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 255
        assert "supervisor disappeared" in info["State"]["Error"]
        from minidocker.runtime import cgroups
        from minidocker.kernel import get_kernel
        assert cgroups.manager(get_kernel(), victim).pids() == []
    finally:
        for cid in (survivor, victim):
            http(host, "DELETE", f"/containers/{cid}?force=1")
        second.terminate()
        second.wait(timeout=20)
    log = second.stdout.read()
    assert "cleaned up and marked exited" in log
    for trash in trashes:
        assert f"{trash}: a removal cut short, finished" in log
    # the removals it left to its thread were done before it stopped
    for directory in (engine.containers.root, engine.snapshots.root):
        assert [n for n in os.listdir(directory) if n.startswith(".trash-")] == []
    assert [n for n in os.listdir(engine.containers.root) if not n.startswith(".")] == []


@pytest.mark.tools("docker")
def test_docker_save_and_load_through_the_api(daemon, tmp_path):
    archive = tmp_path / "bb.tar"
    [before] = json.loads(docker(daemon, "inspect", "busybox").stdout)
    assert docker(daemon, "save", "busybox", "-o", str(archive)).returncode == 0
    assert docker(daemon, "rmi", "busybox").returncode == 0
    r = docker(daemon, "load", "-i", str(archive))
    assert (r.returncode, r.stdout.strip()) == (0, "Loaded image: busybox:latest")
    [after] = json.loads(docker(daemon, "inspect", "busybox").stdout)
    assert after["Id"] == before["Id"]
    missing = docker(daemon, "save", "nosuch", "-o", str(tmp_path / "x.tar"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error response from daemon: No such image: nosuch:latest"


@pytest.mark.tools("docker")
def test_docker_exec_with_a_terminal(daemon):
    assert docker(daemon, "run", "-d", "--name", "term", "busybox", "sleep", "100").returncode == 0
    r = docker(daemon, "exec", "-t", "term", "sh", "-c", "tty; exit 6")
    assert r.returncode == 6 and r.stdout.startswith("/dev/pts/"), (r.stdout, r.stderr)
    assert docker(daemon, "rm", "-f", "term").returncode == 0


def docker_on_a_terminal(host, *args, rows=24, columns=80) -> Terminal:
    return Terminal(["docker", *args], env=dict(os.environ, DOCKER_HOST=host), rows=rows, columns=columns)


@pytest.mark.tools("docker")
def test_docker_run_it_gives_a_shell_on_a_terminal_of_the_clients_size(daemon):
    # attach, start, then POST /containers/{id}/resize now and on every SIGWINCH
    with docker_on_a_terminal(daemon, "run", "--rm", "-it", "busybox", "sh", rows=30, columns=100) as term:
        check_a_shell_follows_its_window(term, 30, 100, code=3)
    assert docker(daemon, "ps", "-aq").stdout == ""


@pytest.mark.tools("docker")
def test_docker_run_it_shows_what_the_container_said_before_the_client_reached_it(daemon):
    # docker run attaches before the start; the container's terminal exists only after it
    with docker_on_a_terminal(daemon, "run", "--rm", "-it", "busybox", "sh", "-c", EARLY) as term:
        check_what_came_before_the_attach_is_shown(term)


@pytest.mark.tools("docker")
def test_docker_attach_to_a_running_terminal_container_detach_and_attach_again(daemon):
    assert docker(daemon, "run", "-dit", "--name", "shell", "busybox", "sh").returncode == 0
    with docker_on_a_terminal(daemon, "attach", "shell") as term:
        term.say("echo $((6*7))\n", "42\r\n")
        term.type(b"\x10\x11")                  # Ctrl-P Ctrl-Q: the client lets go, the shell runs on
        assert term.wait() == 1 and b"read escape sequence" in term.output
    assert docker(daemon, "inspect", "-f", "{{.State.Running}}", "shell").stdout == "true\n"
    with docker_on_a_terminal(daemon, "attach", "shell") as term:
        term.say("echo again; exit 5\n", "again\r\n")
        assert term.wait() == 5, term.output
    assert docker(daemon, "rm", "shell").returncode == 0


@pytest.mark.tools("docker")
def test_docker_exec_it_follows_the_clients_terminal_size(daemon):
    # POST /exec/{id}/resize: the daemon's terminal for the exec, then the container's
    assert docker(daemon, "run", "-d", "--name", "term", "busybox", "sleep", "100").returncode == 0
    with docker_on_a_terminal(daemon, "exec", "-it", "term", "sh", rows=31, columns=101) as term:
        check_a_shell_follows_its_window(term, 31, 101, code=7)
    assert docker(daemon, "rm", "-f", "term").returncode == 0


def test_minidocker_run_it_through_the_daemon_follows_the_terminal_size(daemon):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDOCKER_")}
    with Terminal([sys.executable, "-m", "minidocker", "-H", daemon, "run", "--rm", "-it", "busybox", "sh"],
                  env=env, rows=33, columns=99) as term:
        check_a_shell_follows_its_window(term, 33, 99, code=3)


def test_resize_errors_are_docker_shaped(daemon):
    assert http(daemon, "POST", "/containers/nope/resize?h=1&w=1") == \
        (404, {"message": "No such container: nope"})
    status, body = http(daemon, "POST", "/containers/create",
                        {"Image": "busybox", "Cmd": ["sh"], "Tty": True, "OpenStdin": True})
    cid = body["Id"]
    status, body = http(daemon, "POST", f"/containers/{cid}/resize?h=tall&w=1")
    assert status == 400 and "whole numbers" in body["message"]
    status, body = http(daemon, "POST", f"/containers/{cid}/resize?h=24&w=80")
    assert status == 409 and "is not running" in body["message"]
    assert http(daemon, "POST", f"/containers/{cid}/start")[0] == 204
    assert http(daemon, "POST", f"/containers/{cid}/resize?h=24&w=80")[0] == 200
    status, body = http(daemon, "POST", f"/containers/{cid}/resize?h=70000&w=80")
    assert status == 400 and "not a terminal size" in body["message"]
    assert http(daemon, "POST", "/exec/nope/resize?h=1&w=1")[0] == 404
    assert http(daemon, "DELETE", f"/containers/{cid}?force=1")[0] == 204

"""``minidocker -H unix:///…`` (or ``MINIDOCKER_HOST``): the CLI through the daemon's Engine API.

The daemon runs on the simulated kernel here, so no root is needed; the CLI
never touches the state root itself, only the socket.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import (EARLY, Terminal, check_what_came_before_the_attach_is_shown, start_daemon,
                      stop_daemon)


@pytest.fixture
def daemon(tmp_path):
    sock = tmp_path / "md.sock"
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "state"), MINIDOCKER_KERNEL="sim")
    proc = start_daemon(sock, env)
    yield f"unix://{sock}"
    stop_daemon(proc)
    # A test that failed half-way may leave a container running: its supervisor outlives
    # the daemon (as it should), so end it here, through the local engine.
    run = lambda *args: subprocess.run([sys.executable, "-m", "minidocker", *args], env=env,  # noqa: E731
                                       text=True, capture_output=True, timeout=60)
    for cid in run("ps", "-aq").stdout.split():
        run("rm", "-f", cid)


def cli(host, *args, env_host=False, timeout=60):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDOCKER_")}
    env["MINIDOCKER_ROOT"] = "/nonexistent/the-cli-must-not-use-it"
    argv = list(args) if env_host else ["-H", host, *args]
    if env_host:
        env["MINIDOCKER_HOST"] = host
    return subprocess.run([sys.executable, "-m", "minidocker", *argv], env=env, text=True,
                          capture_output=True, timeout=timeout)


def test_run_through_the_daemon_prints_output_and_passes_the_exit_code(daemon):
    r = cli(daemon, "run", "--rm", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "hi\n", "oops\n")
    assert cli(daemon, "ps", "-aq").stdout == ""          # --rm removed it


def test_the_everyday_verbs_go_through_the_api(daemon):
    cid = cli(daemon, "run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo up; sleep 100; true",
              env_host=True).stdout.strip()
    assert len(cid) == 64
    deadline = time.monotonic() + 10
    while cli(daemon, "logs", "bg").stdout != "up\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cli(daemon, "logs", "bg").stdout == "up\n"
    ps = cli(daemon, "ps").stdout.splitlines()
    assert ps[0].startswith("CONTAINER ID") and "bg" in ps[1] and "Up " in ps[1]
    assert cli(daemon, "stop", "-t", "1", "bg").stdout == "bg\n"
    assert "Exited (137)" in cli(daemon, "ps", "-a").stdout
    assert cli(daemon, "rm", "bg").returncode == 0
    images = cli(daemon, "images").stdout.splitlines()
    assert images[0].split()[:2] == ["REPOSITORY", "TAG"] and images[1].split()[:2] == ["busybox", "latest"]
    assert "minidocker simulated base image" in cli(daemon, "history", "busybox").stdout
    assert '"RepoTags"' in cli(daemon, "inspect", "busybox").stdout


def test_without_a_daemon_the_cli_says_how_to_start_one(tmp_path):
    for args in (["ps"], ["build", str(tmp_path)]):   # build says so before reading its context
        r = cli(f"unix://{tmp_path}/none.sock", *args)
        assert r.returncode == 1
        assert r.stderr.strip().endswith("is it running? Start it with `minidocker daemon`")
    r = cli(f"unix://{tmp_path}/none.sock", "ps")
    assert r.returncode == 1
    assert r.stderr.strip() == (f"minidocker: cannot connect to the minidocker daemon at unix://{tmp_path}/"
                                "none.sock: is it running? Start it with `minidocker daemon`")


def test_build_sends_the_context_to_the_daemon_and_streams_its_steps(daemon, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM busybox\nCOPY note.txt /note.txt\nCMD ["cat", "/note.txt"]\n')
    (ctx / "note.txt").write_text("sent as a tar\n")
    r = cli(daemon, "build", "-t", "remote:1", str(ctx))
    assert r.returncode == 0, r.stderr
    assert "COPY note.txt /note.txt" in r.stderr                      # the builder's steps
    assert r.stdout.splitlines()[-1] == "Successfully tagged remote:1"
    assert cli(daemon, "run", "--rm", "remote:1").stdout == "sent as a tar\n"
    again = cli(daemon, "build", "-t", "remote:1", str(ctx))
    assert again.stderr.count("CACHED") == 2
    (ctx / "Dockerfile").write_text("FROM nosuch\n")
    bad = cli(daemon, "build", str(ctx))
    assert bad.returncode == 1 and "base image 'nosuch' not found" in bad.stderr.splitlines()[-1]


def test_exec_through_the_daemon_streams_output_stdin_and_the_exit_code(daemon):
    cli(daemon, "run", "-d", "--name", "x", "busybox", "sh", "-c", "echo m > /tmp/m; sleep 100; true")
    deadline = time.monotonic() + 10
    while cli(daemon, "exec", "x", "cat", "/tmp/m").stdout != "m\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    r = cli(daemon, "exec", "x", "sh", "-c", "cat /tmp/m; echo err >&2; exit 4")
    assert (r.returncode, r.stdout, r.stderr) == (4, "m\n", "err\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDOCKER_")}
    typed = subprocess.run([sys.executable, "-m", "minidocker", "-H", daemon, "exec", "-i", "x", "cat"],
                           input="typed\n", text=True, capture_output=True, timeout=30, env=env)
    assert typed.stdout == "typed\n"
    cli(daemon, "rm", "-f", "x")


def cli_on_a_terminal(host, *args) -> Terminal:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDOCKER_")}
    env["MINIDOCKER_ROOT"] = "/nonexistent/the-cli-must-not-use-it"
    return Terminal([sys.executable, "-m", "minidocker", "-H", host, *args], env=env)


def test_run_it_through_the_daemon_gives_a_shell_on_our_terminal(daemon):
    with cli_on_a_terminal(daemon, "run", "--rm", "-it", "busybox", "sh") as term:
        term.expect("/ # ")                     # the prompt: no newline after it
        term.say("echo $((6*7)); tty\n", "42\r\n/dev/pts/0\r\n")
        term.type("exit 3\n")
        assert term.wait() == 3, term.output
    assert cli(daemon, "ps", "-aq").stdout == ""  # --rm: the daemon removed it once we had read


def test_run_it_through_the_daemon_shows_what_came_before_we_reached_the_terminal(daemon):
    with cli_on_a_terminal(daemon, "run", "--rm", "-it", "busybox", "sh", "-c", EARLY) as term:
        check_what_came_before_the_attach_is_shown(term)


def test_detach_keys_leave_the_container_running_for_exec_it_and_attach(daemon):
    with cli_on_a_terminal(daemon, "run", "-it", "--name", "keep", "busybox", "sh") as term:
        term.expect("/ # ")
        term.say("echo $((6*7))\n", "42\r\n")
        term.type(b"\x10\x11")                  # Ctrl-P Ctrl-Q: let go, leave it running
        assert term.wait() == 0, term.output
    assert cli(daemon, "ps", "--format", "{{.Names}} {{.State}}").stdout == "keep running\n"
    with cli_on_a_terminal(daemon, "exec", "-it", "keep", "sh") as term:
        term.expect("/ # ")
        term.say("echo in exec; exit 6\n", "in exec\r\n")
        assert term.wait() == 6, term.output
    with cli_on_a_terminal(daemon, "attach", "keep") as term:
        term.say("echo attached again; exit 5\n", "attached again\r\n")
        assert term.wait() == 5, term.output
    assert cli(daemon, "rm", "keep").returncode == 0
    r = cli(daemon, "attach", "keep")
    assert r.returncode == 1 and r.stderr == "minidocker: No such container: keep\n"


def test_run_i_through_the_daemon_passes_stdin_and_its_end(daemon):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDOCKER_")}
    r = subprocess.run([sys.executable, "-m", "minidocker", "-H", daemon, "run", "--rm", "-i", "busybox",
                        "sh", "-c", "cat; echo err >&2; exit 2"], input="typed\n", text=True,
                       capture_output=True, timeout=30, env=env)
    assert (r.returncode, r.stdout, r.stderr) == (2, "typed\n", "err\n")


def test_verbs_not_yet_served_say_so_in_one_line(daemon, tmp_path):
    r = cli(daemon, "export", "-o", str(tmp_path / "x.tar"), "busybox")
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "`export` through the daemon is not supported yet" in r.stderr


def test_save_and_load_go_through_the_daemon(daemon, tmp_path):
    archive = tmp_path / "busybox.tar"
    r = cli(daemon, "save", "-o", str(archive), "busybox")
    assert r.returncode == 0, r.stderr
    assert archive.stat().st_size > 0
    assert cli(daemon, "rmi", "busybox").returncode == 0
    assert "busybox" not in cli(daemon, "images").stdout
    r = cli(daemon, "load", "-i", str(archive))
    assert (r.returncode, r.stdout) == (0, "Loaded image: busybox:latest\n"), r.stderr
    assert cli(daemon, "images").stdout.splitlines()[1].split()[:2] == ["busybox", "latest"]
    r = cli(daemon, "load", "-i", str(tmp_path / "missing.tar"))
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "missing.tar" in r.stderr
    r = cli(daemon, "save", "-o", str(tmp_path / "x.tar"), "nosuchimage")
    assert r.returncode == 1 and "nosuchimage" in r.stderr and r.stderr.count("\n") == 1


def test_network_verbs_go_through_the_api(daemon):
    created = cli(daemon, "network", "create", "--subnet", "10.80.0.0/24", "web")
    assert created.returncode == 0 and len(created.stdout.strip()) == 64, created.stderr
    assert "web" in cli(daemon, "network", "ls", "--format", "{{.Name}}").stdout.split()
    [net] = json.loads(cli(daemon, "network", "inspect", "web").stdout)
    assert net["IPAM"]["Config"] == [{"Subnet": "10.80.0.0/24", "Gateway": "10.80.0.1"}]
    overlap = cli(daemon, "network", "create", "--subnet", "10.80.0.0/16", "other")
    assert overlap.returncode == 1 and "Pool overlaps" in overlap.stderr
    assert cli(daemon, "create", "--name", "later", "busybox", "true").returncode == 0
    assert cli(daemon, "network", "connect", "web", "later").returncode == 0  # wired at its start
    [info] = json.loads(cli(daemon, "inspect", "later").stdout)
    assert "web" in info["NetworkSettings"]["Networks"]
    assert cli(daemon, "network", "disconnect", "web", "later").returncode == 0
    assert cli(daemon, "rm", "later").returncode == 0
    assert cli(daemon, "network", "prune", "-f").stdout == "Deleted Networks:\nweb\n"

def test_a_daemon_started_with_minidocker_host_set_runs_its_children_itself(tmp_path):
    """MINIDOCKER_HOST in the daemon's environment (a user's shell exports it) must not
    reach the `minidocker start|build|exec` children the daemon runs: they would ask the
    daemon to do their own work, and it would ask another child, without end."""
    sock = tmp_path / "md.sock"
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "state"), MINIDOCKER_KERNEL="sim",
               MINIDOCKER_HOST=f"unix://{sock}")
    proc = start_daemon(sock, env)
    try:
        r = cli(f"unix://{sock}", "run", "--rm", "busybox", "echo", "hi", timeout=30)
        assert (r.returncode, r.stdout) == (0, "hi\n"), r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_run_the_daemon_refuses_exits_with_dockers_codes(daemon):
    r = cli(daemon, "run", "--rm", "busybox", "/no/such/program")
    assert r.returncode == 127, r.stderr
    assert 'exec: "/no/such/program"' in r.stderr and r.stderr.count("\n") == 1
    r = cli(daemon, "run", "--rm", "busybox", "/etc/passwd")
    assert r.returncode == 126, r.stderr
    r = cli(daemon, "run", "--rm", "--name", "a/b", "busybox", "true")
    assert r.returncode == 125 and "invalid container name" in r.stderr
    r = cli(daemon, "run", "--rm", "no-such-image", "true")
    assert r.returncode == 125 and "no-such-image" in r.stderr
    assert cli(daemon, "ps", "-aq").stdout == ""   # --rm removed the ones that did not start


def test_a_fault_in_the_daemon_is_answered_in_one_line_and_logged_with_its_traceback(capsys):
    from aiohttp.test_utils import make_mocked_request
    from minidocker.engine.api import _versions_and_errors

    class Writer:
        output_size = 0   # nothing of the answer sent yet

    async def broken(request):
        raise OSError(16, "Device or resource busy")
    request = make_mocked_request("DELETE", "/v1.47/containers/web", writer=Writer())
    response = asyncio.run(_versions_and_errors(request, broken))
    assert response.status == 500 and response.content_type == "application/json"
    assert json.loads(response.body) == {"message": "OSError: [Errno 16] Device or resource busy"}
    log = capsys.readouterr().err
    assert "DELETE /v1.47/containers/web failed" in log and "Traceback" in log and "broken" in log
    # Once a streamed answer (wait, logs) has begun, a second one would corrupt it: the
    # fault goes on to aiohttp, which logs it and closes the connection.
    Writer.output_size = 120
    with pytest.raises(OSError):
        asyncio.run(_versions_and_errors(make_mocked_request("POST", "/containers/web/wait",
                                                             writer=Writer()), broken))

"""The same scenarios on the real kernel and on the simulator: what a learner sees must match.

Each scenario runs one container (or one build) on both kernels, from the
same kind of busybox image (the host's busybox-static for Linux, the
simulator's built-in stand-in), and compares the exit code and output after
replacing what is meant to differ (container IDs, times). Where the
simulator does not model something, ``NOT_MODELLED`` says what and why.
"""

from __future__ import annotations

import io
import os
import re
import tarfile

import pytest

from minidocker.build.builder import BuildOptions
from minidocker.engine import Engine
from minidocker.errors import MinidockerError
from minidocker.kernel.linux import LinuxKernel
from minidocker.kernel.sim.kernel import SimKernel
from minidocker.runtime.supervisor import Attach

pytestmark = pytest.mark.root

NOT_MODELLED = {
    "the full applet set": "the simulated busybox links only the applets it simulates, so "
                           "`ls /bin` is shorter than the real image's",
    "cgroup v1": "the simulator models cgroup v2 only; on a v1 or hybrid host /proc/self/cgroup "
                 "shows one line per controller, in the simulator the single v2 line",
    "every /proc file": "the simulated /proc has what containers and lessons read; /proc/PID/ns "
                        "lacks time and user, and the masked files hold nothing",
    "exec of the last command": "busybox sh runs the last command of `-c` in its own process, "
                                "the simulated sh as a child; scenarios end in `; true`",
    "the world outside": "the simulated machine has an uplink whose gateway never answers (no "
                         "route to host); the test suite's namespace has no uplink at all (network "
                         "unreachable), so scenarios stay inside the machine",
    "one network across processes": "each process's simulated kernel has its own network: "
                                     "containers started by one process (a notebook's Engine, the "
                                     "daemon) reach each other, those of two `minidocker run -d` "
                                     "from a shell do not",
    "random addresses": "Linux draws MAC addresses at random, the simulator from a seed; "
                        "interface indexes differ too (they count the host's interfaces)",
}

# name, shell command, run options
SCENARIOS = [
    ("hostname", "hostname", {}),
    ("the shell is pid 1", "echo $$", {}),
    ("exit code passes through", "exit 3", {}),
    ("a compound job runs beside the shell", "{ sleep 0.3; echo second $$; } & echo first; "
     "( sleep 0.1; echo sub ) & x=1; wait; echo done $x; true", {}),
    ("false is 1", "false", {}),
    ("unknown command is 127", "frobnicate 2>/dev/null; echo $?", {}),
    ("ps shows the container's processes only", "ps; true", {}),
    ("id of root", "id", {}),
    ("whoami", "whoami", {}),
    ("working directory", "pwd", {}),
    ("the root directory", "ls /", {}),
    ("a small /dev", "ls /dev", {}),
    ("/dev/null is a device", "ls -l /dev/null | cut -c1-10,35-42", {}),
    ("/etc files from the runtime", "cat /etc/hostname /etc/hosts /etc/resolv.conf", {}),
    ("the first process's command line", "tr '\\0' ' ' < /proc/1/cmdline; echo", {}),
    ("/proc/sys/kernel/hostname", "cat /proc/sys/kernel/hostname", {}),
    ("the status of pid 1", "head -3 /proc/1/status", {}),
    ("/proc/sys is read-only", "touch /proc/sys/x; echo $?", {}),
    ("/sys is read-only", "mkdir /sys/x; echo $?", {}),
    ("writes stay in the container", "echo hi > /tmp/f; cat /tmp/f", {}),
    ("deleting a file of the image", "rm /etc/passwd; cat /etc/passwd; echo $?", {}),
    ("nested directories", "mkdir -p /a/b/c && touch /a/b/c/d && find /a | sort", {}),
    ("symbolic links", "ln -s /etc/hostname /l && readlink /l && cat /l | wc -l", {}),
    ("hard links", "echo x > /f; ln /f /g; stat -c %h /f", {}),
    ("set-uid mode", "touch /m; chmod 4755 /m; ls -l /m | cut -c1-10", {}),
    ("ownership", "touch /o; chown 33:33 /o; stat -c %u:%g /o", {}),
    ("tmpfs on /dev/shm", "echo x > /dev/shm/a && cat /dev/shm/a", {}),
    ("a loop writing files", "for i in 1 2 3; do echo $i > /tmp/$i; done; ls /tmp | wc -l", {}),
    ("text tools", "seq 1 100 | grep 7 | wc -l", {}),
    ("uname", "uname -s", {}),
    ("-u user", "id -u; id -g", {"user": "1000:1000"}),
    ("capabilities", "grep Cap /proc/self/status", {}),
    ("no CAP_SYS_TIME", "date -s 2000-01-01 | cut -c1-10; echo $?; date -u -s '2000-01-01 00:00:00' +%Y",
     {}),
    ("a user's capabilities", "grep Cap /proc/self/status", {"user": "1000"}),
    ("a user cannot write /etc or chown", "touch /etc/x; echo $?; chown 0 /tmp; echo $?; "
     "echo x >> /etc/passwd; echo $?", {"user": "1000"}),
    ("-w is created", "pwd", {"workdir": "/new/dir"}),
    ("-e environment", "echo $FOO", {"env": ["FOO=bar"]}),
    ("HOME and PATH", "echo $HOME; echo $PATH", {}),
    ("--read-only", "touch /x; echo $?", {"read_only": True}),
    ("--memory ends in an OOM kill", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=60 2>/dev/null",
     {"memory": "32m"}),
    ("background jobs and $!", "sleep 0.2 & echo $!; wait $!; echo waited $?", {}),
    ("background jobs meet --pids-limit", "for i in 1 2 3 4 5 6; do sleep 1 & done; wait; echo $?",
     {"pids_limit": 4}),
    ("--pids-limit stops a process tree", "sh -c 'sh -c \"sh -c true; true\"; true' 2>&1; echo $?",
     {"pids_limit": 2}),
    ("the routes of a container", "ip route", {}),
    ("eth0's address", "ip addr show eth0 | grep 'inet '", {}),
    ("the links, addresses and indexes aside",
     "ip link | sed -e 's/@if[0-9]*/@ifN/' -e 's/ether [0-9a-f:]*/ether MAC/'", {}),
    ("hostname -i", "hostname -i", {}),
    ("the gateway answers a ping", "ping -c 1 10.66.0.1 | grep -c 'bytes from'", {}),
    ("a closed port on the host", "wget -qO- http://10.66.0.1:9/; echo $?", {}),
    ("a name nobody knows", "wget -qO- http://nowhere.invalid/; ping -c 1 nowhere.invalid; true", {}),
    ("httpd -vv logs each request", "mkdir /www; echo hi > /www/index.html; exec 2>/tmp/log; "
                                    "httpd -f -vv -p 8080 -h /www & sleep 0.5; wget -qO- http://127.0.0.1:8080/; "
                                    "printf 'POST /../x HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080 | head -1; "
                                    "kill $!; sed 's/:[0-9]*: /:PORT: /' /tmp/log >&1; true", {}),
    ("--network none has only lo", "ip link | grep -c mtu; ip route; hostname -i; "
                                   "wget -qO- http://10.66.0.1/; true", {"network": "none"}),
]


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    real = Engine(tmp_path_factory.mktemp("linux"), kernel=LinuxKernel())
    real.bootstrap("busybox")
    sim = Engine(tmp_path_factory.mktemp("sim"), kernel=SimKernel())
    sim.bootstrap("busybox")
    return {"linux": real, "sim": sim}


def observe(engine, cmd, **options):
    """(exit code, stdout, stderr, OOMKilled) of one container, with IDs and times masked."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        try:
            record, code = engine.run("busybox", ["sh", "-c", cmd],
                                      attach=Attach(None, out_w, err_w), **options)
        except MinidockerError as e:
            return e.exit_code, "", str(e), False
    finally:
        os.close(out_w)
        os.close(err_w)
    with os.fdopen(out_r, "rb") as o, os.fdopen(err_r, "rb") as e:
        out, err = o.read().decode(), e.read().decode()
    oom = engine.inspect_container(record.id)["State"]["OOMKilled"]
    engine.rm(record.id, force=True)
    mask = lambda text: re.sub(r"\b\d\d:\d\d\b", "HH:MM", text.replace(record.id[:12], "<id>"))
    return code, mask(out), mask(err), oom


@pytest.mark.parametrize("name, cmd, options", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_the_simulator_shows_what_linux_shows(engines, name, cmd, options):
    real = observe(engines["linux"], cmd, **options)
    sim = observe(engines["sim"], cmd, **options)
    assert sim == real


DOCKERFILE = """FROM busybox AS tools
RUN mkdir -p /out && echo built > /out/tool && chown 33:33 /out/tool

FROM busybox
RUN mkdir -p /app/data && echo one > /app/data/a && echo two > /app/b
RUN rm /app/b && rm -r /app/data
RUN mkdir /app/data && echo new > /app/data/c
COPY hello.txt /app/
COPY --from=tools /out/ /app/tools/
ADD files.tar /app/unpacked/
CMD ["cat", "/app/hello.txt"]
"""


def _build(engine, ctx, out):
    return engine.build(str(ctx), BuildOptions(tags=["diff:1"]), out)


def test_a_build_gives_the_same_layers_and_cache_decisions_on_both_kernels(engines, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "hello.txt").write_text("hello\n")
    with tarfile.open(ctx / "files.tar", "w") as tar:
        info = tarfile.TarInfo("inner/x.txt")
        info.size, info.mtime = 2, 1_700_000_000
        tar.addfile(info, io.BytesIO(b"x\n"))
    seen = {}
    for name, engine in engines.items():
        first, again = io.StringIO(), io.StringIO()
        image = _build(engine, ctx, first)
        rebuilt = _build(engine, ctx, again)
        layers = [sorted(m.name for m in tarfile.open(fileobj=engine.store.open_blob(d)))
                  for d in image.manifest.layers[1:]]
        owners = [(m.name, m.uid, m.gid) for d in image.manifest.layers[1:]
                  for m in tarfile.open(fileobj=engine.store.open_blob(d))]
        history = [h.get("created_by") for h in image.config.raw["history"]][2:]
        seen[name] = (layers, owners, history, again.getvalue().count("CACHED"), rebuilt.id == image.id)
    assert seen["sim"] == seen["linux"]
    layers = seen["sim"][0]
    assert layers[1] == ["app", "app/.wh.b", "app/.wh.data"]          # deletions: whiteouts
    assert layers[2] == ["app", "app/data", "app/data/c"]   # the lower whiteout hides the old dir
    assert ("app/tools/tool", 33, 33) in seen["sim"][1]     # COPY --from keeps the owner
    assert "app/tools/tool" in layers[4]
    assert "app/unpacked/inner/x.txt" in layers[5]          # ADD unpacks a local tar


def _serve(engine, name: str, network: str) -> str:
    """A detached httpd on ``network``; its address once a client there gets an answer."""
    import time
    engine.run("busybox", ["sh", "-c", "mkdir /www && echo served > /www/index.html && "
                           "httpd -f -p 8080 -h /www"], name=name, network=network, detach_=True)
    deadline = time.monotonic() + 15
    while observe(engine, f"wget -qO- http://{name}:8080/", network=network)[0] != 0:
        assert time.monotonic() < deadline, "httpd did not answer"
        time.sleep(0.1)
    return engine.inspect_container(name)["NetworkSettings"]["IPAddress"]


def test_containers_reach_each_other_by_name_and_other_networks_not_on_both_kernels(engines):
    from minidocker.runtime import netsetup
    seen = {}
    for kind, engine in engines.items():
        nets = [engine.networks.create(n) for n in ("diff-a", "diff-b")]
        try:
            ip_ = _serve(engine, "diff-web", "diff-a")
            same = observe(engine, "wget -qO- http://diff-web:8080/; ping -c 1 diff-web | grep -c ttl=64",
                           network="diff-a")
            apart = observe(engine, f"grep -c diff-web /etc/hosts; ping -c 1 -W 1 {ip_} | tail -1",
                            network="diff-b")
            seen[kind] = (same, apart)
        finally:
            engine.rm("diff-web", force=True)
            for net in nets:
                engine.networks.remove(net.name, lambda cid: False)
                netsetup.remove_bridge(engine.kernel, net)
    assert seen["sim"] == seen["linux"]
    assert seen["sim"] == ((0, "served\n1\n", "", False),
                           (0, "0\n1 packets transmitted, 0 packets received, 100% packet loss\n", "", False))

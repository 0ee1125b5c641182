"""Containers on the simulated kernel: the real runtime, store and builder, no root needed.

Each test runs the same code paths as the real runtime (``Engine`` →
supervisor → ``become_container`` → ``execve``) against ``SimKernel``, and
checks what a learner would observe.
"""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from minidocker.engine import Engine
from minidocker.errors import MinidockerError
from minidocker.kernel.sim.kernel import SimKernel
from minidocker.runtime.supervisor import Attach


@pytest.fixture
def sim(tmp_path):
    engine = Engine(tmp_path / "state", kernel=SimKernel())
    engine.bootstrap("busybox")
    return engine


def run(engine, *cmd, **options):
    """Run a container attached to pipes; (exit code, stdout, stderr, record)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        record, code = engine.run("busybox", list(cmd), attach=Attach(None, out_w, err_w), **options)
    finally:
        os.close(out_w)
        os.close(err_w)
    with os.fdopen(out_r, "rb") as o, os.fdopen(err_r, "rb") as e:
        return code, o.read().decode(), e.read().decode(), record


def test_the_container_has_its_own_hostname_and_exit_code(sim):
    code, out, _, record = run(sim, "sh", "-c", "hostname; exit 3")
    assert code == 3
    assert out == record.id[:12] + "\n"


def test_the_first_process_is_pid_1_and_sees_only_its_namespace(sim):
    code, out, _, _ = run(sim, "sh", "-c", "echo $$; ps")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "1"
    pids = [line.split()[0] for line in lines[2:]]
    assert pids[0] == "1" and "sh -c echo $$; ps" in lines[2]
    assert len(pids) == 2  # sh and ps: nothing of the host


def test_the_root_is_an_overlay_with_a_fresh_proc_and_a_small_dev(sim):
    code, out, _, _ = run(sim, "sh", "-c", "cat /proc/self/mounts; ls /dev")
    assert code == 0
    mounts = [line.split() for line in out.splitlines() if " " in line]
    assert mounts[0][1:3] == ["/", "overlay"]
    assert ["proc", "/proc", "proc"] == mounts[1][:3]
    for name in ("null", "zero", "random", "urandom", "tty", "pts", "shm"):
        assert name in out.split()


def test_docker_masks_sensitive_proc_files(sim):
    code, out, _, _ = run(sim, "sh", "-c", "grep -c . /proc/keys; cat /proc/mounts | grep -c /proc/keys")
    assert out.split()[-1] == "1"  # /dev/null is bound over /proc/kcore


def test_writes_land_in_the_containers_own_layer_and_images_stay_untouched(sim):
    code, _, _, record = run(sim, "sh", "-c", "echo changed > /etc/motd; rm /bin/true")
    assert code == 0
    upper = sim.snapshots.diff_dir(record.snapshot_key)
    assert open(os.path.join(upper, "etc", "motd")).read() == "changed\n"
    whiteout = sim.kernel.lstat(os.path.join(upper, "bin", "true"))
    assert os.major(whiteout.st_rdev) == 0 and (whiteout.st_mode & 0o170000) == 0o020000
    code, out, _, _ = run(sim, "sh", "-c", "ls /bin/true && cat /etc/motd")
    assert code == 1 or "changed" not in out  # a fresh container sees the image as it was


def test_an_unknown_command_exits_127_as_busybox_sh_says_it(sim):
    code, _, err, _ = run(sim, "sh", "-c", "frobnicate --now")
    assert (code, err) == (127, "sh: frobnicate: not found\n")


def test_a_real_binary_the_simulator_cannot_run_says_so_with_the_supported_commands(sim):
    script = "printf '\\177ELF real binary' > /bin/vim; chmod +x /bin/vim; vim; echo $?"
    code, out, err, _ = run(sim, "sh", "-c", script)
    assert out == "127\n"
    assert err.startswith("sim: command not found: vim (supported: [, apk, apt")


def test_a_missing_executable_is_docker_s_127(sim):
    with pytest.raises(MinidockerError) as info:
        run(sim, "no-such-program")
    assert info.value.exit_code == 127
    assert "executable file not found" in str(info.value)


def test_user_and_workdir_apply(sim):
    code, out, _, _ = run(sim, "sh", "-c", "id -u; pwd", user="1000:1000", workdir="/tmp")
    assert out.split() == ["1000", "/tmp"]


def test_capabilities_show_in_proc_status_and_a_user_other_than_root_has_none(sim):
    from minidocker.runtime.spec import DEFAULT_CAPABILITIES
    want = f"{sum(1 << c for c in DEFAULT_CAPABILITIES.values()):016x}"
    _, out, _, _ = run(sim, "sh", "-c", "grep Cap /proc/self/status")
    assert out.split() == ["CapInh:", want, "CapPrm:", want, "CapEff:", want, "CapBnd:", want,
                           "CapAmb:", "0" * 16]
    _, out, _, _ = run(sim, "sh", "-c", "grep Cap /proc/self/status", user="1000")
    assert out.split()[1::2] == [want, "0" * 16, "0" * 16, want, "0" * 16]


def test_a_user_other_than_root_needs_the_write_bit_and_cannot_chown(sim):
    code, out, err, _ = run(sim, "sh", "-c", "touch /etc/x; echo $?; chown 0 /tmp; echo $?; "
                            "touch /tmp/ok; echo $?; echo x >> /etc/passwd; echo $?", user="1000")
    assert out.split() == ["1", "1", "0", "1"]  # /etc is root's 0755; /tmp is 1777; passwd 0644
    assert "Permission denied" in err and "Operation not permitted" in err


def test_a_read_only_root_refuses_writes(sim):
    code, _, err, _ = run(sim, "sh", "-c", "touch /x", read_only=True)
    assert code == 1 and "Read-only file system" in err


def test_a_memory_limit_ends_in_an_oom_kill(sim):
    script = "printf '#!minidocker-sim memhog\\n' > /bin/memhog; chmod +x /bin/memhog; memhog 100M"
    code, _, _, record = run(sim, "sh", "-c", script, memory="32m")
    assert code == 137
    assert sim.inspect_container(record.id)["State"]["OOMKilled"] is True


def test_a_pids_limit_stops_a_process_tree(sim):
    script = "sh -c 'sh -c \"sh -c true; true\"; true' 2>&1; echo $?"
    code, out, _, _ = run(sim, "sh", "-c", script, pids_limit=2)
    # the shell that cannot fork ends with 2, as ash does
    assert (code, out) == (0, "sh: can't fork: Resource temporarily unavailable\n2\n")


def test_no_cgroup_or_process_is_left_after_the_container(sim):
    run(sim, "sh", "-c", "true", auto_remove=True)
    k = sim.kernel
    assert not k.cgroups.exists("/sys/fs/cgroup/minidocker")   # the shared parent too, once empty
    assert [p for p in k.processes.values() if not p.host] == []
    assert sim.containers.all() == []


def test_a_build_runs_its_steps_in_simulated_containers_and_caches_them(sim, tmp_path):
    from minidocker.build.builder import BuildOptions
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN mkdir -p /app && echo hi > /app/greeting\n"
                                    "RUN rm /bin/true\nCMD [\"cat\", \"/app/greeting\"]\n")
    first = sim.build(str(ctx), BuildOptions(tags=["app:1"]), io.StringIO())
    out = io.StringIO()
    second = sim.build(str(ctx), BuildOptions(tags=["app:1"]), out)
    assert first.id == second.id and out.getvalue().count("CACHED") == 3
    layers = [tarfile.open(fileobj=sim.store.open_blob(d)).getnames() for d in second.manifest.layers]
    assert "app/greeting" in layers[1]
    assert layers[2] == ["bin", "bin/.wh.true"]       # the deletion became an OCI whiteout
    code, out, _, _ = run_image(sim, "app:1")
    assert (code, out) == (0, "hi\n")


def run_image(engine, image):
    r, w = os.pipe()
    try:
        _, code = engine.run(image, None, attach=Attach(None, w, w), auto_remove=True)
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        return code, f.read().decode(), "", None


def test_built_in_base_images_are_the_same_bytes_everywhere(tmp_path):
    from minidocker.kernel.sim import images
    a = Engine(tmp_path / "a", kernel=SimKernel()).bootstrap("busybox")
    b = Engine(tmp_path / "b", kernel=SimKernel()).image("busybox")   # made on first use
    assert a.id == b.id
    assert images.layer("debian") == images.layer("debian")


def test_the_seed_recipe_installs_packages_in_a_debian_look_alike(tmp_path):
    engine = Engine(tmp_path / "state", kernel=SimKernel())
    r, w = os.pipe()
    try:
        _, code = engine.run("debian:bookworm", ["sh", "-c", "apt-get update >/dev/null && "
                                                 "apt-get install -y nodejs >/dev/null && node --version"],
                             attach=Attach(None, w, w), auto_remove=True)
    finally:
        os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read().decode()
    assert code == 0 and out.startswith("v18.")


def test_a_cpu_quota_holds_a_busy_loop_to_its_share(sim):
    import threading
    import time
    k = sim.kernel
    devnull = os.open(os.devnull, os.O_WRONLY)
    runner = threading.Thread(target=lambda: sim.run(
        "busybox", ["sh", "-c", "while :; do :; done"], attach=Attach(None, devnull, devnull),
        cpus="0.5", auto_remove=True))
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while not [e for e in k.cgroups.snapshot() if e["path"].startswith("/minidocker/")] \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        [cg] = [e["path"] for e in k.cgroups.snapshot() if e["path"].startswith("/minidocker/")]
        usage = lambda: int(k.cgroups.read_file(f"/sys/fs/cgroup{cg}/cpu.stat").split()[1])
        time.sleep(0.3)
        u0, t0 = usage(), time.monotonic()
        time.sleep(1.5)
        share = (usage() - u0) / 1e6 / (time.monotonic() - t0)
        assert 0.35 < share < 0.6   # CFS bandwidth: 50 ms of CPU per 100 ms period
        stat = k.cgroups.read_file(f"/sys/fs/cgroup{cg}/cpu.stat")
        assert int(stat.split("nr_throttled ")[1].split()[0]) > 0
    finally:
        [init] = [p for p in k.processes.values() if not p.host and p.pid_in(p.pid_ns) == 1]
        k._signal(init.pid, 9)
        runner.join(10)
        os.close(devnull)
    assert not runner.is_alive()


def test_detached_containers_stay_in_the_notebooks_process_with_exec_logs_and_stop(sim):
    import time
    record, _ = sim.run("busybox", ["sh", "-c", "echo up; sleep 100; true"], detach_=True, name="bg")
    deadline = time.monotonic() + 5
    while "up" not in "".join(text for _, text in sim.logs("bg")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [text for _, text in sim.logs("bg")] == ["up\n"]
    assert [r["Names"] for r in sim.ps_rows()] == ["bg"]
    out_r, out_w = os.pipe()
    code = sim.exec_("bg", ["sh", "-c", "ps; true"], attach=Attach(None, out_w, out_w))
    os.close(out_w)
    with os.fdopen(out_r) as f:
        listing = f.read()
    assert code == 0 and "sh -c echo up; sleep 100; true" in listing   # the container's PID 1
    sim.stop("bg", timeout=0.5)
    assert sim.inspect_container("bg")["State"]["ExitCode"] == 137
    sim.rm("bg")


def test_chroot_moves_the_root_but_not_the_working_directory_so_root_can_climb_out(tmp_path):
    # chroot(2) without a mount namespace is no wall: the classic escape works on the
    # simulator as on Linux, and after pivot_root it does not (notebook 01 shows both)
    import json
    k = SimKernel()
    jail = tmp_path / "jail"
    jail.mkdir()
    (jail / "THIS_IS_THE_JAIL").touch()
    r, w = os.pipe()

    def child():
        k.chroot(str(jail))
        k.chdir("/")
        inside = sorted(k.fs.listdir("/"))
        k.fs.mkdir("/deeper")
        k.chroot("/deeper")
        for _ in range(50):
            k.chdir("..")
        k.chroot(".")
        k.fs.write(w, json.dumps([inside, sorted(k.fs.listdir("/"))]).encode())
        k.fs._exit(0)

    pid = k.fork(child)
    os.close(w)
    with os.fdopen(r) as f:
        inside, after = json.loads(f.read())
    k.waitpid(pid)
    assert inside == ["THIS_IS_THE_JAIL"]
    assert sorted(os.listdir("/")) == after            # out: the host's own /
    with pytest.raises(OSError):
        k.chroot(str(jail))                            # the runtime's own process keeps its root


def test_a_supervisor_that_fails_leaves_its_container_recorded_as_exited_not_running(sim, monkeypatch):
    import minidocker.runtime.supervisor as supervisor

    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr(supervisor, "relay", broken)
    with pytest.raises(RuntimeError):
        run(sim, "sleep", "100", name="victim")
    record = sim.containers.find("victim")
    assert record.observed_status(sim.kernel) == "exited"
    assert (record.state.ExitCode, record.state.Error) == (255, "its supervisor failed: RuntimeError: boom")
    assert sim.ps_rows(all_=True)[0]["State"] == "exited"

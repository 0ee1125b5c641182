"""``minidocker.trace()``: every kernel call of a container's start, in order, on both kernels."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import minidocker
from minidocker.engine import Engine
from minidocker.kernel.linux import LinuxKernel
from minidocker.kernel.sim.kernel import SimKernel
from minidocker.runtime.supervisor import Attach

KERNELS = [pytest.param("sim", id="sim"), pytest.param("linux", id="linux", marks=pytest.mark.root)]


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_trace_holds_the_runtime_and_the_container_steps_in_order(kernel, tmp_path):
    k = SimKernel() if kernel == "sim" else LinuxKernel()
    with minidocker.trace(k) as t:
        engine = Engine(tmp_path / "state")   # no kernel given: the tracing one is used
        engine.bootstrap("busybox")
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            engine.run("busybox", ["true"], attach=Attach(None, devnull, devnull), auto_remove=True)
        finally:
            os.close(devnull)
    ops = [e.op for e in t.events]
    steps = ["unshare", "fork", "sethostname", "pivot_root", "limit_capabilities", "execve"]
    where = [ops.index(s) for s in steps]
    assert where == sorted(where)
    fork = t.events[ops.index("fork")]
    pivot = t.events[ops.index("pivot_root")]
    # the runtime and the container's first process are different processes in different
    # mount namespaces, and each event says which
    assert fork.pid != pivot.pid
    assert fork.context["ns"]["mnt"] != pivot.context["ns"]["mnt"]
    assert all(e.reason for e in t.events)
    assert any("pivot_root" in line and "root of this mount namespace" in line for line in t.lines())
    # mounts through a safely opened descriptor are shown by the path it stands for
    targets = [e.args[1] for e in t.events if e.op == "mount"]
    assert not [t for t in targets if t.startswith("/proc/self/fd/")], targets
    assert any(t.endswith("/rootfs/proc") for t in targets)


def test_outside_a_trace_engines_use_the_plain_kernel(tmp_path):
    with minidocker.trace(SimKernel()) as t:
        inside = Engine(tmp_path / "a").kernel
    assert inside is t.kernel
    assert Engine(tmp_path / "b", kernel=SimKernel()).kernel is not t.kernel


def test_build_explain_prints_the_run_steps_kernel_calls(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo hi > /x\n")
    env = dict(os.environ, MINIDOCKER_ROOT=str(tmp_path / "state"), MINIDOCKER_KERNEL="sim")
    r = subprocess.run([sys.executable, "-m", "minidocker", "build", "--explain", "-t", "x", str(ctx)],
                       env=env, text=True, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("[")]
    assert any("pivot_root" in line for line in lines)
    assert any(line.startswith("[container]") and "execve('/bin/sh'" in line for line in lines)


def test_reasons_tell_a_writable_overlay_from_a_read_only_one_and_the_old_root_from_a_mount():
    from minidocker.kernel.tracing import explain
    assert "writable upper" in explain("mount", ("overlay", "/m", "overlay", 0,
                                                 "lowerdir=/l,upperdir=/u,workdir=/w"))
    assert "read-only view" in explain("mount", ("overlay", "/m", "overlay", 0, "lowerdir=/a:/b"))
    assert "old root" in explain("umount", (".", 2))
    assert "old root" not in explain("umount", ("/m", 2))

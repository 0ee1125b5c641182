"""The notebook helpers of ``minidocker.lesson`` on both kernels."""

from __future__ import annotations

import pytest

from minidocker import lesson, viz
from minidocker.engine import Engine
from minidocker.kernel.linux import LinuxKernel
from minidocker.kernel.sim.kernel import SimKernel

KERNELS = [pytest.param("sim", id="sim"), pytest.param("linux", id="linux", marks=pytest.mark.root)]


@pytest.mark.parametrize("kernel", KERNELS)
def test_start_leaves_a_container_running_where_the_notebook_can_look_at_it(kernel, tmp_path):
    e = Engine(tmp_path / "state", kernel=SimKernel() if kernel == "sim" else LinuxKernel())
    e.bootstrap("busybox")
    record = lesson.start(e, "busybox", "sh", "-c", "while :; do sleep 1; done", name="bg")
    try:
        assert [row["Names"] for row in e.ps_rows()] == ["bg"]
        assert any("while" in row["CMD"] for row in e.top("bg"))
        seen = viz.namespaces.from_container(e, "bg")   # reads /proc through the kernel
        assert any(p.pids[-1] == 1 for p in seen.processes if p.in_container)
        assert lesson.sh(e, "echo $$").out == "1\n"       # the notebook goes on meanwhile
        # the host reads a container's namespaces as links, as `ls -l /proc/PID/ns` shows them
        pid = e.containers.find("bg").state.Pid
        for kind in ("pid", "mnt", "uts", "ipc", "net"):
            mine = e.kernel.fs.readlink(f"/proc/self/ns/{kind}")
            its = e.kernel.fs.readlink(f"/proc/{pid}/ns/{kind}")
            assert mine.startswith(f"{kind}:[") and its.startswith(f"{kind}:[") and mine != its
    finally:
        e.rm(record.id, force=True)
    assert e.ps_rows(all_=True) == []


def test_start_reports_a_container_that_cannot_start(tmp_path):
    e = Engine(tmp_path / "state", kernel=SimKernel())
    e.bootstrap("busybox")
    with pytest.raises(Exception, match="no-such-program|not found|executable"):
        lesson.start(e, "busybox", "no-such-program", name="broken", timeout=5)


def test_start_says_when_the_container_ended_at_once(tmp_path):
    e = Engine(tmp_path / "state", kernel=SimKernel())
    e.bootstrap("busybox")
    with pytest.raises(RuntimeError, match="exited as soon as it started"):
        lesson.start(e, "busybox", "true", name="brief", timeout=5)

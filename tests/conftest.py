"""Shared fixtures: a private state root per test, and the CI no-skip rule.

As root, the suite runs in its own network namespace (``pytest_configure``).
Tests marked ``root`` need root and the real kernel; tests marked ``tools``
need external programs (skopeo, umoci). Outside CI they skip when those are
missing; with ``CI`` set they fail instead, so a green CI means they ran.
"""

from __future__ import annotations

import os
import shutil

import pytest

from minidocker.engine import Engine


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this test may not skip)")
    pytest.skip(reason)


def pytest_configure(config):
    """As root, the whole suite runs in a network namespace of its own: the bridges,
    veths and firewall rules its containers make never touch the machine's network,
    and vanish with the suite. Every process it starts (daemons, notebook kernels)
    inherits the namespace; only ``lo`` is up there, so nothing reaches outside."""
    if os.geteuid() != 0 or not os.path.exists("/proc/self/ns/net"):
        return
    import ctypes
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "cannot make the test suite's network namespace")
    from minidocker.kernel.linux import LinuxKernel
    LinuxKernel().loopback_up()


def pytest_runtest_setup(item):
    if item.get_closest_marker("root") and os.geteuid() != 0:
        _unavailable("needs root")
    for mark in item.iter_markers("tools"):
        for tool in mark.args:
            if shutil.which(tool) is None:
                _unavailable(f"needs {tool}")


@pytest.fixture
def state_root(tmp_path, monkeypatch):
    root = tmp_path / "state"
    monkeypatch.setenv("MINIDOCKER_ROOT", str(root))
    return root


@pytest.fixture
def engine(state_root):
    return Engine(state_root)


@pytest.fixture
def busybox(engine):
    """The busybox base image, made from the host's busybox-static."""
    if shutil.which("busybox") is None:
        _unavailable("needs busybox-static")
    return engine.bootstrap("busybox")


def start_daemon(sock, env=None):
    """``minidocker daemon`` on the unix socket ``sock``, once it listens; the process."""
    import subprocess
    import sys
    import time
    proc = subprocess.Popen([sys.executable, "-m", "minidocker", "daemon", "-H", f"unix://{sock}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 20
    while not sock.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.05)
    return proc

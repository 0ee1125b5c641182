"""A detached ``-t`` container's shared terminal: the supervisor's relay and its
``TerminalPort``, driven directly on a pseudo-terminal of the test's own (no root)."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from conftest import sleeping_child

from minidocker.kernel.linux import LinuxKernel
from minidocker.runtime.supervisor import relay
from minidocker.runtime.terminal import TerminalPort


@pytest.fixture
def terminal(tmp_path):
    """A pty (master, slave) and a port on its master, as a supervisor has them."""
    master, slave = os.openpty()
    port = TerminalPort(str(tmp_path / "attach.sock"), master, typing=True)
    yield master, slave, port
    port.close()
    os.close(slave)


def _attached(port: TerminalPort) -> socket.socket:
    """A client the port has taken (its greeting read and answered)."""
    client = socket.socket(socket.AF_UNIX)
    client.connect(port.path)
    client.sendall(json.dumps({"op": "attach", "stdin": True}).encode() + b"\n")
    port.handle(port.listener.fileno())
    [fd] = port.greeting
    port.handle(fd)
    assert client.recv(3) == b"ok\n"
    return client


def test_a_client_gone_while_output_goes_to_it_does_not_end_the_relay(terminal):
    """The container's output and a client's close come in one select: sending the output
    drops the client (EPIPE) and closes its socket, which the same round found readable.
    The relay read that closed descriptor and died with EBADF, and the supervisor with it:
    the container was left without one, and its state said "running"."""
    master, slave, port = terminal
    client = _attached(port)
    client.close()
    os.write(slave, b"output after the client left\n")
    time.sleep(0.05)   # both ready before the relay's first select
    pid = sleeping_child(0.3, 4)
    status = relay(LinuxKernel(), pid, [master], True, None, False, None, port)
    assert os.waitstatus_to_exitcode(status) == 4
    assert port.clients == {}


def test_typing_waits_while_the_container_does_not_read_even_for_a_client_found_ready(terminal):
    """A container that does not read its terminal holds its clients' typing back (the
    port stops watching them): a client the last select found ready is not read either."""
    master, slave, port = terminal
    client = _attached(port)
    [fd] = port.clients
    port.typed += b"x" * TerminalPort.HOLD   # what the container has not taken yet
    client.sendall(b"more\n")
    assert fd not in port.fds()
    port.handle(fd)
    assert len(port.typed) == TerminalPort.HOLD and client.fileno() != -1
    port.typed.clear()
    assert fd in port.fds()
    port.handle(fd)
    assert os.read(slave, 100) == b"more\n"

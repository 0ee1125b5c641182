"""Sockets of the simulator: what listens in each network namespace, and the connections.

Imitates the socket calls as a TCP or UDP program sees them — bind(2), listen(2),
accept(2), connect(2), shutdown(2), close(2):

* a listener is bound to (address, port, protocol) in one namespace; ``0.0.0.0``
  takes every local address; a bind that overlaps one already there is
  EADDRINUSE; port 0 picks a free one from the ephemeral range (32768–60999,
  ``net.ipv4.ip_local_port_range``). The caller (``network.Network.listen``)
  checks that a specific address is local (EADDRNOTAVAIL).
* whether a connect reaches the peer is the forwarding model's decision
  (``network.Network.reach``); a namespace reached with nothing bound at the port
  answers with a reset: ECONNREFUSED.
* a connection is a real ``socket.socketpair()`` (AF_UNIX): bytes, half-close and
  end-of-file behave as a TCP stream's do, and the end that the host's side gets
  is a real socket for code that expects one (the runtime's port proxy, ``urllib``
  in a notebook). A UDP "connection" is a SOCK_DGRAM pair, so datagrams keep their
  boundaries.
* a process's sockets close when it exits, a namespace's listeners when it goes.

Blocking calls wake every ``POLL`` seconds and call ``wait``, through which the
simulated kernel ends a program that a signal killed.
"""

from __future__ import annotations

import errno
import itertools
import os
import queue
import select
import socket

POLL = 0.1
EPHEMERAL = range(32768, 61000)


def _oserror(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def socket_pair(proto: str) -> tuple[socket.socket, socket.socket]:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    return a, b


class Ports:
    """The bound ports of one namespace."""

    def __init__(self) -> None:
        self.bound: dict[tuple[str, int], list["Listener"]] = {}
        self._ephemeral = itertools.cycle(EPHEMERAL)

    def bind(self, address: str, port: int, proto: str, wait) -> "Listener":
        if port == 0:
            port = self.free_port(proto)
        taken = self.bound.setdefault((proto, port), [])
        if any(address == "0.0.0.0" or l.address in ("0.0.0.0", address) for l in taken):
            raise _oserror(errno.EADDRINUSE)
        listener = Listener(self, address, port, proto, wait)
        taken.append(listener)
        return listener

    def free_port(self, proto: str) -> int:
        for _ in EPHEMERAL:
            port = next(self._ephemeral)
            if not self.bound.get((proto, port)):
                return port
        raise _oserror(errno.EADDRINUSE)

    def find(self, address: str, port: int, proto: str) -> "Listener | None":
        taken = self.bound.get((proto, port), [])
        return next((l for l in taken if l.address == address), None) or \
            next((l for l in taken if l.address == "0.0.0.0"), None)

    def release(self, listener: "Listener") -> None:
        taken = self.bound.get((listener.proto, listener.port), [])
        if listener in taken:
            taken.remove(listener)

    def close_all(self) -> None:
        for taken in list(self.bound.values()):
            for listener in list(taken):
                listener.close()


class Listener:
    """A listening socket: connections wait in its backlog until ``accept``."""

    def __init__(self, ports: Ports, address: str, port: int, proto: str, wait):
        self.ports, self.address, self.port, self.proto, self.wait = ports, address, port, proto, wait
        self.backlog: queue.Queue = queue.Queue()
        self.closed = False

    def deliver(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        self.backlog.put((sock, peer))

    def accept(self) -> "Conn":
        while True:
            if self.closed:
                raise _oserror(errno.EINVAL)
            self.wait()
            try:
                sock, peer = self.backlog.get(timeout=POLL)
            except queue.Empty:
                continue
            return Conn(sock, self.wait, peer)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.ports.release(self)
        while True:   # connections nobody accepted are reset
            try:
                sock, _ = self.backlog.get_nowait()
            except queue.Empty:
                return
            sock.close()


class Conn:
    """One end of a connection, for a simulated program."""

    def __init__(self, sock: socket.socket, wait, peer: tuple[str, int] = ("", 0)):
        self.sock, self.wait, self.peer = sock, wait, peer
        sock.setblocking(False)

    def send(self, data: bytes) -> None:
        view = memoryview(bytes(data))
        while view:
            self.wait()
            _, ready, _ = select.select([], [self.sock], [], POLL)
            if not ready:
                continue
            try:
                view = view[self.sock.send(view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                raise _oserror(errno.EPIPE) from None

    def recv(self, n: int = 65536) -> bytes:
        """Up to ``n`` bytes; b"" once the peer has shut its side."""
        while True:
            self.wait()
            ready, _, _ = select.select([self.sock], [], [], POLL)
            if not ready:
                continue
            try:
                return self.sock.recv(n)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return b""

    @property
    def closed(self) -> bool:
        return self.sock.fileno() == -1

    def shutdown(self) -> None:
        """No more to send: the peer reads end-of-file (TCP's FIN)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()

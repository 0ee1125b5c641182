"""Published ports: a userland proxy, like Docker's ``docker-proxy``.

For ``-p 8080:80`` the container's supervisor binds the host's port 8080 (before
the container starts, so "port already allocated" is reported at once) and,
once the container has its address, relays every TCP connection — or every UDP
client's datagrams — to the container's port 80. It works on any host, with or
without a packet filter, and from the host's own loopback (which DNAT rules
alone do not reach). The sockets come from the kernel (``open_port``,
``connect``), so the simulated kernel serves published ports the same way.
"""

from __future__ import annotations

import errno
import socket
import threading

from ..errors import MinidockerError
from ..kernel.base import Kernel
from .netspec import PortBinding


class PortInUse(MinidockerError):
    exit_code = 125


class PortProxy:
    def __init__(self, k: Kernel, bindings: tuple[PortBinding, ...]):
        self.k = k
        self.listeners: list[tuple[PortBinding, socket.socket]] = []
        self.closed = threading.Event()
        try:
            for b in bindings:
                try:
                    sock = k.open_port(b.host_ip, b.host_port, b.proto)
                except OSError as e:
                    if e.errno == errno.EADDRINUSE:
                        raise PortInUse(f"Bind for {b.host_ip}:{b.host_port} failed: port is already allocated") from None
                    raise PortInUse(f"cannot publish {b}: {e.strerror or e}") from None
                port = sock.getsockname()[1]
                self.listeners.append((PortBinding(b.container_port, b.proto, b.host_ip, port), sock))
        except BaseException:
            self.close()
            raise

    @property
    def bindings(self) -> tuple[PortBinding, ...]:
        """What is published, with the host ports actually bound."""
        return tuple(b for b, _ in self.listeners)

    def start(self, target_ip: str) -> None:
        for b, sock in self.listeners:
            serve = self._tcp if b.proto == "tcp" else self._udp
            threading.Thread(target=serve, args=(sock, target_ip, b.container_port), daemon=True,
                             name=f"minidocker-proxy-{b.host_port}").start()

    def close(self) -> None:
        self.closed.set()
        for _, sock in self.listeners:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept
            except OSError:
                pass
            sock.close()

    # -- TCP: one pair of pumps per connection ---------------------------------------
    def _tcp(self, listener: socket.socket, ip: str, port: int) -> None:
        while not self.closed.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client, ip, port), daemon=True).start()

    def _relay(self, client: socket.socket, ip: str, port: int) -> None:
        try:
            upstream = self.k.connect(ip, port, "tcp")
        except OSError:
            client.close()  # nothing listens in the container: the client sees the close
            return
        done = threading.Event()

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
                dst.shutdown(socket.SHUT_WR)  # pass the half-close on
            except OSError:
                pass
            if done.is_set():
                src.close()
                dst.close()
            done.set()

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)

    # -- UDP: a connected socket per client, answers relayed back --------------------
    def _udp(self, listener: socket.socket, ip: str, port: int) -> None:
        peers: dict[tuple, socket.socket] = {}
        while not self.closed.is_set():
            try:
                data, client = listener.recvfrom(65536)
            except OSError:
                break
            upstream = peers.get(client)
            if upstream is None:
                try:
                    upstream = peers[client] = self.k.connect(ip, port, "udp")
                except OSError:
                    continue
                threading.Thread(target=self._udp_back, args=(upstream, listener, client),
                                 daemon=True).start()
            try:
                upstream.send(data)
            except OSError:
                pass
        for s in peers.values():
            s.close()

    def _udp_back(self, upstream: socket.socket, listener: socket.socket, client) -> None:
        while not self.closed.is_set():
            try:
                data = upstream.recv(65536)
                listener.sendto(data, client)
            except ConnectionRefusedError:
                continue  # nothing listened yet when a datagram arrived: the client may retry
            except OSError:
                return

"""A container's terminal, shared: the supervisor's side (``TerminalPort``) and a client's.

A detached ``-t`` container's supervisor is the only reader of its pty master.
``TerminalPort`` lets others reach that terminal through a unix socket in the
container's directory: the daemon's attach (`docker run -it`, `docker attach`)
and resize, or a local ``minidocker attach``. ``connect`` and ``converse`` are the
client's side: a raw conversation between the user's terminal and the container's,
its size following the user's window.
"""

from __future__ import annotations

import json
import os
import socket

from .supervisor import close_listener, short_socket_path


class TerminalPort:
    """The terminal of a detached ``-t`` container, for whoever attaches: ``attach.sock``
    in its directory. This supervisor stays the only reader of the pty master; clients
    get copies of what it reads, as it comes (a prompt has no newline to wait for).

    A client sends one JSON line, and the port answers one line:

    * ``{"op": "attach", "stdin": bool, "backlog": bool}`` → ``ok``, then the connection
      is raw both ways: what the container shows goes to every attached client (and,
      as always, to the log); with ``stdin`` (and a container started with ``-i``) what
      the client sends is typed into the terminal. ``backlog`` asks also for what the
      container showed before any client attached (its last 64 KiB): ``docker run -it``
      attaches before the start, but the daemon can reach this port only after it.
      The client's half-close ends only its typing; its close, its attachment.
    * ``{"op": "resize", "height": H, "width": W}`` → ``ok`` (or ``{"error": …}``):
      TIOCSWINSZ on the master, and the kernel sends SIGWINCH to the program in front.
    """

    BACKLOG = 64 << 10
    HOLD = 1 << 20       # a client this far behind holds the container's output back
    GREETING = 4096

    def __init__(self, path: str, master: int, typing: bool):
        self.path, self.master, self.typing = path, master, typing
        self.listener: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with short_socket_path(path) as short:  # socket paths are limited to 108 bytes
            self.listener.bind(short)
            os.chmod(short, 0o600)
        self.listener.listen(8)
        self.listener.setblocking(False)
        # What clients typed goes in as the terminal takes it: a container that does not
        # read its input must not stop this supervisor (and with it the output).
        os.set_blocking(master, False)
        self.typed = bytearray()
        self.greeting: dict[int, tuple[socket.socket, bytearray]] = {}  # connected, line not read yet
        self.clients: dict[int, _TerminalClient] = {}
        self.backlog: bytearray | None = bytearray()  # None once a client attached

    def fds(self) -> list[int]:
        fds = [self.listener.fileno()] if self.listener is not None else []
        taking = len(self.typed) < self.HOLD
        return fds + list(self.greeting) + [fd for fd, c in self.clients.items() if c.reading and taking]

    def writers(self) -> list[int]:
        return [fd for fd, c in self.clients.items() if c.out] + ([self.master] if self.typed else [])

    def full(self) -> bool:
        return any(len(c.out) >= self.HOLD for c in self.clients.values())

    def output(self, data: bytes) -> None:
        if self.backlog is not None:
            self.backlog += data
            del self.backlog[:-self.BACKLOG]
        for fd, c in list(self.clients.items()):
            c.out += data
            self.flush(fd)

    def handle(self, fd: int) -> None:
        if fd not in self.fds():
            return  # closed, or no longer read, since the select that found it ready
        if self.listener is not None and fd == self.listener.fileno():
            try:
                conn, _ = self.listener.accept()
            except BlockingIOError:
                return
            conn.setblocking(False)
            self.greeting[conn.fileno()] = (conn, bytearray())
        elif fd in self.greeting:
            self._read_greeting(fd)
        elif fd in self.clients:
            self._typed(fd)

    def _read_greeting(self, fd: int) -> None:
        conn, line = self.greeting[fd]
        try:
            data = conn.recv(self.GREETING)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        line += data
        if b"\n" not in line:
            if not data or len(line) > self.GREETING:
                del self.greeting[fd]
                conn.close()
            return
        del self.greeting[fd]
        head, _, rest = bytes(line).partition(b"\n")
        try:
            request = json.loads(head)
            op = request["op"]
        except (ValueError, KeyError, TypeError):
            conn.close()
            return
        if op == "resize":
            try:
                set_window_size(self.master, int(request["height"]), int(request["width"]))
                answer = b"ok\n"
            except (OSError, ValueError, KeyError, TypeError) as e:
                answer = json.dumps({"error": f"cannot resize the terminal: {e}"}).encode() + b"\n"
            _send_closing(conn, answer)
        elif op == "attach":
            client = _TerminalClient(conn, bool(request.get("stdin")) and self.typing)
            client.out += b"ok\n"
            if request.get("backlog") and self.backlog:
                client.out += self.backlog
            self.backlog = None
            self.clients[fd] = client
            if rest and client.typing:
                self._type(rest)
            self.flush(fd)
        else:
            conn.close()

    def _typed(self, fd: int) -> None:
        client = self.clients[fd]
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self._drop(fd)
            return
        if not data:
            client.reading = False  # no more typing; it may still be reading
            return
        if client.typing:
            self._type(data)

    def _type(self, data: bytes) -> None:
        self.typed += data
        self.flush(self.master)

    def flush(self, fd: int) -> None:
        if fd == self.master:
            try:
                del self.typed[:os.write(self.master, self.typed)]
            except BlockingIOError:
                pass
            except OSError:
                self.typed.clear()  # the terminal has no reader any more
            return
        client = self.clients.get(fd)
        if client is None or not client.out:
            return
        try:
            sent = client.sock.send(client.out)
        except BlockingIOError:
            return
        except OSError:
            self._drop(fd)
            return
        del client.out[:sent]

    def _drop(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is not None:
            client.sock.close()

    def close(self) -> None:
        """The container has ended: what is still owed goes out (for a moment), then all closes."""
        close_listener(self.listener, self.path)
        self.listener = None
        for conn, _ in self.greeting.values():
            conn.close()
        self.greeting.clear()
        for fd, client in list(self.clients.items()):
            if client.out:
                _send_closing(client.sock, bytes(client.out))
            else:
                client.sock.close()
        self.clients.clear()


class _TerminalClient:
    def __init__(self, sock: socket.socket, typing: bool):
        self.sock, self.typing = sock, typing
        self.reading = True   # until its half-close
        self.out = bytearray()


def _send_closing(conn: socket.socket, data: bytes, timeout: float = 5) -> None:
    """Send ``data`` (waiting at most ``timeout``), then close."""
    try:
        conn.settimeout(timeout)
        conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()


def set_window_size(pty_master: int, rows: int, columns: int) -> None:
    import fcntl
    import struct
    import termios
    if not (0 <= rows <= 0xFFFF and 0 <= columns <= 0xFFFF):
        raise ValueError(f"{rows}x{columns} is not a terminal size")
    fcntl.ioctl(pty_master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


# -- the client's side ------------------------------------------------------------------

def connect(path: str, request: dict) -> socket.socket:
    """A connection to the ``TerminalPort`` at ``path`` that has accepted ``request``."""
    from ..errors import MinidockerError
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with short_socket_path(path) as short:
            sock.connect(short)
        sock.sendall(json.dumps(request).encode() + b"\n")
        answer = b""
        while not answer.endswith(b"\n") and len(answer) < TerminalPort.GREETING:
            byte = sock.recv(1)  # one at a time: what follows the line is the container's
            if not byte:
                break
            answer += byte
    except OSError:
        answer = b""
    if answer != b"ok\n":
        sock.close()
        try:
            reason = json.loads(answer)["error"]
        except (ValueError, KeyError, TypeError):
            reason = "the container's terminal does not answer (has the container ended?)"
        raise MinidockerError(reason)
    return sock


def resize(path: str, rows: int, columns: int) -> None:
    """Set the size of the terminal behind the ``TerminalPort`` at ``path``."""
    connect(path, {"op": "resize", "height": rows, "width": columns}).close()


def window_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal ``fd``, or None when it is not one."""
    import fcntl
    import struct
    import termios
    try:
        return struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    except OSError:
        return None


def raw(read):
    """A terminal's output as ("stdout", bytes) pairs, from ``read(n)`` until it ends."""
    while chunk := read(65536):
        yield "stdout", chunk


class Typing:
    """Our stdin to ``sock``, from a thread; its end is the container's end of input
    (a half-close). With ``detach_keys``, Ctrl-P Ctrl-Q (Docker's) lets go of the
    container instead: the connection closes and the container runs on."""

    DETACH = b"\x10\x11"

    def __init__(self, sock: socket.socket, fd: int, detach_keys: bool):
        self.sock, self.fd, self.detach_keys = sock, fd, detach_keys
        self.detached = False

    def start(self) -> None:
        import threading
        threading.Thread(target=self._pump, daemon=True, name="minidocker-stdin").start()

    def _pump(self) -> None:
        held = b""  # the start of the detach keys, until what follows says whether they are
        try:
            while chunk := os.read(self.fd, 65536):
                data, held = held + chunk, b""
                if self.detach_keys:
                    if self.DETACH in data:
                        self.sock.sendall(data[:data.index(self.DETACH)])
                        self.detached = True
                        self.sock.shutdown(socket.SHUT_RDWR)
                        return
                    if data.endswith(self.DETACH[:1]):
                        data, held = data[:-1], data[-1:]
                self.sock.sendall(data)
            self.sock.sendall(held)
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def converse(sock: socket.socket, output, attach, *, typing: bool, detach_keys: bool,
             resize=None) -> bool:
    """The user's side of an attached container: our stdin up ``sock`` (when ``typing``),
    ``output``'s (stream, bytes) pairs to our stdout/stderr until it ends; with ``resize``
    (``resize(rows, columns)``), our window's size now and on every SIGWINCH.
    False when the user detached."""
    import signal
    import threading
    pump = Typing(sock, attach.stdin, detach_keys) if typing and attach.stdin is not None else None
    if pump is None:
        sock.shutdown(socket.SHUT_WR)  # nothing to send; the output keeps coming

    def resized(*_):
        size = window_size(attach.stdout)
        if size is not None:
            resize(*size)

    old = None
    if resize is not None and threading.current_thread() is threading.main_thread():
        old = signal.signal(signal.SIGWINCH, resized)
    try:
        if resize is not None:
            resized()
        if pump is not None:
            pump.start()
        try:
            for stream, data in output:
                os.write(attach.stderr if stream == "stderr" else attach.stdout, data)
        except OSError:
            if pump is None or not pump.detached:
                raise
    finally:
        if old is not None:
            signal.signal(signal.SIGWINCH, old)
    return pump is None or not pump.detached

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


def sleeping_child(seconds: float, code: int = 0) -> int:
    """A forked child of the test that sleeps ``seconds``, then exits with ``code``; its PID."""
    import time
    pid = os.fork()
    if pid == 0:
        time.sleep(seconds)
        os._exit(code)
    return pid


def stop_daemon(proc, timeout: float = 20) -> str:
    """Stop a ``start_daemon`` daemon; what it printed, printed again so that pytest
    shows the daemon's log (a traceback behind a 500, say) beside a failing test."""
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(out)
    return out


class Terminal:
    """A program on a pseudo-terminal of its own, driven as a user would: type, wait for
    what it shows, resize the window (the kernel sends it SIGWINCH), read its exit code."""

    def __init__(self, argv: list[str], env: dict | None = None, rows: int = 24, columns: int = 80):
        import pty
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execvpe(argv[0], argv, env if env is not None else os.environ)
            finally:
                os._exit(127)
        self.output = b""
        self.code: int | None = None
        self.resize(rows, columns)

    def resize(self, rows: int, columns: int) -> None:
        import fcntl
        import struct
        import termios
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def type(self, text: str | bytes) -> None:
        os.write(self.fd, text.encode() if isinstance(text, str) else text)

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False once the program's side has closed."""
        import select
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the last process on the terminal has gone
            return False
        self.output += data
        return bool(data)

    def expect(self, text: str | bytes, timeout: float = 20) -> None:
        """Wait until the output (from the start) contains ``text``."""
        import time
        want = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while want not in self.output:
            assert time.monotonic() < deadline, f"{want!r} not shown; the terminal shows {self.output!r}"
            if not self._read(0.1):
                assert want in self.output, f"{want!r} not shown before the end: {self.output!r}"

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def say(self, text: str | bytes, answer: str) -> None:
        """Type ``text``, wait for ``answer``."""
        self.type(text)
        self.expect(answer)

    def ask(self, command: str, answer: str, timeout: float = 20) -> None:
        """Type ``command`` until the output shows ``answer`` (for what takes effect a
        moment later, as a resize does: the client passes it on as a request of its own)."""
        import time
        deadline = time.monotonic() + timeout
        seen = len(self.output)
        while answer.encode() not in self.output[seen:]:
            assert time.monotonic() < deadline, f"{answer!r} not shown; the terminal shows {self.output!r}"
            self.type(command)
            until = time.monotonic() + 0.5
            while answer.encode() not in self.output[seen:] and time.monotonic() < until:
                if not self._read(0.1):
                    break

    def wait(self, timeout: float = 30) -> int:
        """Read to the end; the program's exit code."""
        import time
        deadline = time.monotonic() + timeout
        while self._read(0.1):
            if time.monotonic() > deadline:
                self.close()
                raise AssertionError(f"the program did not end; the terminal shows {self.output!r}")
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        self.code = os.waitstatus_to_exitcode(status)
        return self.code

    def close(self) -> None:
        """Kill it if it still runs (a failed test must not leave it behind)."""
        if self.code is None:
            import signal
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            os.close(self.fd)
            self.code = -9


def check_a_shell_follows_its_window(term: Terminal, rows: int, columns: int, code: int) -> None:
    """A busybox sh on ``term`` (made ``rows`` x ``columns``): its prompt, a sum, ``stty size``
    before and after a resize (SIGWINCH for the client, which passes it on), ``exit code``."""
    term.expect("/ # ")                         # the prompt: no newline after it
    term.say("echo $((6*7))\n", "42\r\n")
    term.ask("stty size\n", f"{rows} {columns}\r\n")  # through a daemon, the size comes after the start
    term.resize(rows + 10, columns + 20)
    term.ask("stty size\n", f"{rows + 10} {columns + 20}\r\n")
    term.type(f"exit {code}\n")
    assert term.wait() == code, term.output


EARLY = "echo early; read x; echo got $x; exit 4"


def check_what_came_before_the_attach_is_shown(term: Terminal) -> None:
    """``sh -c EARLY`` on ``term``: what it said before a client reached its terminal is kept."""
    term.expect("early\r\n")
    term.say("typed\n", "got typed\r\n")
    assert term.wait() == 4, term.output

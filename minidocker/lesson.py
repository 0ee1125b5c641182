"""Small helpers for the notebooks: run a container and see its output, check an answer.

A lesson cell should read like the step it teaches, so the plumbing lives
here: ``run`` starts a container attached to pipes and returns what it
printed; ``check`` verifies a "check yourself" answer and says so; ``steps``
prints a trace's kernel calls one per line, with their reasons; ``start``
runs a container in the background where the notebook can look at it;
``fetch`` gets a page from a container's published port.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .engine import Engine


@dataclass
class Result:
    code: int
    out: str
    err: str
    id: str

    def __repr__(self) -> str:   # what a notebook cell shows
        text = self.out + (self.err if self.err else "")
        return text + f"(exit code {self.code})"


def engine(root=None) -> Engine:
    """The engine for a lesson; says which kernel it runs on."""
    e = Engine(root)
    k = e.kernel
    print(f"kernel: {'simulated' if k.simulated else 'real Linux'} ({k.name}); "
          f"state in {e.store.root}")
    return e


def run(e: Engine, image: str, *cmd: str, keep: bool = False, **options) -> Result:
    """Run ``cmd`` in a new container from ``image``; its exit code and output.

    The container is removed afterwards unless ``keep`` (then ``inspect`` it by ``id``).
    """
    from .runtime.supervisor import Attach
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        record, code = e.run(image, list(cmd) or None, attach=Attach(None, out_w, err_w),
                             auto_remove=not keep, **options)
    finally:
        os.close(out_w)
        os.close(err_w)
    with os.fdopen(out_r, "rb") as o, os.fdopen(err_r, "rb") as err:
        return Result(code, o.read().decode(errors="replace"), err.read().decode(errors="replace"),
                      record.id)


def sh(e: Engine, script: str, image: str = "busybox", **options) -> Result:
    """``run(e, image, "sh", "-c", script)``."""
    return run(e, image, "sh", "-c", script, **options)


STILL_RUNNING = 0.1   # s a background container must have run before `start` calls it started


def start(e: Engine, image: str, *cmd: str, name: str, timeout: float = 10, **options):
    """Start ``cmd`` in a background container called ``name``; its record once it runs.

    This is ``run -d`` on both kernels (on the simulator the container's supervisor is a
    thread of this notebook's process, so diagrams, ``top``, ``exec`` and cgroup readings
    see it). It ends with the notebook's process at the latest.
    """
    import atexit
    import time
    from .runtime import cgroups
    from .runtime.state import EXITED, RUNNING
    record, _ = e.run(image, list(cmd) or None, detach_=True, name=name, **options)
    # a lesson's background container ends with the notebook, even one stopped halfway
    atexit.register(_remove_quietly, e, record.id)
    deadline = time.monotonic() + timeout
    seen_running = None
    while time.monotonic() < deadline:   # running, with its processes in its cgroup
        record = e.containers.find(record.id)
        status = record.observed_status(e.kernel)
        if status == EXITED:
            raise RuntimeError(f"container {name} exited as soon as it started")
        if status == RUNNING and cgroups.manager(e.kernel, record.id).pids():
            # still running a moment later: a command that ends at once (`true`, a typo
            # that makes `sh -c` fail) may just not have ended at the first look
            if seen_running is not None and time.monotonic() - seen_running >= STILL_RUNNING:
                return record
            seen_running = seen_running or time.monotonic()
        time.sleep(0.02)
    raise TimeoutError(f"container {name} did not start within {timeout}s")


def _remove_quietly(e: Engine, container_id: str) -> None:
    try:
        e.rm(container_id, force=True)
    except Exception:   # removed already, as a lesson does at its end
        pass


def fetch(url: str, timeout: float = 30) -> str:
    """The page at ``url``, fetched from the host (the notebook's process); tried again
    while the server in the container is still starting, up to ``timeout`` seconds."""
    import time
    import urllib.request
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=max(1.0, deadline - time.monotonic())) as r:
                return r.read().decode(errors="replace")
        except OSError:   # refused, reset or closed: nothing listens yet
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def check(condition: bool, what: str) -> None:
    """A "check yourself" verification: passes with a line saying what was checked, or fails."""
    if not condition:
        raise AssertionError(f"check failed: {what}")
    print(f"✓ check passed: {what}")


def steps(trace, ops: tuple[str, ...] | None = None, limit: int | None = None) -> None:
    """Print the kernel calls of a ``minidocker.trace()`` block, one per line with its reason."""
    shown = 0
    for event in trace.events:
        if ops is not None and event.op not in ops:
            continue
        if ops is None and event.op in ("chown", "getxattr", "listxattr", "read_file",
                                        "process_alive", "waitpid"):
            continue
        who = "container" if event.context.get("ns", {}).get("mnt") != \
            trace.events[0].context.get("ns", {}).get("mnt") else "runtime  "
        print(f"[{who}] {event.line()}")
        shown += 1
        if limit is not None and shown >= limit:
            break

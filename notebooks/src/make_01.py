"""Notebook 01: namespaces — pid, mount, uts, ipc, net; a chroot breakout and why pivot_root stops it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import code, md, write  # noqa: E402

cells = [
    md("""
    # 01 · Namespaces: what a container can see

    A container is not a virtual machine. Its processes run on the host's kernel, next to
    every other process. What makes them a *container* is that the kernel shows them a
    smaller world: their own process numbers, their own files, their own host name, their
    own network. Each of these private views is a **namespace**.

    **In this notebook you will:**

    1. watch the runtime ask the kernel for new namespaces, step by step;
    2. see each namespace at work: **UTS** (host name), **PID** (process numbers),
       **mount** (the filesystem), **IPC** and **net**;
    3. compare the host's view of a running container with the container's own view;
    4. break out of a plain `chroot` jail, and see why `pivot_root` in a mount namespace
       leaves nothing to break out to;
    5. check what you learned.
    """),
    md("""
    ## Setup

    The engine, and a base image to run.
    """),
    code("""
    import json, os, socket, tempfile
    import minidocker
    from minidocker import lesson, viz
    from minidocker.engine import Engine
    from minidocker.kernel import base
    from minidocker.viz import namespaces

    e = lesson.engine()
    e.bootstrap("busybox");
    """),
    md("""
    ## Step 1 · The runtime's kernel calls

    Run one container under `minidocker.trace()` and keep only the calls that make
    namespaces and the new root. Read the reasons on the right.

    - `unshare(CLONE_NEWPID)`: the *next child* will be PID 1 of a new PID namespace.
    - `fork()`: that child is the container's first process.
    - `unshare(CLONE_NEWNS|CLONE_NEWUTS|…)`: the child leaves the host's mount, UTS,
      IPC, network and cgroup namespaces.
    - `pivot_root` and `umount(…, MNT_DETACH)`: the image becomes `/`, and the host's
      filesystem is cut off (more on this in Step 7).
    - `execve`: the container's program replaces the runtime's code.
    """),
    code("""
    with minidocker.trace() as t:
        traced = Engine(e.store.root)     # the same state, seen through the tracer
        lesson.sh(traced, "true", hostname="lesson")
    lesson.steps(t, ops=("unshare", "fork", "sethostname", "loopback_up", "pivot_root",
                         "umount", "execve"))
    """),
    md("""
    The same trace, drawn: the runtime on the host, the container's first process in its
    own namespaces, and the mounts that make up its filesystem.
    """),
    code("""
    namespaces.draw(namespaces.from_events(t.events, title="one container start, from its trace"))
    """),
    md("""
    ## Step 2 · Namespaces have identities

    Start a container in the background (`lesson.start`, like `docker run -d`), so that we
    can look at it while it runs. It just sleeps in a loop.
    """),
    code("""
    box = lesson.start(e, "busybox", "sh", "-c", "while :; do sleep 1; done",
                       name="box", hostname="box")
    box_pid = e.containers.find("box").state.Pid      # its first process, as the host numbers it
    print("running; its first process is PID", box_pid, "on the host")
    """),
    md("""
    Every process has a link `/proc/PID/ns/KIND` for each kind of namespace. Two processes
    are in the same namespace exactly when their links show the same number. Compare the
    host (this notebook's own process, `self`) with the container's first process.
    """),
    code("""
    KINDS = ["pid", "mnt", "uts", "ipc", "net"]

    def ns_links(pid="self"):
        return {kind: e.kernel.fs.readlink(f"/proc/{pid}/ns/{kind}") for kind in KINDS}

    host_ns, box_ns = ns_links(), ns_links(box_pid)
    print(f"{'namespace':<10}{'host':>20}{'container box':>20}")
    for kind in KINDS:
        print(f"{kind:<10}{host_ns[kind]:>20}{box_ns[kind]:>20}")
    """),
    md("""
    Every number differs: the container shares none of these five namespaces with the host.

    ## Step 3 · UTS: the host name

    The UTS namespace holds the host name. `--hostname` (here `hostname="lesson"`) sets it
    in the container's new UTS namespace; the host's own name does not change.
    """),
    code("""
    print("inside: ", lesson.sh(e, "hostname", hostname="lesson").out, end="")
    print("on the host:", socket.gethostname())
    """),
    md("""
    ## Step 4 · PID: the container's first process is PID 1

    The PID namespace numbers processes from 1. Inside, `ps` shows only the container's
    own processes, and the shell is PID 1 — the role `init` plays on a whole machine.
    """),
    code("""
    lesson.sh(e, "echo my PID is $$; ps; true")
    """),
    md("""
    The host sees the container's processes under other numbers. Ask the engine for the
    processes of `box` as the host numbers them (`docker top`).
    """),
    code("""
    for row in e.top("box"):
        print(f"host PID {row['PID']:>6}  {row['CMD']}")
    """),
    md("""
    ## Step 5 · Mount: the container's own mount table

    The mount namespace holds the list of mounted filesystems. The container's table
    starts with its overlay (the image's layers plus its writable layer) as `/`, then a
    fresh `/proc`, a small `/dev`, and a read-only `/sys`. Nothing from the host's table
    is in it.
    """),
    code("""
    lesson.sh(e, "cat /proc/self/mounts | cut -d' ' -f1-3 | head -8")
    """),
    md("""
    Here is the whole picture for the running container `box`: on the left the host's
    processes and mount table, inside the box the container's. The process in the box has
    two PIDs: 1 in its namespace, another on the host.
    """),
    code("""
    viz.host_and_container(e, "box")
    """),
    md("""
    ## Step 6 · IPC and net

    The **IPC** namespace holds System V shared memory, semaphores and POSIX message
    queues (`/dev/mqueue`): processes in different containers cannot meet there. The
    **net** namespace holds network interfaces, addresses, routes and ports: a new one
    has only a loopback interface `lo` (which the runtime brings up, see `loopback_up()`
    in Step 1). A later notebook connects containers to a network.

    A second container, started while `box` runs, gets IPC and net namespaces of its own:
    """),
    code("""
    def ns_inside(kind, **options):
        # the namespace link of a new container's shell, read from inside
        return lesson.sh(e, f"readlink /proc/self/ns/{kind}", **options).out.strip()

    for kind in ("ipc", "net"):
        print(f"{kind}: box {box_ns[kind]}, a new container {ns_inside(kind)}, host {host_ns[kind]}")
    """),
    md("""
    ## Step 7 · Break it: escape from a `chroot` jail

    Before namespaces there was `chroot`: it changes where `/` is for one process. It looks
    like isolation, but it is not. `chroot` moves the root *without moving the working
    directory*, and `..` stops only at the root. A root process in a jail can:

    1. make a directory and `chroot` into it — now the working directory is *above* the new root;
    2. `chdir("..")` again and again — it never meets its root, so it climbs to the host's `/`;
    3. `chroot(".")` — and the whole host is its root again.

    The experiment runs in a throwaway child process (`os.fork`), which only *lists* `/`
    and exits. Nothing on the host changes.

    The same child then tries again in a jail made the way a container is made: a new
    mount namespace, `pivot_root` into the jail, and `umount` of the old root with
    `MNT_DETACH`. After that, no directory anywhere in the process's world leads to the
    host: there is nothing left to climb to.
    """),
    code("""
    def make_jail():
        jail = tempfile.mkdtemp(prefix="jail-")
        open(os.path.join(jail, "THIS_IS_THE_JAIL"), "w").close()
        return jail

    def escape_attempt(jail, pivot):
        \"\"\"In a child process: lock it in `jail`, then try the chroot escape.
        Returns what `/` held before and after the attempt. Every step is a call to the
        engine's kernel, so the same experiment runs on Linux and on the simulator.\"\"\"
        k = e.kernel
        r, w = os.pipe()

        def child():                       # all of this happens only in the child
            result = {}
            try:
                if pivot:                  # what the runtime does for a container
                    k.unshare(base.CLONE_NEWNS)                           # own mount table
                    k.mount("", "/", None, base.MS_REC | base.MS_PRIVATE)  # nothing propagates out
                    k.mount(jail, jail, None, base.MS_BIND)               # the jail: a mount point
                    k.chdir(jail)
                    k.pivot_root(".", ".")                                # the jail becomes /
                    k.umount(".", base.MNT_DETACH)                        # the host's / is cut off
                    k.chdir("/")
                else:                      # a plain chroot jail
                    k.chroot(jail)
                    k.chdir("/")
                result["inside"] = sorted(k.fs.listdir("/"))
                k.fs.mkdir("/deeper")
                k.chroot("/deeper")        # 1. the root moves down, the working directory stays
                for _ in range(100):
                    k.chdir("..")          # 2. climb: ".." stops only at the root
                k.chroot(".")              # 3. make wherever we got to the root
                result["after"] = sorted(k.fs.listdir("/"))
            except Exception as err:
                result["error"] = repr(err)
            k.fs.write(w, json.dumps(result).encode())
            k.fs._exit(0)

        pid = k.fork(child)
        os.close(w)
        with os.fdopen(r) as f:
            result = json.loads(f.read())
        k.waitpid(pid)
        return result
    """),
    code("""
    chroot_result = escape_attempt(make_jail(), pivot=False)
    print("in the jail, / holds:   ", chroot_result["inside"])
    print("after the escape, / holds:", chroot_result["after"])
    """),
    code("""
    pivot_result = escape_attempt(make_jail(), pivot=True)
    print("in the jail, / holds:   ", pivot_result["inside"])
    print("after the escape, / holds:", pivot_result["after"])
    """),
    md("""
    The container you ran is built exactly like the second jail. Inside it, `..` from `/`
    is `/`, and `/proc/1/root` (the root of PID 1, a classic way out) is the container's
    own root. The host's files — including the directory where minidocker keeps the
    container — are not there at all. This part runs on both kernels.
    """),
    code("""
    lesson.sh(e, f"cd /; cd ../../..; echo now in $(pwd); readlink /proc/1/root; "
                 f"ls {e.store.root} 2>&1; true")
    """),
    md("""
    **Experiment 2.** Could a container undo its namespaces from inside — rename the host,
    or mount something? The runtime keeps only Docker's 14 default capabilities, so
    `CAP_SYS_ADMIN` (needed for `sethostname` and `mount`) is gone even for root.
    """),
    code("""
    lesson.sh(e, "hostname hacked; mkdir -p /mnt; mount -t tmpfs none /mnt; echo host name is still $(hostname)",
              hostname="lesson")
    """),
    md("""
    ## Check yourself

    **Q1.** The background container `box` runs `sh`. What is its PID inside the container,
    and is it the same number on the host?
    """),
    code("""
    seen = namespaces.from_container(e, "box")
    shell = next(p for p in seen.processes if p.in_container and "while" in p.command)
    host_pid, inner_pid = shell.pids[0], shell.pids[-1]
    print(f"inside: PID {inner_pid}; on the host: PID {host_pid}")
    lesson.check(inner_pid == 1 and host_pid != 1,
                 "the container's first process is PID 1 inside and another PID on the host")
    """),
    md("""
    **Q2.** Do two running containers share a UTS namespace? If one could change its host
    name, would the other see it?
    """),
    code("""
    other = ns_inside("uts")          # a new container, while box still runs
    print("box:", box_ns["uts"], " new container:", other)
    lesson.check(other != box_ns["uts"] and other != host_ns["uts"],
                 "each container has its own UTS namespace")
    """),
    md("""
    **Q3.** After `pivot_root` and the detached `umount`, can a process inside the container
    reach the host's files by climbing `..` or through `/proc/1/root`?
    """),
    code("""
    found = lesson.sh(e, f"cd /proc/1/root/../../..; ls {e.store.root} >/dev/null 2>&1 && echo reached || echo nowhere")
    print(found.out, end="")
    ok = found.out.strip() == "nowhere"
    ok = ok and "THIS_IS_THE_JAIL" in pivot_result["after"] \
        and "THIS_IS_THE_JAIL" not in chroot_result["after"]
    lesson.check(ok, "after pivot_root in a mount namespace, no path leads back to the host")
    """),
    md("""
    ## Clean up
    """),
    code("""
    e.rm("box", force=True)
    print("containers left:", len(e.ps_rows(all_=True)))
    """),
    md("""
    ## Summary

    - A **namespace** gives a process a private view of one kind of kernel object:
      **PID** (process numbers), **mount** (the filesystem), **UTS** (host name),
      **IPC** (shared memory, queues), **net** (interfaces, ports), and **cgroup**.
    - The runtime makes them with `unshare`; a container's first process is **PID 1**
      inside and an ordinary process on the host.
    - `chroot` alone is not a wall: a root process climbs out of it with `chroot` + `..`.
    - A container uses a **mount namespace + `pivot_root` + a detached `umount`** of the
      old root: the host's filesystem is no longer anywhere in its world.
    - Dropped capabilities keep root inside from changing its namespaces.

    Next: **02 · cgroups** — namespaces limit what a container *sees*; cgroups limit what
    it *uses*.
    """),
]

if __name__ == "__main__":
    print(write("01_namespaces", cells))

"""Notebook 00: a tour of the engine — CLI, API and daemon; images and containers."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import code, md, write  # noqa: E402

cells = [
    md("""
    # 00 · A tour of the engine: images, containers, CLI, API, daemon

    Docker is a platform that packs an application with everything it needs into a
    standard unit, a **container**. It has three parts:

    - the **Docker Engine**, which manages containers and talks to the operating system.
      The engine itself has three pieces: the **CLI** (the `docker` command you type),
      the **daemon** (the process that does the work) and the **API** (how the CLI, or any
      program, asks the daemon to do something);
    - **images**: templates for containers, made of read-only layers;
    - **containers**: running instances of images.

    minidocker is a small Docker written in Python so that you can look inside it.

    **In this notebook you will:**

    1. see the engine's parts and how a command travels from the CLI to the kernel;
    2. make an image and read its layers;
    3. run containers from it and see that each one gets its own writable layer;
    4. use the command-line interface, and meet the API the daemon serves;
    5. break something on purpose, and check what you learned.

    Every cell does one thing. Run them from top to bottom.
    """),
    md("""
    ## Setup

    `lesson.engine()` makes the engine for this notebook. It says which kernel it uses:
    the **real Linux kernel** (when you are root on Linux) or the **simulated kernel**
    (anywhere). Everything below works the same on both.
    """),
    code("""
    import os, subprocess, sys
    import minidocker
    from minidocker import lesson, viz

    e = lesson.engine()
    """),
    md("""
    ## Step 1 · The engine's parts

    The picture below is the whole engine. You type a command; the **CLI** turns it into
    a request; the request goes through the **API** to the **daemon**; the daemon asks the
    **kernel** for namespaces, cgroups and mounts. Images and containers are the daemon's
    state on disk.

    In minidocker the daemon's work is done by one Python object, the `Engine`. The CLI
    can call it directly (that is what `minidocker run` does), and `minidocker daemon`
    serves the very same object over Docker's HTTP API. This notebook calls it
    directly, as `e`.
    """),
    code("""
    from minidocker.viz import Diagram, style

    g = style.new_graph("engine", rankdir="LR")
    g.attr(label="the Docker Engine: CLI → API → daemon → kernel", labelloc="t")
    g.node("you", style.table("you", ["a terminal, a script, this notebook"], fill=style.HOST))
    with g.subgraph(name="cluster_engine") as eng:
        eng.attr(label="Docker Engine", style="rounded", color="#999999")
        eng.node("cli", style.table("CLI", ["docker run …", "minidocker run …"], fill=style.IMAGE))
        eng.node("api", style.table("API", ["HTTP on a unix socket", "POST /containers/create"],
                                      fill=style.IMAGE))
        eng.node("daemon", style.table("daemon", ["dockerd / minidocker daemon",
                                                  "the Engine object (e)"], fill=style.IMAGE))
    g.node("images", style.table("images", ["read-only layers", "templates"], fill=style.REUSED))
    g.node("containers", style.table("containers", ["an image + a writable layer",
                                                    "+ isolated processes"], fill=style.MADE))
    g.node("kernel", style.table("kernel", ["namespaces, cgroups, mounts",
                                            "real Linux or simulated"], fill=style.CONTAINER))
    g.edge("you", "cli", label="types")
    g.edge("cli", "api", label="request")
    g.edge("api", "daemon", label="one call per route")
    g.edge("daemon", "images", label="stores")
    g.edge("daemon", "containers", label="runs")
    g.edge("daemon", "kernel", label="system calls")
    Diagram(g)
    """),
    md("""
    ## Step 2 · Make an image

    Docker usually *pulls* an image from a registry. This course works offline, so
    minidocker *bootstraps* a tiny base image instead: one layer with
    [BusyBox](https://busybox.net) (a shell and the usual Unix tools in one program).
    """),
    code("""
    image = e.bootstrap("busybox")
    print("image id:", image.id)
    print("layers:  ", len(image.manifest.layers))
    """),
    md("""
    ## Step 3 · List the images

    `e.image_rows()` is what `docker images` prints, one dictionary per tag, with
    Docker's own field names.
    """),
    code("""
    for row in e.image_rows():
        print(f"{row['Repository']}:{row['Tag']}  id {row['ID']}  size {row['Size']}")
    """),
    md("""
    ## Step 4 · Read the image's history

    An image is a stack of **layers**. Each layer is one change to the filesystem, made by
    one step of its recipe (the Dockerfile). Some steps only change settings (like the
    default command): they appear in the history with size 0 and add no layer.
    The newest step is on top.
    """),
    code("""
    for row in e.history("busybox"):
        print(f"{row['ID']:<12}  {row['Size']:>8}  {row['CreatedBy'][:60]}")
    """),
    code("""
    viz.image_layers(e, "busybox")
    """),
    md("""
    ## Step 5 · Run a container

    A **container** is an image brought to life: the image's layers, one more writable
    layer on top, and a process isolated from the rest of the machine.
    `lesson.sh(e, script)` runs `sh -c script` in a new container and returns its output
    and exit code. The container is removed afterwards, like `docker run --rm`.
    """),
    code("""
    lesson.sh(e, "echo hello from $(hostname); echo my PID is $$")
    """),
    md("""
    The host name is the container's short ID, and the shell believes it is process 1.
    Both are lies the kernel tells the container: notebook 01 shows how.

    ## Step 6 · What the engine asked the kernel

    `minidocker.trace()` records every kernel call made inside a `with` block. An engine
    made inside the block uses the tracing kernel. Here are the main steps of a
    `docker run`, with the reason for each. Lines marked `[container]` were made by the
    container's first process, after it had left the host's namespaces.
    """),
    code("""
    from minidocker.engine import Engine

    with minidocker.trace() as t:
        traced = Engine(e.store.root)          # the same state, seen through the tracer
        lesson.sh(traced, "true")
    lesson.steps(t, ops=("unshare", "fork", "sethostname", "pivot_root", "execve"))
    """),
    md("""
    ## Step 7 · Each container has its own writable layer

    The image's layers are **read-only**. When a container writes a file, the file goes
    into the container's own writable layer, on top of the image. Run two containers
    that both write a file, and keep them (`keep=True`) so that we can look at them.
    """),
    code("""
    first = lesson.sh(e, "echo one > /note.txt; cat /note.txt", keep=True)
    second = lesson.sh(e, "echo two > /note.txt; cat /note.txt", keep=True)
    print(first.out + second.out, end="")
    """),
    code("""
    viz.image_layers(e, "busybox", container=first.id)
    """),
    md("""
    Both containers stand on the **same** image layers: they are stored once, however
    many containers use them. Only the writable layers (orange) are per container.
    """),
    code("""
    viz.shared_layers(e)
    """),
    md("""
    A new container starts from the image again, so it does not see `/note.txt`:
    what a container writes never changes the image.
    """),
    code("""
    lesson.sh(e, "cat /note.txt")
    """),
    md("""
    ## Step 8 · The same engine, from the command line

    The `minidocker` command is the CLI. It parses what you type and calls the same
    `Engine`, on the same state directory, so it sees the image and the two kept
    containers. (`sys.executable -m minidocker` is the `minidocker` command of this
    Python.)
    """),
    code("""
    def cli(*args, quiet=False):
        \"\"\"Run the `minidocker` command on this notebook's state; print (or return) its output.\"\"\"
        env = dict(os.environ, MINIDOCKER_ROOT=str(e.store.root))
        done = subprocess.run([sys.executable, "-m", "minidocker", *args], env=env,
                              capture_output=True, text=True, timeout=60)
        if quiet:
            return done.stdout
        print(done.stdout + done.stderr, end="")

    cli("images")
    """),
    code("""
    cli("ps", "-a")
    """),
    code("""
    cli("run", "--rm", "busybox", "echo", "hello from the CLI")
    """),
    md("""
    ## Step 9 · The API the daemon serves

    Docker's CLI never runs containers itself: it sends HTTP requests to the daemon,
    `dockerd`, over the unix socket `/var/run/docker.sock`. `minidocker daemon` serves
    the same API (version 1.47) on its own socket, so the real `docker` CLI and the
    Python `docker` library can drive minidocker.

    We will not start a daemon here (notebook 06 does). But we can list the API's routes:
    each one maps an HTTP request to one call of the engine. Building this table starts
    nothing.
    """),
    code("""
    from minidocker.engine.api import API_VERSION, make_app

    routes = [(r.method, r.resource.canonical) for r in make_app(e).router.routes()
              if not r.resource.canonical.startswith("/v{")]
    print(f"Docker Engine API {API_VERSION}: {len(routes)} routes, for example")
    for method, path in routes:
        if path.startswith(("/images/json", "/containers/create", "/containers/{id}/start",
                            "/containers/{id}/wait", "/containers/json")):
            print(f"  {method:6} {path}")
    """),
    code("""
    cli("daemon", "--help")
    """),
    md("""
    So `docker run busybox echo hi` is, on the wire, three requests:
    `POST /containers/create` (make the container), `POST /containers/{id}/start`
    (start it) and `POST /containers/{id}/wait` (wait for its exit code).

    ## Break it

    **Experiment 1.** An image that a container still uses cannot be deleted: the
    container's filesystem stands on its layers. Try it.
    """),
    code("""
    from minidocker.errors import MinidockerError

    try:
        e.rmi("busybox")
    except MinidockerError as err:
        print("refused:", err)
    """),
    md("""
    **Experiment 2.** A container needs an image. Ask for one that is not here: the engine
    refuses before it starts anything (Docker's exit code for this is 125).
    """),
    code("""
    try:
        lesson.sh(e, "true", image="no-such-image")
    except MinidockerError as err:
        print(f"exit code {err.exit_code}: {err}")
    """),
    md("""
    ## Check yourself

    Answer each question in your head first, then run its cell: the cell computes the
    answer from the engine and checks it.

    **Q1.** The two containers from Step 7 wrote different files. How many copies of the
    image's layers are stored on disk?
    """),
    code("""
    sharing = viz.sharing.collect(e)
    copies = len(sharing.layers)
    print("layers stored:", copies, "— used by", [c.name for c in sharing.containers])
    lesson.check(copies == len(image.manifest.layers),
                 "the image's layers are stored once, whatever the number of containers")
    """),
    md("""
    **Q2.** Does a file written in a container change the image? (Run a new container
    and look for `/note.txt`.)
    """),
    code("""
    again = lesson.sh(e, "test -e /note.txt && echo present || echo absent")
    print(again.out)
    lesson.check(again.out.strip() == "absent", "a container's writes stay in its own layer")
    """),
    md("""
    **Q3.** The CLI and this notebook's `e`: do they see the same containers?
    """),
    code("""
    listed = cli("ps", "-a", "-q", quiet=True).split()
    mine = sorted(r["ID"] for r in e.ps_rows(all_=True))
    lesson.check(sorted(listed) == mine, "the CLI and the engine share one state: same containers")
    """),
    md("""
    ## Clean up
    """),
    code("""
    for c in (first, second):
        e.rm(c.id, force=True)
    print("containers left:", len(e.ps_rows(all_=True)))
    """),
    md("""
    ## Summary

    - The **engine** is a CLI, an API and a daemon. The CLI sends requests, the API
      defines them, the daemon does the work by asking the kernel.
    - An **image** is a stack of read-only layers, stored once and shared.
    - A **container** is an image plus its own writable layer plus isolated processes.
      What it writes never changes the image.
    - Starting a container is a list of kernel calls: new namespaces, a new root
      (`pivot_root`), then `execve` of the program.

    Next: **01 · Namespaces** — how the kernel gives a container its own host name,
    PIDs, mounts and network.
    """),
]

if __name__ == "__main__":
    print(write("00_engine_tour", cells))

"""Write notebooks/04_build_cache.ipynb, without outputs: ``python notebooks/src/make_04.py``.

The notebook is generated so that git only ever holds its source; edit this
file, not the .ipynb, and run it again.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import code, md, write  # noqa: E402

cells = [
    md("""
    # 04 · The build cache: which layers rebuild, and why

    The seed document describes an application image built from a recipe, a **Dockerfile**:
    a Debian base, then Node.js, then PostgreSQL, then the application. Each step makes one read-only
    layer. When you build again and nothing changed, every step comes **from the cache**.
    When you change the application, only the steps from that change on are rebuilt.

    **You will learn to**

    1. build an image from a Dockerfile and read the builder's output, step by step;
    2. predict which steps a rebuild takes from the cache, and read the reason for each miss;
    3. explain the cascade: once a step is rebuilt, every step after it is rebuilt too;
    4. measure what a badly ordered Dockerfile costs.

    Everything here runs offline, on the real kernel (as root) or on the simulated one.
    """),

    code("""
    import os
    import shutil
    import sys
    import tempfile
    import time
    from pathlib import Path

    import minidocker
    from minidocker import lesson, viz
    from minidocker.build.builder import BuildOptions
    from minidocker.engine import Engine

    e = lesson.engine()
    e.bootstrap("busybox")
    last_build = lambda: viz.build_steps(e).data   # the builder's record of its last build
    """),

    md("""
    ## The seed's recipe

    `examples/seed-app` follows the seed step by step, on the small busybox base so that it builds
    anywhere in seconds: "install the runtime" stands in for `apt-get install nodejs`, "install the database"
    for `apt-get install postgresql`. We copy it to a temporary directory, so we can change it freely.
    """),

    code("""
    seed = Path(minidocker.__file__).resolve().parent.parent / "examples" / "seed-app"
    ctx = tempfile.mkdtemp(prefix="seed-app-")
    shutil.copytree(seed, ctx, dirs_exist_ok=True)
    print(open(os.path.join(ctx, "Dockerfile")).read())
    """),

    md("""
    ## First build

    Every step runs: there is nothing in the cache yet. A `RUN` step starts a container on top of the layers so far
    (an overlay mount), runs the command in it (`execve`), and keeps the container's upper directory as the new layer.
    `WORKDIR` and `COPY` need no container: the builder mounts the layers so far over a fresh upper directory,
    writes the files itself, and unmounts. We trace the build and show only these moments.
    """),

    code("""
    with minidocker.trace() as t:
        v1 = Engine().build(ctx, BuildOptions(tags=["seed-app:v1"]), sys.stdout)  # an engine made inside the trace
    root = f"{e.store.root}/"
    print(f"\\n{len(t.events)} kernel calls; the ones that make layers:")
    for ev in t.events:
        if ev.op == "mount" and ev.args[2] == "overlay":
            layers = str(ev.args[4]).split(",")[0].count(":") + 1
            print(f"  mount overlay on {str(ev.args[1]).replace(root, '')} ({layers} lower): {ev.reason}")
        elif ev.op == "execve":
            print(f"  execve {' '.join(ev.args[1])[:70]}…")
        elif ev.op == "umount" and ev.args[0] != ".":
            print(f"  umount {str(ev.args[0]).replace(root, '')}: {ev.reason}")
    """),

    code("""
    viz.build_steps(e)
    """),

    md("""
    The image runs like any other. Its history lists one row per step. Steps that only change metadata
    (`ARG`, `ENV`, `CMD`) have size 0; `WORKDIR` makes a small layer, because it creates the directory.
    """),

    code("""
    print(lesson.run(e, "seed-app:v1"))
    for row in reversed(e.history("seed-app:v1")):
        print(f"{row['Size']:>8}  {row['CreatedBy'][:90]}")
    """),

    md("""
    ## Build again, nothing changed

    The builder computes a **cache key** for each step: the parent layer, the instruction text, and for `COPY` a
    checksum of the files copied. Same key, same result: the step is not run, its layer is reused.
    """),

    code("""
    started = time.monotonic()
    again = e.build(ctx, BuildOptions(tags=["seed-app:v1"]), sys.stdout)
    rebuild_seconds = time.monotonic() - started
    print(f"same image: {again.id == v1.id}; took {rebuild_seconds:.3f}s")
    """),

    code("""
    viz.build_steps(e)
    """),

    md("""
    ## Change the application

    We change one line of `app/server.sh` and build again. Which steps do you expect to run?
    """),

    code("""
    server = os.path.join(ctx, "app", "server.sh")
    Path(server).write_text(Path(server).read_text().replace("version 1", "version 2"))
    v2 = e.build(ctx, BuildOptions(tags=["seed-app:v2"]), sys.stdout)
    """),

    code("""
    viz.build_steps(e)
    """),

    md("""
    The first miss is `COPY app/ /app/` because **its input changed** (the checksum of `app/server.sh`).
    Every later step misses with "parent step rebuilt": its parent layer is new, so its key is new, even
    though its own text did not change. The slow install steps above stayed cached.
    """),

    code("""
    for step in last_build().steps:
        print(f"{step.status:7} {step.instruction[:45]:47} {step.reason}")
    print(lesson.run(e, "seed-app:v2"))
    """),

    md("""
    v1 and v2 share every layer below the change; only the top differs. The diagram shows it.
    """),

    code("""
    viz.shared_layers(e, ["seed-app:v1", "seed-app:v2"])
    """),

    md("""
    ## The cost of a badly ordered Dockerfile

    Real installs download and unpack packages: minutes, not milliseconds. To feel it, we make two variants of
    the recipe where each install step also sleeps one second. The **good** one keeps the seed's order
    (dependencies first, application last). The **bad** one copies the application *first*.
    """),

    code("""
    # The seed's recipe without its comments, with a one-second sleep in each install step.
    lines = [l for l in Path(ctx, "Dockerfile").read_text().splitlines() if l and not l.startswith("#")]
    good = "\\n".join(lines) + "\\n"
    good = good.replace("chmod +x /usr/local/bin/runtime", "chmod +x /usr/local/bin/runtime && sleep 1")
    good = good.replace('>> /var/lib/db/users.csv', '>> /var/lib/db/users.csv && sleep 1')
    copy_app = "WORKDIR /app\\nCOPY app/ /app/\\n"
    assert copy_app in good and good.count("sleep 1") == 2
    # The bad order: the application is copied right after FROM, before the slow installs.
    bad = good.replace(copy_app, "").replace("FROM busybox\\n", "FROM busybox\\n" + copy_app)
    Path(ctx, "Dockerfile.good").write_text(good)
    Path(ctx, "Dockerfile.bad").write_text(bad)
    print(bad)
    """),

    code("""
    def build(dockerfile, tag):
        \"\"\"Build quietly; (seconds, steps run) from the builder's record.\"\"\"
        started = time.monotonic()
        e.build(ctx, BuildOptions(tags=[tag], dockerfile=dockerfile, quiet=True))
        ran = [s for s in last_build().steps if s.status == "built"]
        return time.monotonic() - started, ran

    for name in ("good", "bad"):
        seconds, ran = build(f"Dockerfile.{name}", f"seed-app:{name}")
        print(f"first build, {name}: {seconds:.1f}s, {len(ran)} steps run")
    """),

    md("""
    Now the same one-line change of the application as before, and a rebuild of both:
    """),

    code("""
    Path(server).write_text(Path(server).read_text().replace("version 2", "version 3"))
    cost = {}
    for name in ("good", "bad"):
        seconds, ran = build(f"Dockerfile.{name}", f"seed-app:{name}")
        cost[name] = (seconds, len(ran))
        print(f"\\n{name}: {seconds:.2f}s, {len(ran)} steps run:")
        for s in ran:
            print(f"   {s.instruction[:60]:62} {s.reason}")
    """),

    code("""
    viz.build_steps(e)   # the bad order: the change invalidates the install steps below it
    """),

    md("""
    The rule: **order steps from the least often changed to the most often changed.** Copy the application
    last; copy the dependency list (such as `package.json`) alone, before the install step, when the install
    depends on it.

    ## On the simulator: the seed's literal recipe

    The simulated kernel ships a small Debian look-alike whose `apt-get` "installs" `nodejs` and `postgresql`,
    so on the simulator you can build the seed's recipe word for word. The real kernel here has no Debian
    mirror (we work offline), so on Linux this cell only says so.
    """),

    code("""
    debian_recipe = '''FROM debian
    RUN apt-get update && apt-get install -y nodejs postgresql
    COPY app/ /app/
    CMD ["node", "-e", "console.log('hello from the seed app')"]
    '''
    if e.kernel.simulated:
        Path(ctx, "Dockerfile.debian").write_text(debian_recipe)
        e.build(ctx, BuildOptions(tags=["seed-app:debian"], dockerfile="Dockerfile.debian", quiet=True))
        for step in last_build().steps:      # quiet: apt-get's long output is left out
            print(f"{step.status:7} {step.instruction[:60]:62} {step.reason}")
        print(lesson.run(e, "seed-app:debian"))
        for row in reversed(e.history("seed-app:debian")):
            print(f"{row['Size']:>8}  {row['CreatedBy'][:80]}")
    else:
        print("real kernel: no Debian mirror offline; the busybox recipe above follows the same steps")
    """),

    md("""
    ## Break it

    Two ways to lose the cache on purpose:

    * a **build argument** with a new value: the `ARG` step's key changes, and the cascade rebuilds everything after it;
    * `--no-cache` (`no_cache=True`): every step runs, whatever the cache holds.
    """),

    code("""
    e.build(ctx, BuildOptions(tags=["seed-app:arg"], build_args={"RUNTIME_VERSION": "21.0"}), sys.stdout)
    arg_misses = [(s.instruction, s.reason) for s in last_build().steps if s.status == "built"]
    """),

    code("""
    e.build(ctx, BuildOptions(tags=["seed-app:nocache"], no_cache=True, quiet=True))
    no_cache_reasons = {s.reason for s in last_build().steps if s.status == "built"}
    print("reasons given:", no_cache_reasons)
    viz.build_steps(e)
    """),

    md("""
    ## Check yourself

    Predict first, then run the cell: it builds and compares with our answers.

    1. You only change the file's modification time (`touch app/server.sh`), not its content. How many steps run?
    2. You change its permissions (`chmod 700`). Which step is the first to run, and what reason does the builder give?
    3. After a change of the application, how many steps ran with the good order, and how many with the bad one?
    4. With `RUNTIME_VERSION=21.0`, which instruction is the first miss?
    """),

    code("""
    def steps_run():
        return [s for s in last_build().steps if s.status == "built"]

    answers = {1: 0, 2: ("COPY app/ /app/", "app/server.sh changed"), 3: (3, 6), 4: "ARG RUNTIME_VERSION=20.11"}

    os.utime(server, (1_000_000_000, 1_000_000_000))        # 1. only the time changes
    e.build(ctx, BuildOptions(tags=["seed-app:v3"], quiet=True))
    lesson.check(len(steps_run()) == answers[1], "1. the cache compares contents, not times: nothing runs")

    os.chmod(server, 0o700)                                 # 2. the mode is part of the checksum
    e.build(ctx, BuildOptions(tags=["seed-app:v3"], quiet=True))
    first = steps_run()[0]
    lesson.check((first.instruction, first.reason) == answers[2], "2. a mode change is a change of COPY's input")

    lesson.check((cost["good"][1], cost["bad"][1]) == answers[3],
                 "3. good order: COPY, ENV, CMD; bad order: everything after WORKDIR")
    lesson.check(cost["bad"][0] > cost["good"][0] + 1.5, "3b. and the bad order paid for both slow installs again")
    lesson.check(arg_misses[0][0] == answers[4] and "21.0" in arg_misses[0][1],
                 "4. a new build-arg value misses at the ARG step")
    """),

    md("""
    ## Summary

    * Each Dockerfile step has a **cache key**: parent layer + instruction (+ build args, + a checksum of copied files).
    * Same key → **CACHED**: the layer is reused, nothing runs. A rebuild with no change takes milliseconds.
    * A miss says **why**: the files changed, the instruction changed, a build arg differs, or the parent step was rebuilt.
    * Once a step misses, **every later step** misses too. So put what changes often (your code) last.
    * Images built from the same steps share those layers; only the changed top is new.

    Next: containers at run time — namespaces, cgroups, and security (notebook 07).
    """),
]

if __name__ == "__main__":
    print(write("04_build_cache", cells))

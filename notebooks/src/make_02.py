"""Notebook 02: cgroups — a memory limit and the OOM killer, a pids limit against a fork bomb, a CPU quota measured."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import code, md, write  # noqa: E402

cells = [
    md("""
    # 02 · cgroups: how much a container may use

    Namespaces decide what a container can **see**. Control groups (**cgroups**) decide how
    much it can **use**: memory, CPU time, number of processes. Without them one container
    could take all the memory of the machine, or start processes until nothing else can
    run.

    A cgroup is a directory in a special filesystem, `/sys/fs/cgroup`. Its files are its
    limits (write a number, and the kernel enforces it) and its counters (read them to see
    the usage). Every process belongs to one cgroup; its children stay in it.

    **In this notebook you will:**

    1. see the runtime make a cgroup for a container and write its limits;
    2. fill a container's memory past `--memory` and watch the kernel's **OOM killer** stop it;
    3. contain a small **fork bomb** with `--pids-limit`;
    4. measure a busy loop held to half a CPU by `--cpus 0.5`, and draw the cgroup tree;
    5. check what you learned.
    """),
    md("""
    ## Setup
    """),
    code("""
    import signal, time
    import minidocker
    from minidocker import lesson, viz
    from minidocker.engine import Engine
    from minidocker.runtime import cgroups

    e = lesson.engine()
    e.bootstrap("busybox");
    print("cgroup version on this kernel:", cgroups.host_layout(e.kernel).version)
    """),
    md("""
    There are two versions of cgroups. **v2** has one tree, and each directory holds
    files for every controller (`memory.max`, `cpu.max`, `pids.max`). **v1** has one tree
    per controller (`memory/`, `cpu/`, `pids/` …), so a container has one directory in
    each ("hybrid" machines have the v1 trees plus an unused v2 one). The simulated
    kernel models v2; a real machine may have either. minidocker handles both, and the
    lesson is the same.

    ## Step 1 · The runtime writes the limits

    Run a container with three limits and look at the calls that touch cgroupfs:
    `make_dir` creates the container's cgroup, `write_file` sets each limit, and writing
    to `cgroup.procs` moves the container's process into the cgroup *before* it runs the
    program, so the limits hold from its first instruction. (A `make_dir` that fails with
    "File exists" is fine: the shared `minidocker` level was made by an earlier container.)
    """),
    code("""
    with minidocker.trace() as t:
        traced = Engine(e.store.root)
        lesson.sh(traced, "true", memory="32m", cpus="0.5", pids_limit=8)
    lesson.steps(t, ops=("make_dir", "write_file"))
    """),
    md("""
    ## Step 2 · Memory: stay under the limit

    `/dev/shm` in a container is a `tmpfs`: files there live in memory, and that memory is
    charged to the container's cgroup. Writing 16 MiB under a 32 MiB limit works.
    """),
    code("""
    small = lesson.sh(e, "dd if=/dev/zero of=/dev/shm/fill bs=1M count=16 2>/dev/null; echo wrote 16 MiB",
                      memory="32m", keep=True)
    small
    """),
    md("""
    ## Step 3 · Break it: go over the memory limit

    Now write 60 MiB under the same 32 MiB limit. When the cgroup cannot get more memory,
    the kernel's **OOM killer** ("out of memory") picks a process in that cgroup and kills it
    with `SIGKILL`. Only this container suffers; the rest of the machine does not notice.
    `keep=True` keeps the container so that we can inspect it afterwards.
    """),
    code("""
    big = lesson.sh(e, "dd if=/dev/zero of=/dev/shm/fill bs=1M count=60 2>/dev/null",
                    memory="32m", keep=True)
    big
    """),
    md("""
    No output, and exit code 137: the container's process (the shell runs `dd` as its
    last command in its own place) was killed. Docker records why in the container's
    state, as `OOMKilled`:
    """),
    code("""
    for name, r in (("16 MiB", small), ("60 MiB", big)):
        state = e.inspect_container(r.id)["State"]
        print(f"{name}: exit code {state['ExitCode']}, OOMKilled {state['OOMKilled']}")
    """),
    md("""
    A limit must also be sensible: Docker refuses a memory limit below 6 MB, because
    no container could even start in it. The refusal comes before anything is created.
    """),
    code("""
    from minidocker.errors import MinidockerError

    try:
        lesson.sh(e, "true", memory="1m")
    except MinidockerError as err:
        print(f"refused (exit code {err.exit_code}): {err}")
    """),
    md("""
    ## Step 4 · Processes: contain a fork bomb

    A *fork bomb* is a program that starts copies of itself without end, until the
    machine cannot start any process at all. Here is a slow, polite one: a script that
    prints its level and then runs itself again, one level deeper. Each level is a new
    process that waits for the next.

    With `pids_limit=8`, the container's cgroup may hold at most 8 processes. The first
    shell is one of them, so the bomb gets 7 levels; then `fork` fails with
    "Resource temporarily unavailable" (`EAGAIN`) and the bomb stops. The host is not
    affected at all.
    """),
    code("""
    bomb = ("echo 'echo level $1; sh /tmp/bomb.sh $(($1+1)); true' > /tmp/bomb.sh; "
            "sh /tmp/bomb.sh 1; echo the bomb stopped")
    contained = lesson.sh(e, bomb, pids_limit=8)
    contained
    """),
    md("""
    ## Step 5 · CPU: a quota, measured

    `--cpus 0.5` does not pick a CPU. It sets a **quota**: in every period of 100 ms, the
    cgroup's processes may run for 50 ms in total. When they have used their 50 ms, the
    kernel stops scheduling them until the next period begins (they are *throttled*).

    Start an endless busy loop in the background with `cpus="0.5"`, and read how much
    CPU time its cgroup has used over two seconds. The counter is the kernel's own:
    `cpuacct.usage` in v1, `usage_usec` in `cpu.stat` in v2.
    """),
    code("""
    spin = lesson.start(e, "busybox", "sh", "-c", "while :; do :; done", name="spin", cpus="0.5")
    group = cgroups.manager(e.kernel, spin.id)

    def cpu_share(seconds=2.0):
        \"\"\"CPU seconds used by the cgroup per second of wall-clock time.\"\"\"
        used, start = group.cpu_usage_ns(), time.monotonic()
        time.sleep(seconds)
        return (group.cpu_usage_ns() - used) / 1e9 / (time.monotonic() - start)

    time.sleep(0.2)              # let the loop get going
    share = cpu_share()
    print(f"the busy loop used {share:.2f} of a CPU")
    """),
    md("""
    While it runs, draw its cgroup: where it sits in the tree (the root, the `minidocker`
    level, the container), its limits and its usage. Parents count their children's
    usage, so the numbers grow toward the root.
    """),
    code("""
    viz.cgroup_tree(e, "spin")
    """),
    code("""
    e.rm("spin", force=True)      # kill the loop: its cgroup goes with it
    print("containers running:", len(e.ps_rows()))
    """),
    md("""
    ## Check yourself

    **Q1.** The 60 MiB container exited with code 137. What does 137 mean? (Exit codes
    above 128 mean "killed by signal *code − 128*".)
    """),
    code("""
    state = e.inspect_container(big.id)["State"]
    killed_by = signal.Signals(state["ExitCode"] - 128)
    print("exit code", state["ExitCode"], "=", "128 +", int(killed_by), "=", killed_by.name)
    lesson.check(killed_by == signal.SIGKILL and state["OOMKilled"],
                 "137 is SIGKILL, sent by the OOM killer when the cgroup ran out of memory")
    """),
    md("""
    **Q2.** With `pids_limit=8`, how many levels did the fork bomb reach, and why not 8?
    """),
    code("""
    levels = [line for line in contained.out.splitlines() if line.startswith("level")]
    print(len(levels), "levels; the first shell is process number 8 - len(levels) =", 8 - len(levels))
    lesson.check(len(levels) == 7 and "can't fork" in contained.err,
                 "8 processes at most: the container's shell plus 7 levels, then fork fails")
    """),
    md("""
    **Q3.** The busy loop wants a whole CPU. What share did it get under `cpus="0.5"`?
    """),
    code("""
    print(f"measured share: {share:.2f} of a CPU")
    lesson.check(0.3 < share < 0.65,
                 "the CPU quota held the busy loop to about half a CPU")
    """),
    md("""
    ## Clean up
    """),
    code("""
    for r in (small, big):
        e.rm(r.id, force=True)
    print("containers left:", len(e.ps_rows(all_=True)))
    """),
    md("""
    ## Summary

    - A **cgroup** is a directory in `/sys/fs/cgroup`; its files are limits and counters.
      The runtime makes one per container and puts the container's first process in it
      before the program starts.
    - **Memory** (`--memory`): past the limit the kernel's OOM killer sends `SIGKILL`;
      the exit code is 137 and Docker records `OOMKilled`.
    - **Processes** (`--pids-limit`): `fork` fails with `EAGAIN` at the limit, so a fork
      bomb stays inside its container.
    - **CPU** (`--cpus`): a quota of CPU time per 100 ms period; a busy loop at
      `--cpus 0.5` gets half a CPU.

    Namespaces (notebook 01) and cgroups (this notebook) are the two kernel features a
    container is made of. Next, images: how their layers are built, stored and cached.
    """),
]

if __name__ == "__main__":
    print(write("02_cgroups", cells))

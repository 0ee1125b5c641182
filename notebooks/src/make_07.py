"""Write notebooks/07_security.ipynb, without outputs: ``python notebooks/src/make_07.py``.

The notebook is generated so that git only ever holds its source; edit this
file, not the .ipynb, and run it again.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import code, md, write  # noqa: E402

cells = [
    md("""
    # 07 · Security: capabilities, masked paths, what a container can and cannot see

    A process in a container runs on the host's kernel, often as `root`. What keeps it from taking over the
    machine? Namespaces limit what it **sees**; three more mechanisms limit what it **can do**:

    * **capabilities** — root's power split into ~40 pieces; a container keeps only 14 of them;
    * **masked paths** — sensitive `/proc` and `/sys` files are covered up (by `/dev/null` or an empty, read-only tmpfs);
    * **read-only paths** — kernel tunables such as `/proc/sys` are remounted read-only.

    **You will learn to**

    1. read a process's capability sets from `/proc/self/status` and decode them into names;
    2. predict which root actions a container may do, and which it may not;
    3. find the masked and read-only paths, and see that root cannot undo them;
    4. see what a container cannot see (host processes, host mounts), and what a non-root user loses.

    Each cell compares what we expect with what happens, with `lesson.check`.
    """),

    code("""
    import os

    import minidocker
    from minidocker import lesson, viz
    from minidocker.engine import Engine
    from minidocker.runtime.spec import DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS

    e = lesson.engine()
    e.bootstrap("busybox");
    """),

    md("""
    ## How the runtime locks a container down

    We trace the start of one container and keep only the security steps. After `pivot_root` (the container's
    filesystem became `/`), the runtime covers the masked paths, remounts the read-only ones, drops the
    capabilities, sets the user, and only then runs the program. The runtime covers only paths that exist, so the
    list differs a little between kernels (this Linux machine may have `/sys/firmware` and lack `/proc/sysrq-trigger`;
    the simulator models a fixed `/proc` and `/sys`).
    """),

    code("""
    with minidocker.trace() as t:
        lesson.sh(Engine(), "true")      # an engine made inside the trace: its kernel calls are recorded
    after_pivot = False
    for ev in t.events:
        after_pivot = after_pivot or ev.op == "pivot_root"
        if after_pivot and ev.op in ("pivot_root", "mount", "umount", "limit_capabilities", "set_identity", "execve"):
            print(ev.line()[:150])
    """),

    code("""
    viz.namespaces.draw(viz.namespaces.from_events(t.events))
    """),

    md("""
    ## Capabilities

    Linux numbers its capabilities 0…40. A process has several sets; the two that matter here:
    **effective** (`CapEff`, what it may do now) and **bounding** (`CapBnd`, the most it can ever get).
    `/proc/self/status` shows each set as a hexadecimal bitmask: bit *n* set means capability *n*.
    """),

    code("""
    CAP_NAMES = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                 "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
                 "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
                 "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
                 "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
                 "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]

    def decode(mask_hex):
        \"\"\"The capability names of a /proc/PID/status bitmask.\"\"\"
        mask = int(mask_hex, 16)
        return ["CAP_" + name for bit, name in enumerate(CAP_NAMES) if mask >> bit & 1]

    def cap_sets(output):
        \"\"\"{'CapEff': [...names], ...} from `grep Cap /proc/self/status`.\"\"\"
        return {line.split(":")[0]: decode(line.split()[1]) for line in output.splitlines() if line.startswith("Cap")}
    """),

    code("""
    root = lesson.sh(e, "grep Cap /proc/self/status")
    print(root)
    caps = cap_sets(root.out)
    print(len(caps["CapEff"]), "effective capabilities:", ", ".join(c[4:] for c in caps["CapEff"]))
    missing = [f"CAP_{n}" for n in CAP_NAMES if f"CAP_{n}" not in caps["CapBnd"]]
    print(len(missing), "dropped, among them:", ", ".join(c[4:] for c in missing if c in
          ("CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_TIME", "CAP_SYS_PTRACE", "CAP_SYS_BOOT")))
    lesson.check(set(caps["CapEff"]) == set(DEFAULT_CAPABILITIES),
                 "root in the container has exactly Docker's 14 default capabilities")
    """),

    md("""
    ### What root in a container may and may not do

    Each row is one command, run as root in a fresh container, with the capability it needs.
    Predict the last column before you run the cell. (We judge by the error message too: busybox's `date -s`
    reports "can't set date" but still exits 0.)
    """),

    code("""
    EXPERIMENTS = [   # command, the capability it needs, what we expect
        ("touch /f && chown 33:33 /f", "CAP_CHOWN", "allowed"),
        ("kill -0 1", "CAP_KILL (or own process)", "allowed"),
        ("hostname other-name", "CAP_SYS_ADMIN", "denied"),
        ("date -s 2000-01-01", "CAP_SYS_TIME", "denied"),
        ("mount -t tmpfs none /tmp", "CAP_SYS_ADMIN", "denied"),
    ]
    seen = {}
    for cmd, cap, expected in EXPERIMENTS:
        result = lesson.sh(e, cmd + " >/dev/null")
        refused = result.code != 0 or "not permitted" in result.err or "permission denied" in result.err
        seen[cmd] = "denied" if refused else "allowed"
        why = result.err.strip().splitlines()[-1] if result.err.strip() else ""
        print(f"{cmd:30} needs {cap:26} expected {expected:8} got {seen[cmd]:8} {why}")
    lesson.check(all(seen[cmd] == expected for cmd, _, expected in EXPERIMENTS),
                 "root keeps CAP_CHOWN and CAP_KILL but not CAP_SYS_ADMIN or CAP_SYS_TIME")
    """),

    md("""
    ## Masked paths

    Some `/proc` and `/sys` entries tell too much about the host (`/proc/keys`: the kernel's keyrings,
    `/proc/kcore`: its memory) or let a process poke at hardware. Docker covers each one that exists:
    a file with `/dev/null` (empty, writes vanish), a directory with an empty read-only tmpfs.

    Which of these paths exist depends on the kernel's configuration. **The simulator models a fixed set**:
    it has no `/sys/firmware`, for example, while this Linux kernel may lack `/proc/kcore`. So the check below
    asks "is every masked path that exists empty?", which holds on both.
    """),

    code("""
    script = "; ".join(
        f'if [ -d {p} ]; then echo "{p} dir $(ls -A {p} | wc -l)"; '
        f'elif [ -e {p} ]; then echo "{p} file $(cat {p} | wc -c)"; else echo "{p} absent"; fi'
        for p in MASKED_PATHS)
    masks = lesson.sh(e, script)
    print(masks.out)
    present = [line.split() for line in masks.out.splitlines() if not line.endswith("absent")]
    lesson.check(present and all(size == "0" for _, _, size in present),
                 f"every masked path that exists here ({len(present)} of {len(MASKED_PATHS)}) is empty")
    """),

    code("""
    print(lesson.sh(e, "ls -l /proc/keys; cat /proc/keys | wc -c"))
    """),

    md("""
    `/proc/keys` is now the character device 1,3 — that is `/dev/null`, bind-mounted over it.

    ## Read-only paths

    `/proc/sys` holds kernel tunables (`/proc/sys/kernel/hostname`, `/proc/sys/net/…`). Docker remounts it, and a few
    others, read-only. `/sys` as a whole is mounted read-only too. Writes fail with `EROFS`, "Read-only file system".
    """),

    code("""
    print("read-only paths:", ", ".join(READONLY_PATHS))
    ro = lesson.sh(e, "echo x > /proc/sys/kernel/hostname; mkdir /sys/x; touch /tmp/ok && echo /tmp is writable")
    print(ro)
    lesson.check(ro.err.count("Read-only file system") == 2 and "/tmp is writable" in ro.out,
                 "/proc/sys and /sys refuse writes; the container's own files do not")
    """),

    md("""
    ## Break it: can root undo the masks?

    The masks are just mounts. Root could remove them with `umount`, or remount `/proc/sys` read-write…
    if it had `CAP_SYS_ADMIN`. It does not.
    """),

    code("""
    undo = lesson.sh(e, "umount /proc/keys; echo umount: $?; mount -o remount,rw /proc/sys; echo remount: $?; "
                        "echo x > /proc/sys/kernel/hostname; echo write: $?")
    print(undo)
    lesson.check("umount: 0" not in undo.out and "remount: 0" not in undo.out and "write: 1" in undo.out,
                 "without CAP_SYS_ADMIN root can neither unmount a mask nor remount /proc/sys read-write")
    """),

    md("""
    The runtime, though, can give away what it protects. A **volume** binds a host directory into the container;
    root in the container can then change host files. Let us share a small host directory and watch.
    """),

    code("""
    shared = os.path.join(e.store.root, "shared-with-container")
    os.makedirs(shared, exist_ok=True)
    with open(os.path.join(shared, "host-file.txt"), "w") as f:
        f.write("written by the host\\n")
    os.chmod(os.path.join(shared, "host-file.txt"), 0o644)

    print(lesson.sh(e, "echo 'changed by the container' >> /host/host-file.txt", volumes=[f"{shared}:/host"]))
    print("the host file now:", open(os.path.join(shared, "host-file.txt")).read())
    """),

    md("""
    ## What a container cannot see

    Namespaces decide what a container sees. The host has many processes and mounts; the container sees its own only.
    """),

    code("""
    host_pids = [p for p in os.listdir("/proc") if p.isdigit()]
    with open("/proc/self/mounts") as f:
        host_mounts = len(f.read().splitlines())
    view = lesson.sh(e, f"ps; ls /proc/{os.getpid()} >/dev/null 2>&1 && echo sees-host-pid || echo no-host-pid; "
                        "cut -d' ' -f2 /proc/mounts")
    print(view)
    inside = view.out.splitlines()
    container_pids = [line.split()[0] for line in inside if line.strip()[:1].isdigit() and line.split()[0].isdigit()]
    container_mounts = [line for line in inside if line.startswith("/")]
    print(f"host: {len(host_pids)} processes, {host_mounts} mounts; "
          f"container: {len(container_pids)} processes, {len(container_mounts)} mounts")
    expected_mounts = {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/etc/hostname",
                       "/etc/hosts", "/etc/resolv.conf", *MASKED_PATHS, *READONLY_PATHS}
    lesson.check("no-host-pid" in view.out and set(container_mounts) <= expected_mounts,
                 f"the container cannot see the notebook's PID {os.getpid()}, and sees only the mounts the runtime made")
    """),

    md("""
    ## A user that is not root

    `user="1000"` runs the program as uid 1000. Linux empties the **permitted and effective** capability sets when a
    process leaves uid 0; the bounding set stays. Without `CAP_DAC_OVERRIDE` file permissions apply, and without
    `CAP_CHOWN` it cannot give files away.
    """),

    code("""
    user = lesson.sh(e, "id; grep Cap /proc/self/status; touch /etc/new; echo x >> /etc/passwd; "
                        "chown 1000 /tmp; hostname other; touch /tmp/mine && echo can write /tmp", user="1000")
    print(user)
    user_caps = cap_sets(user.out)
    print("effective:", user_caps["CapEff"], "| bounding:", len(user_caps["CapBnd"]))
    """),

    code("""
    print(lesson.sh(e, "echo 'from uid 1000' >> /host/host-file.txt", volumes=[f"{shared}:/host"], user="1000"))
    """),

    md("""
    ## Check yourself

    Predict, then run the cell.

    1. How many capabilities does root keep in a container, and does it keep `CAP_SYS_ADMIN`?
    2. What does `cat /proc/keys` print in a container?
    3. Which error does `echo x > /proc/sys/kernel/hostname` give?
    4. As `user="1000"`, what is `CapEff`?
    5. As `user="1000"`, can you append to a host file shared with a volume, mode 0644, owned by root?
    """),

    code("""
    answers = {1: (14, False), 2: "", 3: "Read-only file system", 4: "0000000000000000", 5: False}

    lesson.check((len(caps["CapEff"]), "CAP_SYS_ADMIN" in caps["CapEff"]) == answers[1],
                 "1. 14 capabilities, CAP_SYS_ADMIN not among them")
    lesson.check(lesson.sh(e, "cat /proc/keys").out == answers[2], "2. /proc/keys is masked: it reads as empty")
    lesson.check(answers[3] in lesson.sh(e, "echo x > /proc/sys/kernel/hostname").err, "3. /proc/sys is read-only")
    eff = [line.split()[1] for line in user.out.splitlines() if line.startswith("CapEff")][0]
    lesson.check(eff == answers[4], "4. a non-root user has no effective capabilities")
    appended = "from uid 1000" in open(os.path.join(shared, "host-file.txt")).read()
    lesson.check(appended == answers[5], "5. file permissions protect the host file from uid 1000 (not from root)")
    """),

    md("""
    ## Summary

    * Root in a container holds **14 capabilities**, not all ~41: it may `chown` or `kill` its own processes, but not
      mount, set the clock, load modules or change the host name.
    * **Masked paths** (`/proc/keys`, `/proc/kcore`, …) read as empty; **read-only paths** (`/proc/sys`, …) and `/sys` refuse writes.
      Without `CAP_SYS_ADMIN`, root cannot unmount or remount them.
    * The container sees only **its own processes and mounts**.
    * A **non-root user** has no effective capabilities: plain file permissions apply.
    * What the runtime hands over (a volume of a host directory) is no longer protected from container root.
    * Simulator vs Linux: the same rules; which masked paths exist depends on the kernel (the simulator models a fixed set).
    """),
]

if __name__ == "__main__":
    print(write("07_security", cells))

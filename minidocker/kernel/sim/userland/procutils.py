"""Busybox's process and system applets, simulated: ps, kill, sleep, id,
whoami, groups, env, printenv, hostname, uname, date, free, nproc, mount,
umount, which, sync, tty, clear — plus two memory hogs that are not busybox's:
``memhog`` (numactl's) and ``stress`` (the classic load generator), for the OOM
lesson. The network applets are ``netutils``.

What the kernel does not model comes from documented constants: ``uname``'s
release (``SIM_RELEASE``), the CPU count (``SIM_CPUS``), the machine's memory
(``SIM_MEM_TOTAL_KB``; like a real container, ``free`` shows the machine,
not the cgroup limit).
"""

from __future__ import annotations

import posixpath
import re
import time

from .common import (UsageError, enc, err, group_name, lookup_user, out, parse_opts, parse_size,
                     read_db, strerror, usage, user_name)

SIM_RELEASE = "6.6.0-minidocker-sim"
SIM_VERSION = "#1 SMP PREEMPT_DYNAMIC (simulated kernel)"
SIM_MACHINE = "x86_64"
SIM_CPUS = 2
SIM_MEM_TOTAL_KB = 2_097_152
SIM_MEM_BASE_USED_KB = 262_144
MEMHOG_STEP = 1 << 20

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
           "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16,
           "CHLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24,
           "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "POLL": 29, "PWR": 30, "SYS": 31}
SIGNAL_NAMES = {v: k for k, v in SIGNALS.items()}


def signal_number(text: str) -> int | None:
    t = text.upper().removeprefix("SIG")
    if t.isdigit():
        return int(t) if int(t) < 65 else None
    return SIGNALS.get(t)


# -- processes ---------------------------------------------------------------------------

_PS_FIELDS = {
    "pid": ("PID", lambda p, u: f"{p.pid:5d}"), "ppid": ("PPID", lambda p, u: f"{p.ppid:5d}"),
    "user": ("USER", lambda p, u: f"{u:<8.8}"), "comm": ("COMMAND", lambda p, u: posixpath.basename(p.argv[0]) if p.argv else ""),
    "args": ("COMMAND", lambda p, u: " ".join(p.argv)), "rss": ("RSS", lambda p, u: f"{p.rss // 1024:4d}"),
    "vsz": ("VSZ", lambda p, u: f"{p.rss // 1024:4d}"), "stat": ("STAT", lambda p, u: f"{p.state:<4}"),
    "time": ("TIME", lambda p, u: " 0:00"), "uid": ("UID", lambda p, u: f"{p.uid:5d}"),
}


def ps(sys, argv: list[str]) -> int:
    """ps [-o FIELD,...] (aux, -ef, -A accepted) — the ``PID   USER     COMMAND`` table of
    Debian's busybox-static. A process whose command name differs from its argv[0]
    (an applet the shell forked without exec) shows as ``{name} args``, as busybox does."""
    fields = None
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a == "-o" and args:
            fields = (fields or []) + args.pop(0).split(",")
        elif a.startswith("-o") and len(a) > 2:
            fields = (fields or []) + a[2:].split(",")
        elif re.fullmatch(r"-?[AaefluxwT]+", a):
            continue
        else:
            return usage(sys, "ps", UsageError(f"invalid option -- '{a.lstrip('-')[:1]}'"), "[-o COL1,COL2=HEADER] [-T]")
    passwd = read_db(sys, "/etc/passwd")
    procs = sys.processes()
    lines = []
    if fields is None:
        lines.append("PID   USER     COMMAND")
        for p in procs:
            user = user_name(sys, p.uid, passwd) or str(p.uid)
            cmd = f"[{posixpath.basename(p.argv[0])}]" if p.state == "Z" and p.argv else " ".join(p.argv)
            comm = getattr(p, "comm", "")
            if comm and p.argv and comm != posixpath.basename(p.argv[0])[:15]:
                cmd = f"{{{comm}}} {cmd}"
            lines.append(f"{p.pid:5d} {user:<8.8} {cmd}")
    else:
        cols = []
        for f in fields:
            name, _, header = f.partition("=")
            if name not in _PS_FIELDS:
                err(sys, "ps", f"bad -o argument '{name}', supported arguments: {','.join(_PS_FIELDS)}")
                return 1
            cols.append((header or _PS_FIELDS[name][0], _PS_FIELDS[name][1], name))
        heads = []
        for h, _, name in cols:
            heads.append(f"{h:>5}" if name in ("pid", "ppid", "uid") else f"{h:<8}" if name == "user" else h)
        lines.append(" ".join(heads).rstrip())
        for p in procs:
            user = user_name(sys, p.uid, passwd) or str(p.uid)
            lines.append(" ".join(fn(p, user) for _, fn, _ in cols).rstrip())
    out(sys, "".join(x + "\n" for x in lines))
    return 0


def kill(sys, argv: list[str]) -> int:
    """kill [-s SIG | -SIG | -N] PID... | kill -l [N]"""
    args = argv[1:]
    sig = 15
    if args and args[0] == "-l":
        if len(args) > 1:
            n = signal_number(args[1])
            if n is None or n not in SIGNAL_NAMES:
                err(sys, "kill", f"bad signal name '{args[1]}'")
                return 1
            out(sys, (SIGNAL_NAMES[n] if args[1].isdigit() else str(n)) + "\n")
            return 0
        out(sys, "".join(f"{n}) {name}\n" for n, name in sorted(SIGNAL_NAMES.items())))
        return 0
    if args and args[0] == "-s":
        if len(args) < 2:
            return usage(sys, "kill", UsageError("option requires an argument -- 's'"), "[-l] [-SIG] PID...")
        n = signal_number(args[1])
        if n is None:
            err(sys, "kill", f"bad signal name '{args[1]}'")
            return 1
        sig, args = n, args[2:]
    elif args and args[0].startswith("-") and args[0] != "--" and len(args[0]) > 1:
        n = signal_number(args[0][1:])
        if n is None:
            err(sys, "kill", f"bad signal name '{args[0][1:]}'")
            return 1
        sig, args = n, args[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        return usage(sys, "kill", UsageError("missing PID"), "[-l] [-SIG] PID...")
    status = 0
    for a in args:
        if not re.fullmatch(r"-?\d+", a):
            err(sys, "kill", f"invalid number '{a}'")
            status = 1
            continue
        try:
            sys.kill(int(a), sig)
        except OSError as e:
            err(sys, "kill", f"can't kill pid {a}: {strerror(e)}")
            status = 1
    return status


def sleep(sys, argv: list[str]) -> int:
    """sleep N[smhd]... (fractions allowed; the durations add up)"""
    if len(argv) < 2:
        return usage(sys, "sleep", UsageError("missing operand"), "[N]...")
    total = 0.0
    for a in argv[1:]:
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", a)
        if not m:
            err(sys, "sleep", f"invalid number '{a}'")
            return 1
        total += float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    sys.sleep(total)
    return 0


def usleep(sys, argv: list[str]) -> int:
    if len(argv) < 2 or not argv[1].isdigit():
        return usage(sys, "usleep", UsageError("missing operand"), "N")
    sys.sleep(int(argv[1]) / 1e6)
    return 0


# -- identity -------------------------------------------------------------------------------

def _groups_of(sys, name: str | None, gid: int) -> list[int]:
    result = [gid]
    if name:
        for rec in read_db(sys, "/etc/group"):
            if len(rec) > 3 and name in rec[3].split(",") and rec[2].isdigit() and int(rec[2]) not in result:
                result.append(int(rec[2]))
    return result


def id_(sys, argv: list[str]) -> int:
    """id [-u|-g|-G] [-n] [-r] [USER] — names from /etc/passwd and /etc/group; supplementary groups are
    the groups that list the user."""
    try:
        opts, args = parse_opts(argv, "ugGnr")
    except UsageError as e:
        return usage(sys, "id", e, "[-ugGnr] [USER]")
    if args:
        rec = lookup_user(sys, args[0])
        if rec is None:
            err(sys, "id", f"unknown user {args[0]}")
            return 1
        uid, gid, name = int(rec[2]), int(rec[3]), rec[0]
    else:
        uid, gid = sys.uid, sys.gid
        name = user_name(sys, uid)
    groups = _groups_of(sys, name, gid)

    def show(n: int, lookup) -> str:
        return (lookup(sys, n) or str(n)) if "n" in opts else str(n)

    if "u" in opts:
        out(sys, show(uid, user_name) + "\n")
    elif "g" in opts:
        out(sys, show(gid, group_name) + "\n")
    elif "G" in opts:
        out(sys, " ".join(show(g, group_name) for g in groups) + "\n")
    else:
        def named(n: int, lookup) -> str:
            text = lookup(sys, n)
            return f"{n}({text})" if text else str(n)
        out(sys, f"uid={named(uid, user_name)} gid={named(gid, group_name)} groups="
                 + ",".join(named(g, group_name) for g in groups) + "\n")
    return 0


def whoami(sys, argv: list[str]) -> int:
    name = user_name(sys, sys.uid)
    if name is None:
        err(sys, "whoami", f"unknown uid {sys.uid}")
        return 1
    out(sys, name + "\n")
    return 0


def groups(sys, argv: list[str]) -> int:
    return id_(sys, ["id", "-Gn"] + argv[1:])


def env(sys, argv: list[str]) -> int:
    """env [-i] [-u NAME]... [NAME=VALUE]... [COMMAND [ARG]...]"""
    args = argv[1:]
    environ = dict(sys.environ)
    while args and args[0].startswith("-") and args[0] != "-":
        a = args.pop(0)
        if a == "--":
            break
        if a in ("-i", "--ignore-environment"):
            environ = {}
        elif a == "-u" and args:
            environ.pop(args.pop(0), None)
        elif a.startswith("-u") and len(a) > 2:
            environ.pop(a[2:], None)
        else:
            return usage(sys, "env", UsageError(f"invalid option -- '{a[1:2]}'"), "[-i] [-u NAME] [NAME=VALUE]... [PROG ARGS]")
    if args and args[0] == "-":
        environ = {}
        args = args[1:]
    while args and re.match(r"[^=]+=", args[0]):
        k, _, v = args.pop(0).partition("=")
        environ[k] = v
    if not args:
        out(sys, "".join(f"{k}={v}\n" for k, v in environ.items()))
        return 0
    return sys.run(args, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr, env=environ)


def printenv(sys, argv: list[str]) -> int:
    if len(argv) == 1:
        out(sys, "".join(f"{k}={v}\n" for k, v in sys.environ.items()))
        return 0
    status = 0
    for name in argv[1:]:
        if name in sys.environ:
            out(sys, sys.environ[name] + "\n")
        else:
            status = 1
    return status


# -- the machine -------------------------------------------------------------------------------

def hostname(sys, argv: list[str]) -> int:
    """hostname [-s] [NAME] — setting needs CAP_SYS_ADMIN in a real container; the kernel decides."""
    try:
        opts, args = parse_opts(argv, "sfdi", "F")
    except UsageError as e:
        return usage(sys, "hostname", e, "[-sfdi] [HOSTNAME | -F FILE]")
    if "F" in opts:
        try:
            args = [sys.read(str(opts["F"])).decode().split()[0]]
        except (OSError, IndexError) as e:
            err(sys, "hostname", f"can't open '{opts['F']}': {strerror(e)}")
            return 1
    if args:
        try:
            sys.sethostname(args[0])
        except OSError as e:
            err(sys, "hostname", f"sethostname: {strerror(e)}")
            return 1
        return 0
    name = sys.hostname()
    if "i" in opts:   # the name's address, as the resolver finds it (/etc/hosts)
        from .netutils import resolve
        address = resolve(sys, name)
        if address is None:
            err(sys, "hostname", f"{name}: Host name lookup failure")
            return 1
        out(sys, address + "\n")
        return 0
    out(sys, (name.split(".")[0] if "s" in opts else name) + "\n")
    return 0


def uname(sys, argv: list[str]) -> int:
    """uname [-asnrvmpio] — the node name is the container's hostname; the rest are SIM_* constants."""
    try:
        opts, _ = parse_opts(argv, "asnrvmpio")
    except UsageError as e:
        return usage(sys, "uname", e, "[-amnrspvio]")
    values = {"s": "Linux", "n": sys.hostname(), "r": SIM_RELEASE, "v": SIM_VERSION, "m": SIM_MACHINE,
              "p": "unknown", "i": "unknown", "o": "GNU/Linux"}
    if "a" in opts:
        keys = "snrvmo"
    else:
        keys = "".join(k for k in "snrvmpio" if k in opts) or "s"
    out(sys, " ".join(values[k] for k in keys) + "\n")
    return 0


def _strftime(fmt: str, t: float) -> str:
    tm = time.gmtime(t)
    fmt = (fmt.replace("%Z", "UTC").replace("%z", "+0000").replace("%e", f"{tm.tm_mday:2d}")
           .replace("%s", str(int(t))).replace("%N", f"{int(t % 1 * 1e9):09d}")
           .replace("%k", f"{tm.tm_hour:2d}").replace("%P", "am" if tm.tm_hour < 12 else "pm"))
    try:
        return time.strftime(fmt, tm)
    except ValueError:
        return fmt


def date(sys, argv: list[str]) -> int:
    """date [-u] [-R] [-I] [-d @SECONDS|'YYYY-MM-DD[ HH:MM[:SS]]'] [+FORMAT] — always UTC, the kernel's clock."""
    args = argv[1:]
    t = sys.time()
    fmt = "%a %b %e %H:%M:%S %Z %Y"
    while args:
        a = args.pop(0)
        if a in ("-u", "--utc"):
            continue
        if a == "-R":
            fmt = "%a, %d %b %Y %H:%M:%S %z"
        elif a.startswith("-I"):
            fmt = "%Y-%m-%d" if a in ("-I", "-Idate") else "%Y-%m-%dT%H:%M:%S%z"
        elif a in ("-d", "--date") or a.startswith("-d"):
            text = a[2:] if len(a) > 2 and a.startswith("-d") else (args.pop(0) if args else "")
            parsed = _parse_date(text)
            if parsed is None:
                err(sys, "date", f"invalid date '{text}'")
                return 1
            t = parsed
        elif a.startswith("+"):
            fmt = a[1:]
        elif a == "-s" or re.fullmatch(r"\d{8,12}", a):
            # Setting the clock needs CAP_SYS_TIME, which no container has. busybox reports
            # it, then prints the time it was asked to set, and exits 0.
            if a == "-s":
                text = args.pop(0) if args else ""
                parsed = _parse_date(text)
                if parsed is None:
                    err(sys, "date", f"invalid date '{text}'")
                    return 1
                t = parsed
            err(sys, "date", "can't set date: Operation not permitted")
        else:
            return usage(sys, "date", UsageError(f"invalid option -- '{a.lstrip('-')[:1]}'"), "[OPTIONS] [+FMT] [[-s] TIME]")
    out(sys, _strftime(fmt, t) + "\n")
    return 0


def _parse_date(text: str) -> float | None:
    if text.startswith("@"):
        try:
            return float(text[1:])
        except ValueError:
            return None
    import calendar
    for f in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            return float(calendar.timegm(time.strptime(text, f)))
        except ValueError:
            continue
    return None


def free(sys, argv: list[str]) -> int:
    """free [-b|-k|-m|-g|-h] — the machine's memory (SIM_MEM_TOTAL_KB), "used" grows with what processes
    allocate."""
    try:
        opts, _ = parse_opts(argv, "bkmgh")
    except UsageError as e:
        return usage(sys, "free", e, "[-bkmgh]")
    used_kb = SIM_MEM_BASE_USED_KB + sum(p.rss for p in sys.processes()) // 1024
    total = SIM_MEM_TOTAL_KB
    used = min(used_kb, total)
    cache = 131_072
    free_kb = max(total - used - cache, 0)

    def f(kb: int) -> str:
        if "h" in opts:
            from .common import human
            return human(kb * 1024).replace("K", "Ki").replace("M", "Mi").replace("G", "Gi")
        if "b" in opts:
            return str(kb * 1024)
        if "m" in opts:
            return str(kb // 1024)
        if "g" in opts:
            return str(kb // 1024 // 1024)
        return str(kb)

    cols = (total, used, free_kb, 0, cache, free_kb + cache)
    out(sys, " " * 7 + "".join(f"{h:>11}" for h in ("total", "used", "free", "shared", "buff/cache", "available"))
        + "\nMem:   " + "".join(f"{f(v):>11}" for v in cols)
        + "\nSwap:  " + "".join(f"{f(0):>11}" for _ in range(3)) + "\n")
    return 0


def nproc(sys, argv: list[str]) -> int:
    """nproc [--all] — SIM_CPUS (the simulation has no CPU model)."""
    out(sys, f"{SIM_CPUS}\n")
    return 0


def mount(sys, argv: list[str]) -> int:
    """mount — without arguments the mount table as busybox prints it; mounting needs CAP_SYS_ADMIN,
    which a default container lacks."""
    args = [a for a in argv[1:] if a not in ("-v",)]
    if not args or args in (["-l"],) or (len(args) == 2 and args[0] == "-t"):
        want = args[1] if len(args) == 2 else None
        for line in sys.mounts().splitlines():
            f = line.split()
            if len(f) >= 4 and (want is None or f[2] == want):
                out(sys, f"{f[0]} on {f[1]} type {f[2]} ({f[3]})\n")
        return 0
    err(sys, "mount", "permission denied (are you root?)")
    return 1


def umount(sys, argv: list[str]) -> int:
    args = [a for a in argv[1:] if not a.startswith("-")]
    if not args:
        return usage(sys, "umount", UsageError("missing operand"), "[-rlfda] FILESYSTEM|DIRECTORY")
    for a in args:
        err(sys, "umount", f"can't unmount {a}: Operation not permitted")
    return 1


def which(sys, argv: list[str]) -> int:
    """which [-a] NAME... — searches PATH through the kernel."""
    import stat as st
    args = argv[1:]
    every = False
    if args and args[0] == "-a":
        every, args = True, args[1:]
    if not args:
        return usage(sys, "which", UsageError("missing operand"), "[-a] COMMAND...")
    status = 0
    path = sys.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    for name in args:
        found = False
        candidates = [name] if "/" in name else [posixpath.join(d or ".", name) for d in path.split(":")]
        for cand in candidates:
            try:
                s = sys.stat(cand)
            except OSError:
                continue
            if st.S_ISREG(s.mode) and s.mode & 0o111:
                out(sys, cand + "\n")
                found = True
                if not every:
                    break
        if not found:
            status = 1
    return status


def sync(sys, argv: list[str]) -> int:
    return 0


def tty(sys, argv: list[str]) -> int:
    from .common import isatty
    if isatty(sys.stdin):
        out(sys, "/dev/pts/0\n")
        return 0
    out(sys, "not a tty\n")
    return 1


def clear(sys, argv: list[str]) -> int:
    out(sys, "\x1b[H\x1b[J")
    return 0


# -- memory hogs -----------------------------------------------------------------------------

def _hog(sys, prog: str, nbytes: int, report) -> None:
    """Allocate ``nbytes`` through the kernel in MEMHOG_STEP steps; the cgroup may OOM-kill us (Killed(9))."""
    done = 0
    next_report = nbytes // 4
    while done < nbytes:
        step = min(MEMHOG_STEP, nbytes - done)
        sys.allocate(step)
        done += step
        if report and done >= next_report and done < nbytes:
            report(done)
            next_report += nbytes // 4


def memhog(sys, argv: list[str]) -> int:
    """memhog SIZE [SECONDS] — allocates SIZE (``256M``, ``1g``) in 1 MiB steps, reporting each quarter,
    holds it SECONDS (default 0), frees it. Under a smaller memory limit the kernel OOM-kills it: 137."""
    args = [a for a in argv[1:] if not re.fullmatch(r"-r\d*", a)]
    if not args:
        return usage(sys, "memhog", UsageError("missing SIZE"), "SIZE[kmg] [SECONDS]")
    nbytes = parse_size(args[0])
    if nbytes is None:
        err(sys, "memhog", f"invalid size '{args[0]}'")
        return 1
    hold = float(args[1]) if len(args) > 1 and re.fullmatch(r"\d+(\.\d*)?", args[1]) else 0.0
    mib = nbytes / (1 << 20)
    out(sys, f"memhog: allocating {mib:.0f} MiB\n")
    _hog(sys, "memhog", nbytes, lambda d: out(sys, f"memhog: {d / (1 << 20):.0f} MiB\n"))
    out(sys, f"memhog: allocated {mib:.0f} MiB" + (f", holding for {hold:g} s\n" if hold else "\n"))
    if hold:
        sys.sleep(hold)
    sys.free(nbytes)
    return 0


def stress(sys, argv: list[str]) -> int:
    """stress [--vm N] [--vm-bytes SIZE] [--vm-hang S] [--timeout Ns] [--cpu N] [-v] — like the real
    stress, each vm worker is a child process; a worker killed by the OOM killer makes stress report
    FAIL and exit 1."""
    args = argv[1:]
    if args[:1] == ["--vm-worker"]:      # a worker: stress --vm-worker BYTES SECONDS
        nbytes, hold = int(args[1]), float(args[2])
        _hog(sys, "stress", nbytes, None)
        if hold:
            sys.sleep(hold)
        sys.free(nbytes)
        return 0
    vm, cpu, io_, hdd = 0, 0, 0, 0
    vm_bytes = 256 << 20
    timeout = 0.0
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, value = a.partition("=")
        if name in ("--vm", "-m", "--cpu", "-c", "--io", "-i", "--hdd", "-d", "--vm-bytes", "--timeout", "-t",
                    "--vm-hang", "--vm-stride", "--vm-keep", "--backoff", "--hdd-bytes"):
            if name == "--vm-keep":
                i += 1
                continue
            if not eq:
                if i + 1 >= len(args):
                    err(sys, "stress", f"FAIL: [{sys.pid}] option {name} requires an argument")
                    return 1
                value = args[i + 1]
                i += 1
            if name in ("--vm", "-m"):
                vm = int(value) if value.isdigit() else 1
            elif name in ("--cpu", "-c"):
                cpu = int(value) if value.isdigit() else 1
            elif name in ("--io", "-i"):
                io_ = int(value) if value.isdigit() else 1
            elif name in ("--hdd", "-d"):
                hdd = int(value) if value.isdigit() else 1
            elif name == "--vm-bytes":
                parsed = parse_size(value)
                if parsed is None:
                    err(sys, "stress", f"FAIL: [{sys.pid}] invalid size: {value}")
                    return 1
                vm_bytes = parsed
            elif name in ("--timeout", "-t"):
                m = re.fullmatch(r"(\d+)([smhd]?)", value)
                timeout = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)] if m else 0
        elif a in ("-v", "--verbose", "-q", "--quiet", "-n", "--dry-run"):
            pass
        else:
            err(sys, "stress", f"FAIL: [{sys.pid}] unrecognized option: {a}")
            return 1
        i += 1
    pid = sys.pid
    out(sys, f"stress: info: [{pid}] dispatching hogs: {cpu} cpu, {io_} io, {vm} vm, {hdd} hdd\n")
    start = sys.time()
    for k in range(vm):
        status = sys.run([argv[0], "--vm-worker", str(vm_bytes), str(timeout)], stdin=sys.stdin,
                         stdout=sys.stdout, stderr=sys.stderr, env=dict(sys.environ))
        if status > 128:
            sys.stderr.write(enc(
                f"stress: FAIL: [{pid}] (415) <-- worker {pid + k + 1} got signal {status - 128}\n"
                f"stress: WARN: [{pid}] (417) now reaping child worker processes\n"
                f"stress: FAIL: [{pid}] (451) failed run completed in {sys.time() - start:.0f}s\n"))
            return 1
    if not vm and timeout:
        sys.sleep(timeout)
    out(sys, f"stress: info: [{pid}] successful run completed in {sys.time() - start:.0f}s\n")
    return 0


APPLETS = {
    "ps": ps, "kill": kill, "sleep": sleep, "usleep": usleep, "id": id_, "whoami": whoami, "groups": groups,
    "env": env, "printenv": printenv, "hostname": hostname, "uname": uname, "date": date, "free": free,
    "nproc": nproc, "mount": mount, "umount": umount, "which": which, "sync": sync, "tty": tty,
    "clear": clear,
}
# not busybox applets: they come from packages (numactl, stress) or stand in for them
EXTRA = {"memhog": memhog, "stress": stress}

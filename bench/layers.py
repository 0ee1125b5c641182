"""Benchmark: minidocker's layer extraction against GNU tar (and Python's tarfile).

Run with the project's virtualenv, from anywhere::

    /work/main/.venv/bin/python bench/layers.py [--reps N] [--files 20000] \
        [--large-mb 200] [--workdir DIR] [--json OUT] [--delete auto|each|end]

What it does (see bench/README.md):

1. Builds, once, a deterministic plain (uncompressed) GNU-format layer tar in the
   work directory (default ``bench/out/``, git-ignored): ``--files`` small files
   of 0-8 KiB over ~``files/40`` nested directories, a few symlinks, hard links and
   long (>100 byte) paths, plus 8 large files filling the archive up to about
   ``--large-mb`` MB. The tree is generated with a fixed seed and archived with
   ``tar --format=gnu --sort=name --numeric-owner -cf``; the archive is cached
   and reused while the parameters are unchanged.
2. Extracts it ``--reps`` times with each contender into a fresh empty directory
   on the same filesystem, rotating the order of the contenders every
   repetition: ``tar -xf`` (as root GNU tar restores owners and permissions by
   default; we keep that), ``apply_layer`` in a fresh venv-python process (the
   apply call is timed inside the process, the whole process from outside), and
   ``tarfile.extractall(filter="data")`` the same way as a reference point.
   Before each run the tar is read once (``cat > /dev/null``) and the program
   started once, so every contender runs hot; after each run, outside the timed
   part: ``sync``, deletion of the tree, ``sync`` -- except on ext4 without a
   journal, where deleting trees slows down the next extraction for minutes
   (see ``ext4_without_journal``): there the trees are synced, dropped from the
   page cache and deleted only after all runs (``--delete``).
3. Times sha256 of the tar: ``hashlib.sha256`` (1 MiB reads) against ``sha256sum``.
4. Checks once that minidocker and GNU tar produce the same tree, and fails
   loudly if they do not.

MB here is 10**6 bytes. Everything extracted is deleted again (try/finally);
nothing is written outside the work directory except the ``--json`` file.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import log

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GEN_VERSION = 2          # bump when the generator changes: invalidates cached archives
SEED = 20261128
N_LARGE = 8
MB = 1_000_000
CHUNK = 1 << 20
BASE_MTIME = 1_764_000_000   # 2025-11-24, fixed so the archive is reproducible

# -- the contenders' child processes --------------------------------------

# Each prints one JSON line: the time of the extraction call alone, measured
# inside the process, and the time spent importing before it.
MINIDOCKER_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from minidocker.image.layer import apply_layer
from minidocker.kernel import get_kernel
kernel = get_kernel()
t1 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    t2 = time.perf_counter()
    r = apply_layer(kernel, f, sys.argv[2])
    t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "call": t3 - t2, "entries": r.entries, "size": r.size}))
"""

TARFILE_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import tarfile
t1 = time.perf_counter()
with tarfile.open(sys.argv[1], "r:") as t:
    t2 = time.perf_counter()
    t.extractall(sys.argv[2], filter="data")
    t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "call": t3 - t2}))
"""




# -- generating the layer --------------------------------------------------

_WORDS = ["usr", "lib", "share", "bin", "etc", "var", "opt", "local", "python3", "site-packages",
          "include", "doc", "locale", "man", "x86_64-linux-gnu", "perl5", "node_modules", "src",
          "pkg", "cache", "conf.d", "modules", "plugins", "data", "static", "vendor", "test"]
_EXTS = ["", ".py", ".pyc", ".so", ".h", ".txt", ".json", ".gz", ".mo", ".conf", ".js"]


def _pick_mode(r: random.Random, kind: str) -> int:
    x = r.random()
    if kind == "dir":
        return 0o755 if x < 0.9 else (0o750 if x < 0.96 else 0o700)
    if x < 0.78:
        return 0o644
    if x < 0.93:
        return 0o755
    if x < 0.97:
        return 0o600
    if x < 0.99:
        return 0o444
    return 0o644 if x < 0.999 else (0o4755 if x < 0.9995 else 0o2755)  # a few set-id files


def _pick_owner(r: random.Random) -> tuple[int, int]:
    x = r.random()
    if x < 0.90:
        return 0, 0
    return (1000, 1000) if x < 0.97 else (33, 33)


def _tar_bytes(size: int) -> int:
    """Bytes a member of ``size`` takes in the archive (header + padded data)."""
    return 512 + -(-size // 512) * 512


def generate_tree(tree: Path, n_files: int, target_mb: int, seed: int) -> dict:
    """Create the deterministic source tree; returns counts for the report."""
    r = random.Random(seed)
    n_dirs = max(5, round(n_files / 40))
    n_symlinks = max(3, n_files // 400)
    n_hardlinks = max(2, n_files // 1000)

    # Directories: each under a random earlier one, depth at most 7; three
    # have long names so that some paths need GNU long-name headers.
    dirs: list[tuple[str, int]] = [("", 0)]
    for i in range(n_dirs):
        parent, depth = r.choice([d for d in dirs if d[1] < 7] or dirs[:1])
        if i in (n_dirs // 5, n_dirs // 2, 4 * n_dirs // 5):
            name = f"{'very-long-directory-name-' * 3}{i}"
        else:
            name = f"{r.choice(_WORDS)}{i}"
        path = f"{parent}/{name}" if parent else name
        dirs.append((path, depth + 1))
        (tree / path).mkdir()
    dir_paths = [d for d, _ in dirs]

    stats = {"dirs": n_dirs, "small_files": n_files, "symlinks": n_symlinks,
             "hardlinks": n_hardlinks, "large_files": N_LARGE}
    mtime = lambda: BASE_MTIME + r.randrange(10_000_000)  # noqa: E731
    est = 512 * (len(dir_paths) + n_symlinks + n_hardlinks) + 3 * 1536  # headers, long names

    files: list[str] = []
    small_bytes = 0
    for j in range(n_files):
        size = 0 if r.random() < 0.03 else int(8192 * r.random() ** 3)
        d = r.choice(dir_paths)
        rel = f"{d}/f{j:05d}{r.choice(_EXTS)}" if d else f"f{j:05d}{r.choice(_EXTS)}"
        p = tree / rel
        with open(p, "wb") as f:
            f.write(r.randbytes(size))
        uid, gid = _pick_owner(r)
        os.chown(p, uid, gid)
        os.chmod(p, _pick_mode(r, "file"))     # after chown, which clears set-id bits
        t = mtime()
        os.utime(p, (t, t))
        files.append(rel)
        small_bytes += size
        est += _tar_bytes(size)

    # Large files fill the archive up to about target_mb.
    large_total = max(N_LARGE * CHUNK, target_mb * MB - est - N_LARGE * 512)
    weights = [r.uniform(0.5, 1.5) for _ in range(N_LARGE)]
    sizes = [int(large_total * w / sum(weights)) for w in weights]
    for k, size in enumerate(sizes):
        d = r.choice(dir_paths)
        rel = f"{d}/blob{k}.bin" if d else f"blob{k}.bin"
        rb = random.Random(seed * 1000 + k)
        with open(tree / rel, "wb") as f:
            left = size
            while left:
                n = min(left, 4 * CHUNK)
                f.write(rb.randbytes(n))
                left -= n
        os.chmod(tree / rel, 0o644)
        t = mtime()
        os.utime(tree / rel, (t, t))

    # Hard links to small files, usually in another directory.
    for h in range(n_hardlinks):
        src = r.choice(files)
        d = r.choice(dir_paths)
        rel = f"{d}/hl{h:03d}" if d else f"hl{h:03d}"
        os.link(tree / src, tree / rel)

    # Relative symlinks to files and directories inside the tree (absolute or
    # escaping ones would be refused by tarfile's "data" filter).
    for s in range(n_symlinks):
        d = r.choice(dir_paths)
        rel = f"{d}/ln{s:03d}" if d else f"ln{s:03d}"
        target = r.choice(files) if s % 4 else r.choice(dir_paths[1:])
        os.symlink(os.path.relpath(tree / target, (tree / rel).parent), tree / rel)
        t = mtime()
        os.utime(tree / rel, (t, t), follow_symlinks=False)

    # Directory modes and times last, deepest first.
    for path, _ in sorted(dirs, key=lambda d: -d[1]):
        p = tree / path if path else tree
        os.chmod(p, 0o755 if not path else _pick_mode(r, "dir"))
        t = mtime()
        os.utime(p, (t, t))

    stats.update(small_bytes=small_bytes, large_bytes=sum(sizes))
    return stats


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def ensure_layer(workdir: Path, n_files: int, target_mb: int,
                 keep: list[Path] | None = None) -> tuple[Path, dict]:
    """The cached archive for these parameters, generating it if needed.

    With ``keep``, the generated source tree is not deleted but appended to it
    (to be deleted after the timed runs; see ``ext4_without_journal``).
    """
    key = f"layer-v{GEN_VERSION}-s{SEED}-f{n_files}-m{target_mb}"
    tar_path = workdir / f"{key}.tar"
    meta_path = workdir / f"{key}.json"
    if tar_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == tar_path.stat().st_size:
            log(f"using cached archive {tar_path}")
            return tar_path, meta
    log(f"generating {tar_path} (seed {SEED}) ...")
    t0 = time.perf_counter()
    tree = Path(tempfile.mkdtemp(prefix="gen-", dir=workdir))
    tmp = workdir / f"{key}.tar.tmp"
    kept = False
    try:
        os.umask(0o022)
        stats = generate_tree(tree, n_files, target_mb, SEED)
        subprocess.run(["tar", "--format=gnu", "--sort=name", "--numeric-owner",
                        "-cf", str(tmp), "-C", str(tree), "."],
                       check=True, env={**os.environ, "LC_ALL": "C"})
        os.replace(tmp, tar_path)
        if keep is not None:
            keep.append(tree)
            kept = True
    finally:
        if not kept:
            shutil.rmtree(tree, ignore_errors=True)
        tmp.unlink(missing_ok=True)
    members = subprocess.run(["tar", "-tf", str(tar_path)], check=True,
                             capture_output=True).stdout.count(b"\n")
    meta = {"generator_version": GEN_VERSION, "seed": SEED, "files_arg": n_files,
            "large_mb_arg": target_mb, "bytes": tar_path.stat().st_size, "members": members,
            "sha256": sha256_file(tar_path), **stats}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    log(f"generated in {time.perf_counter() - t0:.1f} s")
    return tar_path, meta


# -- comparing trees -------------------------------------------------------

def snapshot(root: Path, with_content: bool = True) -> tuple[dict, set, dict]:
    """Per path: (type, size, mode, link target, digest); hard-link groups; extras."""
    entries: dict[str, tuple] = {}
    extras: dict[str, tuple] = {}
    inodes: dict[int, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [""] + dirnames + filenames if dirpath == str(root) else dirnames + filenames:
            full = os.path.join(dirpath, name) if name else dirpath
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            size = st.st_size if not stat.S_ISDIR(st.st_mode) else None
            target = os.readlink(full) if stat.S_ISLNK(st.st_mode) else None
            digest = None
            if stat.S_ISREG(st.st_mode):
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
                if with_content:
                    digest = sha256_file(Path(full))
            entries[rel] = (kind, size, stat.S_IMODE(st.st_mode), target, digest)
            extras[rel] = (st.st_uid, st.st_gid, st.st_mtime_ns // 10**9)
    groups = {frozenset(v) for v in inodes.values() if len(v) > 1}
    return entries, groups, extras


def compare_trees(a: Path, b: Path, a_name: str, b_name: str) -> dict:
    ea, ga, xa = snapshot(a)
    eb, gb, xb = snapshot(b)
    problems = []
    for rel in sorted(set(ea) | set(eb)):
        if rel not in ea:
            problems.append(f"only in {b_name}: {rel}")
        elif rel not in eb:
            problems.append(f"only in {a_name}: {rel}")
        elif ea[rel] != eb[rel]:
            fields = ("type", "size", "mode", "symlink target", "content")
            diff = [f"{f} {x!r} vs {y!r}" for f, x, y in zip(fields, ea[rel], eb[rel]) if x != y]
            problems.append(f"{rel}: " + "; ".join(diff))
    if ga != gb:
        problems.append(f"hard-link groups differ: {len(ga ^ gb)} groups not shared, e.g. "
                        f"{sorted(map(sorted, ga ^ gb))[:3]}")
    if problems:
        msg = "\n  ".join(problems[:40])
        raise SystemExit(f"CORRECTNESS CHECK FAILED: {a_name} and {b_name} trees differ "
                         f"({len(problems)} problems):\n  {msg}")
    # Owners and mtimes are reported, not fatal (not part of the checked contract).
    warnings = [f"{rel}: uid/gid/mtime {xa[rel]} vs {xb[rel]}"
                for rel in sorted(xa) if rel in xb and xa[rel] != xb[rel]]
    return {"entries": len(ea), "hardlink_groups": len(ga), "owner_mtime_differences": len(warnings),
            "owner_mtime_examples": warnings[:10]}


# -- running the contenders ------------------------------------------------

def ext4_without_journal(path: Path) -> bool:
    """Whether ``path`` is on ext4 mounted without a journal.

    There ext4 will not reuse an inode freed in the last 60 s, or in the last
    6 min while its inode table block is dirty -- which extraction itself makes
    it: every create walks past all such recently freed inodes, one buffer
    lookup each (``recently_deleted()`` in fs/ext4/ialloc.c). Deleting a
    20 000-file tree and then extracting the next made GNU tar take anywhere
    from 3.6 to 11 s instead of ~0.7 s in a trial run here, depending on what was
    deleted before. So on such a filesystem the trees are kept until all timed
    runs are done, and a new run waits until the previous one's deletions are
    6 minutes old.
    """
    st = os.stat(path)
    dev = os.path.realpath(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    task = Path("/sys/fs/ext4") / os.path.basename(dev) / "journal_task"
    try:
        return task.read_text().strip() == "<none>"
    except OSError:
        return False


STAMP = "layers-last-delete"     # when this script last deleted trees (epoch seconds)
INODE_RECENT_S = 6 * 60 + 10    # ext4 without journal: freed inodes "recent" this long
# Pause after each run, once its pages are freed: on this VM freed memory goes
# back to the host (virtio-balloon free page reporting) within ~2 s, and every
# run should find memory in that same state.
PAUSE_S = 3


def _rmtree_in(workdir: Path, d: Path, ignore_errors: bool = False) -> None:
    """Delete a tree this script made; refuses anything but dest-*/gen-* in workdir."""
    if d.parent != workdir or not d.name.startswith(("dest-", "gen-")):
        raise AssertionError(f"refusing to delete {d}")
    shutil.rmtree(d, ignore_errors=ignore_errors)


def drop_page_cache(tree: Path) -> None:
    """Evict the (clean, synced) pages of every regular file under ``tree``."""
    for dirpath, _, filenames in os.walk(tree):
        for name in filenames:
            try:
                fd = os.open(os.path.join(dirpath, name), os.O_RDONLY | os.O_NOFOLLOW
                             | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue   # symlinks, and files the tree made unreadable even to root
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


class Bench:
    def __init__(self, workdir: Path, tar_path: Path, delete_each: bool):
        self.workdir = workdir
        self.tar = tar_path
        self.delete_each = delete_each
        self.live: list[Path] = []   # trees not yet deleted
        self.deleted = False
        self.pycache = workdir / "pycache"
        # Bytecode as `dev.sh` leaves it (precompiled in the git-ignored __pycache__
        # directories): PYTHONPYCACHEPREFIX would cost every start ~25 ms of lookups.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def fresh_dest(self, label: str) -> Path:
        d = Path(tempfile.mkdtemp(prefix=f"dest-{label}-", dir=self.workdir))
        self.live.append(d)
        return d

    def discard(self, d: Path) -> None:
        """After a run, outside the timed part: sync, then delete the tree (and sync
        again) or, when trees are kept until the end, drop its pages from the page
        cache, so every run starts with the same memory at hand; then pause."""
        os.sync()
        if self.delete_each:
            _rmtree_in(self.workdir, d)
            os.sync()
            self.live.remove(d)
            self.deleted = True
        else:
            drop_page_cache(d)
        time.sleep(PAUSE_S)

    def cleanup(self) -> None:
        deleted = bool(self.live) or self.deleted
        for d in list(self.live):
            _rmtree_in(self.workdir, d, ignore_errors=True)
            self.live.remove(d)
        shutil.rmtree(self.pycache, ignore_errors=True)
        if deleted:
            os.sync()
            (self.workdir / STAMP).write_text(f"{time.time():.0f}\n")

    def prepare(self, name: str) -> None:
        """Before a timed run: make the archive and the program hot."""
        subprocess.run(["cat", str(self.tar)], stdout=subprocess.DEVNULL, check=True)
        if name == "tar":
            argv = ["tar", "--version"]
        else:
            argv = [sys.executable, "-c", "import minidocker.image.layer, minidocker.kernel, "
                    "tarfile, json, time; minidocker.kernel.get_kernel()"]
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, cwd=REPO, env=self.env)

    def _timed(self, argv: list[str]) -> tuple[float, float, str]:
        """Run argv; wall seconds, child CPU seconds (user+sys), stdout."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                           env=self.env)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({p.returncode}):\n{p.stderr.decode(errors='replace')}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, p.stdout.decode()

    def run_tar(self, dest: Path) -> dict:
        wall, cpu, _ = self._timed(["tar", "-xf", str(self.tar), "-C", str(dest)])
        return {"process": wall, "cpu": cpu}

    def run_py(self, code: str, dest: Path) -> dict:
        wall, cpu, out = self._timed([sys.executable, "-c", code, str(self.tar), str(dest)])
        inner = json.loads(out.strip().splitlines()[-1])
        return {"process": wall, "cpu": cpu, **inner}

    def run(self, name: str, dest: Path) -> dict:
        """One timed extraction of ``name`` into ``dest`` (prepared first)."""
        self.prepare(name)
        if name == "tar":
            return self.run_tar(dest)
        return self.run_py(MINIDOCKER_CHILD if name == "minidocker" else TARFILE_CHILD, dest)


CONTENDERS = ["tar", "minidocker", "tarfile"]


def bench_sha256(path: Path, reps: int) -> dict:
    res = {"hashlib": [], "sha256sum": []}
    digests = set()
    for i in range(reps):
        order = ["hashlib", "sha256sum"] if i % 2 == 0 else ["sha256sum", "hashlib"]
        for who in order:
            if who == "hashlib":
                t0 = time.perf_counter()
                digests.add(sha256_file(path))
                res["hashlib"].append(time.perf_counter() - t0)
            else:
                t0 = time.perf_counter()
                out = subprocess.run(["sha256sum", str(path)], check=True,
                                     capture_output=True).stdout
                res["sha256sum"].append(time.perf_counter() - t0)
                digests.add(out.split()[0].decode())
    if len(digests) != 1:
        raise SystemExit(f"sha256 mismatch between hashlib and sha256sum: {digests}")
    return res


# -- main ------------------------------------------------------------------

def machine_info() -> dict:
    tar_v = subprocess.run(["tar", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "tar": tar_v, "euid": os.geteuid(),
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5, help="repetitions per contender (default 5)")
    ap.add_argument("--files", type=int, default=20000, help="small files in the layer (default 20000)")
    ap.add_argument("--large-mb", type=int, default=200,
                    help="approximate archive size in MB; 8 large files fill what the small "
                         "files leave (default 200)")
    ap.add_argument("--workdir", type=Path, default=HERE / "out",
                    help="cache and scratch directory (default bench/out/)")
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    ap.add_argument("--delete", choices=("auto", "each", "end"), default="auto",
                    help="delete each extracted tree right after its run ('each'), or keep "
                         "them (synced) until all runs are done ('end'); 'auto' (default) is "
                         "'end' on ext4 without a journal, where freshly freed inodes slow "
                         "down file creation for minutes, else 'each'")
    args = ap.parse_args(argv)
    if args.reps < 1 or args.files < 1 or args.large_mb < 1:
        ap.error("--reps, --files and --large-mb must be positive")

    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(workdir / "pycache", ignore_errors=True)
    stale = [d for d in [*workdir.glob("dest-*"), *workdir.glob("gen-*")] if d.is_dir()]
    for d in stale:   # left by an interrupted run of this script
        log(f"deleting {d}, left by an interrupted run")
        _rmtree_in(workdir, d, ignore_errors=True)
    if stale:
        os.sync()
        (workdir / STAMP).write_text(f"{time.time():.0f}\n")

    nojournal = ext4_without_journal(workdir)
    delete_each = args.delete == "each" or (args.delete == "auto" and not nojournal)
    kept: list[Path] = []
    try:
        return _main(args, workdir, nojournal, delete_each, kept)
    finally:
        for tree in kept:   # the generator's tree, if it was kept
            _rmtree_in(workdir, tree, ignore_errors=True)
        if kept:
            os.sync()
            (workdir / STAMP).write_text(f"{time.time():.0f}\n")


def _main(args, workdir: Path, nojournal: bool, delete_each: bool, kept: list[Path]) -> int:
    if nojournal and not delete_each:
        try:
            last = float((workdir / STAMP).read_text())
        except (OSError, ValueError):
            last = 0.0
        wait = last + INODE_RECENT_S - time.time()
        if wait > 0:
            log(f"waiting {wait:.0f} s: this script deleted trees {time.time() - last:.0f} s ago, "
                "and on ext4 without a journal freshly freed inodes slow down creates "
                "for 6 min")
            time.sleep(wait)
    tar_path, meta = ensure_layer(workdir, args.files, args.large_mb,
                                  keep=None if delete_each else kept)
    size = meta["bytes"]
    mach = machine_info()
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(workdir)], capture_output=True, text=True)
    mach["fs_type"] = fs.stdout.strip()

    log()
    log("== minidocker layer extraction benchmark ==")
    log(f"archive : {tar_path}")
    log(f"          {size / MB:.1f} MB ({size / 2**20:.1f} MiB), {meta['members']} members: "
        f"{meta['small_files']} small files (0-8 KiB, {meta['small_bytes'] / MB:.1f} MB), "
        f"{meta['large_files']} large files ({meta['large_bytes'] / MB:.1f} MB), "
        f"{meta['dirs']} dirs, {meta['symlinks']} symlinks, {meta['hardlinks']} hard links; "
        f"GNU format, uncompressed")
    log(f"reps    : {args.reps} per contender, order rotated each repetition")
    log(f"machine : {mach['nproc']} CPUs ({mach['cpu']}), {mach['mem_gb']} GiB RAM, Linux "
        f"{mach['kernel']}, Python {mach['python']}, {mach['tar']}, euid {mach['euid']}, "
        f"workdir on {mach['fs_type']}")
    if os.geteuid() == 0:
        log("note    : as root, GNU tar -xf restores owners and permissions by default "
            "(--same-owner --same-permissions), as does apply_layer; tarfile's 'data' filter "
            "does not chown")
    log("timing  : before each run the archive is read (cat > /dev/null) and the program "
        "started once, so all run hot; sync after each run, outside the timed part")

    n_trees = 2 + 3 * args.reps
    if delete_each:
        log("trees   : each extracted tree is deleted right after its run (sync, rm, sync)"
            + ("; WARNING: ext4 without a journal, so each run pays for the inodes the "
               "previous one freed: figures will be noisy" if nojournal else ""))
    else:
        need = n_trees * size * 1.1
        free = shutil.disk_usage(workdir).free
        log(f"trees   : ext4 without a journal, so the {n_trees} extracted trees are kept "
            f"(synced, their pages dropped from the page cache) until all runs are done, "
            f"then deleted: ~{need / 1e9:.1f} GB and {n_trees * meta['members']} inodes "
            f"meanwhile")
        if need > free * 0.8:
            raise SystemExit(f"not enough free space in {workdir}: need ~{need / 1e9:.1f} GB, "
                             f"{free / 1e9:.1f} GB free (use fewer --reps or --delete each)")
    bench = Bench(workdir, tar_path, delete_each)
    results: dict[str, list[dict]] = {c: [] for c in CONTENDERS}
    orders = []
    try:
        # Correctness, once (also warms imports, .pyc files and the filesystem).
        log()
        log("checking: minidocker apply_layer vs GNU tar trees ...")
        d_md, d_tar = bench.fresh_dest("check-md"), bench.fresh_dest("check-tar")
        first = bench.run("minidocker", d_md)
        bench.run("tar", d_tar)
        check = compare_trees(d_tar, d_md, "GNU tar", "minidocker")
        check["minidocker_entries"] = first["entries"]
        bench.discard(d_md)
        bench.discard(d_tar)
        log(f"  OK: {check['entries']} paths identical (names, types, sizes, modes, content, "
            f"symlink targets, {check['hardlink_groups']} hard-link groups); "
            f"owner/mtime differences: {check['owner_mtime_differences']}")
        for w in check["owner_mtime_examples"]:
            log(f"    note: {w}")

        for i in range(args.reps):
            order = CONTENDERS[i % 3:] + CONTENDERS[:i % 3]
            orders.append(order)
            line = []
            for name in order:
                dest = bench.fresh_dest(name)
                r = bench.run(name, dest)
                bench.discard(dest)
                results[name].append(r)
                extra = f"/{r['call']:.2f}" if "call" in r else ""
                line.append(f"{name} {r['process']:.2f}{extra}s")
            log(f"  rep {i + 1}/{args.reps}: " + ", ".join(line))

        log("sha256 ...")
        sha = bench_sha256(tar_path, args.reps)
    finally:
        bench.cleanup()

    # -- report ------------------------------------------------------------
    med = lambda xs: statistics.median(xs)  # noqa: E731
    tar_med = med([r["process"] for r in results["tar"]])
    rows = [
        ("GNU tar -xf (process)", [r["process"] for r in results["tar"]], results["tar"]),
        ("minidocker apply_layer (process)", [r["process"] for r in results["minidocker"]],
         results["minidocker"]),
        ("minidocker apply_layer (call only)", [r["call"] for r in results["minidocker"]], None),
        ("tarfile extractall data (process)", [r["process"] for r in results["tarfile"]],
         results["tarfile"]),
        ("tarfile extractall data (call only)", [r["call"] for r in results["tarfile"]], None),
    ]
    summary = {}
    log()
    log(f"Extraction of {size / MB:.1f} MB, {meta['members']} members, median of {args.reps} "
        f"(speed vs tar = tar time / contender time):")
    log(f"  {'contender':36} {'median s':>9} {'min s':>7} {'max s':>7} {'MB/s':>7} "
        f"{'vs tar':>7} {'CPU s':>6}")
    for label, xs, runs in rows:
        m = med(xs)
        cpu = f"{med([r['cpu'] for r in runs]):6.2f}" if runs else f"{'':6}"
        log(f"  {label:36} {m:9.3f} {min(xs):7.3f} {max(xs):7.3f} {size / MB / m:7.1f} "
            f"{tar_med / m:6.2f}x {cpu}")
        summary[label] = {"median_s": m, "min_s": min(xs), "max_s": max(xs),
                          "mb_per_s": size / MB / m, "speed_vs_tar": tar_med / m,
                          "cpu_median_s": med([r["cpu"] for r in runs]) if runs else None}
    imp = med([r["import"] for r in results["minidocker"]])
    ratio = summary["minidocker apply_layer (process)"]["speed_vs_tar"]
    log(f"  (minidocker import time inside the process: median {imp:.3f} s)")
    log(f"  target: minidocker (process) >= 0.80x GNU tar -> {ratio:.2f}x "
        f"{'MET' if ratio >= 0.8 else 'NOT MET'}")

    log()
    log(f"sha256 of the {size / MB:.1f} MB archive, median of {args.reps}:")
    log(f"  {'contender':36} {'median s':>9} {'MB/s':>7} {'vs sha256sum':>13}")
    s_med = med(sha["sha256sum"])
    for label, key in (("sha256sum (process)", "sha256sum"), ("hashlib.sha256, 1 MiB reads", "hashlib")):
        m = med(sha[key])
        log(f"  {label:36} {m:9.3f} {size / MB / m:7.1f} {s_med / m:12.2f}x")
        summary[label] = {"median_s": m, "mb_per_s": size / MB / m, "speed_vs_sha256sum": s_med / m}

    if args.json:
        out = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": mach,
               "ext4_without_journal": nojournal, "delete_each_run": delete_each,
               "archive": {"path": str(tar_path), **meta}, "reps": args.reps, "orders": orders,
               "check": check, "extract": results, "sha256": sha, "summary": summary}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        log(f"\nraw figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

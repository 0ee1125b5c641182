"""A simulated package manager: ``apt-get``/``apt``/``dpkg`` (Debian bookworm)
and ``apk`` (Alpine 3.19) over a small built-in catalog, and the programs the
packages install (``node --version``, ``psql --version`` …).

It imitates what a Dockerfile author sees: apt's ``Reading package lists…``
/ ``The following NEW packages will be installed`` / ``Unpacking`` /
``Setting up`` lines and apk's ``(1/4) Installing …`` / ``OK: 52 MiB in 19
packages``; ``E: Unable to locate package X`` (exit 100) until ``apt-get
update`` has written the package lists (a fresh Debian image has none — the
reason for ``apt-get update && apt-get install``); apk needs ``--no-cache``,
``-U`` or a prior ``apk update`` for its index. Without ``-y``, apt asks
before installing extra packages and aborts on an empty stdin, as in a build.

Files are real files in the container's filesystem, so they land in the
RUN step's layer: binaries in /usr/bin (or /usr/sbin), libraries in
/usr/lib/x86_64-linux-gnu (apk: /usr/lib), /usr/share/doc/PKG/copyright,
dpkg's /var/lib/dpkg/status and /var/lib/dpkg/info/PKG.list (.md5sums), apk's
/lib/apk/db/installed and /etc/apk/world. Sizes are the real packages'
sizes divided by ``SCALE`` (100) so layers stay small; messages quote the
real sizes. Contents are deterministic — derived from SHAKE-256 of the
path and version — so the same install gives the same bytes and the same
layer digest every time. Mirrors are named ``*.sim`` hosts: nothing is
downloaded.

A package's binary is a ``#!minidocker-sim PROGRAM`` file whose second line
names its version; the program answers ``--version`` (and ``node -e
'console.log(…)'``, ``python3 -c 'print(…)'`` for literals) and otherwise
says ``simulated: PROGRAM supports only --version`` (exit 1).
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
import stat as st
from dataclasses import dataclass

from .common import UsageError, dec, enc, err, out, parse_opts, readline

SCALE = 100
APT_MIRROR = "http://deb.debian.sim/debian"
APK_MIRROR = "https://alpine-mirror.sim/alpine/v3.19"
LISTS_DIR = "/var/lib/apt/lists"
LISTS_FILES = ("deb.debian.sim_debian_dists_bookworm_InRelease",
               "deb.debian.sim_debian_dists_bookworm_main_binary-amd64_Packages")
LISTS_REAL_SIZE = 45_000_000          # bookworm main's Packages index, about
APK_INDEXES = ("APKINDEX.2c4ac24e.tar.gz", "APKINDEX.40a3604f.tar.gz")
APK_INDEX_REAL_SIZE = 2_400_000
LIBDIR = "/usr/lib/x86_64-linux-gnu"


@dataclass(frozen=True)
class Package:
    name: str
    version: str                       # Debian's
    apk_version: str
    section: str
    summary: str
    files: tuple                       # (path, real size, kind) — kind "bin:PROG", "lib", "data", "conf", "link:TARGET"
    depends: tuple = ()
    recommends: tuple = ()
    apk_depends: tuple | None = None   # None: the same as depends
    apt: bool = True
    apk: bool = True

    @property
    def real_size(self) -> int:
        return sum(size for _, size, _ in self.files)

    def upstream(self, manager: str) -> str:
        v = self.version if manager == "apt" else self.apk_version
        v = v.split(":", 1)[-1]
        m = re.match(r"[0-9][0-9.]*[0-9]|[0-9]", v)
        return m.group() if m else v


def _lib(name: str, size: int, *links: str) -> list:
    return [(f"{LIBDIR}/{name}", size, "lib")] + [(f"{LIBDIR}/{ln}", 0, f"link:{name}") for ln in links]


CATALOG: dict[str, Package] = {p.name: p for p in [
    Package("ca-certificates", "20230311", "20240226-r0", "misc", "Common CA certificates",
            (("/etc/ssl/certs/ca-certificates.crt", 213_777, "conf"),
             ("/usr/sbin/update-ca-certificates", 8_302, "bin:update-ca-certificates"),
             ("/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt", 1_939, "data"))),
    Package("zlib1g", "1:1.2.13.dfsg-1", "1.3.1-r0", "libs", "compression library - runtime",
            tuple(_lib("libz.so.1.2.13", 121_280, "libz.so.1"))),
    Package("libssl3", "3.0.11-1~deb12u2", "3.1.4-r5", "libs", "Secure Sockets Layer toolkit - shared libraries",
            tuple(_lib("libssl.so.3", 696_320) + _lib("libcrypto.so.3", 4_709_056))),
    Package("libcurl4", "7.88.1-10+deb12u5", "8.5.0-r0", "libs", "easy-to-use client-side URL transfer library",
            tuple(_lib("libcurl.so.4.8.0", 737_176, "libcurl.so.4")), depends=("libssl3", "zlib1g")),
    Package("libnode108", "18.19.0+dfsg-6~deb12u1", "18.19.0-r0", "libs", "evented I/O for V8 javascript - runtime library",
            tuple(_lib("libnode.so.108", 75_431_680)), depends=("libssl3", "zlib1g"), apk=False),
    Package("nodejs", "18.19.0+dfsg-6~deb12u1", "20.11.1-r0", "javascript", "evented I/O for V8 javascript - runtime executable",
            (("/usr/bin/node", 16_528, "bin:node"), ("/usr/bin/nodejs", 0, "link:node"),
             ("/usr/lib/node_modules/corepack/package.json", 2_107, "data")),
            depends=("libnode108",), recommends=("ca-certificates",),
            apk_depends=("ca-certificates", "libssl3", "zlib")),
    Package("npm", "9.2.0~ds1-1", "10.2.5-r0", "javascript", "package manager for Node.js",
            (("/usr/share/nodejs/npm/bin/npm-cli.js", 4_903, "bin:npm"),
             ("/usr/bin/npm", 0, "link:../share/nodejs/npm/bin/npm-cli.js"),
             ("/usr/share/nodejs/npm/lib/npm.js", 11_924_332, "data")),
            depends=("nodejs", "ca-certificates")),
    Package("libpq5", "15.6-0+deb12u1", "16.2-r0", "libs", "PostgreSQL C client library",
            tuple(_lib("libpq.so.5.15", 333_576, "libpq.so.5")), depends=("libssl3",)),
    Package("postgresql-client-15", "15.6-0+deb12u1", "15.6-r0", "database",
            "front-end programs for PostgreSQL 15",
            (("/usr/lib/postgresql/15/bin/psql", 743_120, "bin:psql"),
             ("/usr/lib/postgresql/15/bin/pg_dump", 448_432, "bin:pg_dump"),
             ("/usr/bin/psql", 0, "link:../lib/postgresql/15/bin/psql"),
             ("/usr/bin/pg_dump", 0, "link:../lib/postgresql/15/bin/pg_dump")),
            depends=("libpq5",)),
    Package("postgresql-15", "15.6-0+deb12u1", "15.6-r0", "database",
            "The World's Most Advanced Open Source Relational Database",
            (("/usr/lib/postgresql/15/bin/postgres", 9_479_296, "bin:postgres"),
             ("/usr/lib/postgresql/15/bin/initdb", 158_928, "bin:initdb"),
             ("/usr/lib/postgresql/15/bin/pg_ctl", 66_720, "bin:pg_ctl"),
             # not in Debian's package (the official image puts the directory on PATH instead)
             ("/usr/bin/postgres", 0, "link:../lib/postgresql/15/bin/postgres"),
             ("/usr/share/postgresql/15/postgres.bki", 1_004_553, "data"),
             ("/usr/share/postgresql/15/postgresql.conf.sample", 29_569, "conf"),
             ("/usr/share/postgresql/15/extension/plpgsql.control", 193, "data"),
             ("/usr/lib/postgresql/15/lib/plpgsql.so", 264_936, "lib")),
            depends=("postgresql-client-15", "libpq5", "libssl3")),
    Package("postgresql", "15+248", "15.6-r0", "database", "object-relational SQL database (supported version)",
            (("/usr/share/doc/postgresql/README.Debian", 1_003, "data"),), depends=("postgresql-15",),
            apk_depends=("postgresql-15",)),
    Package("postgresql-client", "15+248", "15.6-r0", "database", "front-end programs for PostgreSQL (supported version)",
            (("/usr/share/doc/postgresql-client/README", 480, "data"),), depends=("postgresql-client-15",)),
    Package("python3.11", "3.11.2-6+deb12u1", "3.11.8-r0", "python", "Interactive high-level object-oriented language (version 3.11)",
            (("/usr/bin/python3.11", 6_831_736, "bin:python3"),
             ("/usr/lib/python3.11/os.py", 39_504, "data"),
             ("/usr/lib/python3.11/encodings/__init__.py", 5_620, "data"),
             ("/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so", 186_376, "lib"),
             ("/usr/lib/python3.11/stdlib.zip", 20_512_000, "data")),
            depends=("libssl3", "zlib1g"), apk=False),
    Package("python3", "3.11.2-1+b1", "3.11.8-r0", "python", "interactive high-level object-oriented language (default python3 version)",
            (("/usr/bin/python3", 0, "link:python3.11"),), depends=("python3.11",),
            apk_depends=("libssl3", "zlib")),
    Package("curl", "7.88.1-10+deb12u5", "8.5.0-r0", "web", "command line tool for transferring data with URL syntax",
            (("/usr/bin/curl", 277_544, "bin:curl"),), depends=("libcurl4", "zlib1g"),
            apk_depends=("ca-certificates", "libcurl")),
    Package("git", "1:2.39.2-1.1", "2.43.0-r0", "vcs", "fast, scalable, distributed revision control system",
            (("/usr/bin/git", 3_977_640, "bin:git"),
             ("/usr/lib/git-core/git-remote-http", 1_608_160, "bin:git-remote-http"),
             ("/usr/share/git-core/templates/description", 73, "data"),
             ("/usr/share/git-core/templates/hooks/pre-commit.sample", 1_643, "data")),
            depends=("libcurl4", "zlib1g"), recommends=("ca-certificates",),
            apk_depends=("ca-certificates", "libcurl", "zlib")),
    Package("nginx", "1.22.1-9", "1.24.0-r15", "httpd", "small, powerful, scalable web/proxy server",
            (("/usr/sbin/nginx", 1_338_552, "bin:nginx"),
             ("/etc/nginx/nginx.conf", 1_447, "conf"),
             ("/etc/nginx/mime.types", 5_349, "conf"),
             ("/var/www/html/index.nginx-debian.html", 612, "data")),
            depends=("libssl3", "zlib1g")),
    Package("redis", "5:7.0.15-1~deb12u1", "7.2.4-r0", "database", "Persistent key-value database with network interface",
            (("/usr/bin/redis-server", 1_766_984, "bin:redis-server"),
             ("/usr/bin/redis-cli", 933_416, "bin:redis-cli"),
             ("/etc/redis/redis.conf", 106_545, "conf")),
            depends=("libssl3",)),
    Package("stress", "1.0.7-1", "1.0.7-r0", "devel", "tool to impose load on and stress test a computer system",
            (("/usr/bin/stress", 35_448, "bin:stress"),)),
    Package("numactl", "2.0.16-1", "2.0.16-r4", "admin", "NUMA scheduling and memory placement tool (with memhog)",
            (("/usr/bin/numactl", 43_776, "bin:numactl"), ("/usr/bin/memhog", 14_520, "bin:memhog"))),
    # Alpine's names for what Debian splits differently
    Package("zlib", "1:1.2.13.dfsg-1", "1.3.1-r0", "libs", "A compression/decompression Library",
            (("/usr/lib/libz.so.1.3.1", 100_032, "lib"), ("/usr/lib/libz.so.1", 0, "link:libz.so.1.3.1")), apt=False),
    Package("libcurl", "7.88.1", "8.5.0-r0", "libs", "The multiprotocol file transfer library",
            (("/usr/lib/libcurl.so.4.8.0", 683_232, "lib"), ("/usr/lib/libcurl.so.4", 0, "link:libcurl.so.4.8.0")),
            apk_depends=("libssl3", "zlib"), apt=False),
]}

# Alpine's package names for the same software
APK_ALIASES = {"postgresql15": "postgresql", "postgresql15-client": "postgresql-client",
               "postgresql-15": "postgresql-15", "redis-server": "redis"}

# program → how it prints its version ({v}: the upstream version), and the options that ask for it
VERSION_TEXT = {
    "node": ("v{v}", ("--version", "-v")), "npm": ("{v}", ("--version", "-v")),
    "psql": ("psql (PostgreSQL) {v}", ("--version", "-V")), "pg_dump": ("pg_dump (PostgreSQL) {v}", ("--version", "-V")),
    "postgres": ("postgres (PostgreSQL) {v}", ("--version", "-V")), "initdb": ("initdb (PostgreSQL) {v}", ("--version", "-V")),
    "pg_ctl": ("pg_ctl (PostgreSQL) {v}", ("--version", "-V")), "python3": ("Python {v}", ("--version", "-V")),
    "git": ("git version {v}", ("--version", "version")), "git-remote-http": ("git version {v}", ("--version",)),
    "nginx": ("nginx version: nginx/{v}", ("-v", "-V", "--version")),
    "redis-server": ("Redis server v={v} sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=0", ("--version", "-v")),
    "redis-cli": ("redis-cli {v}", ("--version", "-v")), "numactl": ("numactl {v}", ("--version",)),
    "update-ca-certificates": ("update-ca-certificates {v}", ("--version",)),
}


def _program_package(prog: str, manager: str) -> Package | None:
    for p in CATALOG.values():
        if any(kind == f"bin:{prog}" for _, _, kind in p.files) and (p.apt if manager == "apt" else p.apk):
            return p
    return None


# -- deterministic contents ------------------------------------------------------------

def content(pkg: Package, manager: str, path: str, size: int, kind: str) -> bytes:
    """The bytes of one installed file: the same for the same package, manager and path."""
    version = pkg.version if manager == "apt" else pkg.apk_version
    scaled = max(size // SCALE, 32)
    seed = f"{manager}:{pkg.name}:{version}:{path}".encode()
    if kind.startswith("bin:"):
        prog = kind[4:]
        head = (f"#!minidocker-sim {prog}\n# version: {pkg.upstream(manager)}\n"
                f"# package: {pkg.name} {version} ({manager}); a simulated binary: "
                f"real size {size} bytes, stored at 1/{SCALE}\n").encode()
        filler = hashlib.shake_256(seed).hexdigest(max(scaled - len(head), 0) // 2 + 1).encode()
        return head + filler[:max(scaled - len(head), 0)]
    if kind in ("conf", "data") and not path.endswith((".so", ".zip", ".bki")):
        head = f"# {posixpath.basename(path)} from {pkg.name} {version} (simulated, 1/{SCALE} of {size} bytes)\n".encode()
        body = hashlib.shake_256(seed).hexdigest(max(scaled - len(head), 0) // 2 + 1).encode()
        text = head + b"\n".join(body[i:i + 64] for i in range(0, max(scaled - len(head), 0), 65))
        return text[:max(scaled, len(head))]
    return hashlib.shake_256(seed).digest(scaled)


def _copyright(pkg: Package) -> bytes:
    return (f"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            f"Upstream-Name: {pkg.name}\nComment: simulated package from the minidocker catalog\n\n"
            f"Files: *\nLicense: see the upstream project\n").encode()


def _apk_path(path: str) -> str:
    return path.replace(LIBDIR + "/", "/usr/lib/")


def install_files(sys, pkg: Package, manager: str) -> list[str]:
    """Write a package's files; the paths it owns in dpkg's order (each directory, created or
    not, before what is in it)."""
    owned: list[str] = []
    files = list(pkg.files)
    if manager == "apt":
        files.append((f"/usr/share/doc/{pkg.name}/copyright", 0, "copyright"))
    else:
        files = [(_apk_path(p), s, k) for p, s, k in files if not p.startswith("/usr/share/doc/")]
    for path, size, kind in files:
        _mkdirs(sys, posixpath.dirname(path), owned)
        if kind.startswith("link:"):
            try:
                sys.unlink(path)
            except OSError:
                pass
            sys.symlink(kind[5:], path)
        else:
            data = _copyright(pkg) if kind == "copyright" else content(pkg, manager, path, size, kind)
            mode = 0o755 if kind.startswith("bin:") else 0o644
            sys.write(path, data, mode=mode)
            sys.chmod(path, mode)
        owned.append(path)
    return owned


def _mkdirs(sys, path: str, owned: list[str]) -> None:
    cur = ""
    for p in [p for p in path.split("/") if p]:
        cur += "/" + p
        try:
            exists = st.S_ISDIR(sys.stat(cur).mode)
        except FileNotFoundError:
            exists = False
        if not exists:
            sys.mkdir(cur, 0o755)
        if cur not in owned:
            owned.append(cur)


# directories a package may list but removing it never deletes
SHARED_DIRS = frozenset(("/etc", "/usr", "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/share", "/usr/share/doc",
                         "/usr/local", "/var", "/var/lib", "/var/www", "/bin", "/sbin", "/lib", LIBDIR))


# -- sizes in apt's and apk's words --------------------------------------------------------

def apt_size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    if n >= 1000:
        return f"{n / 1e3:.0f} kB"
    return f"{n} B"


def _kb(n: int) -> str:
    return f"{max(n // 1000, 1):,} kB"


def _wrap(names: list[str]) -> str:
    lines, cur = [], " "
    for n in names:
        if len(cur) + 1 + len(n) > 79 and cur.strip():
            lines.append(cur)
            cur = " "
        cur += " " + n
    lines.append(cur)
    return "\n".join(lines) + "\n"


def _download_size(pkg: Package) -> int:
    return max(pkg.real_size * 3 // 10, 1_200)


# -- dependency resolution ------------------------------------------------------------------

def resolve(names: list[str], manager: str, installed: set[str], recommends: bool) -> list[Package]:
    """The packages to install, dependencies first."""
    order: list[Package] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name in installed:
            return
        seen.add(name)
        pkg = CATALOG[name]
        deps = pkg.depends if manager == "apt" or pkg.apk_depends is None else pkg.apk_depends
        for d in deps:
            visit(d)
        if recommends and manager == "apt":
            for d in pkg.recommends:
                visit(d)
        order.append(pkg)

    for n in names:
        visit(n)
    return order


def available(name: str, manager: str) -> Package | None:
    if manager == "apk":
        name = APK_ALIASES.get(name, name)
    pkg = CATALOG.get(name)
    if pkg is None or not (pkg.apt if manager == "apt" else pkg.apk):
        return None
    return pkg


# -- dpkg's database ---------------------------------------------------------------------------

def _stanzas(text: str) -> list[dict[str, str]]:
    result = []
    for block in re.split(r"\n\s*\n", text.strip()):
        rec: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                rec[key] += "\n" + line
            elif ":" in line:
                key, _, value = line.partition(":")
                rec[key] = value.strip()
        if rec:
            result.append(rec)
    return result


def _read_text(sys, path: str) -> str:
    try:
        return dec(sys.read(path))
    except OSError:
        return ""


def dpkg_installed(sys) -> dict[str, dict[str, str]]:
    return {r["Package"]: r for r in _stanzas(_read_text(sys, "/var/lib/dpkg/status"))
            if "Package" in r and r.get("Status", "").endswith(" installed")}


def _dpkg_stanza(pkg: Package) -> dict[str, str]:
    rec = {"Package": pkg.name, "Status": "install ok installed", "Priority": "optional",
           "Section": pkg.section, "Installed-Size": str(max(pkg.real_size // 1024, 1)),
           "Maintainer": "Debian maintainers (simulated) <packages@debian.sim>",
           "Architecture": "all" if pkg.section in ("misc",) else "amd64", "Version": pkg.version}
    if pkg.depends:
        rec["Depends"] = ", ".join(pkg.depends)
    if pkg.recommends:
        rec["Recommends"] = ", ".join(pkg.recommends)
    rec["Description"] = pkg.summary
    return rec


def _write_status(sys, records: dict[str, dict[str, str]], all_records: list[dict[str, str]]) -> None:
    # keep what is not ours (half-installed, config-files …) and rewrite in name order
    others = [r for r in all_records if r.get("Package") not in records]
    merged = sorted(list(records.values()) + others, key=lambda r: r.get("Package", ""))
    text = "\n".join("".join(f"{k}: {v}\n" for k, v in r.items()) for r in merged)
    _mkdirs(sys, "/var/lib/dpkg", [])
    sys.write("/var/lib/dpkg/status", enc(text))


def _lists_present(sys) -> bool:
    try:
        return any(n.endswith("_Packages") for n in sys.listdir(LISTS_DIR))
    except OSError:
        return False


def _lists_content(name: str) -> bytes:
    if name.endswith("InRelease"):
        return (b"Origin: Debian\nLabel: Debian\nSuite: stable\nVersion: 12.5\nCodename: bookworm\n"
                b"Date: Sat, 10 Feb 2024 10:00:00 UTC\nArchitectures: amd64\nComponents: main\n"
                b"Description: Debian 12.5 Released 10 February 2024 (simulated)\n")
    stanzas = []
    for pkg in sorted(CATALOG.values(), key=lambda p: p.name):
        if pkg.apt:
            stanzas.append(f"Package: {pkg.name}\nVersion: {pkg.version}\nInstalled-Size: {pkg.real_size // 1024}\n"
                           f"Depends: {', '.join(pkg.depends)}\nSize: {_download_size(pkg)}\n"
                           f"Description: {pkg.summary}\n")
    text = "\n".join(stanzas).encode()
    k = 0
    filler = []
    size = len(text)
    while size < LISTS_REAL_SIZE // SCALE:
        h = hashlib.sha256(f"filler{k}".encode()).hexdigest()[:12]
        line = f"\nPackage: sim-other-{k:05d}\nVersion: 1.0-{h}\nDescription: (simulated index entry)\n".encode()
        filler.append(line)
        size += len(line)
        k += 1
    return text + b"".join(filler)


# -- apt-get -------------------------------------------------------------------------------------

_APT_FLAGS = {"--yes": "y", "--assume-yes": "y", "--no-install-recommends": "R", "--install-recommends": "I",
              "--quiet": "q", "--fix-missing": "m", "--no-install-suggests": "S", "--allow-unauthenticated": "u",
              "--allow-downgrades": "u", "--allow-remove-essential": "u", "--allow-change-held-packages": "u",
              "--purge": "P", "--auto-remove": "a", "--autoremove": "a", "--reinstall": "r", "--dry-run": "s",
              "--simulate": "s", "--no-upgrade": "n", "--only-upgrade": "n", "--download-only": "d",
              "--fix-broken": "f", "--ignore-missing": "m", "--no-cache": "N", "--update": "U"}


class _AptOut:
    def __init__(self, sys, quiet: int):
        self.sys, self.quiet = sys, quiet

    def __call__(self, text: str, level: int = 1) -> None:
        if self.quiet < level + 1 or (level == 0 and self.quiet < 2):
            out(self.sys, text)


def apt_get(sys, argv: list[str]) -> int:
    """apt-get [-y] [-q] [--no-install-recommends] update | install PKG... | remove|purge PKG... |
    clean | autoremove | upgrade"""
    try:
        opts, args = parse_opts(argv, "yqmfsdV", "o", longs=_APT_FLAGS)
    except UsageError as e:
        err(sys, "E", f"Command line option {str(e).split()[-1]} is not understood in combination with the other options")
        return 100
    if argv and posixpath.basename(argv[0]) == "apt":
        sys.stderr.write(b"\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n")
    say = _AptOut(sys, int(opts.get("q", 0)))
    if not args:
        out(sys, "apt 2.6.1 (amd64) (simulated)\nUsage: apt-get [options] command\n")
        return 0
    cmd, names = args[0], args[1:]
    if cmd == "update":
        return _apt_update(sys, say)
    if cmd in ("install", "reinstall"):
        return _apt_install(sys, say, names, opts)
    if cmd in ("remove", "purge", "autoremove"):
        return _apt_remove(sys, say, names, opts)
    if cmd in ("clean", "autoclean"):
        for path in ("/var/cache/apt/pkgcache.bin", "/var/cache/apt/srcpkgcache.bin"):
            try:
                sys.unlink(path)
            except OSError:
                pass
        return 0
    if cmd in ("upgrade", "dist-upgrade", "full-upgrade", "check"):
        _reading(say)
        if cmd != "check":
            say("Calculating upgrade...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
        return 0
    sys.stderr.write(enc(f"E: Invalid operation {cmd}\n"))
    return 100


def _reading(say) -> None:
    say("Reading package lists...\nBuilding dependency tree...\nReading state information...\n")


def _apt_update(sys, say) -> int:
    say(f"Get:1 {APT_MIRROR} bookworm InRelease [151 kB]\n"
        f"Get:2 {APT_MIRROR} bookworm-updates InRelease [55.4 kB]\n"
        f"Get:3 {APT_MIRROR}-security bookworm-security InRelease [48.0 kB]\n"
        f"Get:4 {APT_MIRROR} bookworm/main amd64 Packages [8,786 kB]\n"
        f"Fetched 9,040 kB in 1s (9,040 kB/s)\n")
    _mkdirs(sys, LISTS_DIR + "/partial", [])
    for name in LISTS_FILES:
        sys.write(f"{LISTS_DIR}/{name}", _lists_content(name))
    _mkdirs(sys, "/var/cache/apt", [])
    seed = b"pkgcache"
    sys.write("/var/cache/apt/pkgcache.bin", hashlib.shake_256(seed).digest(27_000_000 // SCALE))
    sys.write("/var/cache/apt/srcpkgcache.bin", hashlib.shake_256(seed + b"src").digest(27_000_000 // SCALE))
    _reading(say)
    say("All packages are up to date.\n")
    return 0


def _apt_install(sys, say, names: list[str], opts: dict) -> int:
    _reading(say)
    if not names:
        say("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
        return 0
    lists = _lists_present(sys)
    wanted = []
    for n in names:
        n = n.split("=", 1)[0]
        pkg = available(n, "apt") if lists else None
        if pkg is None:
            sys.stderr.write(enc(f"E: Unable to locate package {n}\n"))
            return 100
        wanted.append(pkg.name)
    records = _stanzas(_read_text(sys, "/var/lib/dpkg/status"))
    installed = {r["Package"]: r for r in records if r.get("Status", "").endswith(" installed")}
    for n in wanted:
        if n in installed and "r" not in opts:
            say(f"{n} is already the newest version ({CATALOG[n].version}).\n")
    use_rec = "R" not in opts
    todo = resolve([n for n in wanted if n not in installed or "r" in opts], "apt",
                   {n for n in installed if n not in wanted or "r" not in opts}, use_rec)
    if not todo:
        say("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
        return 0
    extra = [p.name for p in todo if p.name not in wanted]
    if extra:
        say("The following additional packages will be installed:\n" + _wrap(sorted(extra)))
    if not use_rec:
        skipped = sorted({r for p in todo for r in p.recommends if r not in installed and r not in {q.name for q in todo}})
        if skipped:
            say("Recommended packages:\n" + _wrap(skipped))
    say("The following NEW packages will be installed:\n" + _wrap(sorted(p.name for p in todo)))
    download = sum(_download_size(p) for p in todo)
    say(f"0 upgraded, {len(todo)} newly installed, 0 to remove and 0 not upgraded.\n"
        f"Need to get {apt_size(download)} of archives.\n"
        f"After this operation, {apt_size(sum(p.real_size for p in todo))} of additional disk space will be used.\n")
    if extra and "y" not in opts:
        say("Do you want to continue? [Y/n] ", 0)
        line = readline(sys.stdin)
        if not line or dec(line).strip().lower() not in ("", "y", "yes"):   # EOF, as in a build: abort
            say("Abort.\n", 0)
            return 1
    if "s" in opts:
        for p in todo:
            say(f"Inst {p.name} ({p.version} Debian:12.5/stable [amd64])\n")
        return 0
    for k, p in enumerate(todo, 1):
        say(f"Get:{k} {APT_MIRROR} bookworm/main amd64 {p.name} amd64 {p.version} [{_kb(_download_size(p))}]\n")
    say(f"Fetched {apt_size(download)} in 0s ({apt_size(download)}/s)\n"
        "debconf: delaying package configuration, since apt-utils is not installed\n")
    count = 6_000 + sum(len(r) for r in installed.values())
    for k, p in enumerate(todo):
        arch = "amd64" if p.section != "misc" else "all"
        say(f"Selecting previously unselected package {p.name}{':amd64' if p.section == 'libs' else ''}.\n")
        if k == 0:
            say(f"(Reading database ... {count} files and directories currently installed.)\n")
        say(f"Preparing to unpack .../{k:02d}-{p.name}_{p.version.split(':')[-1]}_{arch}.deb ...\n"
            f"Unpacking {p.name}{':amd64' if p.section == 'libs' else ''} ({p.version}) ...\n")
        written = install_files(sys, p, "apt")
        _mkdirs(sys, "/var/lib/dpkg/info", [])
        sys.write(f"/var/lib/dpkg/info/{p.name}.list", enc("/.\n" + "".join(x + "\n" for x in written)))
        sums = []
        for path in written:
            s = sys.stat(path, follow_symlinks=False)
            if st.S_ISREG(s.mode):
                sums.append(f"{hashlib.md5(sys.read(path)).hexdigest()}  {path.lstrip('/')}\n")
        sys.write(f"/var/lib/dpkg/info/{p.name}.md5sums", enc("".join(sums)))
        installed[p.name] = _dpkg_stanza(p)
    for p in todo:
        say(f"Setting up {p.name}{':amd64' if p.section == 'libs' else ''} ({p.version}) ...\n")
    _write_status(sys, installed, records)
    if any(p.section == "libs" for p in todo):
        say("Processing triggers for libc-bin (2.36-9+deb12u4) ...\n")
    return 0


def _apt_remove(sys, say, names: list[str], opts: dict) -> int:
    _reading(say)
    records = _stanzas(_read_text(sys, "/var/lib/dpkg/status"))
    installed = {r["Package"]: r for r in records if r.get("Status", "").endswith(" installed")}
    todo = []
    for n in names:
        if n not in installed:
            if n not in CATALOG:
                sys.stderr.write(enc(f"E: Unable to locate package {n}\n"))
                return 100
            say(f"Package '{n}' is not installed, so not removed\n")
        else:
            todo.append(n)
    if not todo:
        say("0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n")
        return 0
    say("The following packages will be REMOVED:\n" + _wrap(todo) +
        f"0 upgraded, 0 newly installed, {len(todo)} to remove and 0 not upgraded.\n")
    for n in todo:
        say(f"Removing {n} ({installed[n].get('Version', '')}) ...\n")
        listing = _read_text(sys, f"/var/lib/dpkg/info/{n}.list").splitlines()
        for path in reversed(listing):
            try:
                s = sys.stat(path, follow_symlinks=False)
                if st.S_ISDIR(s.mode):
                    if path not in SHARED_DIRS and not sys.listdir(path):
                        sys.rmdir(path)
                else:
                    sys.unlink(path)
            except OSError:
                pass
        for suffix in (".list", ".md5sums"):
            try:
                sys.unlink(f"/var/lib/dpkg/info/{n}{suffix}")
            except OSError:
                pass
        del installed[n]
    _write_status(sys, installed, [r for r in records if r.get("Package") not in todo])
    return 0


def dpkg(sys, argv: list[str]) -> int:
    """dpkg -l [PATTERN] | -L PKG | -s PKG | --print-architecture | --version"""
    args = argv[1:]
    if not args:
        err(sys, "dpkg", "error: need an action option")
        return 2
    action, rest = args[0], args[1:]
    installed = dpkg_installed(sys)
    if action == "--print-architecture":
        out(sys, "amd64\n")
        return 0
    if action == "--version":
        out(sys, "Debian 'dpkg' package management program version 1.21.22 (amd64) (simulated).\n")
        return 0
    if action in ("-l", "--list"):
        out(sys, "Desired=Unknown/Install/Remove/Purge/Hold\n"
                 "| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n"
                 "|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n"
                 "||/ Name           Version      Architecture Description\n"
                 "+++-==============-============-============-=================================\n")
        for name, r in sorted(installed.items()):
            out(sys, f"ii  {name:<14} {r.get('Version', ''):<12} {r.get('Architecture', ''):<12} "
                     f"{r.get('Description', '').splitlines()[0] if r.get('Description') else ''}\n")
        return 0
    if action in ("-L", "--listfiles", "-s", "--status"):
        status = 0
        for n in rest:
            if n not in installed:
                err(sys, "dpkg-query", f"package '{n}' is not installed")
                status = 1
                continue
            if action in ("-L", "--listfiles"):
                out(sys, _read_text(sys, f"/var/lib/dpkg/info/{n}.list"))
            else:
                out(sys, "".join(f"{k}: {v}\n" for k, v in installed[n].items()))
        return status
    err(sys, "dpkg", f"error: unknown option {action}")
    return 2


# -- apk ------------------------------------------------------------------------------------------

def _apk_db(sys) -> list[dict[str, list[str]]]:
    text = _read_text(sys, "/lib/apk/db/installed")
    result = []
    for block in re.split(r"\n\s*\n", text.strip()):
        rec: dict[str, list[str]] = {}
        for line in block.splitlines():
            if len(line) > 1 and line[1] == ":":
                rec.setdefault(line[0], []).append(line[2:])
        if rec.get("P"):
            result.append(rec)
    return result


def _apk_checksum(data: bytes) -> str:
    return "Q1" + base64.b64encode(hashlib.sha1(data).digest()).decode()


def _apk_stanza(sys, pkg: Package, written: list[str]) -> str:
    deps = pkg.depends if pkg.apk_depends is None else pkg.apk_depends
    lines = [f"C:{_apk_checksum(f'{pkg.name}-{pkg.apk_version}'.encode())}", f"P:{pkg.name}", f"V:{pkg.apk_version}",
             "A:x86_64", f"S:{_download_size(pkg)}", f"I:{pkg.real_size}", f"T:{pkg.summary}",
             "U:https://example.invalid/" + pkg.name, "L:custom", f"o:{pkg.name}", "t:1707000000"]
    if deps:
        lines.append("D:" + " ".join(deps))
    by_dir: dict[str, list[str]] = {}
    for path in written:
        s = sys.stat(path, follow_symlinks=False)
        if st.S_ISDIR(s.mode):
            by_dir.setdefault(path.lstrip("/"), [])
        else:
            by_dir.setdefault(posixpath.dirname(path).lstrip("/"), []).append(path)
    for d, files in by_dir.items():
        lines.append(f"F:{d}")
        for path in files:
            lines.append(f"R:{posixpath.basename(path)}")
            s = sys.stat(path, follow_symlinks=False)
            if s.mode & 0o111 and st.S_ISREG(s.mode):
                lines.append("a:0:0:755")
            data = sys.read(path) if st.S_ISREG(s.mode) else enc(sys.readlink(path))
            lines.append(f"Z:{_apk_checksum(data)}")
    return "\n".join(lines) + "\n"


def apk(sys, argv: list[str]) -> int:
    """apk add [--no-cache] [-U|--update] [-q] [--virtual NAME] PKG... | apk update | apk del PKG... |
    apk info [-v] | apk --version"""
    args = argv[1:]
    flags: set[str] = set()
    names: list[str] = []
    cmd = None
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a in ("--no-cache", "-U", "--update", "--update-cache", "-q", "--quiet", "-v", "--verbose",
                 "--no-progress", "--force-overwrite", "--clean-protected", "--purge", "--no-scripts"):
            flags.add(a)
        elif a in ("-t", "--virtual", "--repository", "-X", "--root", "-p"):
            i += 1                       # takes a value; a virtual package is installed as its members
        elif a == "--version" or a == "-V":
            out(sys, "apk-tools 2.14.0, compiled for x86_64 (simulated).\n")
            return 0
        elif a.startswith("-"):
            err(sys, "apk", f"unrecognized option '{a}'")
            return 1
        elif cmd is None:
            cmd = a
        else:
            names.append(a)
    quiet = "-q" in flags or "--quiet" in flags
    say = (lambda text: None) if quiet else (lambda text: out(sys, text))
    if cmd is None:
        out(sys, "apk-tools 2.14.0, compiled for x86_64 (simulated).\n\nusage: apk [<OPTIONS>...] COMMAND [<ARGUMENTS>...]\n")
        return 1
    fetch = bool(flags & {"--no-cache", "-U", "--update", "--update-cache"}) or cmd == "update"
    if cmd == "update" or (fetch and cmd == "add"):
        for repo in ("main", "community"):
            say(f"fetch {APK_MIRROR}/{repo}/x86_64/APKINDEX.tar.gz\n")
        if "--no-cache" not in flags:
            _mkdirs(sys, "/var/cache/apk", [])
            for k, name in enumerate(APK_INDEXES):
                sys.write(f"/var/cache/apk/{name}", hashlib.shake_256(name.encode()).digest(APK_INDEX_REAL_SIZE // SCALE))
    if cmd == "update":
        say(f"v3.19.1-102-g7d07a0ba7a3 [{APK_MIRROR}/main]\nv3.19.1-103-gf2ac1db0b8c [{APK_MIRROR}/community]\n"
            "OK: 22983 distinct packages available\n")
        return 0
    db = _apk_db(sys)
    installed = {r["P"][0] for r in db}
    if cmd == "add":
        have_index = fetch or any(_exists(sys, f"/var/cache/apk/{n}") for n in APK_INDEXES)
        missing = [n for n in names if available(n.split("=", 1)[0], "apk") is None or not have_index]
        if not have_index:
            for repo in ("main", "community"):
                sys.stderr.write(enc(f"WARNING: opening from cache {APK_MIRROR}/{repo}: No such file or directory\n"))
        if missing:
            sys.stderr.write(enc("ERROR: unable to select packages:\n" + "".join(
                f"  {n} (no such package):\n    required by: world[{n}]\n" for n in missing)))
            return 1
        wanted = [available(n.split("=", 1)[0], "apk").name for n in names]
        todo = resolve(wanted, "apk", installed, False)
        total = len(todo)
        stanzas = []
        for k, p in enumerate(todo, 1):
            say(f"({k}/{total}) Installing {p.name} ({p.apk_version})\n")
            written = install_files(sys, p, "apk")
            stanzas.append(_apk_stanza(sys, p, written))
        if todo:
            say("Executing busybox-1.36.1-r15.trigger\n")
            if any(p.name == "ca-certificates" for p in todo):
                say("Executing ca-certificates-20240226-r0.trigger\n")
        _mkdirs(sys, "/lib/apk/db", [])
        old = _read_text(sys, "/lib/apk/db/installed").rstrip("\n")
        text = "\n\n".join(([old] if old else []) + [s.rstrip("\n") for s in stanzas]) + "\n\n"
        sys.write("/lib/apk/db/installed", enc(text))
        _mkdirs(sys, "/etc/apk", [])
        world = set(_read_text(sys, "/etc/apk/world").split()) | set(names)
        sys.write("/etc/apk/world", enc("\n".join(sorted(world)) + "\n"))
        say(_apk_ok(sys))
        return 0
    if cmd == "del":
        keep = []
        removed = []
        for rec in db:
            if rec["P"][0] in names:
                removed.append(rec)
            else:
                keep.append(rec)
        for k, rec in enumerate(removed, 1):
            say(f"({k}/{len(removed)}) Purging {rec['P'][0]} ({rec.get('V', [''])[0]})\n")
        text = _read_text(sys, "/lib/apk/db/installed")
        blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b and not any(
            f"\nP:{rec['P'][0]}\n" in "\n" + b + "\n" for rec in removed)]
        for rec in removed:
            name = rec["P"][0]
            pkg = CATALOG.get(name)
            if pkg:
                for path, _, _ in reversed(pkg.files):
                    try:
                        sys.unlink(_apk_path(path))
                    except OSError:
                        pass
        sys.write("/lib/apk/db/installed", enc("\n\n".join(blocks) + ("\n\n" if blocks else "")))
        world = [w for w in _read_text(sys, "/etc/apk/world").split() if w not in names]
        sys.write("/etc/apk/world", enc("".join(w + "\n" for w in world)))
        say(_apk_ok(sys))
        return 0
    if cmd == "info":
        for rec in db:
            out(sys, (f"{rec['P'][0]}-{rec.get('V', [''])[0]}" if "-v" in flags else rec["P"][0]) + "\n")
        return 0
    err(sys, "apk", f"unknown command '{cmd}'")
    return 1


def _exists(sys, path: str) -> bool:
    try:
        sys.stat(path)
        return True
    except OSError:
        return False


def _apk_ok(sys) -> str:
    db = _apk_db(sys)
    kib = sum(int(r.get("I", ["0"])[0]) for r in db) // 1024
    return f"OK: {kib // 1024} MiB in {len(db)} packages\n"


# -- the programs packages install --------------------------------------------------------------

def _own_version(sys, argv0: str, prog: str) -> str:
    """The version written in the program's own file, else the catalog's (Debian's)."""
    path = argv0
    if "/" not in path:
        for d in sys.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":"):
            if _exists(sys, posixpath.join(d or ".", path)):
                path = posixpath.join(d or ".", path)
                break
    try:
        head = sys.read(path)[:256]
        m = re.search(rb"\n# version: ([^\n]+)\n", head)
        if m:
            return m.group(1).decode()
    except OSError:
        pass
    pkg = _program_package(prog, "apt") or _program_package(prog, "apk")
    return pkg.upstream("apt") if pkg else "0"


_LITERAL = re.compile(r"""\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?\d+(?:\.\d+)?))\s*""")


def _literal(text: str) -> str | None:
    m = _LITERAL.fullmatch(text)
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else m.group(2) if m.group(2) is not None else m.group(3)


def package_program(prog: str):
    fmt, flags = VERSION_TEXT.get(prog, ("{v}", ("--version",)))

    def main(sys, argv: list[str]) -> int:
        args = argv[1:]
        if args and args[0] in flags:
            text = fmt.format(v=_own_version(sys, argv[0] if argv else prog, prog)) + "\n"
            (sys.stderr if prog == "nginx" else sys.stdout).write(enc(text))
            return 0
        if prog == "node" and len(args) == 2 and args[0] in ("-e", "-p", "--eval", "--print"):
            m = re.fullmatch(r"\s*console\.log\((.*)\)\s*;?\s*", args[1], re.S)
            value = _literal(m.group(1)) if m else (_literal(args[1]) if args[0] in ("-p", "--print") else None)
            if value is not None:
                out(sys, value + "\n")
                return 0
        if prog == "python3" and len(args) == 2 and args[0] == "-c":
            m = re.fullmatch(r"\s*print\((.*)\)\s*", args[1], re.S)
            value = _literal(m.group(1)) if m else None
            if value is not None:
                out(sys, value + "\n")
                return 0
        extra = {"node": ", -e 'console.log(LITERAL)'", "python3": ", -c 'print(LITERAL)'"}.get(prog, "")
        err(sys, "simulated", f"{prog} supports only {flags[0]}{extra} (this is not the real {prog})")
        return 1
    main.__doc__ = f"{prog}: a simulated binary from the package catalog ({flags[0]} only)."
    return main


PACKAGE_PROGRAMS: dict = {
    "apt-get": apt_get, "apt": apt_get, "dpkg": dpkg, "apk": apk,
}
for _name in VERSION_TEXT:
    PACKAGE_PROGRAMS[_name] = package_program(_name)
PACKAGE_PROGRAMS["nodejs"] = PACKAGE_PROGRAMS["node"]
PACKAGE_PROGRAMS["python3.11"] = PACKAGE_PROGRAMS["python3"]

"""The simulated package managers (minidocker/kernel/sim/userland/packages.py):
apt-get and apk over the built-in catalog, the files and databases they
write, deterministic contents, and the programs the packages install."""

from __future__ import annotations

import pytest

from minidocker.kernel.sim.userland import packages
from minidocker.kernel.sim.userland.fake import FakeKernel, make_rootfs


def debian() -> FakeKernel:
    return make_rootfs(FakeKernel(), "debian")


def alpine() -> FakeKernel:
    return make_rootfs(FakeKernel(), "alpine")


def sh(k, script):
    return k.exec(["sh", "-c", script])


# -- apt-get ------------------------------------------------------------------------------

def test_apt_get_install_before_update_cannot_locate_packages():
    k = debian()
    r = sh(k, "apt-get install -y nodejs")
    assert r.status == 100
    assert r.err == "E: Unable to locate package nodejs\n"
    assert r.out == "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"


def test_apt_get_update_writes_the_lists_and_prints_plausible_lines():
    k = debian()
    r = sh(k, "apt-get update")
    assert r.status == 0
    assert r.out.startswith("Get:1 http://deb.debian.sim/debian bookworm InRelease [151 kB]\n")
    assert "Reading package lists...\n" in r.out
    lists = sh(k, "ls /var/lib/apt/lists").out.split()
    assert lists == ["deb.debian.sim_debian_dists_bookworm_InRelease",
                     "deb.debian.sim_debian_dists_bookworm_main_binary-amd64_Packages", "partial"]
    size = len(k.read("/var/lib/apt/lists/deb.debian.sim_debian_dists_bookworm_main_binary-amd64_Packages"))
    assert packages.LISTS_REAL_SIZE // packages.SCALE <= size < packages.LISTS_REAL_SIZE // packages.SCALE + 200
    assert b"Package: nodejs\nVersion: 18.19.0+dfsg-6~deb12u1\n" in k.read(
        "/var/lib/apt/lists/deb.debian.sim_debian_dists_bookworm_main_binary-amd64_Packages")


def test_apt_get_install_nodejs_writes_binaries_libraries_docs_and_dpkg_records():
    k = debian()
    r = sh(k, "apt-get update -qq && apt-get install -y nodejs")
    assert r.status == 0, r.err
    assert "The following additional packages will be installed:\n  ca-certificates libnode108 libssl3 zlib1g\n" in r.out
    assert "The following NEW packages will be installed:\n  ca-certificates libnode108 libssl3 nodejs zlib1g\n" in r.out
    assert "0 upgraded, 5 newly installed, 0 to remove and 0 not upgraded.\n" in r.out
    assert "Unpacking nodejs (18.19.0+dfsg-6~deb12u1) ...\n" in r.out
    assert "Setting up nodejs (18.19.0+dfsg-6~deb12u1) ...\n" in r.out
    node = k.read("/usr/bin/node")
    assert node.startswith(b"#!minidocker-sim node\n# version: 18.19.0\n")
    assert len(node) == 16_528 // packages.SCALE
    assert len(k.read("/usr/lib/x86_64-linux-gnu/libnode.so.108")) == 75_431_680 // packages.SCALE
    assert sh(k, "readlink /usr/bin/nodejs").out == "node\n"
    assert sh(k, "stat -c %a /usr/bin/node /usr/lib/x86_64-linux-gnu/libssl.so.3").out == "755\n644\n"
    assert b"Upstream-Name: nodejs" in k.read("/usr/share/doc/nodejs/copyright")
    listing = k.read("/var/lib/dpkg/info/nodejs.list").decode().splitlines()
    assert listing[0] == "/." and "/usr/bin/node" in listing and "/usr/share/doc/nodejs/copyright" in listing
    assert "usr/bin/node" in k.read("/var/lib/dpkg/info/nodejs.md5sums").decode()
    status = k.read("/var/lib/dpkg/status").decode()
    assert "Package: nodejs\nStatus: install ok installed\n" in status
    assert "Version: 18.19.0+dfsg-6~deb12u1\n" in status
    assert "Package: libc6\n" in status                                 # the base image's records stay
    assert sh(k, "node --version").out == "v18.19.0\n"


def test_apt_get_without_yes_asks_and_aborts_on_empty_stdin():
    k = debian()
    sh(k, "apt-get update")
    r = sh(k, "apt-get install nodejs")
    assert r.status == 1
    assert r.out.endswith("Do you want to continue? [Y/n] Abort.\n")
    assert not k.exists("/usr/bin/node")
    r = k.exec(["apt-get", "install", "nodejs"], stdin=b"y\n")
    assert r.status == 0 and k.exists("/usr/bin/node")


def test_apt_get_no_install_recommends_leaves_recommended_packages_out():
    k = debian()
    r = sh(k, "apt-get update >/dev/null && apt-get install -y --no-install-recommends nodejs")
    assert "Recommended packages:\n  ca-certificates\n" in r.out
    assert not k.exists("/etc/ssl/certs/ca-certificates.crt")
    assert k.exists("/usr/bin/node")


def test_apt_get_unknown_package_and_already_installed():
    k = debian()
    sh(k, "apt-get update")
    r = sh(k, "apt-get install -y nodejs nosuchthing")
    assert (r.status, r.err) == (100, "E: Unable to locate package nosuchthing\n")
    assert not k.exists("/usr/bin/node")
    sh(k, "apt-get install -y curl")
    r = sh(k, "apt-get install -y curl")
    assert "curl is already the newest version (7.88.1-10+deb12u5).\n" in r.out
    assert "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n" in r.out


def test_two_installs_give_identical_bytes():
    snapshots = []
    for _ in range(2):
        k = debian()
        r = sh(k, "apt-get update && apt-get install -y nodejs postgresql python3 && apt-get clean")
        assert r.status == 0
        snapshots.append(k.snapshot())
    assert snapshots[0] == snapshots[1]
    assert len(snapshots[0]) > 80


def test_postgresql_server_and_client_version_15():
    k = debian()
    r = sh(k, "apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null && "
              "psql --version && postgres --version && /usr/lib/postgresql/15/bin/pg_ctl --version")
    assert r.out == "psql (PostgreSQL) 15.6\npostgres (PostgreSQL) 15.6\npg_ctl (PostgreSQL) 15.6\n"
    assert "postgresql-client-15" in k.read("/var/lib/dpkg/status").decode()


@pytest.mark.parametrize("pkg, command, expected", [
    ("python3", "python3 --version", "Python 3.11.2\n"),
    ("python3", "python3 -c 'print(\"hi\")'", "hi\n"),
    ("git", "git --version", "git version 2.39.2\n"),
    ("redis", "redis-cli --version", "redis-cli 7.0.15\n"),
    ("nodejs", "node -e 'console.log(\"hello\")'", "hello\n"),
    ("npm", "npm --version", "9.2.0\n"),
    ("nginx", "nginx -v 2>&1", "nginx version: nginx/1.22.1\n"),
])
def test_installed_programs_answer_their_version(pkg, command, expected):
    k = debian()
    sh(k, f"apt-get update >/dev/null; apt-get install -y {pkg} >/dev/null")
    r = sh(k, command)
    assert (r.status, r.out) == (0, expected)


def test_installed_programs_refuse_anything_else_clearly():
    k = debian()
    sh(k, "apt-get update >/dev/null; apt-get install -y nodejs python3 >/dev/null")
    r = sh(k, "node server.js")
    assert r.status == 1
    assert r.err == ("simulated: node supports only --version, -e 'console.log(LITERAL)' "
                     "(this is not the real node)\n")
    r = sh(k, "python3 -m http.server")
    assert r.status == 1 and r.err.startswith("simulated: python3 supports only --version")


def test_apt_get_remove_and_dpkg_queries():
    k = debian()
    sh(k, "apt-get update >/dev/null; apt-get install -y nginx >/dev/null")
    assert sh(k, "dpkg -L nginx | grep sbin").out == "/usr/sbin\n/usr/sbin/nginx\n"
    assert "ii  nginx" in sh(k, "dpkg -l").out
    assert sh(k, "dpkg --print-architecture").out == "amd64\n"
    r = sh(k, "apt-get remove -y nginx")
    assert "Removing nginx (1.22.1-9) ...\n" in r.out
    assert not k.exists("/usr/sbin/nginx") and not k.exists("/etc/nginx")
    assert k.exists("/usr/sbin")
    assert "Package: nginx\n" not in k.read("/var/lib/dpkg/status").decode()
    r = sh(k, "dpkg -s nginx")
    assert (r.status, r.err) == (1, "dpkg-query: package 'nginx' is not installed\n")


def test_apt_clean_and_removing_lists_shrink_the_layer():
    k = debian()
    sh(k, "apt-get update >/dev/null")
    assert k.exists("/var/cache/apt/pkgcache.bin")
    sh(k, "apt-get clean && rm -rf /var/lib/apt/lists/*")
    assert not k.exists("/var/cache/apt/pkgcache.bin")
    assert sh(k, "ls /var/lib/apt/lists | wc -l").out == "0\n"


def test_apt_prints_its_cli_warning():
    k = debian()
    r = sh(k, "apt update")
    assert r.err == "\nWARNING: apt does not have a stable CLI interface. Use with caution in scripts.\n\n"


# -- apk -------------------------------------------------------------------------------------

def test_apk_add_without_an_index_fails_like_alpine():
    k = alpine()
    r = sh(k, "apk add nodejs")
    assert r.status == 1
    assert "ERROR: unable to select packages:\n  nodejs (no such package):\n    required by: world[nodejs]\n" in r.err


def test_apk_add_no_cache_installs_with_dependencies():
    k = alpine()
    r = sh(k, "apk add --no-cache nodejs npm")
    assert r.status == 0
    assert r.out == (
        "fetch https://alpine-mirror.sim/alpine/v3.19/main/x86_64/APKINDEX.tar.gz\n"
        "fetch https://alpine-mirror.sim/alpine/v3.19/community/x86_64/APKINDEX.tar.gz\n"
        "(1/5) Installing ca-certificates (20240226-r0)\n(2/5) Installing libssl3 (3.1.4-r5)\n"
        "(3/5) Installing zlib (1.3.1-r0)\n(4/5) Installing nodejs (20.11.1-r0)\n"
        "(5/5) Installing npm (10.2.5-r0)\nExecuting busybox-1.36.1-r15.trigger\n"
        "Executing ca-certificates-20240226-r0.trigger\nOK: 19 MiB in 9 packages\n")
    assert sh(k, "node --version; npm --version").out == "v20.11.1\n10.2.5\n"
    assert k.exists("/usr/lib/libssl.so.3") and not k.exists("/usr/share/doc/nodejs/copyright")
    assert not k.exists("/var/cache/apk")                                   # --no-cache keeps nothing
    db = k.read("/lib/apk/db/installed").decode()
    assert "\nP:nodejs\nV:20.11.1-r0\nA:x86_64\n" in db
    assert "F:usr/bin\nR:node\na:0:0:755\nZ:Q1" in db
    assert k.read("/etc/apk/world").decode().split() == ["alpine-baselayout", "apk-tools", "busybox", "musl",
                                                         "nodejs", "npm"]


def test_apk_unknown_package_and_update_then_add():
    k = alpine()
    r = sh(k, "apk add --no-cache nosuchpkg")
    assert r.status == 1
    assert r.err == "ERROR: unable to select packages:\n  nosuchpkg (no such package):\n    required by: world[nosuchpkg]\n"
    r = sh(k, "apk update")
    assert r.out.endswith("OK: 22983 distinct packages available\n")
    assert sh(k, "ls /var/cache/apk").out == "APKINDEX.2c4ac24e.tar.gz\nAPKINDEX.40a3604f.tar.gz\n"
    r = sh(k, "apk add postgresql15 && psql --version && postgres --version")
    assert r.status == 0
    assert r.out.endswith("psql (PostgreSQL) 15.6\npostgres (PostgreSQL) 15.6\n")


def test_apk_del_removes_files_and_records():
    k = alpine()
    sh(k, "apk add --no-cache redis >/dev/null")
    assert sh(k, "redis-server --version").out.startswith("Redis server v=7.2.4 ")
    r = sh(k, "apk del redis")
    assert r.out.startswith("(1/1) Purging redis (7.2.4-r0)\n")
    assert not k.exists("/usr/bin/redis-server")
    assert "P:redis\n" not in k.read("/lib/apk/db/installed").decode()
    assert "redis" not in k.read("/etc/apk/world").decode().split()


def test_apk_installs_are_deterministic():
    a, b = alpine(), alpine()
    for k in (a, b):
        assert sh(k, "apk add --no-cache git curl python3").status == 0
    assert a.snapshot() == b.snapshot()


def test_the_oom_lesson_with_packaged_stress_and_memhog():
    k = make_rootfs(FakeKernel(memory_limit=64 << 20), "debian")
    r = sh(k, "apt-get update >/dev/null && apt-get install -y stress numactl >/dev/null && memhog 128M")
    assert r.status == 137
    assert r.err == "Killed\n"
    r = sh(k, "stress --vm 1 --vm-bytes 32M --timeout 1s")
    assert r.status == 0


def test_catalog_is_consistent():
    for pkg in packages.CATALOG.values():
        deps = list(pkg.depends) + list(pkg.recommends) + list(pkg.apk_depends or ())
        for d in deps:
            assert d in packages.CATALOG, (pkg.name, d)
        for path, size, kind in pkg.files:
            assert path.startswith("/") and size >= 0
            assert kind.split(":")[0] in ("bin", "lib", "data", "conf", "link")
            if kind.startswith("bin:"):
                assert kind[4:] in packages.PACKAGE_PROGRAMS or kind[4:] in ("curl", "stress", "memhog")

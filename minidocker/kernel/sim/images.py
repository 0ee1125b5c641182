"""The simulator's built-in base images: ``busybox``, ``debian`` and ``alpine`` look-alikes.

Where the real kernel bootstraps from the host's busybox-static (or
debootstrap), the simulator needs nothing from the host: each image is one
small layer written here, byte for byte the same on every machine, so image
IDs and diagrams in the lessons are reproducible.

* ``busybox``: ``/bin/busybox`` (a stand-in the simulator runs as its
  busybox) with a hard link per simulated applet, the account files and the
  usual directories — as the official image is laid out.
* ``debian``: the same plus ``apt-get``/``dpkg`` with an empty package
  database and Debian's release files, so ``apt-get install nodejs``
  works as in the seed's recipe.
* ``alpine``: the same plus ``apk``.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass

from ...image.bootstrap import _DIRS, _GROUP, _PASSWD, PATH_ENV
from .userland.applets import APPLETS

CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200
BUSYBOX_BINARY = b"\x7fELF\x02\x01\x01\x00" + b"simulated busybox 1.36.1 multi-call binary\x00" * 24
DEBIAN_BASE = ("base-files", "libc6", "coreutils", "dash", "debian-archive-keyring", "apt", "dpkg")
_ALPINE_BASE = (("alpine-baselayout", "3.4.3-r2", 327_680), ("busybox", "1.36.1-r15", 966_656),
                ("musl", "1.2.4_git20230717-r4", 643_072), ("apk-tools", "2.14.0-r5", 311_296))
FLAVORS = {"busybox": ("busybox:latest", ["sh"]), "debian": ("debian:bookworm", ["bash"]),
           "alpine": ("alpine:3.19", ["/bin/sh"])}


@dataclass(frozen=True)
class Entry:
    path: str                 # relative, no leading slash
    kind: str                 # "dir", "file", "link" (hard link to ``target``), "symlink"
    mode: int = 0o644
    data: bytes = b""
    target: str = ""


def entries(flavor: str) -> list[Entry]:
    """The files of a base image, in the order a tar needs (hard links after their target)."""
    if flavor not in FLAVORS:
        raise ValueError(f"unknown simulated image {flavor!r}: busybox, debian or alpine")
    dirs = dict(_DIRS)  # the same layout as the real bootstrap's image
    files: dict[str, Entry] = {}

    def file(path, data, mode=0o644):
        files[path] = Entry(path, "file", mode, data.encode() if isinstance(data, str) else data)

    file("bin/busybox", BUSYBOX_BINARY, 0o755)
    for path, data in (("etc/passwd", _PASSWD), ("etc/group", _GROUP), ("etc/hostname", ""),
                       ("etc/hosts", ""), ("etc/resolv.conf", ""), ("etc/shadow", "root:*::0:::::\n")):
        file(path, data, 0o600 if path == "etc/shadow" else 0o644)
    if flavor == "debian":
        for d in ("var/lib/apt/lists/partial", "var/lib/dpkg/info", "var/cache/apt/archives"):
            for i in range(1, d.count("/") + 2):
                dirs.setdefault("/".join(d.split("/")[:i]), 0o755)
        for prog in ("apt-get", "apt", "dpkg"):
            file(f"usr/bin/{prog}", f"#!minidocker-sim {prog}\n", 0o755)
        file("var/lib/dpkg/status", "\n".join(
            f"Package: {p}\nStatus: install ok installed\nPriority: required\nVersion: 12\n"
            f"Architecture: amd64\nDescription: {p} (simulated base)\n" for p in DEBIAN_BASE))
        file("etc/debian_version", "12.5\n")
        file("etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
                               'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n')
    elif flavor == "alpine":
        for d in ("lib/apk/db", "etc/apk"):
            dirs.setdefault(d.split("/")[0] + "/" + d.split("/")[1], 0o755)
            dirs.setdefault(d, 0o755)
        file("sbin/apk", "#!minidocker-sim apk\n", 0o755)
        file("lib/apk/db/installed", "".join(f"P:{p}\nV:{v}\nA:x86_64\nI:{size}\nT:{p} (simulated base)\n\n"
                                             for p, v, size in _ALPINE_BASE))
        file("etc/apk/world", "".join(p + "\n" for p, _, _ in sorted(_ALPINE_BASE)))
        file("etc/alpine-release", "3.19.1\n")
        file("etc/os-release", 'PRETTY_NAME="Alpine Linux v3.19"\nNAME="Alpine Linux"\nID=alpine\n')
    names = set(APPLETS) | ({"bash"} if flavor == "debian" else set())
    links = {f"bin/{name}": Entry(f"bin/{name}", "link", 0o755, target="bin/busybox")
             for name in names if name != "busybox" and "/" not in name
             and f"bin/{name}" not in files}
    out = [Entry(d, "dir", mode) for d, mode in sorted(dirs.items())]
    out += [files[p] for p in sorted(files)]
    links["linuxrc"] = Entry("linuxrc", "link", 0o755, target="bin/busybox")  # busybox's init link
    out += [links[p] for p in sorted(links)]
    return out


def layer(flavor: str) -> bytes:
    """The image's one layer as a deterministic tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries(flavor):
            ti = tarfile.TarInfo(e.path + ("/" if e.kind == "dir" else ""))
            ti.mode, ti.mtime, ti.uname, ti.gname = e.mode, MTIME, "", ""
            if e.kind == "dir":
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            elif e.kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, e.target
                tar.addfile(ti)
            elif e.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e.target
                tar.addfile(ti)
            else:
                ti.size = len(e.data)
                tar.addfile(ti, io.BytesIO(e.data))
    return buf.getvalue()


def create(store, flavor: str, tag: str | None = None):
    """Write the base image ``flavor`` into ``store``; its manifest descriptor."""
    from ...image import oci, reference
    from ...image.create import ingest_layer, write_image
    name, cmd = FLAVORS[flavor]
    data = layer(flavor)
    with store.ingest():
        desc, diff_id = ingest_layer(store, io.BytesIO(data), f"{flavor} layer")
        cfg = oci.new_config([diff_id], [
            {"created": CREATED, "created_by": f"/bin/sh -c #(nop) ADD file:{diff_id[7:]} in / ",
             "comment": f"minidocker simulated base image ({flavor})"},
            {"created": CREATED, "created_by": f"/bin/sh -c #(nop)  CMD {cmd}".replace("'", '"'),
             "empty_layer": True},
        ], created=CREATED, container_config={"Env": [PATH_ENV], "Cmd": cmd})
        return write_image(store, [desc], cfg, [reference.parse(tag or name)])

"""Base images made on this machine, without a registry.

``busybox``: one layer holding the host's statically linked busybox, a link
per applet (as the official image has), and the usual top-level directories
and account files. Every timestamp is the busybox binary's own mtime, so the
same host binary always gives the same layer digest and image ID.

``debian``: ``debootstrap --variant=minbase`` into a temporary directory,
imported as one layer. Optional and slow; it needs a reachable mirror.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from datetime import datetime, timezone

from ..errors import MinidockerError
from ..kernel.base import Kernel
from . import oci, reference
from .create import ingest_layer, write_image
from .layer import write_layer
from .store import Store

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
         "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
         "sbin": 0o755, "var": 0o755, "var/spool": 0o755, "var/spool/mail": 0o755,
         "var/www": 0o755}
# The account files of busybox's official image.
_PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP = """root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
"""


def find_busybox() -> str:
    path = shutil.which("busybox")
    if not path:
        raise MinidockerError("busybox is not installed; install it with `apt-get install busybox-static`")
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"ld-linux" in head or b"/lib64/ld-" in head:
        raise MinidockerError(f"{path} is dynamically linked; a container needs the static one "
                              "(`apt-get install busybox-static`)")
    return path


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout
    return sorted({line.strip() for line in out.splitlines()
                   if line.strip() and line.strip() != "bin/busybox"})


def busybox_layer(busybox: str) -> tuple[bytes, int, str]:
    """The layer tar, the timestamp it uses, and the busybox version line."""
    st = os.stat(busybox)
    mtime = int(st.st_mtime)
    version = subprocess.run([busybox], capture_output=True, text=True).stdout.splitlines()[0:1]
    buf = io.BytesIO()

    def info(name, type_=tarfile.REGTYPE, mode=0o644, size=0, linkname=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = type_, mode, size, linkname, mtime
        ti.uname = ti.gname = ""
        return ti

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        applets = _applets(busybox)
        dirs = dict(_DIRS)
        for a in applets:
            dirs.setdefault(os.path.dirname(a), 0o755)
        files = {"etc/passwd": _PASSWD, "etc/group": _GROUP, "etc/hostname": "",
                 "etc/hosts": "", "etc/resolv.conf": ""}
        entries = sorted(set(dirs) | set(files) | set(applets))
        # Hard links must follow their target in a tar, so the binary comes first.
        entries.insert(entries.index("bin") + 1, "bin/busybox")
        for name in entries:
            if name in dirs:
                tar.addfile(info(name + "/", tarfile.DIRTYPE, dirs[name]))
            elif name == "bin/busybox":
                with open(busybox, "rb") as f:
                    tar.addfile(info(name, mode=0o755, size=st.st_size), f)
            elif name in files:
                data = files[name].encode()
                tar.addfile(info(name, size=len(data)), io.BytesIO(data))
            else:
                tar.addfile(info(name, tarfile.LNKTYPE, 0o755, linkname="bin/busybox"))
    return buf.getvalue(), mtime, version[0].split(" (")[0] if version else "BusyBox"


def _created(mtime: int) -> str:
    return datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bootstrap_busybox(store: Store, tag: str = "busybox:latest") -> oci.Descriptor:
    busybox = find_busybox()
    ref = reference.parse(tag)
    data, mtime, version = busybox_layer(busybox)
    created = _created(mtime)
    with store.ingest():
        layer, diff_id = ingest_layer(store, io.BytesIO(data), "busybox layer")
        digest = hashlib.sha256(data).hexdigest()
        cfg = oci.new_config([diff_id], [
            {"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{digest} in / ",
             "comment": f"minidocker bootstrap: {version}"},
            {"created": created, "created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
        ], created=created, container_config={"Env": [PATH_ENV], "Cmd": ["sh"]})
        return write_image(store, [layer], cfg, [ref])


def bootstrap_debian(kernel: Kernel, store: Store, suite: str = "bookworm",
                     mirror: str | None = None, tag: str | None = None) -> oci.Descriptor:
    if not shutil.which("debootstrap"):
        raise MinidockerError("debootstrap is not installed; install it with `apt-get install debootstrap`")
    if not kernel.privileged:
        raise MinidockerError("debootstrap needs root")
    ref = reference.parse(tag or f"debian:{suite}")
    with tempfile.TemporaryDirectory(dir=store.tmp_dir) as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        cmd = ["debootstrap", "--variant=minbase", suite, rootfs] + ([mirror] if mirror else [])
        if subprocess.run(cmd).returncode != 0:
            raise MinidockerError(f"debootstrap of {suite!r} failed (see its output above)")
        tar_path = os.path.join(tmp, "layer.tar")
        with open(tar_path, "wb") as out:
            write_layer(kernel, rootfs, out)
        with store.ingest(), open(tar_path, "rb") as f:
            layer, diff_id = ingest_layer(store, f, f"debian {suite} layer")
            created = oci.now_rfc3339()
            cfg = oci.new_config([diff_id], [
                {"created": created, "created_by": f"debootstrap --variant=minbase {suite}"},
                {"created": created, "created_by": '/bin/sh -c #(nop)  CMD ["bash"]', "empty_layer": True},
            ], created=created, container_config={"Env": [PATH_ENV], "Cmd": ["bash"]})
            return write_image(store, [layer], cfg, [ref])

"""Helpers for tests: build layer tars in memory."""

from __future__ import annotations

import io
import tarfile


def make_tar(*entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    """Entries are (name, content-or-None, options) tuples or TarInfo objects.

    content bytes → regular file; None → directory; options may set
    type/linkname/mode/uid/gid/mtime.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            if isinstance(e, tarfile.TarInfo):
                tar.addfile(e)
                continue
            name, content, *rest = e
            opts = rest[0] if rest else {}
            ti = tarfile.TarInfo(name)
            ti.mtime = opts.get("mtime", 1_700_000_000)
            if content is None and "type" not in opts:
                ti.type, ti.mode = tarfile.DIRTYPE, opts.get("mode", 0o755)
                tar.addfile(ti)
                continue
            for key, value in opts.items():
                setattr(ti, key, value)
            if ti.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                ti.size = len(content or b"")
                if "mode" not in opts:
                    ti.mode = 0o644
                tar.addfile(ti, io.BytesIO(content or b""))
            else:
                tar.addfile(ti)
    return buf.getvalue()

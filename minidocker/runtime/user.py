"""``-u USER[:GROUP]`` → uid, gid, supplementary groups and home, from the container's own files.

Pure functions over the text of the container's ``/etc/passwd`` and
``/etc/group`` (read inside the container, after ``pivot_root``), following
Docker's rules: names must exist; numeric IDs need not; supplementary groups
are the user's memberships in ``/etc/group``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import InvalidSpec


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def _entries(text: str, fields: int) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) >= fields:
            out.append(parts)
    return out


def resolve(user: str, passwd: str, group: str) -> Identity:
    """Resolve ``user`` ("", "name", "uid", "name:group", "uid:gid")."""
    name, _, grp = (user or "0").partition(":")
    users = _entries(passwd, 7)
    groups = _entries(group, 4)
    entry = None
    if name.isdigit():
        uid = int(name)
        entry = next((u for u in users if u[2] == name), None)
    else:
        entry = next((u for u in users if u[0] == name), None)
        if entry is None:
            raise InvalidSpec(f"unable to find user {name}: no matching entries in passwd file")
        uid = int(entry[2])
    gid = int(entry[3]) if entry else 0
    home = entry[5] if entry else "/"
    if grp:
        if grp.isdigit():
            gid = int(grp)
        else:
            g = next((g for g in groups if g[0] == grp), None)
            if g is None:
                raise InvalidSpec(f"unable to find group {grp}: no matching entries in group file")
            gid = int(g[2])
    login = entry[0] if entry else None
    extra = tuple(sorted({int(g[2]) for g in groups
                          if login and login in g[3].split(",") and g[2].isdigit()} | {gid}))
    if uid > 0xFFFFFFFE or gid > 0xFFFFFFFE:
        raise InvalidSpec(f"user {user!r}: uid and gid must be below 4294967295")
    return Identity(uid, gid, extra, home)

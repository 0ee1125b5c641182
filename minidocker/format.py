"""Showing things the way Docker does: human sizes and ages, tables, ``--format``.

``--format`` accepts ``table`` (the default), ``json`` (one JSON object per
line, Docker's ``--format json``) or a Go-template subset: ``{{.Field}}``,
``{{.Field.Key}}`` (into nested objects, as ``inspect -f
'{{.NetworkSettings.IPAddress}}'``), ``{{json .}}``, ``{{json .Field}}``,
optionally after ``table `` for a table with headers, with ``\\t`` between
columns. Any other action (``range``, ``index``, ``if`` …) is an error, not
printed as it is.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from .errors import MinidockerError

_FIELD = re.compile(r"\{\{\s*(json\s+)?\.((?:\w+(?:\.\w+)*)?)\s*\}\}")


def now() -> str:
    """A timestamp as Docker writes them (RFC 3339, UTC, microseconds)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def human_size(n: float) -> str:
    """go-units HumanSize: decimal units, four significant digits ("2.14MB")."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$", text)
    if not m:
        return None
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    tz = m.group(3) or "Z"
    if tz == "Z":
        return base.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(m.group(1) + tz)


def human_age(text: str | None, now: datetime | None = None) -> str:
    """go-units HumanDuration + " ago" ("3 weeks ago"); "N/A" when unknown."""
    when = parse_time(text)
    if when is None:
        return "N/A"
    secs = ((now or datetime.now(timezone.utc)) - when).total_seconds()
    if secs < 1:
        return "Less than a second ago"
    if secs < 60:
        return f"{int(secs)} seconds ago" if secs >= 2 else "About a second ago"
    mins = secs / 60
    if mins < 60:
        return "About a minute ago" if int(mins) == 1 else f"{int(mins)} minutes ago"
    hours = mins / 60
    if hours < 48:
        return "About an hour ago" if int(round(hours)) == 1 else f"{int(round(hours))} hours ago"
    days = hours / 24
    if days < 14:
        return f"{int(days)} days ago"
    if days < 60:
        return f"{int(days / 7)} weeks ago"
    if days < 730:
        return f"{int(days / 30)} months ago"
    return f"{int(days / 365)} years ago"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded like Docker's tabwriter (three spaces between columns)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    lines = []
    for row in [headers] + rows:
        cells = [c.ljust(w) for c, w in zip(row, widths)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def render(rows: list[dict], fmt: str | None, columns: list[tuple[str, str]]) -> str:
    """Render ``rows`` (dicts with Docker's field names) for ``--format``.

    ``columns`` is the default table: (header, field) pairs.
    """
    if not fmt or fmt == "table":
        return table([h for h, _ in columns], [[str(r.get(f, "")) for _, f in columns] for r in rows])
    if fmt == "json":
        return "\n".join(json.dumps(r, separators=(",", ":")) for r in rows)
    is_table = fmt.startswith("table ")
    template = fmt[len("table "):] if is_table else fmt
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    headers = {f: h for h, f in columns}
    unknown = re.search(r"\{\{.*?\}\}", _FIELD.sub("", template))
    if unknown:
        raise MinidockerError(f"template: {unknown.group(0)} is not supported: minidocker knows "
                              "{{.Field}}, {{.Field.Key}}, {{json .}} and {{json .Field}}")

    def fill(row: dict, header: bool = False) -> str:
        def sub(m: re.Match) -> str:
            as_json, name = bool(m.group(1)), m.group(2)
            if header:
                return headers.get(name) or _header(name)
            if not name:
                if as_json:
                    return json.dumps(row, separators=(",", ":"))
                raise MinidockerError("template: {{.}} needs json, as in {{json .}}")
            value = row
            for part in name.split("."):
                if not isinstance(value, dict) or part not in value:
                    fields = f" (fields: {', '.join(sorted(value))})" if isinstance(value, dict) else ""
                    raise MinidockerError(f"template: can't evaluate field {part}{fields}")
                value = value[part]
            return json.dumps(value) if as_json else ("" if value is None else _go(value))
        return _FIELD.sub(sub, template)

    lines = [fill(r) for r in rows]
    if is_table:
        header = fill(rows[0] if rows else {}, header=True)
        split = [line.split("\t") for line in [header] + lines]
        return table(split[0], split[1:]) if "\t" in template else "\n".join([header] + lines)
    return "\n".join(lines)


def _go(value) -> str:
    """A value as Go's text/template prints it (true, map[k:v], [a b])."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    return "<nil>" if value is None else str(value)


def _header(name: str) -> str:
    name = name.rsplit(".", 1)[-1]
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper() if name else ""

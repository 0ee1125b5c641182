"""The look shared by every diagram: colours, node ids, and table-shaped labels.

One place for the palette means a colour keeps its meaning across lessons:
green is "reused" (a cache hit, a shared layer), orange "made now", red
"failed", grey "metadata only". Node ids are derived from content (digests,
paths), never from counters over unordered data, so the DOT source is stable.
"""

from __future__ import annotations

import hashlib
import html

import graphviz

from ..format import human_size

REUSED = "#c7e9c0"       # cache hit, shared layer
MADE = "#fdd0a2"         # built now, a container's own writable layer
FAILED = "#fcbba1"
METADATA = "#f0f0f0"     # history entries without a layer
IMAGE = "#c6dbef"
HOST = "#fafafa"
CONTAINER = "#fff7e6"
FONT = "Helvetica"


def new_graph(name: str, rankdir: str = "TB", **graph_attr) -> graphviz.Digraph:
    g = graphviz.Digraph(name, graph_attr={"rankdir": rankdir, "fontname": FONT, "fontsize": "11",
                                           "nodesep": "0.25", "ranksep": "0.3", **graph_attr},
                         node_attr={"shape": "plain", "fontname": FONT, "fontsize": "10"},
                         edge_attr={"fontname": FONT, "fontsize": "9", "color": "#555555"})
    return g


def node_id(prefix: str, key: str) -> str:
    """A DOT-safe id for ``key`` (digests hold ':', which DOT reads as a port)."""
    if key.startswith("sha256:"):
        return f"{prefix}_{key[7:23]}"
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def short(digest: str | None, n: int = 12) -> str:
    if not digest:
        return ""
    return digest.split(":", 1)[-1][:n]


def size(n: int | None) -> str:
    return "" if n is None else human_size(n)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def clip(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def table(title: str, rows: list[str | tuple[str, str]], fill: str = "white",
          dashed: bool = False) -> str:
    """An HTML-like label: a bold title row, then one row per item.

    A row is a text, or (key, value) shown in two columns. Everything is
    escaped here, so user text (commands, paths) can hold any character.
    """
    style = ' STYLE="dashed"' if dashed else ""
    out = [f'<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="{fill}"{style}>',
           f'<TR><TD COLSPAN="2" ALIGN="LEFT">{_wrap("B", title)}</TD></TR>']
    for row in rows:
        if isinstance(row, tuple):
            key, value = row
            out.append(f'<TR><TD ALIGN="LEFT">{_wrap("FONT", key, COLOR="#555555")}</TD>'
                       f'<TD ALIGN="LEFT">{_escape(value)}</TD></TR>')
        else:
            out.append(f'<TR><TD COLSPAN="2" ALIGN="LEFT">{_escape(row)}</TD></TR>')
    out.append("</TABLE>")
    return "<" + "".join(out) + ">"


def _wrap(tag: str, text: str, **attrs) -> str:
    """``text`` in an HTML-like tag; Graphviz rejects a tag with nothing inside."""
    if not str(text):
        return ""
    shown = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f"<{tag}{shown}>{_escape(text)}</{tag}>"


def _escape(text: str) -> str:
    return html.escape(str(text), quote=True).replace("\n", '<BR ALIGN="LEFT"/>')


def text(value: str) -> str:
    """A plain-text attribute value as Graphviz must read it literally."""
    return graphviz.escape(value)

"""``Diagram``: one drawn graph, shown in Jupyter, saved to a file, or given as DOT source.

Every diagram of this package is a ``Diagram`` holding the data it was drawn
from (``.data``) and a ``graphviz.Digraph``. Rendering needs Graphviz's
``dot`` program; where it is missing, Jupyter shows a one-line message and
the DOT source instead of an image, and ``save`` says what to install —
a missing program is a fact about the machine, not a bug worth a traceback.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import graphviz

from ..errors import MinidockerError
from ..fileio import AtomicFile

# File suffix → Graphviz output format. ".dot"/".gv" need no rendering.
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}
MISSING_DOT = ("the Graphviz `dot` program was not found (install it: apt-get install graphviz); "
               "here is the DOT source to render elsewhere")


class RenderError(MinidockerError):
    """The diagram could not be rendered (no ``dot`` program, or ``dot`` failed)."""


class Diagram:
    def __init__(self, graph: graphviz.Digraph, data=None):
        self.graph = graph
        self.data = data

    @property
    def source(self) -> str:
        """The DOT source: the same state always gives the same text."""
        return self.graph.source

    def __str__(self) -> str:
        return self.source

    def render(self, fmt: str = "svg") -> bytes:
        """The diagram rendered by ``dot`` in ``fmt`` (svg, png, pdf)."""
        try:
            return self.graph.pipe(format=fmt, quiet=True)
        except graphviz.ExecutableNotFound:
            raise RenderError(MISSING_DOT) from None
        except subprocess.CalledProcessError as e:
            detail = (e.stderr or b"").decode(errors="replace").strip().splitlines()
            raise RenderError(f"dot failed: {detail[0] if detail else e}") from None

    def svg(self) -> str:
        return self.render("svg").decode()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the diagram to ``path``; its suffix picks the format (.svg .png .pdf .dot .gv)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in FORMATS:
            raise MinidockerError(f"cannot tell the format of {path}: use one of "
                                  + ", ".join(FORMATS))
        fmt = FORMATS[suffix]
        # Render before opening the file, so a failure leaves no empty file behind.
        data = self.source.encode() if fmt is None else self.render(fmt)
        try:
            with AtomicFile(path.absolute()) as f:
                f.write(data)
                f.commit()
        except OSError as e:
            raise MinidockerError(f"cannot write {path}: {e.strerror or e}") from None
        return path

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        try:
            return {"image/svg+xml": self.svg()}
        except RenderError as e:
            return {"text/plain": f"{e}\n\n{self.source}"}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {type(self.data).__name__}>"

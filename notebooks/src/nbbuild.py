"""Build a lesson notebook from a list of cells, stored without outputs.

Each ``make_NN.py`` lists its cells with ``md`` (markdown) and ``code`` and
calls ``write``; run it (or ``python notebooks/src/make_all.py``) after an
edit, and commit the regenerated ``.ipynb``. Text is dedented, so cells can
be written as indented triple-quoted strings.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent


def md(text: str):
    return new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str):
    return new_code_cell(textwrap.dedent(text).strip("\n"))


def write(name: str, cells: list) -> Path:
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    for n, cell in enumerate(nb.cells):   # stable ids: regenerating changes only what changed
        cell["id"] = f"{name.split('_')[0]}-{n:02d}"
    nbformat.validate(nb)
    path = NOTEBOOKS / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path

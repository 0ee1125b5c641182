"""The lesson notebooks run top to bottom on both kernels, with their diagrams and checks.

Each notebook in ``notebooks/`` is executed by nbclient in a fresh state root,
once on the simulated kernel and once (as root) on the real one. A notebook
fails on any error; it must also show at least one diagram (SVG) and pass at
least one "check yourself" cell. In git, notebooks carry no outputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat") if not os.environ.get("CI") else __import__("nbformat")
from nbclient import NotebookClient  # noqa: E402

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KERNELS = [pytest.param("sim", id="sim"), pytest.param("linux", id="linux", marks=pytest.mark.root)]
CELL_TIMEOUT = 120


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_are_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, \
                f"{path.name}: commit it without outputs (regenerate it: python notebooks/src/make_{path.name[:2]}.py)"


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_the_notebook_runs_with_diagrams_and_passing_checks(path, kernel, tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDOCKER_KERNEL", kernel)
    monkeypatch.setenv("MINIDOCKER_ROOT", str(tmp_path / "state"))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    svgs = [o for o in outputs if "image/svg+xml" in o.get("data", {})]
    texts = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert svgs, f"{path.name} drew no diagram"
    assert "✓ check passed" in texts, f"{path.name} has no passing check cell"

"""The examples build and behave as their READMEs and the demo say."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def md(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minidocker", *args], capture_output=True,
                          text=True, timeout=120)


def verdicts(stderr: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in stderr.splitlines()
            if " CACHED" in line or " not cached:" in line]


def test_the_seed_app_builds_runs_and_caches_like_the_seed_says(busybox, tmp_path):
    first = md("build", "-t", "seed-app", str(EXAMPLES / "seed-app"))
    assert first.returncode == 0, first.stderr
    run = md("run", "--rm", "seed-app")
    assert "Hello from the seed app (version 1)" in run.stdout and "users in the database: 1" in run.stdout
    assert verdicts(md("build", "-t", "seed-app", str(EXAMPLES / "seed-app")).stderr) == ["CACHED"] * 7
    changed = tmp_path / "seed-app"
    shutil.copytree(EXAMPLES / "seed-app", changed)
    script = changed / "app" / "server.sh"
    script.write_text(script.read_text().replace("version 1", "version 2"))
    again = verdicts(md("build", "-t", "seed-app:v2", str(changed)).stderr)
    assert again == ["CACHED"] * 4 + ["not cached: app/server.sh changed"] + \
        ["not cached: parent step rebuilt"] * 2
    assert "version 2" in md("run", "--rm", "seed-app:v2").stdout
    df = md("system", "df").stdout.splitlines()
    assert any(line.startswith("Build Cache") and line.split()[2] != "0" for line in df)


def test_the_node_postgres_example_parses(busybox):
    from minidocker.build.dockerfile import parse
    parsed = parse((EXAMPLES / "node-postgres" / "Dockerfile").read_text())
    assert [i.cmd for i in parsed.instructions] == ["FROM", "RUN", "RUN", "WORKDIR", "COPY", "EXPOSE", "CMD"]

"""The course's exercise checks: the reference solutions pass them, an empty state root fails them.

For each lesson with checks (``course/checks/test_lesson_NN.py``), on the
simulated kernel in a fresh state root: run ``course/checks/solutions/
lesson_NN.sh`` with the ``minidocker`` CLI, then the lesson's checks, which
must all pass. On an empty state root every check must fail, each with the
"Exercise NN.M is not done yet" message a learner would see.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECKS = REPO / "course" / "checks"
LESSONS = sorted(p.stem.rsplit("_", 1)[-1] for p in CHECKS.glob("test_lesson_*.py"))


@pytest.fixture
def env(tmp_path):
    """A sim-kernel environment with a fresh state root and `minidocker` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cli = bin_dir / "minidocker"
    cli.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m minidocker "$@"\n')
    cli.chmod(0o755)
    env = dict(os.environ, MINIDOCKER_KERNEL="sim", MINIDOCKER_ROOT=str(tmp_path / "state"),
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               PYTHON=sys.executable)
    env.pop("CI", None)   # the checks are for learners; nothing in them may skip anyway
    return env


def run_checks(env, tmp_path, *files: Path) -> dict[str, tuple[str, str]]:
    """Run check files with pytest; test name → (outcome, message)."""
    report = tmp_path / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={report}", *map(str, files)],
                   cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    results = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        outcome = "failed" if failure is not None else "skipped" if skipped is not None else "passed"
        node = failure if failure is not None else skipped
        results[case.get("name")] = (outcome, (node.get("message", "") + (node.text or "")) if node is not None else "")
    return results


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_reference_solution_passes_the_checks(lesson, env, tmp_path):
    solution = CHECKS / "solutions" / f"lesson_{lesson}.sh"
    done = subprocess.run(["sh", str(solution)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{solution.name} failed:\n{done.stdout}\n{done.stderr}"
    results = run_checks(env, tmp_path, CHECKS / f"test_lesson_{lesson}.py")
    assert len(results) >= 4, f"lesson {lesson} should have at least 4 checked exercises"
    failed = {name: msg for name, (outcome, msg) in results.items() if outcome != "passed"}
    assert not failed, f"lesson {lesson}'s solution does not pass its checks: {failed}"


def test_on_an_empty_state_root_every_check_fails_and_says_what_to_do(env, tmp_path):
    results = run_checks(env, tmp_path, *(CHECKS / f"test_lesson_{n}.py" for n in LESSONS))
    assert len(results) >= 4 * len(LESSONS)
    for name, (outcome, message) in results.items():
        exercise = re.match(r"test_(\d\d)_(\d+)_", name)
        assert exercise, f"{name}: check names start with test_NN_M_"
        assert outcome == "failed", f"{name} {outcome} on an empty state root"
        number = f"{exercise[1]}.{exercise[2]}"
        assert f"Exercise {number} is not done yet" in message, f"{name}: unclear message {message!r}"
        assert f"Упражнение {number} ещё не выполнено" in message, f"{name}: no Russian message"
    assert not list((Path(env["MINIDOCKER_ROOT"]) / "oci").glob("blobs/sha256/*")), \
        "the checks must not make images (e.g. the simulator's built-in busybox)"


"""The course's exercise checks: the reference solutions pass them, an empty state root fails them.

For each lesson with checks (``course/checks/test_lesson_NN.py``), on the
simulated kernel in a fresh state root: run ``course/checks/solutions/
lesson_NN.sh`` with the ``minidocker`` CLI, then the lesson's checks in the same
directory (lesson 06's read the files its exercises save there), which must
all pass. On an empty state root every check must fail, each with the
"Exercise NN.M is not done yet" message a learner would see. The course's
English and Russian guides must have the same lessons and the same commands.
"""

from __future__ import annotations

import concurrent.futures
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


def make_env(tmp_path: Path) -> dict:
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


@pytest.fixture
def env(tmp_path):
    return make_env(tmp_path)


def run_checks(env, tmp_path, *files: Path) -> dict[str, tuple[str, str]]:
    """Run check files with pytest in ``tmp_path``, as a learner runs them in the directory
    of the exercises; test name → (outcome, message)."""
    report = tmp_path / "report.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    f"--junitxml={report}", *map(str, files)],
                   cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
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


def solve_and_check(lesson: str, tmp_path: Path):
    """Run a lesson's reference solution in a fresh state root, then its checks."""
    env = make_env(tmp_path)
    solution = CHECKS / "solutions" / f"lesson_{lesson}.sh"
    done = subprocess.run(["sh", str(solution)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        return done, {}
    return done, run_checks(env, tmp_path, CHECKS / f"test_lesson_{lesson}.py")


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """Every lesson solved and checked, the lessons side by side (each in its own root)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(LESSONS)) as pool:
        futures = {n: pool.submit(solve_and_check, n, tmp_path_factory.mktemp(f"lesson{n}"))
                   for n in LESSONS}
        return {n: f.result() for n, f in futures.items()}


@pytest.mark.parametrize("lesson", LESSONS)
def test_the_reference_solution_passes_the_checks(lesson, solved):
    done, results = solved[lesson]
    assert done.returncode == 0, f"lesson_{lesson}.sh failed:\n{done.stdout}\n{done.stderr}"
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


def _commands(path: Path) -> list[str]:
    """The lines of a guide's shell code blocks (commands, not prose)."""
    text = path.read_text()
    blocks = re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S)
    return [line for block in blocks for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_guides_exist_in_english_and_russian_with_the_same_commands():
    en = sorted(p.name for p in (REPO / "course" / "en").glob("*.md"))
    ru = sorted(p.name for p in (REPO / "course" / "ru").glob("*.md"))
    assert en == ru
    assert {f"lesson-0{n}.md" for n in range(8)} | {"syllabus.md", "setup.md"} <= set(en)
    for name in en:
        assert _commands(REPO / "course" / "en" / name) == _commands(REPO / "course" / "ru" / name), \
            f"{name}: the commands differ between course/en and course/ru"


def test_an_exercise_done_differently_is_not_right_yet(env, tmp_path):
    subprocess.run(["minidocker", "run", "--name", "ex01-uts", "busybox", "hostname"], env=env,
                   check=True, capture_output=True, timeout=60)
    outcome, message = run_checks(env, tmp_path, CHECKS / "test_lesson_01.py")["test_01_1_its_own_host_name"]
    assert outcome == "failed"
    assert "Exercise 01.1 is not right yet" in message and "--hostname lesson01" in message
    assert "Упражнение 01.1 выполнено не так" in message

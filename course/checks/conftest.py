"""What the exercise checks share: the learner's engine, and ways to look at its state.

The checks read the learner's state root (``MINIDOCKER_ROOT``, or the default
one) through minidocker's Python API and never change it; some also read files
the learner saved (lesson 06: answers of the API), relative to the directory the
checks run in. A check that finds
nothing of its exercise fails with "Exercise NN.M is not done yet: …"; one that
finds the exercise done differently fails with "… is not right yet: …". Both
messages are printed in English and Russian, with the state root and kernel,
so a learner who ran the exercise under another root or kernel sees why.

Images are looked up with ``store.resolve`` (never ``Engine.image``, which on
the simulator would make the built-in busybox on first use and so "do" an
exercise for the learner).
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest

from minidocker.engine import Engine
from minidocker.errors import MinidockerError


def pytest_report_header(config):
    root = os.environ.get("MINIDOCKER_ROOT") or "(default)"
    kernel = os.environ.get("MINIDOCKER_KERNEL") or "(default: linux as root, else sim)"
    return [f"minidocker course checks: state root {root}, kernel {kernel}"]


class Learner:
    """The learner's minidocker state, with helpers that fail with a clear message."""

    def __init__(self, engine: Engine, lesson: str):
        self.engine = engine
        self.lesson = lesson

    # -- failing clearly -------------------------------------------------------------
    def _where(self) -> str:
        k = self.engine.kernel
        return (f"(state root {self.engine.store.root}, {'simulated' if k.simulated else 'real'} "
                f"kernel; guide: course/en/lesson-{self.lesson}.md · course/ru/lesson-{self.lesson}.md)")

    def not_done(self, exercise: str, en: str, ru: str):
        pytest.fail(f"Exercise {exercise} is not done yet: {en}\n"
                    f"Упражнение {exercise} ещё не выполнено: {ru}\n{self._where()}", pytrace=False)

    def wrong(self, exercise: str, en: str, ru: str):
        pytest.fail(f"Exercise {exercise} is not right yet: {en}\n"
                    f"Упражнение {exercise} выполнено не так: {ru}\n{self._where()}", pytrace=False)

    def expect(self, condition: bool, exercise: str, en: str, ru: str) -> None:
        if not condition:
            self.wrong(exercise, en, ru)

    # -- images ----------------------------------------------------------------------
    def image(self, name: str, exercise: str):
        try:
            return self.engine.store.resolve(name)
        except MinidockerError:
            pass    # fail outside the except block: no "During handling…" in the report
        self.not_done(exercise, f"there is no image {name!r} (see `minidocker images`)",
                          f"нет образа {name!r} (см. `minidocker images`)")

    def diff_ids(self, img) -> list[str]:
        return list(img.config.diff_ids)

    def shared_layers(self, a, b) -> int:
        """How many layers, from the bottom, two images have in common."""
        n = 0
        for x, y in zip(self.diff_ids(a), self.diff_ids(b)):
            if x != y:
                break
            n += 1
        return n

    def layer(self, img, index: int) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
        """The entries of one layer of ``img`` (0 = the bottom one): path → (header, content)."""
        desc = img.manifest.layers[index]
        entries = {}
        with tarfile.open(fileobj=self.engine.store.open_blob(desc), mode="r:*") as tar:
            for m in tar:
                data = tar.extractfile(m).read() if m.isfile() else None
                entries[m.name.lstrip("./").rstrip("/")] = (m, data)
        return entries

    def layer_file(self, img, index: int, path: str) -> bytes:
        """The content of regular file ``path`` in one layer of ``img``; b"" when that
        layer has no such file."""
        return self.layer(img, index).get(path, (None, b""))[1] or b""

    def history(self, img, with_empty: bool = True) -> list[str]:
        """The image's steps, bottom first, as ``created_by`` texts."""
        return [h.get("created_by", "") for h in img.config.history
                if with_empty or not h.get("empty_layer")]

    # -- networks --------------------------------------------------------------------
    def network(self, name: str, exercise: str) -> dict:
        """``network inspect NAME``, without making the default bridge's record in a state
        root that has no networks yet (looking a network up makes it, as first use does)."""
        if self.engine.networks.root.is_dir():
            try:
                return self.engine.network_inspect(name)
            except MinidockerError:
                pass
        self.not_done(exercise, f"there is no network {name!r} (`minidocker network create {name}`; "
                                "see `minidocker network ls`)",
                      f"нет сети {name!r} (`minidocker network create {name}`; см. `minidocker network ls`)")

    # -- containers ------------------------------------------------------------------
    def container(self, name: str, exercise: str, how: str = "", how_ru: str = "") -> dict:
        """``inspect NAME``; ``how``/``how_ru`` say how the exercise makes it, if not by
        `minidocker run --name NAME`."""
        try:
            return self.engine.inspect_container(name)
        except MinidockerError:
            pass
        self.not_done(exercise, f"there is no container named {name!r} "
                                f"({how or f'run it with `--name {name}` and without `--rm`'}; see `minidocker ps -a`)",
                      f"нет контейнера с именем {name!r} "
                      f"({how_ru or f'запустите его с `--name {name}` и без `--rm`'}; см. `minidocker ps -a`)")

    def exited(self, name: str, exercise: str, how: str = "", how_ru: str = "") -> dict:
        info = self.container(name, exercise, how, how_ru)
        self.expect(not info["State"]["Running"], exercise,
                    f"container {name!r} is still running; wait for it (`minidocker wait {name}`)",
                    f"контейнер {name!r} ещё работает; дождитесь его (`minidocker wait {name}`)")
        return info

    def output(self, name: str, stream: str = "stdout") -> str:
        return "".join(text for s, text in self.engine.logs(name) if s == stream)

    def lines(self, name: str, stream: str = "stdout") -> list[str]:
        return self.output(name, stream).splitlines()

    def writable_layer(self, name: str) -> str:
        """The host directory of a container's own writable layer (overlay's upperdir)."""
        record = self.engine.containers.find(name)
        return self.engine.snapshots.diff_dir(record.snapshot_key)

    def changed(self, name: str, path: str):
        """(kernel's lstat, content or None) of ``path`` in the container's writable
        layer, or None when the container did not change it."""
        host = os.path.join(self.writable_layer(name), path.lstrip("/"))
        try:
            st = self.engine.kernel.lstat(host)
        except FileNotFoundError:
            return None
        content = None
        if stat.S_ISREG(st.st_mode):
            with open(host, "rb") as f:
                content = f.read()
        return st, content

    @staticmethod
    def is_whiteout(st) -> bool:
        """overlayfs marks a deleted lower file with a character device 0/0."""
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0

    # -- files the learner saved -----------------------------------------------------
    def file(self, path: str, exercise: str, how: str, how_ru: str) -> bytes:
        """The content of a file the learner saved, ``path`` relative to the directory the
        checks run in; ``how``/``how_ru`` say how the exercise makes it."""
        where = Path(path).absolute()
        if not where.is_file():
            self.not_done(exercise, f"there is no file {where} ({how}); run the checks in the "
                                    "directory where you did the exercises",
                          f"нет файла {where} ({how_ru}); запускайте проверки в том каталоге, "
                          "где выполняли упражнения")
        data = where.read_bytes()
        self.expect(bool(data), exercise, f"{where} is empty: was the daemon running when you saved it? ({how})",
                    f"{where} пуст: работал ли демон, когда вы его сохраняли? ({how_ru})")
        return data


@pytest.fixture(scope="module")
def learner(request) -> Learner:
    lesson = request.module.__name__.rsplit("_", 1)[-1]
    return Learner(Engine(), lesson)


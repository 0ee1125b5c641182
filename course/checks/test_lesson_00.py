"""Lesson 00 — a tour of the engine: images and containers.

Run: ``MINIDOCKER_KERNEL=sim python -m pytest course/checks/test_lesson_00.py``
(the same ``MINIDOCKER_KERNEL`` and ``MINIDOCKER_ROOT`` as when you did the exercises).
"""


def test_00_1_a_base_image(learner):
    """00.1 `minidocker bootstrap busybox` made the `busybox` image."""
    img = learner.image("busybox", "00.1")
    learner.expect(len(img.manifest.layers) >= 1, "00.1", "busybox has no layers",
                   "у busybox нет слоёв")


def test_00_2_a_second_name_for_the_same_image(learner):
    """00.2 `ex00:base` is another tag of busybox: the same image ID, no copy."""
    tagged = learner.image("ex00:base", "00.2")
    base = learner.image("busybox", "00.2")
    learner.expect(tagged.id == base.id, "00.2",
                   f"ex00:base is {tagged.short_id}, busybox is {base.short_id}: tag busybox itself "
                   "(`minidocker tag busybox ex00:base`)",
                   f"ex00:base — это {tagged.short_id}, а busybox — {base.short_id}: поставьте тег "
                   "на сам busybox (`minidocker tag busybox ex00:base`)")


def test_00_3_a_container_from_the_image(learner):
    """00.3 container `ex00-hello` from ex00:base printed `hello, container` and exited 0."""
    info = learner.exited("ex00-hello", "00.3")
    base = learner.image("ex00:base", "00.3")
    learner.expect(info["Image"] == base.id, "00.3", "ex00-hello was not created from ex00:base",
                   "ex00-hello создан не из образа ex00:base")
    learner.expect("hello, container" in learner.output("ex00-hello"), "00.3",
                   "ex00-hello did not print `hello, container` (see `minidocker logs ex00-hello`)",
                   "ex00-hello не напечатал `hello, container` (см. `minidocker logs ex00-hello`)")
    learner.expect(info["State"]["ExitCode"] == 0, "00.3",
                   f"ex00-hello exited with {info['State']['ExitCode']}, not 0",
                   f"ex00-hello завершился с кодом {info['State']['ExitCode']}, а не 0")


def test_00_4_two_containers_one_image(learner):
    """00.4 `ex00-a` wrote /note.txt; `ex00-b`, from the same image, cannot see it."""
    a = learner.exited("ex00-a", "00.4")
    b = learner.exited("ex00-b", "00.4")
    learner.expect(a["Image"] == b["Image"], "00.4", "ex00-a and ex00-b come from different images",
                   "ex00-a и ex00-b созданы из разных образов")
    note = learner.changed("ex00-a", "/note.txt")
    learner.expect(note is not None, "00.4",
                   "ex00-a did not write /note.txt (its writable layer has no note.txt)",
                   "ex00-a не записал /note.txt (в его слое для записи нет note.txt)")
    learner.expect("/note.txt" in " ".join(b["Args"]) or "note.txt" in " ".join(b["Args"]), "00.4",
                   "ex00-b should try to read /note.txt (`cat /note.txt`)",
                   "ex00-b должен попытаться прочитать /note.txt (`cat /note.txt`)")
    learner.expect(b["State"]["ExitCode"] != 0, "00.4",
                   "ex00-b read /note.txt successfully: was it created from an image that has it?",
                   "ex00-b успешно прочитал /note.txt: не из образа ли, где этот файл есть?")

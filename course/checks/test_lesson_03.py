"""Lesson 03 — layers: read-only image layers, a container's writable layer, copy-up, whiteouts.

Run: ``MINIDOCKER_KERNEL=sim python -m pytest course/checks/test_lesson_03.py``
"""


def test_03_1_a_layer_that_adds_a_file(learner):
    """03.1 `ex03:1`: busybox, then a second layer that adds /app/hello.txt (`hello`)."""
    img = learner.image("ex03:1", "03.1")
    base = learner.image("busybox", "03.1")
    learner.expect(learner.diff_ids(img)[:1] == learner.diff_ids(base), "03.1",
                   "ex03:1 should start FROM busybox", "ex03:1 должен начинаться с FROM busybox")
    learner.expect(len(img.manifest.layers) == 2, "03.1",
                   f"ex03:1 has {len(img.manifest.layers)} layers; it should have 2 (busybox + one step)",
                   f"в ex03:1 {len(img.manifest.layers)} слоёв; должно быть 2 (busybox + один шаг)")
    files = learner.layer(img, 1)
    learner.expect("app/hello.txt" in files, "03.1",
                   f"the second layer has {sorted(files)}, not app/hello.txt",
                   f"во втором слое {sorted(files)}, а не app/hello.txt")
    learner.expect(files["app/hello.txt"][1] == b"hello\n", "03.1",
                   f"/app/hello.txt holds {files['app/hello.txt'][1]!r}, expected 'hello' and a newline",
                   f"в /app/hello.txt {files['app/hello.txt'][1]!r}, ожидалось 'hello' и перевод строки")


def test_03_2_deleting_in_a_later_layer_is_a_whiteout(learner):
    """03.2 `ex03:2`: FROM ex03:1, a step that deletes /app/hello.txt → a whiteout in a new layer."""
    img = learner.image("ex03:2", "03.2")
    parent = learner.image("ex03:1", "03.2")
    n = len(parent.manifest.layers)
    learner.expect(learner.shared_layers(img, parent) == n, "03.2",
                   "ex03:2 should be built FROM ex03:1 and reuse all its layers",
                   "ex03:2 должен собираться FROM ex03:1 и переиспользовать все его слои")
    learner.expect(len(img.manifest.layers) == n + 1, "03.2",
                   f"ex03:2 should add exactly one layer to ex03:1's {n}",
                   f"ex03:2 должен добавить ровно один слой к {n} слоям ex03:1")
    top = learner.layer(img, n)
    learner.expect("app/.wh.hello.txt" in top, "03.2",
                   f"the new layer has {sorted(top)}; deleting /app/hello.txt should leave "
                   "the whiteout app/.wh.hello.txt",
                   f"в новом слое {sorted(top)}; удаление /app/hello.txt должно оставить "
                   "whiteout app/.wh.hello.txt")
    learner.expect(learner.layer_file(parent, 1, "app/hello.txt") == b"hello\n", "03.2",
                   "ex03:1's layer changed?", "слой ex03:1 изменился?")


def test_03_3_copy_up(learner):
    """03.3 `ex03-copyup` from ex03:1 appended `world` to /app/hello.txt: copied up, image intact."""
    info = learner.exited("ex03-copyup", "03.3")
    img = learner.image("ex03:1", "03.3")
    learner.expect(info["Image"] == img.id, "03.3", "ex03-copyup should run from ex03:1",
                   "ex03-copyup должен запускаться из ex03:1")
    changed = learner.changed("ex03-copyup", "/app/hello.txt")
    learner.expect(changed is not None and changed[1] is not None, "03.3",
                   "ex03-copyup's writable layer has no app/hello.txt: append to it "
                   "(`echo world >> /app/hello.txt`)",
                   "в слое для записи ex03-copyup нет app/hello.txt: допишите в него "
                   "(`echo world >> /app/hello.txt`)")
    learner.expect(changed[1] == b"hello\nworld\n", "03.3",
                   f"the copied-up file holds {changed[1]!r}, expected 'hello\\nworld\\n'",
                   f"в скопированном файле {changed[1]!r}, ожидалось 'hello\\nworld\\n'")
    learner.expect(learner.layer(img, 1)["app/hello.txt"][1] == b"hello\n", "03.3",
                   "ex03:1's layer changed: image layers must stay read-only",
                   "слой ex03:1 изменился: слои образа должны оставаться только для чтения")


def test_03_4_whiteout_in_a_container(learner):
    """03.4 `ex03-rm` from ex03:1 deleted /app/hello.txt: a whiteout in its writable layer."""
    info = learner.exited("ex03-rm", "03.4")
    img = learner.image("ex03:1", "03.4")
    learner.expect(info["Image"] == img.id, "03.4", "ex03-rm should run from ex03:1",
                   "ex03-rm должен запускаться из ex03:1")
    changed = learner.changed("ex03-rm", "/app/hello.txt")
    learner.expect(changed is not None, "03.4",
                   "ex03-rm's writable layer has nothing at app/hello.txt: `rm /app/hello.txt`",
                   "в слое для записи ex03-rm ничего нет по пути app/hello.txt: `rm /app/hello.txt`")
    learner.expect(learner.is_whiteout(changed[0]), "03.4",
                   "app/hello.txt in ex03-rm's writable layer is not a whiteout (a character device 0/0)",
                   "app/hello.txt в слое для записи ex03-rm — не whiteout (символьное устройство 0/0)")

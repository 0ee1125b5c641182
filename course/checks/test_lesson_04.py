"""Lesson 04 — the build cache: the seed document's recipe, rebuilt.

Run: ``MINIDOCKER_KERNEL=sim python -m pytest course/checks/test_lesson_04.py``
"""


def _copy_index(learner, img) -> int:
    """The index of the layer the `COPY app/` step made."""
    steps = learner.history(img, with_empty=False)
    for i, s in enumerate(steps):
        if s.startswith("COPY") and "app" in s:
            return i
    return -1


def test_04_1_the_seed_recipe(learner):
    """04.1 `ex04:v1`: examples/seed-app built as it is."""
    img = learner.image("ex04:v1", "04.1")
    steps = learner.history(img, with_empty=False)
    i = _copy_index(learner, img)
    learner.expect(i > 0 and sum(s.startswith("RUN") for s in steps) >= 2, "04.1",
                   "ex04:v1 should be built from examples/seed-app (two RUN steps and COPY app/)",
                   "ex04:v1 должен быть собран из examples/seed-app (два шага RUN и COPY app/)")
    learner.expect(b"version 1" in learner.layer_file(img, i, "app/server.sh"), "04.1",
                   "ex04:v1's app/server.sh should be the original one (version 1)",
                   "app/server.sh в ex04:v1 должен быть исходным (version 1)")


def test_04_2_a_change_in_the_app_rebuilds_from_copy_on(learner):
    """04.2 `ex04:v2`: server.sh says version 2; every layer before COPY comes from the cache."""
    v2 = learner.image("ex04:v2", "04.2")
    v1 = learner.image("ex04:v1", "04.2")
    i = _copy_index(learner, v2)
    learner.expect(i > 0 and b"version 2" in learner.layer_file(v2, i, "app/server.sh"),
                   "04.2", "ex04:v2's app/server.sh should say `version 2`",
                   "app/server.sh в ex04:v2 должен содержать `version 2`")
    shared = learner.shared_layers(v1, v2)
    learner.expect(shared == i, "04.2",
                   f"ex04:v1 and ex04:v2 share {shared} layers, expected the {i} below COPY: "
                   "build v2 from the same Dockerfile, changing only app/server.sh",
                   f"у ex04:v1 и ex04:v2 общих слоёв {shared}, ожидалось {i} (всё ниже COPY): "
                   "соберите v2 из того же Dockerfile, изменив только app/server.sh")


def test_04_3_a_build_arg_rebuilds_from_where_it_is_used(learner):
    """04.3 `ex04:rt21`: --build-arg RUNTIME_VERSION=21; only the base layer is shared with v1."""
    img = learner.image("ex04:rt21", "04.3")
    v1 = learner.image("ex04:v1", "04.3")
    runtime = {}
    for i in range(len(img.manifest.layers)):
        runtime.update(learner.layer(img, i))
    version = runtime.get("usr/local/lib/runtime/VERSION", (None, b""))[1] or b""
    learner.expect(version.strip() == b"runtime 21", "04.3",
                   f"/usr/local/lib/runtime/VERSION holds {version!r}; build with "
                   "`--build-arg RUNTIME_VERSION=21`",
                   f"в /usr/local/lib/runtime/VERSION {version!r}; соберите с "
                   "`--build-arg RUNTIME_VERSION=21`")
    shared = learner.shared_layers(v1, img)
    learner.expect(shared == 1, "04.3",
                   f"ex04:rt21 shares {shared} layers with ex04:v1; expected only busybox's",
                   f"у ex04:rt21 и ex04:v1 общих слоёв {shared}; ожидался только слой busybox")


def test_04_4_a_badly_ordered_dockerfile(learner):
    """04.4 `ex04:bad` / `ex04:bad2`: COPY app/ before the RUN steps; a change in the app
    now rebuilds the "runtime" and "database" layers too."""
    bad = learner.image("ex04:bad", "04.4")
    bad2 = learner.image("ex04:bad2", "04.4")
    steps = learner.history(bad, with_empty=False)
    i = _copy_index(learner, bad)
    runs = [k for k, s in enumerate(steps) if s.startswith("RUN")]
    learner.expect(i > 0 and len(runs) >= 2 and i < runs[0], "04.4",
                   "in ex04:bad, `COPY app/ /app/` should come before the RUN steps",
                   "в ex04:bad `COPY app/ /app/` должен стоять перед шагами RUN")
    shared = learner.shared_layers(bad, bad2)
    learner.expect(shared == i, "04.4",
                   f"ex04:bad and ex04:bad2 share {shared} layers; build bad2 from the same "
                   "Dockerfile.bad with app/server.sh changed (version 2)",
                   f"у ex04:bad и ex04:bad2 общих слоёв {shared}; соберите bad2 из того же "
                   "Dockerfile.bad с изменённым app/server.sh (version 2)")
    learner.expect(b"version 2" in learner.layer_file(bad2, i, "app/server.sh"),
                   "04.4", "ex04:bad2's app/server.sh should say `version 2`",
                   "app/server.sh в ex04:bad2 должен содержать `version 2`")

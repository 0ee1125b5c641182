"""Lesson 07 — security: capabilities, masked paths, read-only file systems, users.

Run: ``MINIDOCKER_KERNEL=sim python -m pytest course/checks/test_lesson_07.py``
"""


def test_07_1_capabilities_some_kept_some_dropped(learner):
    """07.1 `ex07-caps`: `hostname` cannot change (no CAP_SYS_ADMIN), `chown` works (CAP_CHOWN)."""
    learner.exited("ex07-caps", "07.1")
    out = learner.lines("ex07-caps")
    learner.expect(out[:2] == ["1", "0"], "07.1",
                   f"expected the exit codes `1` (hostname refused) then `0` (chown allowed), got {out[:2]}; "
                   "run `hostname foo; echo $?; touch /f; chown 33 /f; echo $?`",
                   f"ожидались коды `1` (hostname запрещён), затем `0` (chown разрешён), получено {out[:2]}; "
                   "выполните `hostname foo; echo $?; touch /f; chown 33 /f; echo $?`")
    learner.expect("not permitted" in learner.output("ex07-caps", "stderr"), "07.1",
                   "the log should show hostname's `Operation not permitted`",
                   "в логе должно быть `Operation not permitted` от hostname")


def test_07_2_no_mounts_inside(learner):
    """07.2 `ex07-mount`: mounting a tmpfs inside the container is refused."""
    learner.exited("ex07-mount", "07.2")
    out = learner.lines("ex07-mount")
    learner.expect(out[-1:] == ["1"], "07.2",
                   f"expected mount's exit code `1` last, got {out[-1:]}; run "
                   "`mkdir /m; mount -t tmpfs none /m; echo $?`",
                   f"ожидался последним код выхода mount `1`, получено {out[-1:]}; выполните "
                   "`mkdir /m; mount -t tmpfs none /m; echo $?`")


def test_07_3_masked_and_read_only_proc(learner):
    """07.3 `ex07-proc`: /proc/keys is empty, /proc/acpi is empty, /proc/sys is read-only."""
    learner.exited("ex07-proc", "07.3")
    out = learner.lines("ex07-proc")
    learner.expect(out[:3] == ["0", "0", "1"], "07.3",
                   f"expected `0`, `0`, `1`, got {out[:3]}; run `wc -c < /proc/keys; ls /proc/acpi | wc -l; "
                   "echo x > /proc/sys/kernel/hostname; echo $?`",
                   f"ожидалось `0`, `0`, `1`, получено {out[:3]}; выполните `wc -c < /proc/keys; "
                   "ls /proc/acpi | wc -l; echo x > /proc/sys/kernel/hostname; echo $?`")


def test_07_4_read_only_root(learner):
    """07.4 `ex07-ro`: --read-only; / refuses writes, /dev/shm still takes them."""
    info = learner.exited("ex07-ro", "07.4")
    learner.expect(info["HostConfig"]["ReadonlyRootfs"], "07.4", "run ex07-ro with `--read-only`",
                   "запустите ex07-ro с `--read-only`")
    out = learner.lines("ex07-ro")
    learner.expect(out[:2] == ["1", "0"], "07.4",
                   f"expected `1` (touch /x refused) then `0` (/dev/shm writable), got {out[:2]}",
                   f"ожидалось `1` (touch /x запрещён), затем `0` (/dev/shm доступен), получено {out[:2]}")
    learner.expect(learner.changed("ex07-ro", "/x") is None, "07.4",
                   "/x got into ex07-ro's writable layer", "/x попал в слой для записи ex07-ro")


def test_07_5_not_root(learner):
    """07.5 `ex07-user`: runs as uid 1000, gid 1000."""
    info = learner.exited("ex07-user", "07.5")
    learner.expect(info["Config"]["User"] == "1000:1000", "07.5",
                   f"ex07-user runs as {info['Config']['User'] or 'root'!r}; use `-u 1000:1000`",
                   f"ex07-user работает как {info['Config']['User'] or 'root'!r}; используйте `-u 1000:1000`")
    learner.expect(learner.lines("ex07-user")[:2] == ["1000", "1000"], "07.5",
                   "ex07-user should print `id -u` and `id -g`", "ex07-user должен напечатать `id -u` и `id -g`")

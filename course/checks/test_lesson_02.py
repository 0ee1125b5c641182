"""Lesson 02 — control groups (cgroups): limits the kernel enforces.

Run: ``MINIDOCKER_KERNEL=sim python -m pytest course/checks/test_lesson_02.py``
"""

MiB = 1024 * 1024


def test_02_1_memory_limit_ends_in_an_oom_kill(learner):
    """02.1 `ex02-oom`: --memory of at most 64m, then more than that written to /dev/shm."""
    info = learner.exited("ex02-oom", "02.1")
    limit = info["HostConfig"]["Memory"]
    learner.expect(0 < limit <= 64 * MiB, "02.1",
                   f"ex02-oom's memory limit is {limit // MiB} MiB; run it with `--memory 32m`",
                   f"лимит памяти ex02-oom — {limit // MiB} МиБ; запустите с `--memory 32m`")
    learner.expect(info["State"]["OOMKilled"], "02.1",
                   "ex02-oom was not killed by the OOM killer: write more than its limit "
                   "(e.g. `dd if=/dev/zero of=/dev/shm/fill bs=1M count=60`)",
                   "ex02-oom не был убит OOM killer'ом: запишите больше лимита "
                   "(например, `dd if=/dev/zero of=/dev/shm/fill bs=1M count=60`)")
    learner.expect(info["State"]["ExitCode"] == 137, "02.1",
                   f"exit code {info['State']['ExitCode']}, expected 137 (128 + SIGKILL)",
                   f"код выхода {info['State']['ExitCode']}, ожидался 137 (128 + SIGKILL)")


def test_02_2_under_the_limit_nothing_happens(learner):
    """02.2 `ex02-fits`: the same limit, 16 MiB written, exit 0."""
    info = learner.exited("ex02-fits", "02.2")
    limit = info["HostConfig"]["Memory"]
    learner.expect(0 < limit <= 64 * MiB, "02.2",
                   "run ex02-fits with the same `--memory` limit as ex02-oom",
                   "запустите ex02-fits с тем же лимитом `--memory`, что и ex02-oom")
    learner.expect(not info["State"]["OOMKilled"] and info["State"]["ExitCode"] == 0, "02.2",
                   f"ex02-fits exited with {info['State']['ExitCode']} "
                   f"(OOMKilled={info['State']['OOMKilled']}); write less than the limit",
                   f"ex02-fits завершился с кодом {info['State']['ExitCode']} "
                   f"(OOMKilled={info['State']['OOMKilled']}); запишите меньше лимита")


def test_02_3_pids_limit_stops_a_process_tree(learner):
    """02.3 `ex02-pids`: --pids-limit 2 and nested shells; the third process cannot start."""
    info = learner.exited("ex02-pids", "02.3")
    limit = info["HostConfig"]["PidsLimit"]
    learner.expect(limit is not None and 0 < limit <= 5, "02.3",
                   f"ex02-pids has pids limit {limit}; run it with `--pids-limit 2`",
                   f"у ex02-pids лимит процессов {limit}; запустите с `--pids-limit 2`")
    text = learner.output("ex02-pids") + learner.output("ex02-pids", "stderr")
    learner.expect("can't fork" in text, "02.3",
                   "no `can't fork` in ex02-pids's output: start more processes than the limit "
                   "(nested `sh -c`), and send errors to the log (`2>&1`)",
                   "в выводе ex02-pids нет `can't fork`: запустите больше процессов, чем позволяет "
                   "лимит (вложенные `sh -c`), и направьте ошибки в лог (`2>&1`)")


def test_02_4_cpu_quota(learner):
    """02.4 `ex02-cpu`: --cpus 0.5 and a busy loop that finishes (slower, not killed)."""
    info = learner.exited("ex02-cpu", "02.4")
    cpus = info["HostConfig"]["NanoCpus"] / 1e9
    learner.expect(cpus == 0.5, "02.4", f"ex02-cpu has --cpus {cpus:g}; use `--cpus 0.5`",
                   f"у ex02-cpu --cpus {cpus:g}; используйте `--cpus 0.5`")
    learner.expect(info["State"]["ExitCode"] == 0 and "done" in learner.output("ex02-cpu"), "02.4",
                   "ex02-cpu should run its loop to the end and print `done`: a CPU quota slows a "
                   "container down, it does not kill it",
                   "ex02-cpu должен пройти цикл до конца и напечатать `done`: квота CPU замедляет "
                   "контейнер, а не убивает его")

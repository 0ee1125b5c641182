"""Lesson 01 — namespaces: what a container sees of the machine.

Run: ``MINIDOCKER_KERNEL=sim python -m pytest course/checks/test_lesson_01.py``
"""

import re


def test_01_1_its_own_host_name(learner):
    """01.1 `ex01-uts` ran with host name `lesson01` and printed it."""
    info = learner.exited("ex01-uts", "01.1")
    learner.expect(info["Config"]["Hostname"] == "lesson01", "01.1",
                   f"ex01-uts has host name {info['Config']['Hostname']!r}; use `--hostname lesson01`",
                   f"у ex01-uts имя хоста {info['Config']['Hostname']!r}; используйте `--hostname lesson01`")
    learner.expect(learner.lines("ex01-uts")[:1] == ["lesson01"], "01.1",
                   "ex01-uts should print its host name (command `hostname`)",
                   "ex01-uts должен напечатать имя хоста (команда `hostname`)")


def test_01_2_pid_1_and_its_own_process_list(learner):
    """01.2 `ex01-pid` printed its shell's PID (1) and then `ps`: a short list."""
    learner.exited("ex01-pid", "01.2")
    lines = learner.lines("ex01-pid")
    learner.expect(lines[:1] == ["1"], "01.2",
                   "the first line should be the shell's PID, `echo $$`, which is 1 in a new PID namespace",
                   "первая строка — PID оболочки, `echo $$`; в новом пространстве имён PID это 1")
    procs = [l for l in lines[1:] if re.match(r"\s*\d+\s", l)]
    learner.expect(any(l.split()[0] == "1" for l in procs), "01.2",
                   "after `echo $$` run `ps`: its list should include PID 1",
                   "после `echo $$` выполните `ps`: в списке должен быть PID 1")
    learner.expect(len(procs) <= 3, "01.2",
                   f"ps listed {len(procs)} processes: is this the host's list?",
                   f"ps показал {len(procs)} процессов: это не список хоста?")


def test_01_3_namespaces_differ_from_the_hosts(learner):
    """01.3 `ex01-ns` printed its pid, uts and mnt namespaces: none is the host's."""
    learner.exited("ex01-ns", "01.3")
    seen = dict(re.findall(r"\b(pid|uts|mnt|ipc|net):\[(\d+)\]", learner.output("ex01-ns")))
    missing = [n for n in ("pid", "uts", "mnt") if n not in seen]
    learner.expect(not missing, "01.3",
                   f"no {', '.join(missing)} namespace in the output; print "
                   "`readlink /proc/self/ns/pid` (and uts, mnt), one readlink per file",
                   f"в выводе нет пространств имён {', '.join(missing)}; напечатайте "
                   "`readlink /proc/self/ns/pid` (и uts, mnt), по одному readlink на файл")
    host = learner.engine.kernel.context()["ns"]
    same = [n for n in ("pid", "uts", "mnt") if int(seen[n]) == host.get(n)]
    learner.expect(not same, "01.3", f"the container shares the host's {', '.join(same)} namespace",
                   f"контейнер делит с хостом пространство имён {', '.join(same)}")


def test_01_4_the_root_is_the_images_overlay(learner):
    """01.4 `ex01-mnt` printed its mount table: `/` is an overlay of the image's layers."""
    learner.exited("ex01-mnt", "01.4")
    roots = [l for l in learner.lines("ex01-mnt") if l.split()[3:5] == ["/", "/"]]
    learner.expect(bool(roots), "01.4",
                   "no line for the root `/` in the output; print `cat /proc/self/mountinfo`",
                   "в выводе нет строки для корня `/`; напечатайте `cat /proc/self/mountinfo`")
    learner.expect(" - overlay " in roots[-1], "01.4",
                   f"the root is not an overlay: {roots[-1]}",
                   f"корень — не overlay: {roots[-1]}")

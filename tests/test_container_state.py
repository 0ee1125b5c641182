"""Containers on disk: recorded state against what really runs (``Record.observed_status``),
names, lookups, and what a crash can leave."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import sleeping_child

from minidocker import fileio
from minidocker.errors import Conflict, NotFound
from minidocker.runtime.spec import ContainerSpec
from minidocker.runtime.state import EXITED, LOST, RUNNING, Containers


class _SupervisorGone:
    """Just enough kernel: every process it is asked about has ended."""

    def process_alive(self, pid: int) -> bool:
        return False


def _running_record(tmp_path):
    spec = ContainerSpec(id="c" * 64, name="c", image="busybox", image_id="sha256:" + "0" * 64,
                         argv=("true",), env=())
    record = Containers(tmp_path / "containers").create(spec, "2026-01-01T00:00:00Z")
    record.state.Status, record.state.SupervisorPid = RUNNING, 4321
    record.save_state()
    return record


def test_a_running_state_whose_supervisor_is_gone_is_dead(tmp_path):
    record = _running_record(tmp_path)
    assert record.observed_status(_SupervisorGone()) == "dead"


def test_an_exit_recorded_just_before_the_supervisor_ended_is_seen_with_its_code(tmp_path):
    # A reader saw "running" a moment ago; since then the supervisor recorded the exit
    # (code 4) and ended. The reader must report that exit, not a dead container.
    record = _running_record(tmp_path)
    seen = Containers(tmp_path / "containers").load(record.id)
    record.state.Status, record.state.ExitCode = EXITED, 4
    record.save_state()
    assert seen.state.Status == RUNNING
    assert seen.observed_status(_SupervisorGone()) == "exited"
    assert seen.state.ExitCode == 4


# -- names, lookups and what a crash can leave ------------------------------------------

def _spec(cid: str, name: str = "") -> ContainerSpec:
    return ContainerSpec(id=cid, name=name, image="busybox", image_id="sha256:" + "0" * 64,
                         argv=("true",), env=())


def test_a_taken_name_is_refused_and_freed_by_the_removal(tmp_path):
    containers = Containers(tmp_path / "containers")
    first = containers.create(_spec("a" * 64, "web"), "2026-01-01T00:00:00Z")
    with pytest.raises(Conflict, match='name "/web" is already in use'):
        containers.create(_spec("b" * 64, "web"), "2026-01-01T00:00:01Z")
    assert not (tmp_path / "containers" / ("b" * 64)).exists()   # nothing half-made
    containers.delete(first)
    again = containers.create(_spec("b" * 64, "web"), "2026-01-01T00:00:02Z")
    assert containers.find("web").id == again.id


def test_find_takes_the_full_id_then_the_name_then_a_unique_prefix(tmp_path):
    containers = Containers(tmp_path / "containers")
    one = containers.create(_spec("ab" + "1" * 62, "one"), "2026-01-01T00:00:00Z")
    two = containers.create(_spec("ab" + "2" * 62, "ab" + "1" * 62), "2026-01-01T00:00:01Z")
    assert containers.find(one.id).id == one.id          # the ID wins over a name equal to it
    assert containers.find("/one").id == one.id
    assert containers.find("ab2").id == two.id
    with pytest.raises(Conflict, match="multiple containers match the ID prefix 'ab'"):
        containers.find("ab")
    for ref in ("nothing", "..", ".names", "ab/..", ""):
        with pytest.raises(NotFound):
            containers.find(ref)


def test_a_state_root_from_before_the_names_index_gets_one(tmp_path):
    containers = Containers(tmp_path / "containers")
    old = containers.create(_spec("a" * 64, "db"), "2026-01-01T00:00:00Z")
    shutil.rmtree(tmp_path / "containers" / ".names")
    fresh = Containers(tmp_path / "containers")
    assert fresh.find("db").id == old.id                 # found without the index
    with pytest.raises(Conflict, match='"/db" is already in use'):
        fresh.create(_spec("b" * 64, "db"), "2026-01-01T00:00:01Z")
    assert os.readlink(tmp_path / "containers" / ".names" / "db") == old.id


def test_a_name_claimed_by_a_create_that_died_half_way_can_be_taken(tmp_path):
    containers = Containers(tmp_path / "containers")
    containers.create(_spec("a" * 64), "2026-01-01T00:00:00Z")   # makes the index
    os.symlink("d" * 64, tmp_path / "containers" / ".names" / "web")   # no such container
    record = containers.create(_spec("b" * 64, "web"), "2026-01-01T00:00:01Z")
    assert containers.find("web").id == record.id


def test_a_containers_records_are_written_atomically_but_not_fsynced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")),
                                                 real_fsync(fd)))
    record = Containers(tmp_path / "containers").create(_spec("a" * 64), "2026-01-01T00:00:00Z")
    assert synced == []
    assert json.loads((record.dir / "config.json").read_bytes())["spec"]["id"] == "a" * 64
    synced.clear()
    record.state.Status = RUNNING
    record.save_state()
    assert synced == []
    assert json.loads((record.dir / "state.json").read_bytes())["Status"] == RUNNING
    assert [p.name for p in record.dir.iterdir() if p.name.startswith(".tmp-")] == []


def test_a_state_lost_in_a_crash_reads_as_exited_and_a_missing_one_as_created(tmp_path):
    containers = Containers(tmp_path / "containers")
    record = containers.create(_spec("a" * 64, "x"), "2026-01-01T00:00:00Z")
    (record.dir / "state.json").write_bytes(b"")          # what a crash can leave of it
    lost = containers.find("x")
    assert (lost.state.Status, lost.state.ExitCode, lost.state.Error) == (EXITED, 255, LOST)
    (record.dir / "state.json").unlink()
    assert containers.find("x").state.Status == "created"
    (record.dir / "config.json").write_bytes(b"")         # the record itself lost
    with pytest.raises(NotFound, match="lost in a crash"):
        containers.find("x")
    assert containers.all() == []


# -- removal --------------------------------------------------------------------------

def _with_files(record) -> None:
    (record.dir / "rootfs" / "deep" / "er").mkdir(parents=True)
    (record.dir / "rootfs" / "deep" / "er" / "f").write_text("x")
    (record.dir / "hostname").write_text("h\n")


def test_a_removed_container_is_gone_at_once_and_leaves_no_trash(tmp_path):
    containers = Containers(tmp_path / "containers")
    record = containers.create(_spec("a" * 64, "web"), "2026-01-01T00:00:00Z")
    _with_files(record)
    containers.delete(record)
    assert sorted(os.listdir(tmp_path / "containers")) == [".lock", ".names"]
    with pytest.raises(NotFound):
        containers.find("web")


def test_removal_in_the_background_hides_the_container_at_once_and_empties_it_later(tmp_path):
    containers = Containers(tmp_path / "containers")
    records = [containers.create(_spec(c * 64), "2026-01-01T00:00:00Z") for c in "abc"]
    for record in records:
        _with_files(record)
    fileio.remove_in_background()
    try:
        for record in records:
            containers.delete(record)
            assert not record.dir.exists()
            assert containers.all() == [r for r in containers.all() if r.id != record.id]
    finally:
        fileio.finish_removals()
    assert sorted(os.listdir(tmp_path / "containers")) == [".lock", ".names"]
    # after finish_removals, removal is synchronous again
    again = containers.create(_spec("d" * 64), "2026-01-01T00:00:00Z")
    containers.delete(again)
    assert sorted(os.listdir(tmp_path / "containers")) == [".lock", ".names"]


def test_a_removal_cut_short_is_invisible_and_swept_later(tmp_path):
    containers = Containers(tmp_path / "containers")
    record = containers.create(_spec("a" * 64, "web"), "2026-01-01T00:00:00Z")
    _with_files(record)
    # what a crash between discard's rename and its emptying leaves
    trash = record.dir.parent / f"{fileio.TRASH_PREFIX}{record.id}-0000"
    os.rename(record.dir, trash)
    assert containers.all() == []
    with pytest.raises(NotFound):
        containers.find("a")   # not even as an ID prefix
    assert fileio.sweep_trash(tmp_path / "containers") == [str(trash)]
    assert not trash.exists()
    assert fileio.sweep_trash(tmp_path / "containers") == []


def test_a_process_reaped_while_it_is_looked_at_is_not_alive(monkeypatch):
    """`rm -f` polls the supervisor while it ends: its /proc entry can go between the
    open and the read (ESRCH). That is an ended process, not a fault (it was a 500)."""
    import minidocker.kernel
    from minidocker.kernel.linux import LinuxKernel
    from minidocker.kernel.sim.kernel import SimKernel
    pid = sleeping_child(30)
    assert LinuxKernel().process_alive(pid) and SimKernel().process_alive(pid)

    def open_then_end(path, *args, **kwargs):
        f = open(path, *args, **kwargs)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return f
    monkeypatch.setattr(minidocker.kernel, "open", open_then_end, raising=False)
    assert LinuxKernel().process_alive(pid) is False


@pytest.mark.parametrize("kernel", ["linux", "sim"])
def test_a_zombie_supervisor_is_not_alive(kernel):
    """A supervisor is a real process on both kernels: once it has ended, its container's
    state no longer counts as running, even before it is reaped."""
    import signal
    import time
    from minidocker.kernel.linux import LinuxKernel
    from minidocker.kernel.sim.kernel import SimKernel
    k = LinuxKernel() if kernel == "linux" else SimKernel()
    pid = sleeping_child(30)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while k.process_alive(pid):
        assert time.monotonic() < deadline, "a killed, unreaped child still counts as alive"
        time.sleep(0.01)
    os.waitpid(pid, 0)
    assert not k.process_alive(pid)

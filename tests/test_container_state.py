"""A container's recorded state against what really runs (``Record.observed_status``)."""

from __future__ import annotations

from minidocker.runtime.spec import ContainerSpec
from minidocker.runtime.state import EXITED, RUNNING, Containers


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

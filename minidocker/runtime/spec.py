"""A container's configuration as pure data, and the parsing of user input into it.

Nothing here touches the host. ``parse_*`` functions turn what a user typed
(``--memory 64m``, ``-v /src:/dst:ro``, ``-e K=V``) into values, raising
``InvalidSpec`` with a one-line message naming the problem; the runtime then
applies a validated ``ContainerSpec`` (as runc applies libcontainer configs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import MinidockerError

# Docker refuses memory limits below this: the runtime itself needs room.
MIN_MEMORY = 6 * 1024 * 1024
CPU_PERIOD_US = 100_000

# Docker's default capability set (moby's oci/caps/defaults.go), by number.
DEFAULT_CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18,
    "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31,
}

# Docker's masked and read-only /proc and /sys paths (moby's oci/defaults.go).
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class InvalidSpec(MinidockerError):
    """A container option that cannot be honoured; the CLI exits 125 like Docker."""

    exit_code = 125


@dataclass(frozen=True)
class Resources:
    memory: int | None = None          # bytes
    nano_cpus: int | None = None       # 1e9 = one CPU
    pids_limit: int | None = None      # None or -1: unlimited

    @property
    def cpu_quota_us(self) -> int | None:
        return None if self.nano_cpus is None else self.nano_cpus * CPU_PERIOD_US // 1_000_000_000


@dataclass(frozen=True)
class BindMount:
    source: str
    target: str
    readonly: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    id: str
    name: str
    image: str                         # as the user named it
    image_id: str
    argv: tuple[str, ...]              # entrypoint + cmd, resolved
    env: tuple[str, ...]
    working_dir: str = "/"
    user: str = ""
    hostname: str = ""
    tty: bool = False
    stdin: bool = False
    auto_remove: bool = False
    readonly_rootfs: bool = False
    init: bool = False
    binds: tuple[BindMount, ...] = ()
    resources: Resources = field(default_factory=Resources)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    # "none": an own namespace with lo only; "host": the host's; "bridge" or a user
    # network's name: an own namespace joined to the networks the container is a member of
    network: str = "none"
    ports: tuple = ()                  # netspec.PortBinding, for -p and -P


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([bkmgtp]?)(?:i?b)?", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_memory(text: str) -> int:
    """Docker's RAMInBytes: ``64m``, ``1g``, ``512000`` (bytes); at least 6 MiB."""
    m = _SIZE.fullmatch(text.strip())
    if not m:
        raise InvalidSpec(f"invalid memory size {text!r}: use a number with an optional unit b, k, m or g (e.g. 64m)")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value < MIN_MEMORY:
        raise InvalidSpec(f"minimum memory limit allowed is 6MB (got {text!r})")
    return value


def parse_cpus(text: str) -> int:
    """``--cpus 0.5`` → nano-CPUs, as Docker's NanoCPUs."""
    try:
        value = float(text)
    except ValueError:
        raise InvalidSpec(f"invalid --cpus {text!r}: want a number such as 0.5") from None
    if not value > 0 or value > 1024:
        raise InvalidSpec(f"invalid --cpus {text!r}: must be more than 0")
    return int(round(value * 1e9))


def parse_pids_limit(text: str | int) -> int | None:
    """``--pids-limit N``: N > 0, or -1 / 0 for unlimited as in Docker."""
    try:
        value = int(text)
    except ValueError:
        raise InvalidSpec(f"invalid --pids-limit {text!r}: want a whole number") from None
    if value < -1:
        raise InvalidSpec(f"invalid --pids-limit {value}: must be positive (or -1 for unlimited)")
    return None if value in (0, -1) else value


def parse_env(items: list[str], base: list[str] | None = None) -> list[str]:
    """Merge ``-e K=V`` (and bare ``-e K``, taken from the caller's env) over ``base``."""
    import os
    env: dict[str, str] = {}
    for item in base or []:
        k, _, v = item.partition("=")
        env[k] = v
    for item in items:
        k, sep, v = item.partition("=")
        if not k or "\0" in item or (sep and " " in k):
            raise InvalidSpec(f"invalid environment variable {item!r}")
        if not sep:
            if k not in os.environ:
                continue  # Docker drops -e K when K is unset here
            v = os.environ[k]
        env[k] = v
    return [f"{k}={v}" for k, v in env.items()]


def parse_env_file(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise InvalidSpec(f"cannot read env file {path}: {e.strerror}") from None
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def parse_bind(text: str) -> BindMount:
    """``-v /host/path:/container/path[:ro|rw]``."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidSpec(f"invalid volume specification {text!r}: want HOST:CONTAINER[:ro]")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise InvalidSpec(f"invalid volume mode {mode!r} in {text!r}: want ro or rw")
    if not source.startswith("/"):
        raise InvalidSpec(f"invalid volume {text!r}: named volumes are not supported yet; "
                          "give an absolute host path")
    if not target.startswith("/") or target == "/":
        raise InvalidSpec(f"invalid volume {text!r}: the container path must be absolute and not /")
    return BindMount(source, target, mode == "ro")


def resolve_argv(entrypoint: list[str] | None, cmd: list[str] | None,
                 image_config: dict) -> list[str]:
    """Docker's rule: ``--entrypoint`` replaces the image's and drops its Cmd."""
    if entrypoint is not None:
        ep, default_cmd = entrypoint, []
    else:
        ep, default_cmd = image_config.get("Entrypoint") or [], image_config.get("Cmd") or []
    argv = list(ep) + (list(cmd) if cmd else list(default_cmd))
    if not argv:
        raise InvalidSpec("no command specified")
    return argv

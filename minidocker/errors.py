"""The error types minidocker raises for problems a user can act on.

Each carries a one-line message that names the problem; the CLI prints it as
``minidocker: <message>`` and exits with the error's ``exit_code``.
"""


class MinidockerError(Exception):
    """A problem the user can understand and fix; never shown as a traceback."""

    exit_code = 1


class InvalidReference(MinidockerError):
    """An image name, tag or digest that does not follow Docker's grammar."""


class NotFound(MinidockerError):
    """A referenced image, blob, tag or snapshot does not exist."""


class Conflict(MinidockerError):
    """The operation clashes with existing state (a name in use, an image in use)."""


class CorruptContent(MinidockerError):
    """Stored or received content does not match its digest, size or format."""


class UnsafeArchive(MinidockerError):
    """A tar archive tried something a layer may not do (escape, device, bomb)."""

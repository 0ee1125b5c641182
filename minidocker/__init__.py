"""minidocker: an educational container simulator and a real container runtime.

The package is layered (see DESIGN.md): ``cli`` on top, then ``image`` and
``snapshot``, and ``kernel`` at the bottom as the only code that performs
privileged or Linux-specific operations on the host.
"""

__version__ = "0.1.0"


def trace(kernel=None):
    """``with minidocker.trace() as t: …``: every kernel call made meanwhile, as ``t.events``.

    Engines made inside the block (``Engine()`` with no kernel) use the tracing kernel;
    calls made by containers' first processes are collected too. See kernel/tracing.py.
    """
    from .kernel.tracing import trace as _trace
    return _trace(kernel)

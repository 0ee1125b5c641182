"""minidocker: an educational container simulator and a real container runtime.

The package is layered (see DESIGN.md): ``cli`` on top, then ``image`` and
``snapshot``, and ``kernel`` at the bottom as the only code that performs
privileged or Linux-specific operations on the host.
"""

__version__ = "0.1.0"

"""Graphviz diagrams of minidocker's state and of its kernel traces, for notebooks and the CLI.

Each diagram is built in two steps: a ``collect`` function reads engine state
(or trace events) into small frozen dataclasses — what to draw, nothing else —
and ``draw`` turns that data into a ``Diagram`` (DOT source, SVG in Jupyter,
``save`` to .svg/.png/.pdf/.dot). The same state always gives the same DOT
source. Nothing outside notebooks, the CLI and display hooks imports this
package; it only reads state.

(a) ``image_layers``  — an image's layer stack and a container's writable layer
(b) ``shared_layers`` — images and containers sharing layers
(c) ``host_and_container`` / ``namespaces.from_events`` — processes and mounts per namespace
(d) ``cgroup_tree``   — a container's cgroups with limits and usage
(e) ``build_steps``   — the last build: steps, cache hits and the reasons for misses
(f) ``network_topology`` — bridge, veths, namespaces and ports, from a plain description
"""

from .build import build_steps
from .cgroups import cgroup_tree
from .diagram import Diagram, RenderError
from .layers import image_layers
from .namespaces import host_and_container
from .network import Topology, network_topology
from .sharing import shared_layers

__all__ = ["Diagram", "RenderError", "Topology", "build_steps", "cgroup_tree", "host_and_container",
           "image_layers", "network_topology", "shared_layers"]

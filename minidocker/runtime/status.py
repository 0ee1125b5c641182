"""A container's status words, as Docker reports them (``State.Status``).

Kept apart from ``state.py`` (records on disk) so that code which only names a
status — the engine's verbs, diagrams — does not load the record machinery.
"""

CREATED, RUNNING, EXITED, DEAD = "created", "running", "exited", "dead"

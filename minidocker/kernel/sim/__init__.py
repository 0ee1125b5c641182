"""The simulated kernel: what a container sees, modelled in Python, for machines
that cannot run the real thing (no root, not Linux, a browser notebook).

One module per modelled subsystem, each naming the real behaviour it imitates;
``userland/`` holds the programs a simulated ``execve`` runs (a small ``sh``,
busybox-like applets, a package manager over a fixed catalog).
"""

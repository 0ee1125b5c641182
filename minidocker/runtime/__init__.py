"""The container runtime: specs, cgroups, the rootfs, the container process, its lifecycle."""

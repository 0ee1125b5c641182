#!/bin/sh
# Reference solution of lesson 01's exercises (course/en/lesson-01.md).
. "$(dirname "$0")/common.sh"
minidocker bootstrap busybox

# 01.1 UTS namespace: its own host name
minidocker run --name ex01-uts --hostname lesson01 busybox hostname
# 01.2 PID namespace: the shell is PID 1 and ps sees only the container
minidocker run --name ex01-pid busybox sh -c 'echo $$; ps'
# 01.3 the container's namespaces (compare: readlink /proc/self/ns/pid on the host)
minidocker run --name ex01-ns busybox sh -c 'for n in pid uts mnt ipc net; do readlink /proc/self/ns/$n; done'
# 01.4 mount namespace: the root is an overlay of the image's layers
minidocker run --name ex01-mnt busybox cat /proc/self/mountinfo

#!/bin/sh
# Reference solution of lesson 07's exercises (course/en/lesson-07.md).
. "$(dirname "$0")/common.sh"
minidocker bootstrap busybox

# 07.1 capabilities: no CAP_SYS_ADMIN (hostname refused), CAP_CHOWN kept
minidocker run --name ex07-caps busybox sh -c 'hostname foo; echo $?; touch /f; chown 33 /f; echo $?'
# 07.2 no mounts inside a container
minidocker run --name ex07-mount busybox sh -c 'mkdir /m; mount -t tmpfs none /m; echo $?'
# 07.3 masked and read-only parts of /proc
minidocker run --name ex07-proc busybox \
    sh -c 'wc -c < /proc/keys; ls /proc/acpi | wc -l; echo x > /proc/sys/kernel/hostname; echo $?'
# 07.4 a read-only root file system
minidocker run --name ex07-ro --read-only busybox sh -c 'touch /x; echo $?; echo ok > /dev/shm/x; echo $?'
# 07.5 not root
minidocker run --name ex07-user -u 1000:1000 busybox sh -c 'id -u; id -g'

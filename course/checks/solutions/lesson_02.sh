#!/bin/sh
# Reference solution of lesson 02's exercises (course/en/lesson-02.md).
. "$(dirname "$0")/common.sh"
minidocker bootstrap busybox

# 02.1 more than the memory limit: the OOM killer ends the container (exit 137)
minidocker run --name ex02-oom --memory 32m busybox \
    sh -c 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=60' || echo "ex02-oom: exit code $?"
# 02.2 under the limit nothing happens
minidocker run --name ex02-fits --memory 32m busybox \
    sh -c 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=16 && echo fits'
# 02.3 a process limit: the third process cannot be forked
minidocker run --name ex02-pids --pids-limit 2 busybox \
    sh -c 'sh -c "sh -c true; true" 2>&1; echo "exit code $?"'
# 02.4 a CPU quota slows a busy loop down, it does not kill it
minidocker run --name ex02-cpu --cpus 0.5 busybox \
    sh -c 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo done'
minidocker inspect ex02-oom | grep -E '"(OOMKilled|ExitCode|Memory)"'

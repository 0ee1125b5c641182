#!/bin/sh
# Reference solution of lesson 00's exercises (course/en/lesson-00.md).
. "$(dirname "$0")/common.sh"

# 00.1 a base image, made from the host's busybox (or the simulator's built-in one)
minidocker bootstrap busybox
# 00.2 a second name for the same image
minidocker tag busybox ex00:base
minidocker images
# 00.3 a container from the image
minidocker run --name ex00-hello ex00:base echo "hello, container"
# 00.4 two containers, one image: a write in one is not seen by the other
minidocker run --name ex00-a ex00:base sh -c 'echo from a > /note.txt'
minidocker run --name ex00-b ex00:base cat /note.txt || echo "ex00-b: exit code $?"
minidocker ps -a

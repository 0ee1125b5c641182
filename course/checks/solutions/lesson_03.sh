#!/bin/sh
# Reference solution of lesson 03's exercises (course/en/lesson-03.md).
. "$(dirname "$0")/common.sh"
minidocker bootstrap busybox

# 03.1 an image whose second layer adds /app/hello.txt
mkdir -p "$work/ex03"
echo hello > "$work/ex03/hello.txt"
cat > "$work/ex03/Dockerfile" <<'DOCKERFILE'
FROM busybox
COPY hello.txt /app/hello.txt
DOCKERFILE
minidocker build -t ex03:1 "$work/ex03"
# 03.2 deleting in a later layer: a whiteout
cat > "$work/ex03/Dockerfile.2" <<'DOCKERFILE'
FROM ex03:1
RUN rm /app/hello.txt
DOCKERFILE
minidocker build -t ex03:2 -f "$work/ex03/Dockerfile.2" "$work/ex03"
minidocker history ex03:2
# 03.3 copy-up: the container changes a file of the image
minidocker run --name ex03-copyup ex03:1 sh -c 'echo world >> /app/hello.txt; cat /app/hello.txt'
# 03.4 a whiteout in the container's writable layer
minidocker run --name ex03-rm ex03:1 rm /app/hello.txt
minidocker system df

#!/bin/sh
# Reference solution of lesson 06's exercises (course/en/lesson-06.md): a daemon in the
# background, driven with curl and `minidocker -H`, then stopped. Run in the directory the
# checks are run from: the exercise files go to ./ex06/.
. "$(dirname "$0")/common.sh"
command -v curl >/dev/null 2>&1 || { echo "lesson 06 needs curl (with --unix-socket)" >&2; exit 1; }
minidocker bootstrap busybox
mkdir -p ex06
sock=$PWD/ex06/md.sock
api=http://localhost/v1.47

# 06.1 the daemon in the background; its socket; /_ping and /version
# (`minidocker` is a shell function when common.sh found no command: run python itself then,
# so that $! is the daemon's own PID and killing it stops the daemon)
case $(command -v minidocker) in
    /*) minidocker daemon -H "unix://$sock" > ex06/daemon.log 2>&1 & ;;
    *) "${PYTHON:-python3}" -m minidocker daemon -H "unix://$sock" > ex06/daemon.log 2>&1 & ;;
esac
daemon=$!
# whatever happens below, nothing is left running
trap 'kill "$daemon" 2>/dev/null || true; rm -rf "$work"' EXIT
i=0
until [ -S "$sock" ]; do
    i=$((i + 1))
    if [ "$i" -gt 200 ] || ! kill -0 "$daemon" 2>/dev/null; then
        cat ex06/daemon.log >&2; echo "the daemon did not start" >&2; exit 1
    fi
    sleep 0.1
done
cat ex06/daemon.log
curl -s --unix-socket "$sock" http://localhost/_ping; echo
curl -s --unix-socket "$sock" "$api/version" > ex06/version.json
cat ex06/version.json; echo

# 06.2 a container by hand: create, start, wait, logs
curl -s --unix-socket "$sock" -X POST -H 'Content-Type: application/json' \
    -d '{"Image": "busybox", "Cmd": ["sh", "-c", "echo hello, $WHO"], "Env": ["WHO=curl"]}' \
    "$api/containers/create?name=ex06-curl"; echo
curl -s -w '%{http_code}\n' --unix-socket "$sock" -X POST "$api/containers/ex06-curl/start"
curl -s --unix-socket "$sock" -X POST "$api/containers/ex06-curl/wait"; echo
curl -s --unix-socket "$sock" "$api/containers/ex06-curl/logs?stdout=1" > ex06/logs.bin
od -c ex06/logs.bin

# 06.3 the minidocker CLI as a client of the same daemon; the list the daemon gives
minidocker -H "unix://$sock" run --name ex06-cli busybox echo hi from the CLI
minidocker -H "unix://$sock" ps -a
curl -s --unix-socket "$sock" "$api/containers/json?all=1" > ex06/containers.json

# 06.4 the hijacked stream: attach first (in the background), then start
minidocker -H "unix://$sock" create --name ex06-attach busybox sh -c 'echo out; echo err >&2'
curl -s -i --unix-socket "$sock" -X POST -H 'Connection: Upgrade' -H 'Upgrade: tcp' \
    "$api/containers/ex06-attach/attach?stream=1&stdout=1&stderr=1" -o ex06/attach.txt &
attach=$!
sleep 1
curl -s -w '%{http_code}\n' --unix-socket "$sock" -X POST "$api/containers/ex06-attach/start"
wait "$attach"
od -c ex06/attach.txt

# 06.5 a Docker-style error
curl -s -w '\n%{http_code}\n' --unix-socket "$sock" -X POST -H 'Content-Type: application/json' \
    -d '{"Image": "no-such-image", "Cmd": ["true"]}' \
    "$api/containers/create?name=ex06-missing" > ex06/error.txt
cat ex06/error.txt

# 06.6 stop the daemon (SIGTERM, as `systemctl stop`): it removes its socket; clients fail
kill "$daemon"
wait "$daemon" || true
cat ex06/daemon.log
if minidocker -H "unix://$sock" ps 2> ex06/no-daemon.txt; then
    echo "a client still reached the daemon" >&2; exit 1
fi
cat ex06/no-daemon.txt

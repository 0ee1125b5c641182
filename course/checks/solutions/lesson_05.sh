#!/bin/sh
# Reference solution of lesson 05's exercises (course/en/lesson-05.md).
. "$(dirname "$0")/common.sh"
minidocker bootstrap busybox

# 05.1 --network none: a network namespace with nothing but lo
minidocker run --name ex05-none --network none busybox \
    sh -c 'ip link; ping -c 1 -W 1 10.66.0.1; echo "ping exit code $?"'
# 05.2 the default bridge: eth0 with an address, a default route, the gateway answers
minidocker run --name ex05-bridge busybox \
    sh -c 'ip -4 addr show eth0; ip route; ping -c 1 -W 1 10.66.0.1; echo "ping exit code $?"'
# 05.3 a user network: its containers find each other by name; the default bridge does not
minidocker network create ex05
minidocker run -d --name ex05-db --network ex05 busybox \
    sh -c 'mkdir -p /www && echo "rows from the database" > /www/index.html && exec httpd -f -p 8080 -h /www'
minidocker run --name ex05-app --network ex05 busybox cat /etc/hosts
minidocker run --name ex05-nonames busybox \
    sh -c 'cat /etc/hosts; ping -c 1 -W 1 ex05-db; echo "ping exit code $?"'
minidocker inspect -f '{{.NetworkSettings.Networks.ex05.IPAddress}}' ex05-db
# 05.4 a published port, fetched from the host. The guide publishes 8080:80; here any free
# host port (127.0.0.1::80), so that the solution runs where 8080 is taken
minidocker run -d --name ex05-web -p 127.0.0.1::80 busybox \
    sh -c 'mkdir -p /www && echo "hello from ex05-web" > /www/index.html && exec httpd -f -v -p 80 -h /www'
minidocker port ex05-web
port=$(minidocker port ex05-web 80)
port=${port##*:}
# (tried a few times: httpd may still be starting; urllib, as the host may have no wget)
"${PYTHON:-python3}" - "$port" <<'PY'
import sys, time, urllib.request
for attempt in range(50):
    try:
        print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=5).read().decode(), end="")
        break
    except OSError:
        time.sleep(0.2)
else:
    sys.exit("ex05-web did not answer on its published port")
PY
minidocker logs ex05-web
# 05.5 a container on two networks: connected before it starts
minidocker create --name ex05-two busybox sh -c 'ip -4 addr; ip route; cat /etc/hosts'
minidocker network connect ex05 ex05-two
minidocker start -a ex05-two
# the servers are PID 1 of their containers and ignore SIGTERM: kill, not a 10-second stop
minidocker kill ex05-db ex05-web

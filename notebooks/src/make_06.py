"""Write notebooks/06_engine_api.ipynb, without outputs: ``python notebooks/src/make_06.py``.

The notebook is generated so that git only ever holds its source; edit this
file, not the .ipynb, and run it again.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import code, md, write  # noqa: E402

cells = [
    md("""
    # 06 · The Engine API: talking to the daemon over its unix socket

    Docker is three programs in one engine: the **CLI** you type, the **daemon** that does the
    work, and between them the **API**: HTTP requests sent over a **unix socket**
    (`/var/run/docker.sock` for Docker). The CLI never runs a container itself; it asks the
    daemon. Any program that can write HTTP to that socket can do what the CLI does.

    `minidocker daemon` serves the same API as Docker (version 1.47), so we can drive it
    four ways and compare them.

    **You will learn to**

    1. start a daemon and find its socket;
    2. send HTTP requests to it **by hand**, byte by byte, and read the answers
       (`GET /_ping`, `GET /version`);
    3. run a container with raw requests: create, start, wait, logs — and decode the
       **multiplexed** log stream (stdout and stderr in one byte stream);
    4. do the same with the `minidocker -H` CLI, the real `docker` CLI and the Python
       `docker` library (docker-py), and see that they all send the same requests;
    5. break it: a malformed body, a missing image, a socket with no daemon behind it.
    """),
    md("""
    ## Setup

    `lesson.engine()` makes an engine on this notebook's state directory and makes the base
    image. The daemon we start next uses the **same** state directory and the same kernel
    (real Linux as root, or the simulator), so it sees the image.
    """),
    code("""
    import atexit, json, os, re, shlex, shutil, socket, stat, struct, subprocess, sys, tempfile, threading, time
    from minidocker import lesson
    from minidocker.viz import Diagram, style

    e = lesson.engine()
    image = e.bootstrap("busybox")
    print("image:", image.id[:19])
    """),
    md("""
    ## Step 1 · Start the daemon

    `minidocker daemon -H unix://PATH` listens on a unix socket: a file in the filesystem
    that programs `connect()` to, like a TCP port without the network. We start it as a
    child process with this notebook's environment (`MINIDOCKER_KERNEL`, `MINIDOCKER_ROOT`).

    A daemon outlives the command that started it, so we make sure it stops: `atexit` stops
    it when this notebook's Python ends, even if a cell fails halfway. (It runs in its own
    session, so interrupting a cell does not stop it by accident.)
    """),
    code("""
    tmp = tempfile.mkdtemp(prefix="md06-")
    DAEMON_SOCK = f"{tmp}/md.sock"
    daemon_log = open(f"{tmp}/daemon.log", "w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "minidocker", "daemon", "-H", f"unix://{DAEMON_SOCK}"],
        env=dict(os.environ, MINIDOCKER_ROOT=str(e.store.root)),
        stdout=daemon_log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop_daemon():
        \"\"\"SIGTERM, like `systemctl stop docker`: the daemon closes its socket and exits.\"\"\"
        if daemon.poll() is None:
            daemon.terminate()
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()

    atexit.register(stop_daemon)

    deadline = time.monotonic() + 20
    while not os.path.exists(DAEMON_SOCK):      # the socket appears once it listens
        assert daemon.poll() is None, open(f"{tmp}/daemon.log").read()
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.05)
    print(open(f"{tmp}/daemon.log").read(), end="")
    print("daemon pid:", daemon.pid, "| socket:", DAEMON_SOCK,
          "| a socket file:", stat.S_ISSOCK(os.stat(DAEMON_SOCK).st_mode))
    """),
    md("""
    ## Step 2 · A wiretap on the socket

    To see what each client says to the daemon, we put a **wiretap** in between: a second
    unix socket that forwards every byte to the daemon's socket and back, and notes the
    first line of each HTTP request (`METHOD /path HTTP/1.1`). Every client in this
    notebook talks to `HOST` = the wiretap; the daemon cannot tell the difference.
    """),
    code("""
    class Wiretap:
        \"\"\"A unix socket that forwards to the daemon's and records each request line.\"\"\"
        REQUEST = re.compile(rb"(GET|HEAD|POST|PUT|DELETE) (/\\S*) HTTP/1\\.[01]\\r\\n")

        def __init__(self, path, target):
            self.target, self.client, self.seen = target, "?", []   # seen: (client, method, path)
            self.server = socket.socket(socket.AF_UNIX)
            self.server.bind(path)
            self.server.listen()
            threading.Thread(target=self._accept, daemon=True).start()

        def _accept(self):
            while True:
                try:
                    conn, _ = self.server.accept()
                except OSError:          # closed
                    return
                threading.Thread(target=self._serve, args=(conn, self.client), daemon=True).start()

        def _serve(self, conn, client):
            with conn, socket.socket(socket.AF_UNIX) as up:
                up.connect(self.target)
                back = threading.Thread(target=self._pump, args=(up, conn, None), daemon=True)
                back.start()
                self._pump(conn, up, client)     # client -> daemon, noting requests
                back.join()

        def _pump(self, src, dst, client):
            try:
                while data := src.recv(65536):
                    if client:
                        self.seen += [(client, m[1].decode(), m[2].decode())
                                      for m in self.REQUEST.finditer(data)]
                    dst.sendall(data)
                dst.shutdown(socket.SHUT_WR)     # pass the end of the stream on
            except OSError:
                pass

        def close(self):
            self.server.close()

    SOCK = f"{tmp}/tap.sock"
    tap = Wiretap(SOCK, DAEMON_SOCK)
    HOST = f"unix://{SOCK}"
    print("clients talk to", HOST, "-> forwarded to", DAEMON_SOCK)
    """),
    md("""
    ## Step 3 · `GET /_ping`, by hand

    HTTP is text: a request line, header lines, an empty line, then an optional body, each
    line ending in `\\r\\n`. We build the bytes ourselves, write them to the socket and read
    everything the daemon sends back until it closes the connection (`Connection: close`).
    """),
    code("""
    tap.client = "raw socket"
    request = (b"GET /_ping HTTP/1.1\\r\\n"
               b"Host: docker\\r\\n"            # required by HTTP/1.1; any name does on a unix socket
               b"Connection: close\\r\\n"
               b"\\r\\n")
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(SOCK)
        s.sendall(request)
        response = b""
        while chunk := s.recv(65536):
            response += chunk
    print("sent:    ", request)
    print("received:", response)
    """),
    md("""
    The answer is a status line, headers, an empty line and the body `OK`. Docker's clients
    read two headers of `/_ping` before anything else: **`Api-Version`** (the newest API
    version the daemon speaks; a client then prefixes its paths with `/v1.47/`) and
    **`OSType`** (the kind of containers it runs: `linux`).
    """),
    code("""
    head, _, body = response.partition(b"\\r\\n\\r\\n")
    status_line, *header_lines = head.decode().split("\\r\\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    print(status_line)
    for name in ("Api-Version", "OSType", "Content-Type", "Server"):
        print(f"  {name}: {headers.get(name)}")
    print("body:", body)
    """),
    md("""
    ## Step 4 · A small HTTP client

    Every request has the same shape, so a function writes them: a JSON body (if any) with
    its `Content-Type` and `Content-Length`. One more thing to handle: answers that the
    daemon **streams** (logs, wait) have no length known in advance, so HTTP/1.1 sends them
    in **chunks** (`Transfer-Encoding: chunked`): a size in hex, `\\r\\n`, the bytes, `\\r\\n`…
    and a chunk of size 0 at the end.
    """),
    code("""
    def dechunk(data):
        out = b""
        while True:
            size, _, data = data.partition(b"\\r\\n")
            n = int(size, 16)
            if n == 0:
                return out
            out, data = out + data[:n], data[n + 2:]

    def http(method, path, body=None, show=False):
        \"\"\"One request over the unix socket; (status, headers, body bytes).\"\"\"
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
        request = (f"{method} {path} HTTP/1.1\\r\\nHost: docker\\r\\nConnection: close\\r\\n"
                   + (f"Content-Type: application/json\\r\\nContent-Length: {len(data)}\\r\\n" if data else "")
                   + "\\r\\n").encode() + data
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(SOCK)
            s.sendall(request)
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        head, _, payload = raw.partition(b"\\r\\n\\r\\n")
        status_line, *lines = head.decode().split("\\r\\n")
        headers = dict(line.split(": ", 1) for line in lines)
        if headers.get("Transfer-Encoding") == "chunked":
            payload = dechunk(payload)
        if show:
            print(request.decode(errors="replace"), end="\\n\\n")
        print(f"{method} {path}  ->  {status_line.split(' ', 1)[1]}")
        return int(status_line.split()[1]), headers, payload

    status, headers, body = http("GET", "/version")
    version = json.loads(body)
    print({k: version[k] for k in ("Version", "ApiVersion", "MinAPIVersion", "Os", "Arch")})
    """),
    md("""
    ## Step 5 · Run a container with four requests

    `docker run` is not one request. It is:

    | request | what the daemon does | answer |
    |---|---|---|
    | `POST /containers/create` + JSON config | makes the container (its writable layer, its config) | `201` + `{"Id": …}` |
    | `POST /containers/{id}/start` | starts its process | `204` (no body) |
    | `POST /containers/{id}/wait` | answers when the process has ended | `200` + `{"StatusCode": …}` |
    | `GET /containers/{id}/logs?stdout=1&stderr=1` | sends what it printed | `200` + a byte stream |

    The create body is Docker's container config: `Image`, `Cmd`, `Env`, … and a
    `HostConfig` for the host side (limits, mounts). Here are its bytes on the wire:
    """),
    code("""
    config = {"Image": "busybox",
              "Cmd": ["sh", "-c", "echo hello from the API; echo oops >&2; exit 3"]}
    status, _, body = http("POST", "/containers/create", config, show=True)
    cid = json.loads(body)["Id"]
    print("container id:", cid)
    """),
    code("""
    status, _, _ = http("POST", f"/containers/{cid}/start")
    status, _, body = http("POST", f"/containers/{cid}/wait")
    print("wait says:", json.loads(body))
    """),
    md("""
    ## Step 6 · The log stream and its frame headers

    A container writes to two streams, stdout and stderr, but an HTTP answer is one byte
    stream. Docker **multiplexes** them (`Content-Type: application/vnd.docker.multiplexed-stream`):
    each piece of output is a **frame** with an 8-byte header:

    ```
    byte 0     1 = stdout, 2 = stderr
    bytes 1-3  0 0 0
    bytes 4-7  the length of the data that follows (big-endian)
    ```
    """),
    code("""
    status, headers, logs = http("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    print("Content-Type:", headers["Content-Type"])
    print("raw bytes:   ", logs)
    print("first header:", logs[:8].hex(" "))
    """),
    code("""
    STREAMS = {1: "stdout", 2: "stderr"}
    frames, frame_headers, rest = [], [], logs
    while rest:
        stream, size = struct.unpack(">BxxxL", rest[:8])    # 1 byte, 3 pad bytes, 4-byte length
        frames.append((STREAMS[stream], rest[8:8 + size]))
        frame_headers.append(rest[:8])
        rest = rest[8 + size:]
    for header, (stream, data) in zip(frame_headers, frames):
        print(f"{header.hex(' ')}  {stream}: {data!r}")
    """),
    md("""
    stdout and stderr reach the daemon through two separate pipes, so the order of the
    frames is the order in which the daemon happened to read them: on some runs `oops`
    comes first. A client that needs both in order must not rely on it (Docker has the same
    rule); the frame header always says which stream a piece came from.
    """),
    code("""
    status, _, _ = http("DELETE", f"/containers/{cid}")    # docker rm
    """),
    md("""
    ## Step 7 · The same with the `minidocker` CLI

    `minidocker -H unix://PATH` (or `MINIDOCKER_HOST`) makes the CLI a **client**: it sends
    the requests above instead of calling the engine. To prove it uses only the socket, we
    point its state directory at a path that does not exist.
    """),
    code("""
    def minidocker_cli(*args, host=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDOCKER_")}
        env["MINIDOCKER_ROOT"] = "/nonexistent/the-client-does-not-need-it"
        done = subprocess.run([sys.executable, "-m", "minidocker", "-H", host or HOST, *args],
                              env=env, capture_output=True, text=True, timeout=60)
        print(f"$ minidocker -H … {shlex.join(args)}")
        print(done.stdout + done.stderr, end="")
        return done

    tap.client = "minidocker CLI"
    minidocker_cli("run", "--rm", "busybox", "sh", "-c", "echo hello from the minidocker CLI")
    minidocker_cli("ps", "-a")
    minidocker_cli("images");
    """),
    md("""
    ## Step 8 · The same with the real `docker` CLI

    The `docker` command finds its daemon in `DOCKER_HOST`. Point it at our socket and it
    drives minidocker exactly as it drives Docker's own `dockerd`.
    """),
    code("""
    def docker_cli(*args, host=None):
        print(f"$ DOCKER_HOST={host or HOST} docker {shlex.join(args)}")
        done = subprocess.run(["docker", *args], env=dict(os.environ, DOCKER_HOST=host or HOST),
                              capture_output=True, text=True, timeout=60)
        print(done.stdout + done.stderr, end="")
        return done

    HAVE_DOCKER = shutil.which("docker") is not None
    if HAVE_DOCKER:
        tap.client = "docker CLI"
        docker_cli("version", "--format", "client {{.Client.Version}}, server API {{.Server.APIVersion}} ({{.Server.Os}})")
        docker_cli("run", "--rm", "busybox", "echo", "hi")
        docker_cli("ps", "-a")
        docker_cli("images")
    else:
        print("The docker CLI is not installed here. With it, you would type:")
        for cmd in ("docker run --rm busybox echo hi", "docker ps -a", "docker images"):
            print(f"  DOCKER_HOST={HOST} {cmd}")
    """),
    md("""
    ## Step 9 · The same from Python, with docker-py

    The `docker` Python library is another client of the same API. `base_url` is the socket.
    """),
    code("""
    try:
        import docker
    except ImportError:
        docker = None
        print("docker-py is not installed (pip install docker)")
    if docker:
        tap.client = "docker-py"
        client = docker.DockerClient(base_url=HOST)
        print("ping:", client.ping())
        print("run: ", client.containers.run("busybox", "echo hi", remove=True))
        print("images:", [tag for i in client.images.list() for tag in i.tags])
        client.close()
    """),
    md("""
    ## Step 10 · What went over the wire

    Here is every request the wiretap saw, per client. (Paths are shown without the
    `/v1.47` prefix, with a container's ID as `{id}` and without the query.) The clients
    differ in details — docker asks `HEAD /_ping` first, docker-py asks `/version` to pick its
    API version, the docker CLI *attaches* to the output and asks `wait` even before `start`
    so that it cannot miss the exit — but every `run` is `create`, `start` and `wait`.
    """),
    code("""
    def route(path):
        path = re.sub(r"^/v1\\.\\d+", "", path.split("?")[0])
        return re.sub(r"/(sha256:)?[0-9a-f]{64}(?=/|$)", "/{id}", path)

    clients = list(dict.fromkeys(c for c, _, _ in tap.seen))
    for c in clients:
        print(f"{c}:")
        for _, method, path in (r for r in tap.seen if r[0] == c):
            print(f"    {method:6} {route(path)}")
    """),
    md("""
    The whole path of a request: a client writes HTTP to the unix socket; the daemon's API
    maps each route to one call of its `Engine`; the engine asks the kernel for namespaces,
    cgroups and mounts. The diagram is drawn from the requests above.
    """),
    code("""
    g = style.new_graph("api", rankdir="LR")
    g.attr(label="CLI → HTTP over a unix socket → daemon → engine → kernel", labelloc="t")
    for c in clients:
        routes = list(dict.fromkeys(f"{m} {route(p)}" for who, m, p in tap.seen if who == c))
        g.node(style.node_id("client", c), style.table(c, routes, fill=style.HOST))
        n = sum(1 for who, _, _ in tap.seen if who == c)
        g.edge(style.node_id("client", c), "sock", label=style.count(n, "request"))
    g.node("sock", style.table("unix socket", [f"{os.path.basename(DAEMON_SOCK)} (via {os.path.basename(SOCK)})",
                                              "HTTP/1.1 + JSON"],
                               fill=style.IMAGE))
    g.node("daemon", style.table("minidocker daemon", [f"Engine API {version['ApiVersion']}",
                                                         f"pid {daemon.pid}"], fill=style.IMAGE))
    g.node("engine", style.table("Engine", ["create, start, wait, logs, rm", "images, containers"],
                                 fill=style.MADE))
    g.node("kernel", style.table("kernel", ["real Linux" if not e.kernel.simulated else "simulated",
                                            "namespaces, cgroups, mounts"], fill=style.CONTAINER))
    g.edge("sock", "daemon", label="one route = one call")
    g.edge("daemon", "engine")
    g.edge("engine", "kernel", label="system calls")
    Diagram(g)
    """),
    md("""
    ## Break it

    **Experiment 1 · A malformed body.** The daemon parses the JSON before it does anything;
    a broken body gets `400 Bad Request` and a JSON `{"message": …}` saying why. (This
    message is what `docker` prints after `Error response from daemon:`.)
    """),
    code("""
    tap.client = "raw socket"
    status, _, body = http("POST", "/containers/create", b'{"Image": "busybox", "Cmd": [')
    print(json.loads(body))
    """),
    md("""
    **Experiment 2 · An image that is not here.** A well-formed request for an image the
    daemon does not have gets `404 Not Found`. (Docker's CLI would then *pull* the image and
    retry; this course works offline.)
    """),
    code("""
    status, _, body = http("POST", "/containers/create", {"Image": "no-such-image", "Cmd": ["true"]})
    print(json.loads(body))
    """),
    md("""
    **Experiment 3 · No daemon behind the socket.** A socket path where nothing listens:
    at the system-call level, `connect()` fails; each client turns that into a clear message.
    """),
    code("""
    nobody = f"{tmp}/nobody.sock"
    try:
        socket.socket(socket.AF_UNIX).connect(nobody)
    except OSError as err:
        print("connect():", type(err).__name__, err)
    print()
    minidocker_cli("ps", host=f"unix://{nobody}")
    if HAVE_DOCKER:
        docker_cli("ps", host=f"unix://{nobody}")
    """),
    md("""
    ## Check yourself

    Answer each question in your head first, then run its cell: it computes the answer from
    what happened above and checks it.

    **Q1.** Which three requests did docker-py send to run `echo hi` (ignoring `/_ping`,
    `/version` and the image lookups)?
    """),
    code("""
    runner = "docker-py" if "docker-py" in clients else "minidocker CLI"
    sent = [f"{m} {route(p)}" for who, m, p in tap.seen if who == runner]
    print(runner, "sent:", sent)
    expected = ["POST /containers/create", "POST /containers/{id}/start", "POST /containers/{id}/wait"]
    lesson.check([r for r in sent if r in expected][:3] == expected,
                 f"{runner} ran the container with create, start, wait — in that order")
    """),
    md("""
    **Q2.** The container of Step 5 printed one line on stdout and one on stderr. How many
    frames were in its log stream, and what is the first byte of the header of the frame
    that carries `oops`?
    """),
    code("""
    oops_header = next(h for h, (_, data) in zip(frame_headers, frames) if data == b"oops\\n")
    print("frames:", len(frames), "| header of the 'oops' frame:", oops_header.hex(" "))
    lesson.check(len(frames) == 2 and oops_header[0] == 2 and oops_header[4:] == struct.pack(">L", 5),
                 "two frames; 'oops\\\\n' came in a stderr frame (stream byte 2) of length 5")
    """),
    md("""
    ## Stop the daemon

    SIGTERM makes the daemon close its socket and exit, like `systemctl stop docker`.
    """),
    code("""
    stop_daemon()
    tap.close()
    daemon_log.close()
    print("exit code:", daemon.returncode)
    print(open(f"{tmp}/daemon.log").read(), end="")
    """),
    md("""
    **Q3.** The daemon is gone. Does its socket file still exist, and can the CLI still list
    the containers?
    """),
    code("""
    after = minidocker_cli("ps", host=f"unix://{DAEMON_SOCK}")
    lesson.check(not os.path.exists(DAEMON_SOCK) and after.returncode == 1,
                 "a stopped daemon removes its socket; without it the client can do nothing")
    shutil.rmtree(tmp, ignore_errors=True)
    """),
    md("""
    ## Summary

    - The Docker Engine API is **HTTP with JSON bodies over a unix socket**. Anything that
      can write those bytes is a Docker client: a dozen lines of Python with `socket`, the
      `minidocker` CLI, the `docker` CLI, docker-py.
    - `GET /_ping` answers `Api-Version` and `OSType`; clients then use versioned paths
      (`/v1.47/containers/create`).
    - `docker run` = `create` (201, an ID) + `start` (204) + `wait` (the exit code) — plus
      `attach` or `logs` for the output.
    - Without a terminal, output is **multiplexed**: 8-byte frame headers say stdout (1) or
      stderr (2) and the length.
    - Errors are HTTP statuses with a `{"message": …}` body (400 bad request, 404 no such
      image or container, 409 conflict); no daemon means `connect()` fails.
    - Whoever can write to the socket controls the daemon — and the daemon runs as root.
      That is why access to `/var/run/docker.sock` is as good as root on the host.
    """),
]

if __name__ == "__main__":
    print(write("06_engine_api", cells))

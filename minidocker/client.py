"""The CLI's way to a running ``minidocker daemon``: the Docker Engine API over its socket.

``RemoteEngine`` offers the methods the CLI calls on the in-process
``Engine`` (``ps_rows``, ``image_rows``, ``run``, ``logs``, ``stop``,
``network_create``, ``port`` …) and performs each as API requests, so
``minidocker -H unix:///path ps`` (or ``MINIDOCKER_HOST``) is the seed's picture:
CLI → API → daemon. ``build`` sends the context as a tar and streams the builder's
steps back; ``exec`` and ``run -i/-t`` talk over a hijacked connection (stdin up,
output down: frames, or raw bytes with a terminal, whose size follows ours through
``resize``). HTTP is
``http.client`` over a unix socket; the daemon's multiplexed log stream is
decoded here (8-byte frame headers: stream, 0, 0, 0, big-endian size).
Verbs that do not go through the API yet say so in one line.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import struct
import time
from urllib.parse import quote, urlencode

from .errors import MinidockerError, NotFound
from .format import human_age, human_size

API = "/v1.47"


class DaemonError(MinidockerError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@contextlib.contextmanager
def _run_exit_codes():
    """What ``run`` exits with when the daemon refuses to create or start the container,
    as Docker's CLI does: the API says only why, so the code follows from the message
    (127: the command was not found, 126: it could not be executed, 125: otherwise)."""
    try:
        yield
    except MinidockerError as e:
        message = str(e)
        e.exit_code = 127 if ("executable file not found" in message
                              or "no such file or directory" in message) else \
            126 if "permission denied" in message else 125
        raise


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class RemoteEngine:
    """The engine behind a daemon's socket (``unix:///path``)."""

    def __init__(self, host: str):
        if not host.startswith("unix://"):
            raise MinidockerError(f"unsupported host {host!r}: use unix:///path/to/minidocker.sock")
        self.host = host
        self.path = host[len("unix://"):]

    # -- HTTP -------------------------------------------------------------------------------
    def _no_daemon(self) -> MinidockerError:
        return MinidockerError(f"cannot connect to the minidocker daemon at {self.host}: is it "
                               "running? Start it with `minidocker daemon`")

    def _request(self, method: str, path: str, query: dict | None = None, body=None,
                 timeout: float | None = 60) -> http.client.HTTPResponse:
        url = API + path + ("?" + urlencode(query, doseq=True) if query else "")
        conn = _UnixConnection(self.path, timeout)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            conn.request(method, url, body=data, headers=headers)
            response = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError):
            raise self._no_daemon() from None
        if response.status >= 400:
            message = _message(response.read()) or response.reason
            error = NotFound if response.status == 404 else DaemonError
            raise (error(message) if error is NotFound else error(message, response.status))
        return response

    def build(self, context: str, options, out=None):
        """``POST /build``: the context as a tar, the builder's output streamed back."""
        import tarfile
        import tempfile
        from .image import reference
        query = {"t": list(options.tags), "q": int(options.quiet), "nocache": int(options.no_cache),
                 "buildargs": json.dumps(options.build_args), "labels": json.dumps(options.labels)}
        if options.dockerfile:
            query["dockerfile"] = options.dockerfile
        if options.target:
            query["target"] = options.target
        if not os.path.isdir(context):
            raise MinidockerError(f"unable to prepare context: path {context!r} not found")
        self._request("GET", "/_ping").read()   # no daemon: say so before reading the context
        with tempfile.TemporaryFile() as body:
            try:
                with tarfile.open(fileobj=body, mode="w") as tar:
                    tar.add(context, arcname=".")
            except OSError as e:
                raise MinidockerError(f"unable to prepare context: {e.strerror or e}: "
                                      f"{e.filename}") from None
            size = body.tell()
            body.seek(0)
            conn = _UnixConnection(self.path, None)
            try:
                conn.putrequest("POST", API + "/build?" + urlencode(query, doseq=True))
                conn.putheader("Content-Type", "application/x-tar")
                conn.putheader("Content-Length", str(size))
                conn.endheaders()
                while chunk := body.read(1 << 20):
                    conn.send(chunk)
                response = conn.getresponse()
            except (FileNotFoundError, ConnectionRefusedError):
                raise self._no_daemon() from None
        if response.status >= 400:
            raise DaemonError(_message(response.read()) or response.reason, response.status)
        image_id = None
        for line in response:
            if not line.strip():
                continue
            item = json.loads(line)
            if "error" in item:
                raise MinidockerError(item["error"].strip())
            if "aux" in item:
                image_id = item["aux"]["ID"]
            text = item.get("stream", "")
            # the CLI prints its own "Successfully built/tagged" lines, and the bare ID with -q
            if text and not text.startswith(("Successfully built", "Successfully tagged", "sha256:")) \
                    and out is not None:
                out.write(text)
                out.flush()
        if image_id is None:
            raise MinidockerError("the daemon's build ended without an image")
        return _Built(image_id, [reference.parse(t) for t in options.tags])

    def save(self, names: list[str], out, progress=None) -> None:
        """``GET /images/get``: the archive streamed into ``out``."""
        response = self._request("GET", "/images/get", {"names": list(names)}, timeout=None)
        while chunk := response.read(1 << 20):
            out.write(chunk)
            if progress is not None:
                progress(len(chunk))

    def load(self, source, progress=None) -> list[str]:
        """``POST /images/load``: a docker-save or OCI archive up, the loaded names back."""
        try:
            f = open(source, "rb") if isinstance(source, str) else source
        except OSError as e:
            raise MinidockerError(f"no such file: {source}" if isinstance(e, FileNotFoundError)
                                  else f"cannot read {source}: {e.strerror}") from None
        try:
            conn = _UnixConnection(self.path, None)
            try:
                conn.putrequest("POST", API + "/images/load")
                conn.putheader("Content-Type", "application/x-tar")
                conn.putheader("Transfer-Encoding", "chunked")
                conn.endheaders()
                while chunk := f.read(1 << 20):
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    if progress is not None:
                        progress(len(chunk))
                conn.send(b"0\r\n\r\n")
                response = conn.getresponse()
            except (FileNotFoundError, ConnectionRefusedError):
                raise self._no_daemon() from None
        finally:
            if f is not source:
                f.close()
        raw = response.read()
        if response.status >= 400:
            raise DaemonError(_message(raw) or response.reason, response.status)
        lines = []
        for line in raw.splitlines():
            if line.strip():
                item = json.loads(line)
                if "error" in item:
                    raise MinidockerError(item["error"].strip())
                lines.append(item.get("stream", "").rstrip("\n"))
        return lines

    def _json(self, method: str, path: str, query: dict | None = None, body=None):
        response = self._request(method, path, query, body)
        raw = response.read()
        return json.loads(raw) if raw else None

    # -- images -----------------------------------------------------------------------------
    def image_rows(self, all_: bool = True) -> list[dict]:
        rows = []
        for img in self._json("GET", "/images/json"):
            tags = img.get("RepoTags") or ["<none>:<none>"]
            for tag in tags:
                repo, _, name = tag.rpartition(":")
                rows.append({"Repository": repo, "Tag": name, "ID": img["Id"].split(":")[-1][:12],
                             "Digest": (img.get("RepoDigests") or ["<none>"])[0].split("@")[-1],
                             "CreatedSince": human_age(_iso(img["Created"])),
                             "CreatedAt": _iso(img["Created"]), "Size": human_size(img["Size"])})
        return rows

    def history(self, name: str) -> list[dict]:
        rows = []
        for h in self._json("GET", f"/images/{quote(name, safe='')}/history"):
            rows.append({"ID": h["Id"].split(":")[-1][:12] if h["Id"] != "<missing>" else "<missing>",
                         "CreatedSince": human_age(_iso(h["Created"])), "CreatedAt": _iso(h["Created"]),
                         "CreatedBy": h["CreatedBy"], "Size": human_size(h["Size"]),
                         "SizeBytes": h["Size"], "Comment": h.get("Comment", "")})
        return rows

    def inspect(self, name: str) -> dict:
        return self._json("GET", f"/images/{quote(name, safe='')}/json")

    def tag(self, source: str, target: str) -> None:
        repo, _, tag = target.rpartition(":") if ":" in target.split("/")[-1] else (target, "", "")
        self._json("POST", f"/images/{quote(source, safe='')}/tag",
                   {"repo": repo or target, "tag": tag or "latest"})

    def rmi(self, name: str, force: bool = False) -> list[str]:
        out = []
        for item in self._json("DELETE", f"/images/{quote(name, safe='')}", {"force": int(force)}):
            out += [f"Untagged: {v}" for k, v in item.items() if k == "Untagged"]
            out += [f"Deleted: {v}" for k, v in item.items() if k == "Deleted"]
        return out

    # -- containers -------------------------------------------------------------------------
    def ps_rows(self, all_: bool = False) -> list[dict]:
        rows = []
        for c in self._json("GET", "/containers/json", {"all": int(all_)}):
            command = c.get("Command", "")
            rows.append({"ID": c["Id"][:12], "Image": c["Image"],
                         "Command": json.dumps(command)[:22] + ('…"' if len(command) > 20 else ""),
                         "CreatedAt": _iso(c["Created"]), "RunningFor": human_age(_iso(c["Created"])),
                         "Status": c["Status"], "State": c["State"],
                         "Ports": ", ".join(f"{p['IP']}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}"
                                            for p in c.get("Ports") or [] if p.get("PublicPort")),
                         "Names": (c.get("Names") or ["/"])[0].lstrip("/")})
        return rows

    def inspect_container(self, ref: str) -> dict:
        return self._json("GET", f"/containers/{quote(ref, safe='')}/json")

    def create(self, image: str, cmd: list[str] | None = None, *, name: str = "",
               entrypoint: list[str] | None = None, env=(), env_files=(), workdir: str = "",
               user: str | None = None, hostname: str = "", memory: str | None = None,
               cpus: str | None = None, pids_limit: str | None = None, volumes=(),
               read_only: bool = False, tty: bool = False, stdin: bool = False,
               auto_remove: bool = False, init: bool = False, network: str | None = None,
               publish=(), publish_all: bool = False, expose=()):
        # the parsers only when there is something to parse: they cost a plain `run` ~10 ms
        if env_files or memory is not None or cpus is not None or pids_limit is not None:
            from .runtime import spec as specs
        if expose or publish:
            from .runtime import netspec
        extra_env = [line for f in env_files for line in specs.parse_env_file(f)] + list(env)
        host = {"AutoRemove": auto_remove, "ReadonlyRootfs": read_only, "Init": init,
                "Binds": list(volumes) or None, "NetworkMode": network or "default",
                "PublishAllPorts": publish_all, "PortBindings": {}}
        exposed = {}
        for item in expose:
            port, proto = netspec.parse_exposed(item)
            exposed[f"{port}/{proto}"] = {}
        for item in publish:
            b = netspec.parse_publish(item)
            exposed[b.key] = {}
            host["PortBindings"].setdefault(b.key, []).append(
                {"HostIp": b.host_ip, "HostPort": str(b.host_port) if b.host_port else ""})
        if memory is not None:
            host["Memory"] = specs.parse_memory(memory)
        if cpus is not None:
            host["NanoCpus"] = specs.parse_cpus(cpus)
        if pids_limit is not None:
            host["PidsLimit"] = specs.parse_pids_limit(pids_limit) or -1
        body = {"Image": image, "Cmd": cmd, "Entrypoint": entrypoint, "Env": extra_env,
                "WorkingDir": workdir, "User": user or "", "Hostname": hostname, "Tty": tty,
                "OpenStdin": stdin, "ExposedPorts": exposed or None, "HostConfig": host}
        try:
            created = self._json("POST", "/containers/create", {"name": name} if name else None, body)
        except NotFound as e:
            if "network" in str(e):
                raise _RunError(str(e)) from None
            raise _RunError(f"Unable to find image '{image}' locally ({e})") from None
        return _Created(created["Id"])

    def start(self, ref: str, attach=None) -> int:
        self._request("POST", f"/containers/{quote(ref, safe='')}/start").read()
        if attach is None:
            return 0
        self._copy_logs(ref, attach, follow=True)
        return self.wait(ref)

    def run(self, image: str, cmd: list[str] | None = None, *, detach_: bool = False,
            attach=None, **options):
        if not detach_ and (options.get("stdin") or options.get("tty")):
            with _run_exit_codes():
                created = self.create(image, cmd, **options)  # --rm: the daemon removes it after us
            try:
                with _run_exit_codes():
                    return created, self._run_attached(created.id, attach, tty=bool(options.get("tty")),
                                                       stdin=bool(options.get("stdin")),
                                                       removed=bool(options.get("auto_remove")))
            except DaemonError:
                if options.get("auto_remove"):
                    self.rm(created.id, force=True)  # it did not start: nothing else removes it
                raise
        # An attached --rm is removed from here once it has ended and its output is read,
        # as Docker's CLI did before the daemon learned AutoRemove: no race with the logs.
        remove = options.get("auto_remove") and not detach_
        if remove:
            options = dict(options, auto_remove=False)
        with _run_exit_codes():
            created = self.create(image, cmd, **options)
        if detach_:
            with _run_exit_codes():
                self.start(created.id)
            return created, 0
        try:
            with _run_exit_codes():
                self._request("POST", f"/containers/{created.id}/start").read()
            self._copy_logs(created.id, attach, follow=True)
            return created, self.wait(created.id)
        finally:
            if remove:
                self.rm(created.id, force=True)

    def _run_attached(self, cid: str, attach, *, tty: bool, stdin: bool, removed: bool) -> int:
        return self._attached(cid, attach, tty=tty, stdin=stdin, start=True,
                              condition="removed" if removed else "next-exit")

    def attach(self, ref: str, attach, stdin: bool = True) -> int:
        """``attach``: a running container's output from now on (and our stdin, if it was
        started with -i) until it ends, its exit code; 0 when the user detaches."""
        info = self.inspect_container(ref)
        if not info["State"]["Running"]:
            raise MinidockerError("You cannot attach to a stopped container, start it first")
        return self._attached(info["Id"], attach, tty=bool(info["Config"]["Tty"]),
                              stdin=stdin and bool(info["Config"]["OpenStdin"]), start=False,
                              condition="next-exit")

    def _attached(self, cid: str, attach, *, tty: bool, stdin: bool, start: bool, condition: str) -> int:
        """Docker's order: attach, wait, (start,) resize; then the conversation until the
        container ends (its exit code) or the user detaches (0, and it runs on)."""
        conn, response = self._hijack(f"/containers/{cid}/attach",
                                      {"stream": 1, "stdin": int(stdin), "stdout": 1, "stderr": 1})
        waiting = None
        try:
            # Asked before the start, so the answer cannot miss a quick end (nor a --rm's removal).
            waiting, answer = self._wait_request(cid, condition)
            if start:
                self._request("POST", f"/containers/{cid}/start").read()
            if not self._converse(conn, response, attach, tty=tty, stdin=stdin,
                                  resize=f"/containers/{cid}"):
                return 0
            return json.loads(answer.read())["StatusCode"]
        finally:
            conn.close()
            if waiting is not None:
                waiting.close()

    def _wait_request(self, cid: str, condition: str):
        """``POST /containers/{id}/wait`` up to its headers (by then the daemon has noted
        where the container stands); (connection, response) to read the code from later."""
        waiting = _UnixConnection(self.path, None)
        waiting.request("POST", f"{API}/containers/{cid}/wait?condition={condition}")
        answer = waiting.getresponse()
        if answer.status >= 400:
            waiting.close()
            raise DaemonError(_message(answer.read()) or answer.reason, answer.status)
        return waiting, answer

    def _hijack(self, path: str, query: dict | None = None, body: dict | None = None):
        """A request whose connection becomes a raw stream both ways; (connection, response)."""
        url = API + path + ("?" + urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Connection": "Upgrade", "Upgrade": "tcp"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn = _UnixConnection(self.path, None)
        try:
            conn.request("POST", url, body=data, headers=headers)
            response = conn.getresponse()
        except (FileNotFoundError, ConnectionRefusedError):
            raise self._no_daemon() from None
        if response.status not in (101, 200):
            message = _message(response.read()) or response.reason
            conn.close()
            raise NotFound(message) if response.status == 404 else DaemonError(message, response.status)
        return conn, response

    def _converse(self, conn, response, attach, *, tty: bool, stdin: bool, resize: str) -> bool:
        """Over a hijacked connection (see ``runtime.terminal.converse``): the output raw
        with a terminal, else in frames; our window's size to ``{resize}/resize``."""
        from .runtime import terminal

        def resized(rows: int, columns: int) -> None:
            try:
                self._request("POST", f"{resize}/resize", {"h": rows, "w": columns}).read()
            except (MinidockerError, OSError, http.client.HTTPException):
                pass  # it has ended meanwhile
        output = terminal.raw(response.fp.read1) if tty else _frames(response.fp)
        return terminal.converse(conn.sock, output, attach, typing=stdin, detach_keys=tty,
                                 resize=resized if tty else None)

    def _copy_logs(self, ref: str, attach, follow: bool) -> None:
        for stream, data in self._log_frames(ref, follow, None):
            os.write(attach.stdout if stream == "stdout" else attach.stderr, data)

    def _log_frames(self, ref: str, follow: bool, tail: int | None):
        try:
            yield from self._frames(ref, follow, tail)
        except (http.client.HTTPException, ConnectionError) as e:
            raise MinidockerError(f"the daemon ended the log stream of {ref}: {e or type(e).__name__}") \
                from None

    def _frames(self, ref: str, follow: bool, tail: int | None):
        query = {"stdout": 1, "stderr": 1, "follow": int(follow), "tail": "all" if tail is None else tail}
        response = self._request("GET", f"/containers/{quote(ref, safe='')}/logs", query, timeout=None)
        if response.getheader("Content-Type", "") == "application/vnd.docker.raw-stream":
            while chunk := response.read1(65536):
                yield "stdout", chunk
            return
        yield from _frames(response)

    def logs(self, ref: str, follow: bool = False, tail: int | None = None):
        for stream, data in self._log_frames(ref, follow, tail):
            yield stream, data.decode(errors="replace")

    def exec_(self, ref: str, cmd: list[str], *, tty: bool = False, stdin: bool = False,
              user: str | None = None, workdir: str = "", env=(), detach_: bool = False,
              attach=None) -> int:
        """exec create, then start: detached, or over the hijacked connection (stdin up,
        output down, framed unless -t); the exit code from exec inspect."""
        created = self._json("POST", f"/containers/{quote(ref, safe='')}/exec", body={
            "Cmd": list(cmd), "AttachStdin": stdin, "AttachStdout": True, "AttachStderr": True,
            "Tty": tty, "User": user or "", "WorkingDir": workdir, "Env": list(env)})
        eid = created["Id"]
        if detach_:
            self._request("POST", f"/exec/{eid}/start", body={"Detach": True}).read()
            return 0
        conn, response = self._hijack(f"/exec/{eid}/start", body={"Detach": False, "Tty": tty})
        try:
            if not self._converse(conn, response, attach, tty=tty, stdin=stdin, resize=f"/exec/{eid}"):
                return 0
        finally:
            conn.close()
        deadline = time.monotonic() + 10
        while True:
            info = self._json("GET", f"/exec/{eid}/json")
            if not info["Running"] or time.monotonic() > deadline:
                return info["ExitCode"] if info["ExitCode"] is not None else 126
            time.sleep(0.02)

    def stop(self, ref: str, timeout: float = 10):
        self._request("POST", f"/containers/{quote(ref, safe='')}/stop", {"t": int(timeout)},
                      timeout=timeout + 60).read()
        return True

    def kill(self, ref: str, signal="KILL"):
        self._request("POST", f"/containers/{quote(ref, safe='')}/kill", {"signal": signal}).read()
        return True

    def rm(self, ref: str, force: bool = False) -> str:
        self._request("DELETE", f"/containers/{quote(ref, safe='')}", {"force": int(force)}).read()
        return ref

    def wait(self, ref: str, timeout: float | None = None) -> int:
        result = self._json("POST", f"/containers/{quote(ref, safe='')}/wait")
        return result["StatusCode"]

    def top(self, ref: str) -> list[dict]:
        top = self._json("GET", f"/containers/{quote(ref, safe='')}/top")
        return [dict(zip(top["Titles"], row)) for row in top["Processes"]]

    def port(self, ref: str) -> list[str]:
        """``port``: "80/tcp -> 0.0.0.0:8080" for each published port, from inspect."""
        ports = (self.inspect_container(ref).get("NetworkSettings") or {}).get("Ports") or {}
        return [f"{key} -> {b['HostIp']}:{b['HostPort']}" for key, bindings in ports.items()
                for b in bindings or []]

    # -- networks ---------------------------------------------------------------------------
    def network_create(self, name: str, subnet: str | None = None, gateway: str | None = None,
                       internal: bool = False, labels: dict | None = None, driver: str = "bridge"):
        config = [{"Subnet": subnet or "", "Gateway": gateway or ""}] if subnet or gateway else []
        body = {"Name": name, "Driver": driver, "Internal": internal, "Labels": labels or {},
                "IPAM": {"Driver": "default", "Config": config}, "CheckDuplicate": True}
        try:
            created = self._json("POST", "/networks/create", body=body)
        except DaemonError as e:
            if e.status == 400:  # a bad name, subnet or gateway: the local engine exits 125 too
                raise _RunError(str(e)) from None
            raise
        return _Created(created["Id"])

    def network_rows(self) -> list[dict]:
        return [{"ID": n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
                 "Subnet": ((n.get("IPAM") or {}).get("Config") or [{}])[0].get("Subnet", "")}
                for n in self._json("GET", "/networks")]

    def network_inspect(self, ref: str) -> dict:
        return self._json("GET", f"/networks/{quote(ref, safe='')}")

    def network_rm(self, ref: str) -> str:
        self._request("DELETE", f"/networks/{quote(ref, safe='')}").read()
        return ref

    def network_prune(self) -> list[str]:
        return self._json("POST", "/networks/prune").get("NetworksDeleted") or []

    def network_connect(self, ref: str, container: str) -> None:
        self._request("POST", f"/networks/{quote(ref, safe='')}/connect", body={"Container": container}).read()

    def network_disconnect(self, ref: str, container: str) -> None:
        self._request("POST", f"/networks/{quote(ref, safe='')}/disconnect",
                      body={"Container": container, "Force": False}).read()

    def __getattr__(self, name: str):
        raise MinidockerError(f"`{name}` through the daemon is not supported yet; run minidocker "
                              "without -H (or MINIDOCKER_HOST) to use the local engine")


def _frames(stream):
    """The Engine API's multiplexed stream: 8-byte headers (stream, 0, 0, 0, size) + payload."""
    while True:
        header = stream.read(8)
        if len(header) < 8:
            return
        kind, size = header[0], struct.unpack(">I", header[4:])[0]
        yield ("stderr" if kind == 2 else "stdout"), stream.read(size)


class _RunError(MinidockerError):
    exit_code = 125


class _Built:
    """What ``build`` gives the CLI: the image's ID and the tags it got."""

    def __init__(self, image_id: str, tags: list):
        self.id, self.tags = image_id, tags
        self.short_id = image_id.split(":")[-1][:12]


def _message(raw: bytes) -> str:
    try:
        return json.loads(raw)["message"]
    except (ValueError, KeyError, TypeError):
        return raw.decode(errors="replace").strip()


class _Created:
    def __init__(self, cid: str):
        self.id = cid


def _iso(epoch) -> str:
    if isinstance(epoch, str):
        return epoch
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))

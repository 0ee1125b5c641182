"""The Docker Engine API (1.47) over the in-process engine, served by aiohttp.

This first slice covers what `docker version|info|images|history|inspect|
rmi|tag|ps|run -d|logs|stop|kill|rm|wait|top|port`, `docker network …` and a
non-interactive `docker run` need; each route maps a request to one ``Engine``
call, run in a worker thread (the engine blocks). The daemon itself never forks
while it has threads: containers are started by its single-threaded fork server
(``forkserver.py``), or else by a `minidocker start` child process; running ones
are rewired by `network connect|disconnect` in a `minidocker` child process.

Attaching to a container with a terminal (`docker run -it`, `docker attach`) goes
to its supervisor's terminal port (``runtime.terminal.TerminalPort``): raw bytes
both ways, as the container shows them; ``resize`` sets that terminal's size.
Without a terminal, attach streams the container's JSON log (framed) and passes
stdin to its stdin port.

Errors are Docker's: ``{"message": …}`` with 400 (bad parameter), 404 (no
such object), 409 (conflict) or 500; the network routes answer some refusals
403, as Docker's libnetwork does (see ``_NETWORK_REFUSALS``).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import struct
import subprocess
import sys
import time

from aiohttp import web

from .. import __version__
from ..errors import Conflict, InvalidReference, MinidockerError, NotFound
from ..runtime.netspec import BUILTIN
from ..runtime.spec import InvalidSpec
from .containers import status_text

API_VERSION = "1.47"
MIN_API_VERSION = "1.24"
MAX_BODY = 8 << 20


def _bool(value: str | None) -> bool:
    """Docker's query booleans: only "", "0", "no", "false", "none" are false."""
    return value is not None and value.strip().lower() not in ("", "0", "no", "false", "none")


def _error(status: int, message: str) -> web.Response:
    # Exactly "application/json": the docker CLI shows the raw body when a charset follows.
    return web.Response(body=json.dumps({"message": message}).encode(), status=status,
                        content_type="application/json")


class _Refused(MinidockerError):
    """An engine error answered with the status Docker gives it, not its type's default."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@web.middleware
async def _versions_and_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except _Refused as e:
        return _error(e.status, str(e))
    except NotFound as e:
        return _error(404, str(e))
    except Conflict as e:
        return _error(409, str(e))
    except (InvalidReference, InvalidSpec, ValueError, KeyError, TypeError) as e:
        return _error(400, str(e) or type(e).__name__)
    except MinidockerError as e:
        return _error(400 if e.exit_code == 125 else 500, str(e))
    except Exception as e:
        if request.writer.output_size:
            raise   # a streamed answer has begun: aiohttp logs it and closes the connection
        # A fault of ours: the client gets one line naming it, as Docker's 500s do, not
        # aiohttp's page; the daemon's log gets the traceback.
        import traceback
        print(f"minidocker daemon: {request.method} {request.path} failed:", file=sys.stderr)
        traceback.print_exc()
        return _error(500, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)


class Api:
    def __init__(self, engine, cli: list[str] | None = None, forks=None):
        self.engine = engine
        self.forks = forks   # the fork server (forkserver.ForkServer) that starts containers
        # --rm through the API: the daemon removes the container once it exited and every
        # attached client has read its output (the supervisor would delete the log too soon).
        self.auto_remove: set[str] = set()
        self.attached: dict[str, int] = {}
        self.final_codes: dict[str, int] = {}
        self.execs: dict[str, dict] = {}  # exec ID -> its config and, once run, exit code
        # How the daemon runs a verb in a child process (container starts).
        self.cli = cli or [sys.executable, "-m", "minidocker"]

    async def call(self, fn, *args, **kwargs):
        return await asyncio.to_thread(fn, *args, **kwargs)

    def find(self, ref: str):
        """A container's record, looked up on the event loop itself: by ID or name that
        reads a link and two small files and takes no lock, so it never waits on another
        process, and the hop to a thread and back would cost more (~0.25 ms a request)."""
        return self.engine.containers.find(ref)

    def child_env(self) -> dict[str, str]:
        """The environment of a `minidocker` child of the daemon: this engine's state root,
        and no MINIDOCKER_HOST, which would send the child's work back to a daemon."""
        env = {k: v for k, v in os.environ.items() if k != "MINIDOCKER_HOST"}
        env["MINIDOCKER_ROOT"] = str(self.engine.store.root)
        return env

    # -- system --------------------------------------------------------------------------
    async def ping(self, request):
        headers = {"Api-Version": API_VERSION, "OSType": "linux", "Builder-Version": "1",
                   "Docker-Experimental": "false", "Cache-Control": "no-cache, no-store, must-revalidate"}
        return web.Response(text="OK" if request.method == "GET" else "", headers=headers)

    async def version(self, request):
        uname = os.uname()
        from ..image.oci import host_platform
        os_, arch = host_platform()
        return web.json_response({
            "Platform": {"Name": "minidocker"}, "Version": __version__, "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION, "Os": os_, "Arch": arch, "KernelVersion": uname.release,
            "GoVersion": "python" + platform.python_version(), "GitCommit": "", "BuildTime": "",
            "Components": [{"Name": "Engine", "Version": __version__,
                            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                        "Os": os_, "Arch": arch, "KernelVersion": uname.release}}],
        })

    async def info(self, request):
        def gather():
            records = self.engine.containers.all()
            states = [r.observed_status(self.engine.kernel) for r in records]
            return {
                "ID": "minidocker", "Containers": len(records),
                "ContainersRunning": states.count("running"), "ContainersPaused": 0,
                "ContainersStopped": len(records) - states.count("running"),
                "Images": len(self.engine.store.images()), "Driver": "overlay",
                "DockerRootDir": str(self.engine.store.root), "OperatingSystem": "minidocker",
                "OSType": "linux", "Architecture": platform.machine(), "KernelVersion": os.uname().release,
                "NCPU": os.cpu_count(), "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
                "Name": os.uname().nodename, "ServerVersion": __version__, "LoggingDriver": "json-file",
                "CgroupDriver": "cgroupfs", "SystemTime": _now(),
                "Plugins": {"Volume": [], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
                "Warnings": [],
            }
        return web.json_response(await self.call(gather))

    # -- images --------------------------------------------------------------------------
    async def images(self, request):
        def rows():
            return [{
                "Id": img.id, "ParentId": "", "RepoTags": [r.familiar() for r in img.tags],
                "RepoDigests": [f"{r.familiar_name}@{img.manifest_descriptor.digest}" for r in img.tags],
                "Created": _unix(img.config.created), "Size": img.size, "SharedSize": -1,
                "VirtualSize": img.size, "Labels": img.config.container_config.get("Labels"),
                "Containers": -1} for img in self.engine.store.images()]
        return web.json_response(await self.call(rows))

    async def image_inspect(self, request):
        return web.json_response(await self.call(self.engine.inspect, request.match_info["name"]))

    async def image_history(self, request):
        def rows():
            return [{"Id": r["ID"], "Created": _unix(r["CreatedAt"]), "CreatedBy": r["CreatedBy"],
                     "Tags": None, "Size": r["SizeBytes"], "Comment": r["Comment"]}
                    for r in self.engine.history(request.match_info["name"])]
        return web.json_response(await self.call(rows))

    async def image_delete(self, request):
        lines = await self.call(self.engine.rmi, request.match_info["name"],
                                _bool(request.query.get("force")))
        return web.json_response([{k: v} for k, _, v in (line.partition(": ") for line in lines)])

    async def image_tag(self, request):
        repo, tag = request.query.get("repo", ""), request.query.get("tag", "")
        if not repo:
            return _error(400, "repository name must have at least one component")
        await self.call(self.engine.tag, request.match_info["name"], f"{repo}:{tag}" if tag else repo)
        return web.Response(status=201)

    async def images_get(self, request):
        """`docker save`: the archive of the named images, streamed."""
        import tempfile
        names = request.query.getall("names", [])
        if not names:
            return _error(400, "no image names given")
        with tempfile.TemporaryFile(dir=self.engine.store.tmp_dir) as f:
            await self.call(self.engine.save, names, f)  # resolves every name before any byte goes out
            f.seek(0)
            response = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
            await response.prepare(request)
            while chunk := await asyncio.to_thread(f.read, 1 << 20):
                await response.write(chunk)
        await response.write_eof()
        return response

    async def images_load(self, request):
        """`docker load`: a docker-save or OCI archive in, JSON progress lines out."""
        import tempfile
        with tempfile.TemporaryFile(dir=self.engine.store.tmp_dir) as f:
            async for chunk in request.content.iter_chunked(1 << 20):
                f.write(chunk)
            f.seek(0)
            lines = await self.call(self.engine.load, f)
        body = b"".join(json.dumps({"stream": line + "\n"}).encode() + b"\r\n" for line in lines)
        return web.Response(body=body, content_type="application/json")

    async def image_create(self, request):
        return _error(404, "pulling images is not supported yet (no registry client); "
                           "use `minidocker load` or `minidocker bootstrap busybox`")

    async def build(self, request):
        """The legacy builder protocol: a tar context in, JSON lines out.

        The build runs as a `minidocker build` child (RUN steps fork; the daemon
        must not fork while it has threads); its output lines become
        ``{"stream": …}`` objects, its failure ``{"errorDetail": …, "error": …}``.
        """
        import tempfile
        q = request.query
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        with tempfile.TemporaryDirectory(dir=self.engine.store.tmp_dir, prefix="build-ctx-") as tmp:
            context = os.path.join(tmp, "context")
            os.mkdir(context)
            await self._receive_context(request, context)
            args = [*self.cli, "build", context]
            for tag in q.getall("t", []):
                args += ["-t", tag]
            if q.get("dockerfile"):
                args += ["-f", q["dockerfile"]]
            if q.get("target"):
                args += ["--target", q["target"]]
            if _bool(q.get("nocache")):
                args.append("--no-cache")
            for key, value in json.loads(q.get("buildargs") or "{}").items():
                args += ["--build-arg", f"{key}={value}" if value is not None else key]
            for key, value in json.loads(q.get("labels") or "{}").items():
                args += ["--label", f"{key}={value}"]
            iid = os.path.join(tmp, "iid")
            args += ["--iidfile", iid]
            quiet = _bool(q.get("q"))
            await response.prepare(request)
            proc = await asyncio.create_subprocess_exec(
                *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                env=self.child_env())
            last = ""
            async for line in proc.stderr:
                text = line.decode(errors="replace")
                last = text.strip() or last
                if not quiet and not text.startswith("minidocker: "):
                    await response.write(json.dumps({"stream": text}).encode() + b"\r\n")
            stdout = (await proc.stdout.read()).decode(errors="replace")
            code = await proc.wait()
            if code != 0:
                message = last.removeprefix("minidocker: ")
                await response.write(json.dumps({"errorDetail": {"code": code, "message": message},
                                                 "error": message}).encode() + b"\r\n")
            else:
                image_id = open(iid).read().strip()
                await response.write(json.dumps({"aux": {"ID": image_id}}).encode() + b"\r\n")
                if quiet:
                    await response.write(json.dumps({"stream": image_id + "\n"}).encode() + b"\r\n")
                else:
                    lines = [f"Successfully built {image_id.split(':')[1][:12]}\n"] + \
                        [f"{line}\n" for line in stdout.splitlines() if line.startswith("Successfully tagged")]
                    for text in lines:
                        await response.write(json.dumps({"stream": text}).encode() + b"\r\n")
        await response.write_eof()
        return response

    async def _receive_context(self, request, directory: str) -> None:
        """Unpack the uploaded context tar safely (it is as hostile as any layer)."""
        import tempfile
        from ..image.layer import apply_layer
        with tempfile.TemporaryFile(dir=self.engine.store.tmp_dir) as f:
            size = 0
            async for chunk in request.content.iter_chunked(1 << 20):
                size += len(chunk)
                if size > 8 << 30:
                    raise ValueError("build context larger than 8 GiB")
                f.write(chunk)
            f.seek(0)
            if size:
                from ..image.unpack import open_uncompressed
                await self.call(apply_layer, self.engine.kernel, open_uncompressed(f, "build context"),
                                directory, whiteouts="delete")

    # -- containers ------------------------------------------------------------------------
    async def create(self, request):
        if self.forks is not None:
            self.forks.prime()   # a start usually follows at once (see ForkServer.prime)
        body = await _json_body(request)
        host = body.get("HostConfig") or {}
        name = request.query.get("name", "")
        network = host.get("NetworkMode") or "default"
        publish = []
        for key, bindings in (host.get("PortBindings") or {}).items():
            for b in bindings or [{}]:
                ip, port = (b or {}).get("HostIp") or "", (b or {}).get("HostPort") or ""
                publish.append(f"{ip + ':' if ip else ''}{port}:{key}" if (ip or port) else key)
        memory = host.get("Memory") or None
        nano = host.get("NanoCpus") or None
        if not nano and host.get("CpuQuota") and host.get("CpuPeriod"):
            nano = int(host["CpuQuota"] * 1e9 / host["CpuPeriod"])
        pids = host.get("PidsLimit")
        options = dict(
            name=name, entrypoint=_list(body.get("Entrypoint")), env=_list(body.get("Env")) or [],
            workdir=body.get("WorkingDir") or "", user=body.get("User") or None,
            hostname=body.get("Hostname") or "",
            memory=str(memory) if memory else None,
            cpus=str(nano / 1e9) if nano else None,
            pids_limit=str(pids) if pids not in (None, 0) else None,
            volumes=_list(host.get("Binds")) or [], read_only=bool(host.get("ReadonlyRootfs")),
            tty=bool(body.get("Tty")), stdin=bool(body.get("OpenStdin")),
            auto_remove=False, init=bool(host.get("Init")),
            network=None if network == "default" else network, publish=publish,
            publish_all=bool(host.get("PublishAllPorts")), expose=list(body.get("ExposedPorts") or {}))
        image = body.get("Image")
        if not isinstance(image, str) or not image:
            return _error(400, "config.Image is required")
        try:
            record = await self.call(self.engine.create, image, _list(body.get("Cmd")) or None, **options)
        except MinidockerError as e:
            if "Unable to find image" in str(e):
                return _error(404, f"No such image: {image}")
            if str(e).startswith("network ") and str(e).endswith(" not found"):
                return _error(404, str(e))
            raise
        if host.get("AutoRemove"):
            self.auto_remove.add(record.id)
        return web.json_response({"Id": record.id, "Warnings": []}, status=201)

    async def _remove_when_done(self, cid: str) -> None:
        code = await self.call(self.engine.wait, cid)
        deadline = time.monotonic() + 10
        while self.attached.get(cid) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        self.final_codes[cid] = code if code is not None else -1
        self.auto_remove.discard(cid)
        try:
            await self.call(self.engine.rm, cid, True)
        except NotFound:
            pass

    async def containers(self, request):
        def rows():
            out = []
            for r in self.engine.containers.all():
                status = r.observed_status(self.engine.kernel)
                if not _bool(request.query.get("all")) and status != "running":
                    continue
                out.append({
                    "Id": r.id, "Names": ["/" + r.spec.name], "Image": r.spec.image,
                    "ImageID": r.spec.image_id, "Command": " ".join(r.spec.argv),
                    "Created": _unix(r.created), "Labels": {},
                    "Ports": [{"IP": ip, "PrivatePort": cp, "PublicPort": hp, "Type": proto}
                              for ip, hp, cp, proto in r.state.Ports] if status == "running" else [],
                    "State": status, "Status": status_text(r, status),
                    "HostConfig": {"NetworkMode": r.spec.network}, "Mounts": [],
                    "NetworkSettings": {"Networks": self.engine._network_settings(r, status)["Networks"]},
                })
            limit = int(request.query.get("limit", "-1") or -1)
            return out[:limit] if limit > 0 else out
        return web.json_response(await self.call(rows))

    async def inspect(self, request):
        return web.json_response(await self.call(self.engine.inspect_container, request.match_info["id"]))

    async def start(self, request):
        ref = request.match_info["id"]
        record = self.find(ref)
        if record.observed_status(self.engine.kernel) == "running":
            return web.Response(status=304)
        started = await self.forks.start(record.id, record.spec.network not in ("none", "host")) \
            if self.forks is not None else None
        code, message = started or await self._start_in_child(record.id)
        if code != 0:
            return _error(500 if code == 1 else 400, message or "start failed")
        if record.id in self.auto_remove:
            asyncio.get_running_loop().create_task(self._remove_when_done(record.id))
        return web.Response(status=204)

    async def _start_in_child(self, cid: str) -> tuple[int, str]:
        """Without a fork server: a `minidocker start` child; its exit code and message."""
        proc = await asyncio.create_subprocess_exec(
            *self.cli, "start", cid, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=self.child_env())
        _, err = await proc.communicate()
        return proc.returncode, err.decode(errors="replace").strip().removeprefix("minidocker: ")

    async def stop(self, request):
        record = self.find(request.match_info["id"])
        if record.observed_status(self.engine.kernel) != "running":
            return web.Response(status=304)
        timeout = float(request.query.get("t") or request.query.get("timeout") or 10)
        await self.call(self.engine.stop, record.id, timeout)
        return web.Response(status=204)

    async def restart(self, request):
        record = self.find(request.match_info["id"])
        timeout = float(request.query.get("t") or request.query.get("timeout") or 10)
        await self.call(self.engine.stop, record.id, timeout)
        response = await self.start(request)
        return web.Response(status=204) if response.status in (204, 304) else response

    async def exec_create(self, request):
        record = self.find(request.match_info["id"])
        if record.observed_status(self.engine.kernel) != "running":
            return _error(409, f"container {record.id[:12]} is not running")
        body = await _json_body(request)
        cmd = _list(body.get("Cmd"))
        if not cmd:
            return _error(400, "no exec command specified")
        eid = os.urandom(32).hex()
        self.execs[eid] = {"container": record.id, "cmd": cmd, "tty": bool(body.get("Tty")),
                           "stdin": bool(body.get("AttachStdin")), "user": body.get("User") or "",
                           "workdir": body.get("WorkingDir") or "", "env": _list(body.get("Env")) or [],
                           "running": False, "exit_code": None, "pid": 0}
        return web.json_response({"Id": eid}, status=201)

    async def exec_inspect(self, request):
        e = self.execs.get(request.match_info["id"])
        if e is None:
            return _error(404, f"No such exec instance: {request.match_info['id']}")
        return web.json_response({"ID": request.match_info["id"], "Running": e["running"],
                                  "ExitCode": e["exit_code"], "ContainerID": e["container"],
                                  "Pid": e["pid"], "ProcessConfig": {"entrypoint": e["cmd"][0],
                                                                     "arguments": e["cmd"][1:],
                                                                     "tty": e["tty"]}})

    async def exec_start(self, request):
        """Run the exec as a `minidocker exec` child; its output goes over the hijacked
        connection (framed unless Tty), its exit code into the exec's record."""
        eid = request.match_info["id"]
        e = self.execs.get(eid)
        if e is None:
            return _error(404, f"No such exec instance: {eid}")
        body = await _json_body(request)
        args = [*self.cli, "exec"]
        if e["user"]:
            args += ["-u", e["user"]]
        if e["workdir"]:
            args += ["-w", e["workdir"]]
        for item in e["env"]:
            args += ["-e", item]
        if e["stdin"]:
            args.append("-i")
        if e["tty"]:
            args.append("-t")
        args += [e["container"], *e["cmd"]]
        env = self.child_env()
        e["running"] = True
        if body.get("Detach"):
            proc = await asyncio.create_subprocess_exec(*args, stdin=subprocess.DEVNULL,
                                                        stdout=subprocess.DEVNULL,
                                                        stderr=subprocess.DEVNULL, env=env)
            e["pid"] = proc.pid

            async def reap():
                e["exit_code"] = await proc.wait()
                e["running"] = False
            asyncio.get_running_loop().create_task(reap())
            return web.Response(status=200)
        transport = request.transport
        response = web.StreamResponse(status=101, headers={
            "Content-Type": "application/vnd.docker.raw-stream" if e["tty"]
            else "application/vnd.docker.multiplexed-stream", "Connection": "Upgrade", "Upgrade": "tcp"})
        await response.prepare(request)
        hijacked = _Hijacked()
        if transport is not None:
            transport.set_protocol(hijacked)
        if e["tty"]:
            return await self._exec_with_terminal(e, args, env, transport, hijacked, response)
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=subprocess.PIPE if e["stdin"] else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        e["pid"] = proc.pid
        if e["stdin"]:
            hijacked.writer = proc.stdin
            proc.stdin.write(b"".join(hijacked.buffer))
            hijacked.buffer.clear()
            if hijacked.eof:
                proc.stdin.write_eof()

        async def pump(stream, name):
            while chunk := await stream.read(65536):
                if transport is not None and not transport.is_closing():
                    transport.write(_frame(name, chunk, e["tty"]))
        try:
            await asyncio.gather(pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr"))
            e["exit_code"] = await proc.wait()
        finally:
            e["running"] = False
            if transport is not None:
                transport.close()
        return response

    async def _exec_with_terminal(self, e, args, env, transport, hijacked, response):
        """`exec -t`: the `minidocker exec -t` child gets a terminal of ours; what it shows
        goes raw to the client, what the client types goes to the terminal."""
        master, slave = os.openpty()
        try:
            proc = await asyncio.create_subprocess_exec(*args, stdin=slave, stdout=slave,
                                                        stderr=slave, env=env, start_new_session=True)
        finally:
            os.close(slave)
        e["pid"] = proc.pid
        e["master"] = master  # for resizes
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                     os.fdopen(master, "rb", buffering=0, closefd=False))

        class _ToTerminal:
            def write(self, data):
                os.write(master, data)

            def write_eof(self):
                os.write(master, b"\x04")  # Ctrl-D: end of input on a terminal

        if e["stdin"]:
            hijacked.writer = _ToTerminal()
            if hijacked.buffer:
                os.write(master, b"".join(hijacked.buffer))
                hijacked.buffer.clear()
        try:
            while True:
                try:
                    chunk = await reader.read(65536)
                except OSError:  # EIO: the last process on the terminal has gone
                    break
                if not chunk:
                    break
                if transport is not None and not transport.is_closing():
                    transport.write(chunk)
            e["exit_code"] = await proc.wait()
        finally:
            e["running"] = False
            e["master"] = None
            os.close(master)
            if transport is not None:
                transport.close()
        return response

    async def exec_resize(self, request):
        """`docker exec -it`: the size goes on the terminal the `minidocker exec -t` child
        runs on, and SIGWINCH tells the child to pass it on to the container's."""
        eid = request.match_info["id"]
        e = self.execs.get(eid)
        if e is None:
            return _error(404, f"No such exec instance: {eid}")
        height, width = _size(request.query)
        if not e["tty"]:
            return web.Response(status=200)
        if e.get("master") is None:
            return _error(409, f"exec {eid} is not running")
        from ..runtime.terminal import set_window_size
        set_window_size(e["master"], height, width)
        try:
            os.kill(e["pid"], signal.SIGWINCH)  # a session of its own, without a controlling terminal
        except ProcessLookupError:
            pass
        return web.Response(status=200)

    async def kill(self, request):
        await self.call(self.engine.kill, request.match_info["id"], request.query.get("signal") or "KILL")
        return web.Response(status=204)

    async def wait(self, request):
        """Docker's conditions: not-running (now, if it is not running), next-exit (the end
        of the next run, even if it has not started yet), removed (gone, e.g. after --rm)."""
        ref = request.match_info["id"]
        condition = request.query.get("condition", "not-running")
        if condition not in ("not-running", "next-exit", "removed"):
            return _error(400, f"invalid condition: {condition!r}")
        record = self.find(ref)
        finished_before = record.state.FinishedAt
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)  # headers at once, as Docker: clients wait on the body
        code = record.state.ExitCode
        delay = 0.002   # a short run ends within milliseconds of its start: look soon, then less often
        watch = None   # the supervisor's pidfd: it records the exit and ends, which wakes us at once
        try:
            while True:
                try:
                    record = self.engine.containers.load(record.id)
                except NotFound:
                    code = self.final_codes.get(record.id, code)  # removed after its exit
                    break
                status = record.observed_status(self.engine.kernel)
                code = record.state.ExitCode
                if condition == "not-running" and status != "running":
                    break
                if condition == "next-exit" and status in ("exited", "dead") and \
                        record.state.FinishedAt != finished_before:
                    break
                if watch is None and status == "running" and record.state.SupervisorPid:
                    watch = self.engine.kernel.process_handle(record.state.SupervisorPid)
                if watch is not None and await _readable(watch, delay):
                    os.close(watch)
                    watch = None   # it has ended: from now on only the state file tells
                elif watch is None:
                    await asyncio.sleep(delay)
                delay = min(delay * 2, 0.02)
        finally:
            if watch is not None:
                os.close(watch)
        try:
            await response.write(json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n")
            await response.write_eof()
        except ConnectionResetError:
            pass  # the client stopped waiting
        return response

    async def delete(self, request):
        await self.call(self.engine.rm, request.match_info["id"], _bool(request.query.get("force")))
        return web.Response(status=204)

    async def top(self, request):
        rows = await self.call(self.engine.top, request.match_info["id"])
        return web.json_response({"Titles": ["UID", "PID", "PPID", "CMD"],
                                  "Processes": [[r["UID"], r["PID"], r["PPID"], r["CMD"]] for r in rows]})

    async def logs(self, request):
        ref = request.match_info["id"]
        record = self.find(ref)
        q = request.query
        want = {"stdout": _bool(q.get("stdout")), "stderr": _bool(q.get("stderr"))}
        tail = q.get("tail", "all")
        tail_n = None if tail in ("all", "") else int(tail)
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.multiplexed-stream"
                                               if not record.spec.tty else "application/vnd.docker.raw-stream"})
        await response.prepare(request)
        lines = self.engine.logs(record.id, follow=_bool(q.get("follow")), tail=tail_n)
        while True:
            item = await asyncio.to_thread(next, lines, None)
            if item is None:
                break
            stream, text = item
            if want.get(stream):
                try:
                    await response.write(_frame(stream, text.encode(), record.spec.tty))
                except ConnectionResetError:
                    return response  # the client went away (e.g. `docker logs -f` interrupted)
        await response.write_eof()
        return response

    async def attach(self, request):
        """Hijack the connection and stream the container's output (framed unless Tty)."""
        ref = request.match_info["id"]
        record = self.find(ref)
        q = request.query
        want = {"stdout": _bool(q.get("stdout")), "stderr": _bool(q.get("stderr"))}
        # Counted from the first moment: a --rm container waits for its readers.
        self.attached[record.id] = self.attached.get(record.id, 0) + 1
        transport = request.transport
        try:
            response = web.StreamResponse(status=101, headers={
                "Content-Type": "application/vnd.docker.raw-stream" if record.spec.tty
                else "application/vnd.docker.multiplexed-stream",
                "Connection": "Upgrade", "Upgrade": "tcp"})
            await response.prepare(request)
            # The connection is ours now: clients half-close their side when they send no
            # stdin, which must not end the stream (aiohttp would treat it as a hang-up).
            hijacked = _Hijacked()
            if transport is not None:
                transport.set_protocol(hijacked)
            if not _bool(q.get("stream")):
                return response
            # Output of this run only: wait until the container starts (attach comes first);
            # a terminal is there only while it runs, so for one wait for the next start.
            started = record.state.StartedAt
            before_start = record.observed_status(self.engine.kernel) != "running"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                record = self.engine.containers.load(record.id)
                status = record.observed_status(self.engine.kernel)
                if status == "running" or (record.state.StartedAt != started if record.spec.tty
                                           else status != "created"):
                    break
                await asyncio.sleep(0.02)
            if record.spec.tty and transport is not None:
                await self._attach_terminal(record, _bool(q.get("stdin")), before_start,
                                            transport, hijacked)
                return response
            if _bool(q.get("stdin")) and record.spec.stdin:
                asyncio.get_running_loop().create_task(
                    hijacked.forward_to(str(record.dir / "stdin.sock")))
            # attached to a running container: its output from now on, as Docker's attach
            await self._copy_log(record, want, transport, None if before_start else 0)
            return response
        finally:
            self.attached[record.id] -= 1
            if transport is not None:
                transport.close()

    async def _copy_log(self, record, want: dict[str, bool], transport, tail: int | None = None) -> None:
        """The container's output from its log (its last ``tail`` lines on), to the end of
        its run (framed unless Tty)."""
        lines = self.engine.logs(record.id, follow=True, tail=tail)
        while transport is not None and not transport.is_closing():
            item = await asyncio.to_thread(next, lines, None)
            if item is None:
                break
            stream, text = item
            if want.get(stream):
                transport.write(_frame(stream, text.encode(), record.spec.tty))

    async def _attach_terminal(self, record, typing: bool, before_start: bool, transport,
                               hijacked) -> None:
        """Attach to a -t container through its supervisor's terminal port (``TerminalPort``):
        raw output as the container shows it, the client's bytes typed into its terminal.
        Attached before the start (`docker run -it`), what it showed meanwhile comes first."""
        reader, writer, answer = await _terminal_port(
            record, {"op": "attach", "stdin": typing, "backlog": before_start})
        if answer != b"ok\n":
            # It ended before we reached its terminal: what it showed is in its log.
            if writer is not None:
                writer.close()
            if before_start:
                await self._copy_log(record, {"stdout": True, "stderr": True}, transport)
            return
        hijacked.on_lost = writer.close  # the client went: so does our place at the terminal
        if typing:
            hijacked.pass_to(writer)
        try:
            while not transport.is_closing():
                try:
                    chunk = await reader.read(65536)
                except OSError:
                    break
                if not chunk:
                    break
                transport.write(chunk)
                while transport.get_write_buffer_size() > 1 << 20 and not transport.is_closing():
                    await asyncio.sleep(0.01)  # a slow client: let the terminal wait
        finally:
            writer.close()

    async def resize(self, request):
        """`docker run -it` and `attach`: the client's terminal size, set on the container's."""
        record = self.find(request.match_info["id"])
        height, width = _size(request.query)
        if record.observed_status(self.engine.kernel) != "running":
            return _error(409, f"Container {record.id} is not running")
        if not record.spec.tty:
            return web.Response(status=200)  # no terminal: nothing to resize (as Docker)
        _, writer, answer = await _terminal_port(record, {"op": "resize", "height": height, "width": width})
        if writer is None:
            return _error(409, f"Container {record.id} is not running (its terminal does not answer)")
        writer.close()
        if answer != b"ok\n":
            return _error(500, _port_error(answer) or "cannot resize the container's terminal")
        return web.Response(status=200)

    # -- networks --------------------------------------------------------------------------
    async def _network_call(self, fn, *args):
        """An engine network verb, its refusals answered with Docker's status codes."""
        try:
            return await self.call(fn, *args)
        except (NotFound, Conflict) as e:
            text = str(e)
            status = next((code for part, code in _NETWORK_REFUSALS if part in text),
                          404 if isinstance(e, NotFound) else 409)
            raise _Refused(status, text) from None

    async def networks(self, request):
        """`docker network ls`: each network as inspect shows it, without its containers
        (as Docker since API 1.28), narrowed by Docker's filters."""
        filters = _filters(request.query.get("filters"), _NETWORK_FILTERS)

        def rows():
            out = []
            for net in self.engine.networks.all():
                doc = self.engine.network_inspect(net.id)
                if _network_matches(doc, filters):
                    out.append(dict(doc, Containers={}))
            return out
        return web.json_response(await self.call(rows))

    async def network_inspect(self, request):
        ref = request.match_info["id"]
        if request.query.get("scope", "local") not in ("", "local"):
            return _error(404, f"network {ref} not found")  # every network here is local
        return web.json_response(await self._network_call(self.engine.network_inspect, ref))

    async def network_create(self, request):
        """`docker network create`: a bridge network, with the subnet and gateway of the
        first IPAM config if given. What minidocker cannot honour is refused (400), not
        ignored; CheckDuplicate is always on, as in Docker since API 1.44."""
        body = await _json_body(request)
        name = body.get("Name")
        if not isinstance(name, str) or not name:
            return _error(400, "a network needs a Name")
        ipam = body.get("IPAM") or {}
        if (ipam.get("Driver") or "default") != "default":
            return _error(404, f"plugin {ipam['Driver']!r} not found: minidocker has only the default IPAM driver")
        configs = ipam.get("Config") or []
        if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
            return _error(400, "IPAM.Config must be a list of objects")
        unsupported = [key for key in ("EnableIPv6", "Ingress", "ConfigOnly", "ConfigFrom") if body.get(key)]
        unsupported += [f"IPAM.Config.{key}" for c in configs for key in ("IPRange", "AuxiliaryAddresses")
                        if c.get(key)]
        if len(configs) > 1:
            unsupported.append("more than one IPAM.Config")
        if (body.get("Scope") or "local") != "local":
            unsupported.append(f"Scope {body['Scope']!r}")
        if unsupported:
            return _error(400, f"minidocker does not support {', '.join(unsupported)} (IPv4 bridge networks only)")
        labels = body.get("Labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            return _error(400, "Labels must map names to strings")
        config = configs[0] if configs else {}
        try:
            net = await self._network_call(
                self.engine.network_create, name, config.get("Subnet") or None, config.get("Gateway") or None,
                bool(body.get("Internal")), labels, body.get("Driver") or "bridge")
        except _Refused as e:
            if name in BUILTIN:  # Docker: "operation is not permitted on predefined … network"
                e.status = 403
            raise
        ignored = sorted(body.get("Options") or {})
        warning = f"minidocker ignores the driver options {', '.join(ignored)}" if ignored else ""
        return web.json_response({"Id": net.id, "Warning": warning}, status=201)

    async def network_delete(self, request):
        await self._network_call(self.engine.network_rm, request.match_info["id"])
        return web.Response(status=204)

    async def network_prune(self, request):
        if _filters(request.query.get("filters"), ("label", "label!", "until")):
            return _error(400, "minidocker's network prune takes no filters yet")
        return web.json_response({"NetworksDeleted": await self.call(self.engine.network_prune)})

    async def network_connect(self, request):
        body = await _json_body(request)
        endpoint = body.get("EndpointConfig") or {}
        if any((endpoint.get("IPAMConfig") or {}).values()) or endpoint.get("Aliases") or endpoint.get("Links"):
            return _error(400, "minidocker does not support static addresses, aliases or links on connect")
        return await self._rewire("connect", request.match_info["id"], body.get("Container"))

    async def network_disconnect(self, request):
        body = await _json_body(request)  # Force changes nothing: an endpoint never outlives its container here
        return await self._rewire("disconnect", request.match_info["id"], body.get("Container"))

    async def _rewire(self, verb: str, ref: str, container) -> web.Response:
        """`network connect|disconnect` in a `minidocker` child, as `start` is: wiring a
        running container enters its network namespace, and pyroute2 forks for that. The
        daemon must not fork while it has threads, nor share its signal wakeup socket: a
        forked child that gets pyroute2's SIGTERM would stop the daemon through it."""
        if not isinstance(container, str) or not container:
            return _error(400, f"no container given to {verb}")
        net = await self._network_call(self.engine.networks.find, ref)
        record = await self._network_call(self.engine.containers.find, container)
        proc = await asyncio.create_subprocess_exec(
            *self.cli, "network", verb, net.id, record.id, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.child_env())
        _, err = await proc.communicate()
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip().removeprefix("minidocker: ")
            status = next((code for part, code in _NETWORK_REFUSALS if part in message), 500)
            return _error(status, message or f"network {verb} failed")
        return web.Response(status=200)


async def _terminal_port(record, request: dict):
    """Connect to a -t container's ``TerminalPort`` and send ``request``: (reader, writer,
    its answer line); (None, None, b"") when nothing answers."""
    from ..runtime.supervisor import short_socket_path
    writer = None
    try:
        with short_socket_path(str(record.dir / "attach.sock")) as short:
            reader, writer = await asyncio.open_unix_connection(short)
        writer.write(json.dumps(request).encode() + b"\n")
        return reader, writer, await reader.readline()
    except OSError:
        if writer is not None:
            writer.close()
        return None, None, b""


def _size(query) -> tuple[int, int]:
    try:
        height, width = int(query.get("h", "")), int(query.get("w", ""))
    except ValueError:
        raise ValueError("h and w must be whole numbers of characters") from None
    if not (0 <= height <= 0xFFFF and 0 <= width <= 0xFFFF):
        raise ValueError(f"{height}x{width} is not a terminal size")
    return height, width


def _port_error(raw: bytes) -> str:
    try:
        return json.loads(raw)["error"]
    except (ValueError, KeyError, TypeError):
        return ""


class _Hijacked(asyncio.Protocol):
    """The protocol of an attached connection. What the client sends is its stdin: kept
    until ``forward_to`` connects to the container's stdin port, then passed on; the
    client's half-close ends the container's input but keeps our output side open."""

    def __init__(self):
        self.buffer: list[bytes] = []
        self.eof = False
        self.writer: asyncio.StreamWriter | None = None
        self.on_lost = None  # what to do once the client has gone

    def connection_lost(self, exc) -> None:
        if self.on_lost is not None:
            self.on_lost()

    def data_received(self, data: bytes) -> None:
        if self.writer is not None:
            self.writer.write(data)
        elif sum(map(len, self.buffer)) < MAX_BODY:
            self.buffer.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        if self.writer is not None:
            self.writer.write_eof()
        return True

    async def forward_to(self, path: str) -> None:
        from ..runtime.supervisor import short_socket_path
        for _ in range(200):  # the supervisor makes the port as it starts the container
            try:
                with short_socket_path(path) as short:
                    _, writer = await asyncio.open_unix_connection(short)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                await asyncio.sleep(0.01)
        else:
            return
        self.pass_to(writer)

    def pass_to(self, writer) -> None:
        """From now on the client's bytes go to ``writer`` (those kept so far first)."""
        writer.write(b"".join(self.buffer))
        self.buffer.clear()
        self.writer = writer
        if self.eof:
            writer.write_eof()


# How Docker answers the network verbs' refusals (the kinds libnetwork gives its errors),
# found by the engine's messages, which are Docker's: forbidden (403), bad parameter (400),
# no such plugin (404); "not connected" is a plain error there, hence 500.
_NETWORK_REFUSALS = (
    ("Pool overlaps", 403), ("pre-defined network", 403), ("has active endpoints", 403),
    ("already exists in network", 403), ("cannot join other networks", 400),
    ("connected to host network", 400), ("is not connected to network", 500),
    ("has only the bridge driver", 404), ("cannot rewire", 409),
)
_NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _filters(raw: str | None, allowed) -> dict[str, list[str]]:
    """Docker's ``filters`` query, ``{"name": {"web": true}}`` or the older
    ``{"name": ["web"]}``, as {key: [values]}; an unknown key is a bad parameter."""
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ValueError(f"invalid filters: {raw}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"invalid filters: {raw}")
    out = {}
    for key, values in doc.items():
        if key not in allowed:
            raise ValueError(f"invalid filter '{key}'")
        if isinstance(values, dict):
            values = [v for v, on in values.items() if on]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError(f"invalid filters: {raw}")
        if values:
            out[key] = values
    return out


def _network_matches(doc: dict, filters: dict[str, list[str]]) -> bool:
    """Docker's network filters: driver and scope exactly; name and id as a match or a
    regular expression found in them; every label (``key`` or ``key=value``); type
    custom|builtin; dangling: a user network no container belongs to."""
    import re

    def found(pattern: str, text: str) -> bool:
        try:
            return pattern == text or re.search(pattern, text) is not None
        except re.error:
            return False

    builtin = doc["Name"] in BUILTIN
    for value in filters.get("type", []):
        if value not in ("custom", "builtin"):
            raise ValueError(f"invalid filter: 'type'='{value}'")
    for value in filters.get("dangling", []):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"invalid filter: 'dangling'='{value}'")
    checks = {
        "driver": lambda v: v == doc["Driver"], "scope": lambda v: v == doc["Scope"],
        "name": lambda v: found(v, doc["Name"]), "id": lambda v: found(v, doc["Id"]),
        "type": lambda v: v == ("builtin" if builtin else "custom"),
        "dangling": lambda v: (v.lower() in ("true", "1")) == (not builtin and not doc["Containers"]),
    }
    if not all(any(map(check, filters[key])) for key, check in checks.items() if key in filters):
        return False
    labels = doc["Labels"]
    return all(key in labels and (not sep or labels[key] == value)
               for key, sep, value in (item.partition("=") for item in filters.get("label", [])))


def _frame(stream: str, data: bytes, tty: bool) -> bytes:
    if tty:
        return data
    return struct.pack(">BxxxL", 1 if stream == "stdout" else 2, len(data)) + data


def _list(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return value


async def _json_body(request) -> dict:
    if request.content_length and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    data = await request.content.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(data))
    try:
        body = json.loads(data or b"{}")
    except (ValueError, RecursionError) as e:
        raise ValueError(f"invalid JSON body: {e}") from None
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def _now() -> str:
    from ..runtime.state import now
    return now()


def _unix(text: str | None) -> int:
    from ..format import parse_time
    when = parse_time(text)
    return int(when.timestamp()) if when else 0


def make_app(engine, forks=None) -> web.Application:
    api = Api(engine, forks=forks)
    app = web.Application(middlewares=[_versions_and_errors], client_max_size=MAX_BODY)
    routes = [
        ("GET", "/_ping", api.ping), ("HEAD", "/_ping", api.ping),
        ("GET", "/version", api.version), ("GET", "/info", api.info),
        ("GET", "/images/json", api.images), ("POST", "/images/create", api.image_create),
        ("POST", "/build", api.build),
        ("GET", "/images/get", api.images_get), ("POST", "/images/load", api.images_load),
        ("GET", "/images/{name:.+}/json", api.image_inspect),
        ("GET", "/images/{name:.+}/history", api.image_history),
        ("POST", "/images/{name:.+}/tag", api.image_tag),
        ("DELETE", "/images/{name:.+}", api.image_delete),
        ("GET", "/containers/json", api.containers), ("POST", "/containers/create", api.create),
        ("GET", "/containers/{id}/json", api.inspect), ("POST", "/containers/{id}/start", api.start),
        ("POST", "/containers/{id}/stop", api.stop), ("POST", "/containers/{id}/kill", api.kill),
        ("POST", "/containers/{id}/wait", api.wait), ("DELETE", "/containers/{id}", api.delete),
        ("GET", "/containers/{id}/top", api.top), ("GET", "/containers/{id}/logs", api.logs),
        ("POST", "/containers/{id}/attach", api.attach), ("POST", "/containers/{id}/resize", api.resize),
        ("POST", "/containers/{id}/restart", api.restart),
        ("POST", "/containers/{id}/exec", api.exec_create), ("POST", "/exec/{id}/start", api.exec_start),
        ("GET", "/exec/{id}/json", api.exec_inspect), ("POST", "/exec/{id}/resize", api.exec_resize),
        ("GET", "/networks", api.networks), ("POST", "/networks/create", api.network_create),
        ("POST", "/networks/prune", api.network_prune),
        ("GET", "/networks/{id}", api.network_inspect), ("DELETE", "/networks/{id}", api.network_delete),
        ("POST", "/networks/{id}/connect", api.network_connect),
        ("POST", "/networks/{id}/disconnect", api.network_disconnect),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
        app.router.add_route(method, r"/v{version:1\.\d+}" + path, handler)
    return app


def serve(engine, socket_path: str) -> None:
    """Run the API on a unix socket (mode 0660) until SIGINT or SIGTERM."""
    from .. import fileio
    from .forkserver import ForkServer
    forks = ForkServer.launch(str(engine.store.root))
    # a removed container's files go in a thread of ours: its answer need not wait for them
    fileio.remove_in_background()
    print(f"minidocker daemon: fork server (PID {forks.pid}) starts containers" if forks.pid else
          f"minidocker daemon: no fork server ({forks.why}); containers start through "
          "`minidocker start` children", flush=True)
    try:
        _serve(engine, forks, socket_path)
    finally:
        forks.close()
        fileio.finish_removals()


def _serve(engine, forks, socket_path: str) -> None:
    for line in engine.reconcile():
        print(f"minidocker daemon: {line}", flush=True)

    async def main():
        # Attached streams may be waiting on containers: do not wait long for them at exit.
        runner = web.AppRunner(make_app(engine, forks), shutdown_timeout=2)
        await runner.setup()
        os.makedirs(os.path.dirname(socket_path) or ".", exist_ok=True)
        if os.path.exists(socket_path):
            os.unlink(socket_path)  # left by a daemon that did not stop cleanly
        site = web.UnixSite(runner, socket_path)
        await site.start()
        os.chmod(socket_path, 0o660)
        print(f"minidocker daemon: Docker Engine API {API_VERSION} on unix://{socket_path}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
        if os.path.exists(socket_path):
            os.unlink(socket_path)
    asyncio.run(main())


async def _readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` became readable within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(True))
    try:
        return await asyncio.wait_for(ready, timeout)
    except asyncio.TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)

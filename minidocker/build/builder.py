"""The builder: a Dockerfile and a context in, a layered image out, with Docker's cache.

Each stage starts from its base (an image, an earlier stage, or ``scratch``)
and runs its instructions in order. Filesystem steps (RUN, COPY, ADD,
WORKDIR that creates a directory) happen in a snapshot on top of the
stage's layers; the snapshot's upperdir *is* the step's layer (overlay
whiteouts become OCI whiteouts), and the snapshot is committed as that
layer's ChainID, so the next step stacks on it without unpacking anything.
Metadata steps change only the image config and add a history entry with
``empty_layer: true``.

Before running a step the builder computes its cache key (``cache.step_key``)
and reuses a stored result when one exists; otherwise it says why not, runs
the step, and stores the result. RUN steps run in a real container
(``runtime``) on the host network, so package managers work where the host
reaches a mirror.
"""

from __future__ import annotations

import copy
import json
import os
import stat
import sys
import time
from dataclasses import dataclass, field

from ..errors import MinidockerError, NotFound
from ..fsroot import Root, split
from ..image import oci, reference
from ..image.create import write_image
from ..kernel.base import MNT_DETACH
from ..format import now
from . import dockerfile as df
from . import record as records
from .cache import BuildCache, Entry, step_key
from .context import Context, ContextError

# Instructions whose arguments the builder expands with ARG/ENV values (Docker's list).
EXPANDED = {"ADD", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME",
            "WORKDIR", "ONBUILD", "ARG"}
DEFAULT_SHELL = ["/bin/sh", "-c"]
# Build args Docker always accepts without an ARG (proxies).
PREDEFINED_ARGS = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                   "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}


class BuildError(MinidockerError):
    """A build failed; the message names the Dockerfile line."""


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    instructions: list[df.Instruction]
    line: int


@dataclass
class State:
    """A stage being built: the image so far and the cache key of its last step."""

    config: dict
    layers: list[oci.Descriptor]
    key: str
    cached: bool = True
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False              # a CMD in this stage (ENTRYPOINT then keeps it)

    @property
    def container(self) -> dict:
        return self.config.setdefault("config", {})

    @property
    def diff_ids(self) -> list[str]:
        return self.config["rootfs"]["diff_ids"]

    @property
    def chain(self) -> str | None:
        ids = oci.chain_ids(self.diff_ids)
        return ids[-1] if ids else None

    def env(self) -> dict[str, str]:
        out = {}
        for item in self.container.get("Env") or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out


@dataclass
class BuildOptions:
    tags: list[str] = field(default_factory=list)
    dockerfile: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    quiet: bool = False


class Builder:
    def __init__(self, engine, context_dir: str, options: BuildOptions, out=None):
        self.engine = engine
        self.store = engine.store
        self.snapshots = engine.snapshots
        self.cache = BuildCache(self.store.root)
        self.context = Context(context_dir)
        self.options = options
        self.out = out or sys.stderr
        self.refs = [reference.parse(t) for t in options.tags]
        self.step_no = 0
        self.used_args: set[str] = set()
        self.record = records.BuildRecord(dockerfile="")

    @property
    def k(self):
        """The kernel, loaded only when a step really runs (a cached build needs none)."""
        return self.engine.kernel

    # -- output ----------------------------------------------------------------
    def say(self, text: str) -> None:
        if not self.options.quiet:
            self.out.write(text + "\n")
            self.out.flush()

    def _fail(self, ins: df.Instruction | None, message: str) -> BuildError:
        where = f"{self.path}:{ins.line}: " if ins else ""
        return BuildError(where + message)

    # -- parsing into stages -----------------------------------------------------
    def _stages(self, parsed: df.Dockerfile) -> tuple[list[Stage], dict[str, str]]:
        global_args: dict[str, str] = {}
        stages: list[Stage] = []
        for ins in parsed.instructions:
            if ins.cmd == "FROM":
                words = list(ins.args)
                if len(words) not in (1, 3) or (len(words) == 3 and words[1].upper() != "AS"):
                    raise self._fail(ins, "FROM requires either one or three arguments: FROM IMAGE [AS NAME]")
                name = words[2].lower() if len(words) == 3 else None
                if name and any(s.name == name for s in stages):
                    raise self._fail(ins, f"duplicate stage name {name!r}")
                stages.append(Stage(len(stages), name, words[0], [], ins.line))
            elif not stages:
                if ins.cmd != "ARG":
                    raise self._fail(ins, f"no build stage in current context: {ins.cmd} before FROM "
                                          "(only ARG may come first)")
                for name, value in _arg_pairs(ins):
                    global_args[name] = self.options.build_args.get(name, value if value is not None else "")
                    self.used_args.add(name)
            else:
                stages[-1].instructions.append(ins)
        if not stages:
            raise BuildError(f"{self.path}: no FROM instruction: a Dockerfile must start a stage with FROM")
        return stages, global_args

    # -- the build ------------------------------------------------------------------
    def build(self) -> oci.Descriptor:
        try:
            manifest = self._build()
        except BaseException as e:
            self.record.error = str(e) or type(e).__name__
            raise
        finally:
            try:
                records.save(self.store.root, self.record)
            except OSError:
                pass  # the record only explains the build; never fail a build over it
        return manifest

    def _build(self) -> oci.Descriptor:
        text, self.path = self.context.read_dockerfile(self.options.dockerfile)
        self.record.dockerfile = self.path
        parsed = df.parse(text, self.path)
        self.escape = parsed.escape
        stages, global_args = self._stages(parsed)
        target = stages[-1]
        if self.options.target:
            matching = [s for s in stages if s.name == self.options.target.lower()]
            if not matching:
                raise BuildError(f"target stage {self.options.target!r} could not be found")
            target = matching[0]
        needed = self._needed(stages, target, global_args)
        self.total = sum(len(stages[i].instructions) + 1 for i in needed)
        built: dict[int, State] = {}
        start = time.monotonic()
        with self.store.ingest():
            for i in needed:
                built[i] = self._build_stage(stages[i], stages, built, global_args)
            final = built[target.index]
            unknown = sorted(set(self.options.build_args) - self.used_args - PREDEFINED_ARGS)
            if unknown:
                self.say(f"[Warning] one or more build-args {unknown} were not consumed")
            cfg = final.config
            # The last step's time, as Docker: a fully cached rebuild gives the same image ID.
            history = cfg.get("history") or []
            cfg["created"] = history[-1]["created"] if history else cfg.get("created") or oci.now_rfc3339()
            if self.options.labels:
                labels = final.container.setdefault("Labels", {}) or {}
                labels.update(self.options.labels)
                final.container["Labels"] = labels
            manifest = write_image(self.store, list(final.layers), cfg, self.refs)
        image = self.store.image(manifest)
        self.record.image_id, self.record.tags = image.id, [r.familiar() for r in self.refs]
        tags = ", ".join(r.familiar() for r in self.refs)
        self.say(f"#{self.step_no + 1} writing image {image.id} done"
                 + (f"\n#{self.step_no + 1} naming to {tags} done" if tags else "")
                 + f"\nbuilt in {time.monotonic() - start:.2f}s")
        return manifest

    def _needed(self, stages: list[Stage], target: Stage, global_args: dict[str, str]) -> list[int]:
        """The stages the target depends on (through FROM and COPY --from), in order."""
        needed: set[int] = set()

        def visit(stage: Stage) -> None:
            if stage.index in needed:
                return
            needed.add(stage.index)
            refs = [df.expand(stage.base, global_args, self.escape)]
            for ins in stage.instructions:
                for flag in ins.flags:
                    if flag.startswith("--from="):
                        refs.append(flag[len("--from="):])
            for ref in refs:
                dep = self._stage_by_ref(stages, ref, stage.index)
                if dep is not None:
                    visit(dep)
        visit(target)
        return sorted(needed)

    @staticmethod
    def _stage_by_ref(stages: list[Stage], ref: str, before: int) -> Stage | None:
        for s in stages[:before]:
            if s.name == ref.lower() or str(s.index) == ref:
                return s
        return None

    # -- stages ------------------------------------------------------------------------
    def _build_stage(self, stage: Stage, stages: list[Stage], built: dict[int, State],
                     global_args: dict[str, str]) -> State:
        base = df.expand(stage.base, global_args, self.escape)
        self.step_no += 1
        label = f"[{stage.name or stage.index} 1/{len(stage.instructions) + 1}]"
        self.say(f"#{self.step_no} {label} FROM {base}" + (f" AS {stage.name}" if stage.name else ""))
        self._record(stage, label, f"FROM {base}" + (f" AS {stage.name}" if stage.name else ""),
                     records.BASE)
        dep = self._stage_by_ref(stages, base, stage.index)
        if dep is not None:
            parent = built[dep.index]
            state = State(copy.deepcopy(parent.config), list(parent.layers), parent.key, parent.cached)
        elif base == "scratch":
            state = State(oci.new_config([], []), [], "scratch")
        else:
            try:
                image = self.engine.image(base)
            except NotFound:
                raise BuildError(f"{self.path}:{stage.line}: base image {base!r} not found locally "
                                 "(minidocker does not pull; `minidocker bootstrap busybox` or "
                                 "`minidocker load` it first)") from None
            self.engine.unpack(image.id)
            state = State(copy.deepcopy(image.config.raw), list(image.manifest.layers), image.id)
        state.config.setdefault("history", [])
        state.args = {}
        triggers = state.container.pop("OnBuild", None) or []
        instructions = [self._parse_trigger(t, stage) for t in triggers] + stage.instructions
        for n, ins in enumerate(instructions, start=2):
            self.step_no += 1
            label = f"[{stage.name or stage.index} {n}/{len(instructions) + 1}]"
            self._step(state, ins, label, stages, built, global_args, stage)
        return state

    def _parse_trigger(self, trigger: str, stage: Stage) -> df.Instruction:
        parsed = df.parse(trigger + "\n", f"{self.path} (ONBUILD of {stage.base})")
        if len(parsed.instructions) != 1:
            raise BuildError(f"invalid ONBUILD trigger {trigger!r} in {stage.base}")
        ins = parsed.instructions[0]
        if ins.cmd in ("ONBUILD", "FROM", "MAINTAINER"):
            raise BuildError(f"{ins.cmd} isn't allowed as an ONBUILD trigger")
        return ins

    # -- steps -------------------------------------------------------------------------
    def _variables(self, state: State) -> dict[str, str]:
        return dict(state.args)

    def _expand_env(self, state: State) -> dict[str, str]:
        env = dict(state.args)
        env.update(state.env())
        return env

    def _record(self, stage: Stage, label: str, shown: str, status: str, **details) -> None:
        self.record.steps.append(records.StepRecord(
            self.step_no, stage.name or str(stage.index), label, shown, status, **details))

    def _step(self, state: State, ins: df.Instruction, label: str, stages, built, global_args,
              stage: Stage) -> None:
        env = self._expand_env(state)
        args = [df.expand(a, env, self.escape) for a in ins.args] \
            if ins.cmd in EXPANDED and not ins.json else list(ins.args)
        flags = [df.expand(f, env, self.escape) for f in ins.flags]
        if ins.cmd in ("ENV", "LABEL") and len(args) % 2 == 0:
            words = [f"{k}={json.dumps(v) if not v or ' ' in v else v}"
                     for k, v in zip(args[::2], args[1::2])]
        else:
            words = [json.dumps(args)] if ins.json else args
        shown = f"{ins.cmd} {' '.join(flags + words)}".strip()
        self.say(f"#{self.step_no} {label} {_short(shown)}")
        files: dict[str, str] = {}
        sources_digest = ""
        copy_plan = None
        if ins.cmd == "ARG":  # build-time state, cached or not: later steps see the values
            for name, value in _arg_pairs(ins, args):
                if name in self.options.build_args:
                    value = self.options.build_args[name]
                elif value is None:
                    value = global_args.get(name, "")
                state.args[name] = value
                self.used_args.add(name)
        if ins.cmd in ("COPY", "ADD"):
            copy_plan = self._copy_plan(ins, args, flags, state, stages, built)
            sources_digest, files = copy_plan["digest"], copy_plan["files"]
        variables = self._variables(state)
        normalised = json.dumps([ins.cmd, flags, args, ins.json,
                                 [h.content for h in ins.heredocs]])
        key = step_key(state.key, normalised, variables, sources_digest)
        entry = None if self.options.no_cache else self.cache.get(key)
        if entry is not None and self._result_usable(entry):
            self._apply_result(state, entry.result)
            state.key, state.cached = key, True
            self.say(f"#{self.step_no} CACHED")
            self._record(stage, label, _short(shown), records.CACHED, layer=_layer_of(entry.result))
            return
        reason = "--no-cache" if self.options.no_cache else self.cache.why_missed(
            state.key, state.cached, normalised, variables, files)
        self.say(f"#{self.step_no} not cached: {reason}")
        started = time.monotonic()
        try:
            result = self._execute(state, ins, args, flags, copy_plan, global_args)
        except (MinidockerError, OSError) as e:
            message = str(e) if isinstance(e, MinidockerError) else (e.strerror or str(e))
            self._record(stage, label, _short(shown), records.FAILED, reason=reason,
                         seconds=round(time.monotonic() - started, 3), error=message)
            raise self._fail(ins, f"{ins.cmd} failed: {message}") from None
        self._apply_result(state, result)
        self.cache.put(Entry(key, state.key, normalised, variables, files, result, now()))
        state.key, state.cached = key, False
        took = time.monotonic() - started
        self.say(f"#{self.step_no} DONE {took:.2f}s")
        self._record(stage, label, _short(shown), records.BUILT, reason=reason,
                     layer=_layer_of(result), seconds=round(took, 3))

    def _result_usable(self, entry: Entry) -> bool:
        layer = entry.result.get("layer")
        return layer is None or self.store.has_blob(layer["digest"])

    def _apply_result(self, state: State, result: dict) -> None:
        state.config = copy.deepcopy(result["config"])
        if result.get("layer"):
            state.layers.append(oci.Descriptor.from_json(result["layer"], "cached layer"))

    def _execute(self, state, ins, args, flags, copy_plan, global_args) -> dict:
        """Run one instruction on ``state``; the result the cache stores."""
        cfg = copy.deepcopy(state.config)
        container = cfg.setdefault("config", {})
        created_by = f"{ins.cmd} {ins.original.split(None, 1)[1] if ' ' in ins.original.strip() else ''}".strip()
        history = {"created": oci.now_rfc3339(), "created_by": created_by, "comment": "minidocker build"}
        layer = None
        cmd = ins.cmd
        if cmd == "RUN":
            layer = self._run(state, ins, args, flags)
            shell = " ".join(state.container.get("Shell") or DEFAULT_SHELL)
            history["created_by"] = "RUN " + (json.dumps(args) if ins.json else f"{shell} {args[0] if args else ''}")
            if state.args:  # as BuildKit shows the build args a RUN saw
                pairs = " ".join(f"{k}={v}" for k, v in sorted(state.args.items()))
                history["created_by"] = f"RUN |{len(state.args)} {pairs} " + history["created_by"][4:]
        elif cmd in ("COPY", "ADD"):
            layer = self._copy(state, copy_plan)
        elif cmd == "WORKDIR":
            if len(args) != 1:
                raise MinidockerError("WORKDIR requires exactly one argument")
            path = args[0] if args[0].startswith("/") else os.path.join(container.get("WorkingDir") or "/", args[0])
            container["WorkingDir"] = os.path.normpath(path)
            layer = self._in_snapshot(state, lambda root: root.dir(split(container["WorkingDir"])))
        elif cmd == "ENV":
            env = {k: v for k, _, v in (e.partition("=") for e in container.get("Env") or [])}
            for name, value in _pairs(args, "ENV"):
                env[name] = value
            container["Env"] = [f"{k}={v}" for k, v in env.items()]
        elif cmd == "ARG":
            history["created_by"] = "ARG " + " ".join(args)  # values: set in _step
        elif cmd == "LABEL":
            labels = container.get("Labels") or {}
            labels.update(dict(_pairs(args, "LABEL")))
            container["Labels"] = labels
        elif cmd in ("CMD", "ENTRYPOINT"):
            value = args if ins.json else (container.get("Shell") or DEFAULT_SHELL) + [" ".join(args)]
            container["Cmd" if cmd == "CMD" else "Entrypoint"] = value
            if cmd == "CMD":
                state.cmd_set = True
            elif not state.cmd_set:
                container["Cmd"] = None  # Docker: ENTRYPOINT resets a CMD inherited from the base
        elif cmd == "EXPOSE":
            ports = container.get("ExposedPorts") or {}
            for p in args:
                port = p if "/" in p else p + "/tcp"
                if not port.split("/")[0].replace("-", "").isdigit():
                    raise MinidockerError(f"invalid containerPort: {p}")
                ports[port] = {}
            container["ExposedPorts"] = ports
        elif cmd == "USER":
            if len(args) != 1:
                raise MinidockerError("USER requires exactly one argument")
            container["User"] = args[0]
        elif cmd == "VOLUME":
            volumes = container.get("Volumes") or {}
            for v in args:
                volumes[v] = {}
            container["Volumes"] = volumes
        elif cmd == "STOPSIGNAL":
            container["StopSignal"] = args[0]
        elif cmd == "SHELL":
            if not ins.json:
                raise MinidockerError("SHELL requires the arguments to be in JSON form")
            container["Shell"] = args
        elif cmd == "MAINTAINER":
            cfg["author"] = " ".join(args)
        elif cmd == "ONBUILD":
            container["OnBuild"] = (container.get("OnBuild") or []) + [ins.original.split(None, 1)[1]]
        elif cmd == "HEALTHCHECK":
            container["Healthcheck"] = _healthcheck(args, flags, ins.json)
        else:
            raise MinidockerError(f"unknown instruction: {cmd}")
        if layer is None:
            history["empty_layer"] = True
        else:
            desc, diff_id = layer
            cfg["rootfs"]["diff_ids"] = list(cfg["rootfs"]["diff_ids"]) + [diff_id]
        cfg.setdefault("history", []).append(history)
        return {"layer": layer[0].to_json() if layer else None, "config": cfg}

    # -- filesystem steps ---------------------------------------------------------------
    def _new_layer(self, state: State, change) -> tuple[oci.Descriptor, str] | None:
        """Prepare a snapshot on the stage's layers, let ``change(key)`` fill it, and turn
        its upperdir into a layer (None when nothing changed)."""
        from ..image.create import ingest_layer
        from ..image.layer import write_layer
        key = f"build-{os.getpid()}-{os.urandom(4).hex()}"
        self._ensure_chain(state)
        self.snapshots.prepare(key, state.chain)
        try:
            change(key)
            upper = self.snapshots.diff_dir(key)
            if not os.listdir(upper):
                self.snapshots.remove(key)
                return None
            import tempfile  # only steps that write files need it
            with tempfile.TemporaryFile(dir=self.store.tmp_dir) as tmp:
                write_layer(self.k, upper, tmp)
                tmp.seek(0)
                desc, diff_id = ingest_layer(self.store, tmp, "build layer")
            chain = oci.chain_ids(state.diff_ids + [diff_id])[-1]
            try:
                self.snapshots.commit(chain, key)
            except MinidockerError:
                self.snapshots.remove(key)  # the same layer exists already: reuse it
            return desc, diff_id
        except BaseException:
            try:
                self.snapshots.remove(key)
            except MinidockerError:
                pass
            raise

    def _read_image_files(self, state: State, names: tuple[str, ...]) -> tuple[str, ...]:
        """Text of files in the stage's filesystem so far ("" when absent)."""
        if state.chain is None:
            return tuple("" for _ in names)
        self._ensure_chain(state)
        view = f"build-view-{os.getpid()}-{os.urandom(4).hex()}"
        out = []
        import tempfile  # only steps that write files need it
        with tempfile.TemporaryDirectory(dir=self.store.tmp_dir, prefix="read-") as target:
            self.k.mount_all(self.snapshots.view(view, state.chain), target)
            try:
                root = Root(target, self.k.fs)
                fs = root.fs
                try:
                    for name in names:
                        parts = split(name)
                        try:
                            fd = fs.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                         dir_fd=root.dir(parts[:-1], create=False))
                            try:
                                out.append(fs.read(fd, 1 << 20).decode("utf-8", "replace"))
                            finally:
                                fs.close(fd)
                        except OSError:
                            out.append("")
                finally:
                    root.close()
            finally:
                self.k.umount(target, MNT_DETACH)
                self.snapshots.remove(view)
        return tuple(out)

    def _ensure_chain(self, state: State) -> None:
        """The stage's layers as committed snapshots (cached steps may not have them yet)."""
        from ..image.unpack import unpack_layers
        unpack_layers(self.k, self.store, self.snapshots, list(state.layers), state.diff_ids)

    def _in_snapshot(self, state: State, action) -> tuple[oci.Descriptor, str] | None:
        """Run ``action(Root of the merged view)`` with the snapshot mounted (as root)."""
        def change(key):
            import tempfile  # only steps that write files need it
            with tempfile.TemporaryDirectory(dir=self.store.tmp_dir, prefix="mnt-") as target:
                self.k.mount_all(self.snapshots.mounts(key), target)
                try:
                    root = Root(target, self.k.fs)
                    try:
                        action(root)
                    finally:
                        root.close()
                finally:
                    self.k.umount(target, MNT_DETACH)
        return self._new_layer(state, change)

    def _run_argv(self, state: State, ins: df.Instruction, args: list[str]) -> list[str]:
        if ins.json:
            return list(args)
        shell = state.container.get("Shell") or DEFAULT_SHELL
        return list(shell) + [args[0] if args else ""]

    def _run(self, state: State, ins: df.Instruction, args: list[str], flags: list[str]):
        from ..runtime import spec as specs
        from ..runtime.state import Containers
        from ..runtime.supervisor import Attach, StartFailed, supervise
        if flags:
            raise MinidockerError(f"RUN flags are not supported: {' '.join(flags)}")
        argv = self._run_argv(state, ins, args)
        if ins.heredocs and not ins.json:
            # `RUN <<EOF` runs the heredoc body as the script
            body = ins.heredocs[0].body  # <<- strips leading tabs
            argv = list(state.container.get("Shell") or DEFAULT_SHELL) + [body]
        env = state.env()
        env.update({k: v for k, v in state.args.items() if k not in env})
        container = state.container
        spec = specs.ContainerSpec(
            id=os.urandom(32).hex(), name="", image="(build)", image_id="", argv=tuple(argv),
            env=tuple(f"{k}={v}" for k, v in env.items()),
            working_dir=container.get("WorkingDir") or "/", user=container.get("User") or "",
            hostname="buildkitsandbox", network="host")
        runs = Containers(self.store.root / "builds")

        def change(key):
            record = runs.create(spec, now())
            try:
                out_fd = os.open(os.devnull, os.O_WRONLY) if self.options.quiet else os.dup(2)
                try:
                    code = supervise(self.k, record, self.snapshots.mounts(key),
                                     Attach(None, out_fd, out_fd))
                finally:
                    os.close(out_fd)
            except StartFailed as e:
                raise MinidockerError(str(e)) from None
            finally:
                runs.delete(record)
            if code != 0:
                raise MinidockerError(f"the command {json.dumps(argv)} returned a non-zero code: {code}")
        return self._new_layer(state, change)

    def _copy_plan(self, ins, args, flags, state, stages, built) -> dict:
        opts = dict(f[2:].split("=", 1) if "=" in f else (f[2:], "true") for f in flags)
        unknown = set(opts) - {"from", "chown", "chmod", "link"}
        if unknown:
            raise self._fail(ins, f"unknown flag: --{sorted(unknown)[0]}")
        heredoc_files = {h.name: h.body for h in ins.heredocs}
        words = [a for a in args if not a.startswith("<<")]
        if ins.heredocs:
            dest = words[-1] if words else ""
            srcs: list = []
        else:
            if len(words) < 2:
                raise self._fail(ins, f"{ins.cmd} requires at least two arguments, but only one was provided. "
                                      "Destination could not be determined")
            srcs, dest = words[:-1], words[-1]
        plan = {"dest": dest, "chown": opts.get("chown", ""), "chmod": opts.get("chmod", ""),
                "heredocs": heredoc_files, "cmd": ins.cmd, "from": None, "sources": []}
        if plan["chmod"] and not _is_octal(plan["chmod"]):
            raise self._fail(ins, f"invalid chmod parameter: {plan['chmod']}")
        if "from" in opts:
            if ins.cmd == "ADD":
                raise self._fail(ins, "ADD does not support --from")
            plan["from"] = self._from_source(ins, opts["from"], stages, built, state)
            plan["sources"] = srcs
            digest = step_key(plan["from"]["key"], json.dumps(srcs), {})
            plan["digest"], plan["files"] = digest, {}
            return plan
        for s in srcs:
            if s.startswith(("http://", "https://", "git@")):
                raise self._fail(ins, f"{ins.cmd} {s}: fetching URLs is not supported offline; "
                                      "download the file into the build context and add it from there")
        try:
            sources = self.context.sources(srcs)
        except ContextError as e:
            raise self._fail(ins, str(e)) from None
        plan["sources"] = sources
        digest, files = self.context.checksum(sources, plan["chown"], plan["chmod"])
        for name, content in heredoc_files.items():
            files[f"<<{name}"] = content
        plan["digest"], plan["files"] = digest + json.dumps(sorted(heredoc_files.items())), files
        return plan

    def _from_source(self, ins, ref: str, stages, built, state) -> dict:
        dep = self._stage_by_ref(stages, ref, len(stages))
        if dep is not None:
            if dep.index not in built:
                raise self._fail(ins, f"stage {ref!r} must come before the stage that copies from it")
            other = built[dep.index]
            return {"chain": other.chain, "key": other.key}
        try:
            image = self.store.resolve(ref)
        except (NotFound, MinidockerError):
            raise self._fail(ins, f"COPY --from={ref}: no stage or image of that name") from None
        chain = self.engine.unpack(image.id)
        return {"chain": chain, "key": image.id}

    def _copy(self, state: State, plan: dict):
        from ..image.layer import apply_layer
        # Without --chown, files from the context belong to 0:0, while files from another
        # stage or image keep their owners (as Docker's builders do since moby#38599).
        uid, gid = _chown_ids(plan["chown"], state, self) if plan["chown"] or plan["from"] is None \
            else (None, None)
        mode = int(plan["chmod"], 8) if plan["chmod"] else None

        def action(root: Root):
            dest = plan["dest"]
            # "dir/", "." and "dir/." all name a directory to copy into, as in Docker.
            dir_like = dest.endswith(("/", "/.")) or dest in (".", "..")
            if not dest.startswith("/"):
                dest = os.path.join(state.container.get("WorkingDir") or "/", dest)
            dest = os.path.normpath(dest) + ("/" if dir_like else "")
            many = len(plan["sources"]) + len(plan["heredocs"]) > 1
            as_dir = dir_like or many or any(getattr(s, "is_dir", False) for s in plan["sources"])
            if plan["from"] is not None:
                self._copy_from_snapshot(root, plan, dest, uid, gid, mode)
                return
            for name, content in plan["heredocs"].items():
                target = os.path.join(dest, name) if as_dir or dest.endswith("/") else dest
                _write_file(root, target, content.encode(), 0o644 if mode is None else mode, uid, gid, self.k)
            for src in plan["sources"]:
                archive = _open_archive(src.path) if plan["cmd"] == "ADD" and not src.is_dir else None
                if archive is not None:
                    with archive:
                        if root.fs is os:
                            # the directory's real path: resolved inside the root, free of symlinks
                            target = os.readlink(f"/proc/self/fd/{root.dir(split(dest))}")
                            apply_layer(self.k, archive, target, whiteouts="delete")
                        else:  # the merged view is not on disk: unpack beside it, then copy in
                            self._add_through(root, archive, dest, uid, gid, mode,
                                              keep_owner=not plan["chown"])
                    continue
                if src.is_dir:
                    for rel, full in self.context.entries(src):
                        _copy_entry(root, full, os.path.join(dest, rel) if rel else dest,
                                    uid, gid, mode, self.k)
                else:
                    target = os.path.join(dest, os.path.basename(src.rel)) if as_dir else dest
                    _copy_entry(root, src.path, target, uid, gid, mode, self.k)
        return self._in_snapshot(state, action)

    def _add_through(self, root: Root, archive, dest: str, uid, gid, mode, keep_owner: bool) -> None:
        """ADD of an archive where the image's files are not on disk (the simulator)."""
        from ..image.layer import apply_layer
        import tempfile
        with tempfile.TemporaryDirectory(dir=self.store.tmp_dir, prefix="add-") as tmp:
            apply_layer(self.k, archive, tmp, whiteouts="delete")
            for base, dirs, files in os.walk(tmp):
                dirs.sort()
                for name in sorted(dirs) + sorted(files):
                    full = os.path.join(base, name)
                    _copy_entry(root, full, os.path.join(dest, os.path.relpath(full, tmp)),
                                uid, gid, mode, self.k, keep_owner=keep_owner)

    def _copy_from_snapshot(self, root: Root, plan, dest, uid, gid, mode) -> None:
        view = f"build-view-{os.getpid()}-{os.urandom(4).hex()}"
        chain = plan["from"]["chain"]
        import tempfile  # only steps that write files need it
        with tempfile.TemporaryDirectory(dir=self.store.tmp_dir, prefix="from-") as target:
            if chain is None:
                raise MinidockerError("the source stage is empty (FROM scratch with no files)")
            self.k.mount_all(self.snapshots.view(view, chain), target)
            try:
                if self.k.simulated:  # the merged view is not on disk: copy it out first
                    real = tempfile.mkdtemp(dir=self.store.tmp_dir, prefix="from-real-")
                    _materialize(self.k, target, real)
                    target_for_context = real
                else:
                    real, target_for_context = None, target
                ctx = Context(target_for_context)
                ctx.matcher = type(ctx.matcher)([])
                sources = ctx.sources(plan["sources"])
                many = len(sources) > 1 or dest.endswith("/")
                for src in sources:
                    if src.is_dir:
                        for rel, full in ctx.entries(src):
                            _copy_entry(root, full, os.path.join(dest, rel) if rel else dest,
                                        uid, gid, mode, self.k, keep_owner=uid is None)
                    else:
                        target_path = os.path.join(dest, os.path.basename(src.rel)) if many else dest
                        _copy_entry(root, src.path, target_path, uid, gid, mode, self.k,
                                    keep_owner=uid is None)
            except ContextError as e:
                raise MinidockerError(f"COPY --from: {e}") from None
            finally:
                if self.k.simulated and real is not None:
                    import shutil
                    shutil.rmtree(real, ignore_errors=True)
                self.k.umount(target, MNT_DETACH)
                self.snapshots.remove(view)


# -- helpers ------------------------------------------------------------------------------

def _layer_of(result: dict) -> dict | None:
    layer = result.get("layer")
    return {"digest": layer["digest"], "size": layer["size"]} if layer else None


def _short(text: str, width: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _pairs(args: list[str], what: str) -> list[tuple[str, str]]:
    """ENV/LABEL arguments as the parser yields them: key, value, key, value …"""
    if len(args) % 2:
        raise MinidockerError(f"{what} needs key=value pairs")
    return [(args[i], args[i + 1]) for i in range(0, len(args), 2)]


def _arg_pairs(ins: df.Instruction, args: list[str] | None = None) -> list[tuple[str, str | None]]:
    out = []
    for word in (args if args is not None else ins.args):
        name, sep, value = word.partition("=")
        if not name:
            raise MinidockerError(f"ARG names must not be empty: {word!r}")
        out.append((name, value if sep else None))
    return out


def _is_octal(text: str) -> bool:
    return bool(text) and all(c in "01234567" for c in text) and len(text) <= 4


def _chown_ids(chown: str, state: State, builder: Builder) -> tuple[int | None, int | None]:
    """``--chown=USER[:GROUP]`` → numeric IDs (names looked up in the image's own files)."""
    if not chown:
        return 0, 0
    from ..runtime import user as users
    passwd = group = ""
    if not all(part.isdigit() for part in chown.split(":")):
        passwd, group = builder._read_image_files(state, ("etc/passwd", "etc/group"))
    ident = users.resolve(chown, passwd, group)
    return ident.uid, ident.gid


def _open_archive(path: str):
    """A local tar (plain, gzip, bzip2 or xz) as an uncompressed stream; None for other files.

    ADD extracts these, as Docker does; anything else is copied as a file.
    """
    import bz2
    import gzip
    import lzma
    with open(path, "rb") as f:
        head = f.read(6)
    opener = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
    for magic, open_ in opener.items():
        if head.startswith(magic):
            stream = open_(path, "rb")
            break
    else:
        stream = open(path, "rb")
    try:
        block = stream.read(512)
    except (OSError, EOFError, lzma.LZMAError):
        stream.close()
        return None
    if len(block) == 512 and block[257:262] == b"ustar" or \
            (len(block) == 512 and _tar_checksum_ok(block)):
        stream.seek(0)
        return stream
    stream.close()
    return None


def _tar_checksum_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 256 + sum(block[156:])


def _make_room(fs, parent: int, name: str, path: str) -> None:
    """Remove what stands at ``name`` so a file or link can take its place; never a directory."""
    try:
        st = fs.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise MinidockerError(f"cannot replace directory {path} with a file")
    fs.unlink(name, dir_fd=parent)


def _create(fs, parent: int, name: str) -> int:
    return fs.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                   dir_fd=parent)


# The helpers below write into the image through ``root.fs``: ``os`` on Linux, the
# simulated process's own calls on the simulator (where the merged view is not on disk).

def _materialize(k, src: str, dest: str) -> None:
    """Copy the simulator's merged view at ``src`` to the real directory ``dest``,
    owners recorded the simulator's way (for COPY --from on the simulated kernel)."""
    fs = k.fs
    for name in fs.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dest, name)
        st = fs.stat(s, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(d, stat.S_IMODE(st.st_mode) | 0o700)
            _materialize(k, s, d)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(fs.readlink(s), d)
        elif stat.S_ISREG(st.st_mode):
            fd = fs.open(s, os.O_RDONLY | os.O_CLOEXEC)
            try:
                with open(d, "wb") as out:
                    while chunk := fs.read(fd, 1 << 20):
                        out.write(chunk)
            finally:
                fs.close(fd)
            os.chmod(d, stat.S_IMODE(st.st_mode))
        else:
            continue
        k.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)


def _write_file(root: Root, path: str, data: bytes, mode: int, uid, gid, k) -> None:
    fs = root.fs
    parts = split(path)
    parent = root.dir(parts[:-1])
    name = parts[-1]
    _make_room(fs, parent, name, path)
    fd = _create(fs, parent, name)
    try:
        fs.write(fd, data)
        if uid is not None:
            k.chown(fd, uid, gid)
        fs.chmod(fd, mode)
    finally:
        fs.close(fd)


def _copy_entry(root: Root, src: str, dest: str, uid, gid, mode, k, keep_owner: bool = False) -> None:
    """Copy one host file/dir/symlink to ``dest`` inside ``root`` (no recursion: callers list entries)."""
    fs = root.fs
    st = k.lstat(src)   # with the owner the simulator recorded, on the simulator
    parts = split(dest)
    if not parts:
        return  # copying a directory onto / : its contents follow as their own entries
    parent = root.dir(parts[:-1])
    name = parts[-1]
    owner = (st.st_uid, st.st_gid) if keep_owner else (uid, gid)
    if stat.S_ISDIR(st.st_mode):
        try:
            existing = fs.stat(name, dir_fd=parent, follow_symlinks=False)
            if not stat.S_ISDIR(existing.st_mode):
                fs.unlink(name, dir_fd=parent)
                raise FileNotFoundError
        except FileNotFoundError:
            fs.mkdir(name, 0o755, dir_fd=parent)
        fd = root.dir(parts)
        k.chown(fd, *owner)
        fs.chmod(fd, mode if mode is not None else stat.S_IMODE(st.st_mode))
        return
    _make_room(fs, parent, name, dest)
    if stat.S_ISLNK(st.st_mode):
        k.symlink(os.readlink(src), name, dir_fd=parent)
        k.chown(name, *owner, dir_fd=parent, follow_symlinks=False)
        return
    if not stat.S_ISREG(st.st_mode):
        return  # sockets, fifos and devices are not copied, as in Docker
    fd = _create(fs, parent, name)
    try:
        with open(src, "rb") as f:
            while chunk := f.read(1 << 20):
                fs.write(fd, chunk)
        k.chown(fd, *owner)
        fs.chmod(fd, mode if mode is not None else stat.S_IMODE(st.st_mode))
        fs.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        fs.close(fd)


def _healthcheck(args: list[str], flags: list[str], is_json: bool) -> dict:
    if args and args[0].upper() == "NONE":
        return {"Test": ["NONE"]}
    if not args or args[0].upper() != "CMD":
        raise MinidockerError("HEALTHCHECK needs NONE or CMD")
    rest = args[1:]
    test = ["CMD"] + rest if is_json else ["CMD-SHELL", " ".join(rest)]
    out: dict = {"Test": test}
    names = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
             "start-interval": "StartInterval", "retries": "Retries"}
    for flag in flags:
        key, _, value = flag[2:].partition("=")
        if key not in names:
            raise MinidockerError(f"unknown HEALTHCHECK flag --{key}")
        out[names[key]] = int(value) if key == "retries" else _duration_ns(value)
    return out


def _duration_ns(text: str) -> int:
    units = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
             "h": 3_600_000_000_000}
    total, num = 0, ""
    i = 0
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = text[i:i + 2] if text[i:i + 2] in units else c
        if unit not in units or not num:
            raise MinidockerError(f"invalid duration {text!r}")
        total += int(float(num) * units[unit])
        num = ""
        i += len(unit)
    if num:
        raise MinidockerError(f"invalid duration {text!r}: missing unit")
    return total

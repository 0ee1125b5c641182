"""``minidocker …``: Docker-like verbs and flags over the engine.

Errors a user can act on print one line, ``minidocker: <problem>``, and exit
1; bad usage exits 125, as the docker CLI does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager

from . import __version__
from .errors import MinidockerError
from .format import render

USAGE_ERROR = 125


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized without ``shutil``: argparse builds one for
    every ``add_argument``, and importing ``shutil`` (with bz2 and lzma) there
    costs every CLI start ~3 ms."""

    def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
        if width is None:
            try:
                width = int(os.environ["COLUMNS"])
            except (KeyError, ValueError):
                try:
                    width = os.get_terminal_size(sys.__stdout__.fileno()).columns
                except (AttributeError, ValueError, OSError):
                    width = 80
            width -= 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"minidocker: {message}", file=sys.stderr)
        raise SystemExit(USAGE_ERROR)


_HOST: str | None = None   # -H / MINIDOCKER_HOST: the daemon the CLI talks to, if any


def _engine(explain: bool = False):
    if _HOST:
        if explain:
            raise MinidockerError("--explain shows the local engine's kernel calls; "
                                  "run it without -H (or MINIDOCKER_HOST)")
        from .client import RemoteEngine
        return RemoteEngine(_HOST)
    from .engine import Engine
    from .kernel import choice
    name, why = choice()
    if why:
        print(f"minidocker: using the simulated kernel ({why}); MINIDOCKER_KERNEL=linux|sim chooses",
              file=sys.stderr)
    if name == "sim":
        from .kernel import get_kernel
        get_kernel().detach_in_process = False  # `run -d` must outlive this process
    if not explain:
        engine = Engine()
        engine.progress = _progress
        return engine
    from .kernel import get_kernel
    from .kernel.tracing import TracingKernel, printing_sink
    fd = os.dup(2)  # close-on-exec: it vanishes at the container's execve
    return Engine(kernel=TracingKernel(get_kernel(), printing_sink(fd), keep_fd=fd))


@contextmanager
def _progress(desc: str, total: int | None = None):
    """A byte-counting progress bar on stderr when it is a terminal."""
    from tqdm import tqdm
    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
              disable=None, file=sys.stderr, leave=False) as bar:
        yield bar.update


@contextmanager
def _output(path: str | None):
    """``-o FILE`` written atomically, or stdout when it is not a terminal."""
    if path:
        from .fileio import AtomicFile
        with AtomicFile(os.path.abspath(path)) as f:
            yield f
            f.commit()
        return
    if sys.stdout.isatty():
        raise MinidockerError("refusing to write an archive to a terminal; use -o FILE or redirect stdout")
    sys.stdout.flush()
    yield sys.stdout.buffer


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=4))


# -- verbs ---------------------------------------------------------------------

def cmd_images(a) -> int:
    rows = _engine().image_rows()
    if a.repository:
        rows = [r for r in rows if r["Repository"] == a.repository.split(":")[0]]
    if a.quiet:
        print("\n".join(dict.fromkeys(r["ID"] for r in rows)))
        return 0
    cols = [("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"),
            ("CREATED", "CreatedSince"), ("SIZE", "Size")]
    if a.digests:
        cols.insert(2, ("DIGEST", "Digest"))
    print(render(rows, a.format, cols))
    return 0


def cmd_history(a) -> int:
    rows = _engine().history(a.image)
    for r in rows:
        if not a.no_trunc and len(r["CreatedBy"]) > 45:
            r["CreatedBy"] = r["CreatedBy"][:44] + "…"
        if not a.human:
            r["Size"] = str(r["SizeBytes"])
            r["CreatedSince"] = r["CreatedAt"]
    if a.quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))  # nothing at all when empty
        return 0
    cols = [("IMAGE", "ID"), ("CREATED", "CreatedSince"), ("CREATED BY", "CreatedBy"),
            ("SIZE", "Size"), ("COMMENT", "Comment")]
    print(render([{k: v for k, v in r.items() if k != "SizeBytes"} for r in rows], a.format, cols))
    return 0


def cmd_inspect(a) -> int:
    engine = _engine()
    results, failed = [], []
    for name in a.images:
        try:
            if getattr(a, "image_only", False):
                results.append(engine.inspect(name))
                continue
            try:
                results.append(engine.inspect_container(name))
            except MinidockerError:
                results.append(engine.inspect(name))
        except MinidockerError as e:
            failed.append(f"No such object: {name}" if not getattr(a, "image_only", False) else str(e))
    if a.format and a.format != "json":
        print(render(results, a.format, []))
    else:
        _print_json(results)
    for f in failed:
        print(f"minidocker: {f}", file=sys.stderr)
    return 1 if failed else 0


def cmd_tag(a) -> int:
    _engine().tag(a.source, a.target)
    return 0


def _each(names: list[str], action) -> int:
    """Docker's way with several names: act on each, report each failure, exit 1 if any."""
    status = 0
    for name in names:
        try:
            print(action(name))
        except MinidockerError as e:
            print(f"minidocker: {e}", file=sys.stderr)
            status = 1
    return status


def cmd_rmi(a) -> int:
    engine = _engine()
    return _each(a.images, lambda name: "\n".join(engine.rmi(name, force=a.force)))


def cmd_save(a) -> int:
    engine = _engine()
    with _output(a.output) as out, _progress("saving") as progress:
        engine.save(a.images, out, progress)
    return 0


def cmd_load(a) -> int:
    engine = _engine()
    with _progress("loading") as progress:
        if a.input:
            lines = engine.load(a.input, progress)
        else:
            if sys.stdin.isatty():
                raise MinidockerError("requested load from stdin, but stdin is empty; use -i FILE")
            lines = engine.load(sys.stdin.buffer, progress)
    if not a.quiet:
        print("\n".join(lines))
    return 0


def cmd_import(a) -> int:
    engine = _engine()
    name = a.file
    with _progress("importing") as progress:
        if name == "-":
            img = engine.import_(sys.stdin.buffer, a.reference, a.message, "-", progress)
        else:
            try:
                f = open(name, "rb")
            except OSError as e:
                raise MinidockerError(f"cannot open {name}: {e.strerror}") from None
            with f:
                img = engine.import_(f, a.reference, a.message, name, progress)
    print(img.id)
    return 0


def cmd_export(a) -> int:
    engine = _engine()
    with _output(a.output) as out:
        engine.export(a.image, out)
    return 0


def cmd_bootstrap(a) -> int:
    img = _engine().bootstrap(a.base, a.tag, a.suite, a.mirror)
    tags = ", ".join(r.familiar() for r in img.tags)
    print(f"{tags} {img.id}")
    return 0


def cmd_system_df(a) -> int:
    rows = _engine().disk_usage()
    cols = [("TYPE", "Type"), ("TOTAL", "TotalCount"), ("ACTIVE", "Active"),
            ("SIZE", "Size"), ("RECLAIMABLE", "Reclaimable")]
    print(render([{k: v for k, v in r.items() if k != "SizeBytes"} for r in rows], a.format, cols))
    return 0


def cmd_system_prune(a) -> int:
    from .format import human_size
    if not a.force:
        what = "all images without at least one container" if a.all else "all dangling images"
        print(f"WARNING! This will remove:\n  - {what}\n  - unused blobs and unpacked layers")
        if not sys.stdin.isatty():
            raise MinidockerError("not removing anything without confirmation; use -f/--force")
        if input("Are you sure you want to continue? [y/N] ").strip().lower() not in ("y", "yes"):
            return 0
    deleted, freed = _engine().prune(all_=a.all)
    if deleted:
        print("Deleted Images:\n" + "\n".join(f"deleted: {d}" for d in deleted) + "\n")
    print(f"Total reclaimed space: {human_size(freed)}")
    return 0


def cmd_system_check(a) -> int:
    problems = _engine().check()
    for p in problems:
        print(p)
    if problems:
        print(f"minidocker: the store has {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("store is consistent")
    return 0


# -- containers ------------------------------------------------------------------

def _container_options(a) -> dict:
    return dict(name=a.name or "", entrypoint=[a.entrypoint] if a.entrypoint is not None else None,
                env=a.env, env_files=a.env_file, workdir=a.workdir or "", user=a.user,
                hostname=a.hostname or "", memory=a.memory, cpus=a.cpus, pids_limit=a.pids_limit,
                volumes=a.volume, read_only=a.read_only, tty=a.tty, stdin=a.interactive,
                auto_remove=a.rm, init=a.init, network=a.network, publish=a.publish,
                publish_all=a.publish_all, expose=a.expose)


def _attach():
    from .runtime.attach import Attach
    return Attach(stdin=0, stdout=1, stderr=2)


def cmd_build(a) -> int:
    from .build.builder import BuildOptions
    args = {}
    for item in a.build_arg:
        name, sep, value = item.partition("=")
        if not name:
            raise MinidockerError(f"invalid --build-arg {item!r}: want NAME=VALUE")
        if not sep:
            if name not in os.environ:
                continue  # Docker takes a bare NAME from the environment, if set
            value = os.environ[name]
        args[name] = value
    labels = {}
    for item in a.label:
        name, _, value = item.partition("=")
        labels[name] = value
    options = BuildOptions(tags=a.tag, dockerfile=a.file, build_args=args, target=a.target,
                           no_cache=a.no_cache, labels=labels, quiet=a.quiet)
    image = _engine(a.explain).build(a.context, options, sys.stderr)
    if a.iidfile:
        from .fileio import atomic_write
        atomic_write(a.iidfile, image.id.encode())
    print(image.id if a.quiet else f"Successfully built {image.short_id}"
          + "".join(f"\nSuccessfully tagged {r.familiar()}" for r in image.tags))
    return 0


def default_socket() -> str:
    if os.geteuid() == 0:
        return "/run/minidocker.sock"
    return os.path.join(os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/minidocker-{os.geteuid()}",
                        "minidocker.sock")


def cmd_daemon(a) -> int:
    host = a.host or "unix://" + default_socket()
    if not host.startswith("unix://"):
        raise MinidockerError(f"unsupported -H {host!r}: only unix:///path sockets for now")
    from .engine import Engine
    from .engine.api import serve
    serve(Engine(), host[len("unix://"):])
    return 0


def cmd_create(a) -> int:
    record = _engine().create(a.image, a.command or None, **_container_options(a))
    print(record.id)
    return 0


def _keep_cgroup_moves_fast() -> None:
    """A container's process joins its cgroups soon: have the kernel's moves kept fast
    from now on, while the engine is imported and the container made (see
    ``cgroups.keep_moves_fast``; its moves are not a step of the container's, so a
    trace does not show them). Not for a daemon's client (the daemon does its own) or
    the simulated kernel."""
    if _HOST or os.geteuid() != 0:
        return
    from .kernel import choice
    if choice()[0] != "linux":
        return
    from .kernel.linux import LinuxKernel
    from .runtime import cgroups
    try:
        cgroups.keep_moves_fast(LinuxKernel())
    except (OSError, MinidockerError):
        pass   # it only saves time


def cmd_run(a) -> int:
    _keep_cgroup_moves_fast()
    engine = _engine(a.explain)
    if a.detach:
        record, _ = engine.run(a.image, a.command or None, detach_=True, **_container_options(a))
        print(record.id)
        return 0
    from .runtime.attach import restore_terminal_settings
    restore = restore_terminal_settings(0) if (a.tty and a.interactive) else (lambda: None)
    try:
        sys.stdout.flush()
        _, code = engine.run(a.image, a.command or None, attach=_attach(), **_container_options(a))
    finally:
        restore()
    return code


def cmd_exec(a) -> int:
    from .runtime.attach import restore_terminal_settings
    _keep_cgroup_moves_fast()
    engine = _engine()
    if a.detach:
        return engine.exec_(a.container, a.command, tty=a.tty, user=a.user, workdir=a.workdir or "",
                            env=a.env, detach_=True)
    restore = restore_terminal_settings(0) if (a.tty and a.interactive) else (lambda: None)
    try:
        return engine.exec_(a.container, a.command, tty=a.tty, stdin=a.interactive, user=a.user,
                            workdir=a.workdir or "", env=a.env, attach=_attach())
    finally:
        restore()


def cmd_attach(a) -> int:
    from .runtime.attach import restore_terminal_settings
    engine = _engine()
    config = engine.inspect_container(a.container)["Config"]
    raw = config["Tty"] and config["OpenStdin"] and not a.no_stdin
    restore = restore_terminal_settings(0) if raw else (lambda: None)
    try:
        sys.stdout.flush()
        return engine.attach(a.container, _attach(), stdin=not a.no_stdin)
    finally:
        restore()


def cmd_start(a) -> int:
    _keep_cgroup_moves_fast()
    engine = _engine()
    if a.attach:
        if len(a.containers) > 1:
            raise MinidockerError("you cannot start and attach multiple containers at once")
        return engine.start(a.containers[0], _attach())
    return _each(a.containers, lambda ref: engine.start(ref) == 0 and ref)


def cmd_stop(a) -> int:
    engine = _engine()
    return _each(a.containers, lambda ref: engine.stop(ref, a.time) and ref)


def cmd_kill(a) -> int:
    engine = _engine()
    return _each(a.containers, lambda ref: engine.kill(ref, a.signal) and ref)


def cmd_rm(a) -> int:
    engine = _engine()
    return _each(a.containers, lambda ref: engine.rm(ref, a.force) and ref)


def cmd_wait(a) -> int:
    engine = _engine()
    return _each(a.containers, engine.wait)


def cmd_ps(a) -> int:
    rows = _engine().ps_rows(all_=a.all)
    if a.quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))  # nothing at all when empty
        return 0
    cols = [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
            ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names")]
    print(render(rows, a.format, cols))
    return 0


def cmd_logs(a) -> int:
    out = {"stdout": sys.stdout, "stderr": sys.stderr}
    for stream, text in _engine().logs(a.container, follow=a.follow, tail=a.tail):
        out[stream].write(text)
        out[stream].flush()
    return 0


def cmd_top(a) -> int:
    rows = _engine().top(a.container)
    print(render(rows, None, [("UID", "UID"), ("PID", "PID"), ("PPID", "PPID"), ("CMD", "CMD")]))
    return 0


def cmd_port(a) -> int:
    lines = _engine().port(a.container)
    if a.private:
        want = a.private if "/" in a.private else a.private + "/tcp"
        lines = [line for line in lines if line.split(" -> ")[0] == want]
        if not lines:
            raise MinidockerError(f"no public port '{want}' published for {a.container}")
        lines = [line.split(" -> ")[1] for line in lines]
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


# -- networks --------------------------------------------------------------------

def cmd_network_create(a) -> int:
    labels = dict(item.partition("=")[::2] for item in a.label)
    net = _engine().network_create(a.name, subnet=a.subnet, gateway=a.gateway, internal=a.internal,
                                   labels=labels, driver=a.driver)
    print(net.id if hasattr(net, "id") else net)
    return 0


def cmd_network_ls(a) -> int:
    rows = _engine().network_rows()
    if a.quiet:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
        return 0
    cols = [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope")]
    print(render(rows, a.format, cols))
    return 0


def cmd_network_inspect(a) -> int:
    engine = _engine()
    import json
    print(json.dumps([engine.network_inspect(n) for n in a.networks], indent=4))
    return 0


def cmd_network_rm(a) -> int:
    engine = _engine()
    return _each(a.networks, lambda n: (engine.network_rm(n), n)[1])


def cmd_network_prune(a) -> int:
    removed = _engine().network_prune()
    if removed:
        print("Deleted Networks:\n" + "".join(n + "\n" for n in removed), end="")
    return 0


def cmd_network_connect(a) -> int:
    _engine().network_connect(a.network, a.container)
    return 0


def cmd_network_disconnect(a) -> int:
    _engine().network_disconnect(a.network, a.container)
    return 0


def _network_args(sub) -> None:
    network = sub.add_parser("network", help="manage networks").add_subparsers(
        dest="network_command", metavar="COMMAND", parser_class=_Parser)
    network.required = True
    p = network.add_parser("create", help="create a bridge network")
    p.add_argument("name", metavar="NETWORK")
    p.add_argument("-d", "--driver", default="bridge", help="only bridge")
    p.add_argument("--subnet", help="CIDR, e.g. 10.70.0.0/24 (default: a free /24 of 10.67.0.0/16)")
    p.add_argument("--gateway", help="the bridge's address (default: the subnet's first)")
    p.add_argument("--internal", action="store_true", help="no traffic to the outside (no masquerade)")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="set a label")
    p.set_defaults(func=cmd_network_create)
    p = network.add_parser("ls", aliases=["list"], help="list networks")
    p.add_argument("-q", "--quiet", action="store_true", help="only show network IDs")
    p.add_argument("--format", help="table, json, or a Go-template subset")
    p.set_defaults(func=cmd_network_ls)
    p = network.add_parser("inspect", help="show networks in detail")
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.set_defaults(func=cmd_network_inspect)
    p = network.add_parser("rm", aliases=["remove"], help="remove networks")
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.set_defaults(func=cmd_network_rm)
    p = network.add_parser("prune", help="remove networks no container uses")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.set_defaults(func=cmd_network_prune)
    for verb, func in (("connect", cmd_network_connect), ("disconnect", cmd_network_disconnect)):
        p = network.add_parser(verb, help=f"{verb} a container {'to' if verb == 'connect' else 'from'} a network")
        p.add_argument("network", metavar="NETWORK")
        p.add_argument("container", metavar="CONTAINER")
        p.set_defaults(func=func)


def cmd_viz(a) -> int:
    try:
        from . import viz
    except ImportError as e:
        raise MinidockerError(f"diagrams need the graphviz Python package ({e}): "
                              "pip install graphviz") from None
    if a.kind == "network":
        diagram = viz.network_topology(_read_json(a.file) if a.file else _engine())
    elif a.kind == "build" and a.record:
        from .build.record import BuildRecord
        try:
            record = BuildRecord.from_json(_read_json(a.record))
        except (TypeError, KeyError, AttributeError, ValueError):
            raise MinidockerError(f"{a.record} is not a build record (see last-build.json "
                                  "under the state root)") from None
        diagram = viz.build.draw(record, a.timings)
    else:
        engine = _engine()
        diagram = {
            "layers": lambda: viz.image_layers(engine, a.image, a.container),
            "sharing": lambda: viz.shared_layers(engine, a.names),
            "build": lambda: viz.build_steps(engine, a.timings),
            "cgroups": lambda: viz.cgroup_tree(engine, a.container),
            "namespaces": lambda: viz.host_and_container(engine, a.container),
        }[a.kind]()
    if not a.output:
        sys.stdout.write(diagram.source)
        return 0
    try:
        diagram.save(a.output)
    except viz.RenderError as e:
        sys.stdout.write(diagram.source)  # what cannot be drawn here can be drawn elsewhere
        raise MinidockerError(f"cannot render {a.output}: {e}") from None
    return 0


def _read_json(path: str):
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, "rb") as f:
            return json.load(f)
    except OSError as e:
        raise MinidockerError(f"cannot read {path}: {e.strerror}") from None
    except ValueError as e:
        raise MinidockerError(f"{path} is not valid JSON: {e}") from None


def _viz_args(p):
    kinds = p.add_subparsers(dest="kind", metavar="KIND", parser_class=_Parser)
    kinds.required = True

    def kind(name, help_):
        k = kinds.add_parser(name, help=help_, description=help_ + ". Prints the DOT source, or "
                             "renders it to -o FILE (.svg, .png, .pdf by suffix; .dot as source).")
        k.add_argument("-o", "--output", metavar="FILE", help="write the diagram here (format from the suffix)")
        k.set_defaults(func=cmd_viz)
        return k
    k = kind("layers", "an image's layer stack, bottom to top, with sizes, commands and cache status")
    k.add_argument("image", metavar="IMAGE")
    k.add_argument("--container", metavar="CONTAINER", help="also draw this container's writable layer")
    k = kind("sharing", "images and containers, and the layers they share")
    k.add_argument("names", nargs="*", metavar="IMAGE|CONTAINER", help="default: all of them")
    k = kind("build", "the steps of a build: CACHED, or why not")
    which = k.add_mutually_exclusive_group()
    which.add_argument("--last", action="store_true", help="the last build under the state root (default)")
    which.add_argument("--record", metavar="FILE", help="a saved build record (a copy of last-build.json)")
    k.add_argument("--timings", action="store_true", help="show how long each step took")
    k = kind("cgroups", "a container's cgroups in the tree, with limits and usage")
    k.add_argument("container", metavar="CONTAINER")
    k = kind("namespaces", "a running container's processes and mount table beside the host's")
    k.add_argument("container", metavar="CONTAINER")
    k = kind("network", "the network topology (bridges, veths, namespaces, published ports)")
    k.add_argument("file", nargs="?", metavar="FILE.json",
                   help="draw this description (JSON; - for stdin) instead of the current state")


def _run_args(p, run: bool):
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    if run:
        p.add_argument("-d", "--detach", action="store_true", help="run in the background and print the container ID")
        p.add_argument("--explain", action="store_true",
                       help="print each kernel operation of the start, with the reason for it")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V", help="set an environment variable")
    p.add_argument("--env-file", action="append", default=[], metavar="FILE", help="read environment variables from a file")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-u", "--user", help="USER[:GROUP] (name or number)")
    p.add_argument("--hostname", help="container host name")
    p.add_argument("-m", "--memory", help="memory limit, e.g. 64m")
    p.add_argument("--cpus", help="number of CPUs, e.g. 0.5")
    p.add_argument("--pids-limit", help="process limit (-1 for unlimited)")
    p.add_argument("-v", "--volume", action="append", default=[], metavar="HOST:CTR[:ro]", help="bind mount a host path")
    p.add_argument("--read-only", action="store_true", help="mount the container's root filesystem read-only")
    p.add_argument("--entrypoint", help="overwrite the image's ENTRYPOINT")
    p.add_argument("--init", action="store_true", help="accepted for compatibility; PID 1 is the command itself")
    p.add_argument("--network", "--net", metavar="NETWORK",
                   help="bridge (the default), none, host, or a network's name")
    p.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:]HOSTPORT:PORT[/PROTO]",
                   help="publish a container's port on the host")
    p.add_argument("-P", "--publish-all", action="store_true",
                   help="publish every exposed port on a free host port")
    p.add_argument("--expose", action="append", default=[], metavar="PORT[/PROTO]",
                   help="expose a port (for -P) without publishing it")


# -- the parser ------------------------------------------------------------------

def _images_args(p):
    p.add_argument("repository", nargs="?", help="show only this repository")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("-a", "--all", action="store_true", help="show all images (the default here)")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("--format", help="table, json, or a Go-template subset like '{{.ID}}'")
    p.set_defaults(func=cmd_images)


def _history_args(p):
    p.add_argument("image")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-H", "--human", action=argparse.BooleanOptionalAction, default=True,
                   help="print sizes and dates in human-readable form (default)")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
    p.add_argument("--format", help="table, json, or a Go-template subset")
    p.set_defaults(func=cmd_history)


def _inspect_args(p):
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--format", help="json (default) or a Go-template subset")
    p.set_defaults(func=cmd_inspect)
    return p


def _tag_args(p):
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(func=cmd_tag)


def _rmi_args(p):
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="remove even if tagged in several repositories")
    p.set_defaults(func=cmd_rmi)


def _save_args(p):
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="write to a file instead of stdout")
    p.set_defaults(func=cmd_save)


def _load_args(p):
    p.add_argument("-i", "--input", help="read from a tar archive (plain or gzip) or an OCI layout directory")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    p.set_defaults(func=cmd_load)


def _import_args(p):
    p.add_argument("file", metavar="FILE|-", help="a rootfs tar (plain or gzip), or - for stdin")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-m", "--message", default="", help="commit message for the imported image")
    p.set_defaults(func=cmd_import)


def _export_args(p):
    p.add_argument("image", metavar="IMAGE",
                   help="the image whose merged filesystem to export (containers arrive with the runtime)")
    p.add_argument("-o", "--output", help="write to a file instead of stdout")
    p.set_defaults(func=cmd_export)


# Top-level commands, so `main` can build just the parser it needs.
_COMMANDS = {"run", "create", "attach", "start", "stop", "kill", "wait", "rm", "ps", "logs", "top", "exec",
             "build", "daemon", "images", "history", "inspect", "tag", "rmi", "save", "load",
             "import", "export", "image", "bootstrap", "system", "viz", "network", "port"}


class _Unused:
    """Stands in for the parser of a command this invocation does not run: building
    all ~40 of them costs more than a cached build (argparse and gettext are slow)."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with ``only``, just that command's part of it."""
    parser = _Parser(prog="minidocker", description="An educational container runtime and simulator.")
    parser.add_argument("--version", action="version", version=f"minidocker {__version__}")
    parser.add_argument("-H", "--host", metavar="unix:///PATH",
                        help="talk to a minidocker daemon through its Engine API (default: "
                             "$MINIDOCKER_HOST, else run the engine in this process)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    if only is not None:
        add_parser = sub.add_parser
        sub.add_parser = lambda name, **kw: add_parser(name, **kw) if name == only else _Unused()

    run = sub.add_parser("run", help="create and run a new container from an image")
    _run_args(run, True)
    run.set_defaults(func=cmd_run)
    create = sub.add_parser("create", help="create a new container")
    _run_args(create, False)
    create.set_defaults(func=cmd_create)
    build = sub.add_parser(
        "build", help="build an image from a Dockerfile",
        description="Build an image from a Dockerfile and a context directory, with Docker's "
                    "layer cache. RUN steps run in real containers on the host's network, so "
                    "package managers work where this machine reaches a mirror. ADD extracts "
                    "local tar and tar.gz archives; URLs are not fetched (offline).")
    build.add_argument("context", metavar="PATH", help="the build context directory")
    build.add_argument("-t", "--tag", action="append", default=[], help="name:tag (repeatable)")
    build.add_argument("--explain", action="store_true",
                       help="print each kernel operation of the RUN steps, with the reason for it")
    build.add_argument("-f", "--file", help="the Dockerfile (default PATH/Dockerfile)")
    build.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE",
                       help="a build-time variable (repeatable)")
    build.add_argument("--target", help="build up to this stage")
    build.add_argument("--no-cache", action="store_true", help="do not use the cache")
    build.add_argument("--label", action="append", default=[], metavar="K=V", help="add a label")
    build.add_argument("-q", "--quiet", action="store_true", help="print only the image ID")
    build.add_argument("--iidfile", help="write the image ID to this file")
    build.add_argument("--progress", choices=["auto", "plain", "tty"], default="plain",
                       help="output style (plain: one line per event, with timings)")
    build.set_defaults(func=cmd_build)
    daemon = sub.add_parser("daemon", help="serve the Docker Engine API on a unix socket",
                            description="Serve the Docker Engine API (1.47) on a unix socket, so the "
                                        "docker CLI (DOCKER_HOST=unix://…) and docker-py can drive "
                                        "minidocker. Runs in the foreground; stop it with Ctrl-C.")
    daemon.add_argument("-H", "--host", help="unix:///path (default /run/minidocker.sock as root)")
    daemon.set_defaults(func=cmd_daemon)
    ex = sub.add_parser("exec", help="run a command in a running container")
    ex.add_argument("container", metavar="CONTAINER")
    ex.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")
    ex.add_argument("-d", "--detach", action="store_true", help="run the command in the background")
    ex.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    ex.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    ex.add_argument("-u", "--user", help="USER[:GROUP]")
    ex.add_argument("-w", "--workdir", help="working directory inside the container")
    ex.add_argument("-e", "--env", action="append", default=[], metavar="K=V", help="set an environment variable")
    ex.set_defaults(func=cmd_exec)
    at = sub.add_parser("attach", help="attach to a running container's output (and input)",
                        description="Attach to a running container: its output from now on, your "
                                    "input to it if it was started with -i, until it ends (its exit "
                                    "code) or, on a terminal, you detach with Ctrl-P Ctrl-Q.")
    at.add_argument("container", metavar="CONTAINER")
    at.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
    at.set_defaults(func=cmd_attach)
    start = sub.add_parser("start", help="start stopped containers")
    start.add_argument("containers", nargs="+", metavar="CONTAINER")
    start.add_argument("-a", "--attach", action="store_true", help="attach to output and wait")
    start.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", help="stop running containers (SIGTERM, then SIGKILL)")
    stop.add_argument("containers", nargs="+", metavar="CONTAINER")
    stop.add_argument("-t", "--time", type=float, default=10, help="seconds to wait before killing (default 10)")
    stop.set_defaults(func=cmd_stop)
    kill = sub.add_parser("kill", help="send a signal to running containers")
    kill.add_argument("containers", nargs="+", metavar="CONTAINER")
    kill.add_argument("-s", "--signal", default="KILL", help="signal to send (default KILL)")
    kill.set_defaults(func=cmd_kill)
    wait = sub.add_parser("wait", help="block until containers stop, then print their exit codes")
    wait.add_argument("containers", nargs="+", metavar="CONTAINER")
    wait.set_defaults(func=cmd_wait)
    rm = sub.add_parser("rm", help="remove containers")
    rm.add_argument("containers", nargs="+", metavar="CONTAINER")
    rm.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    rm.set_defaults(func=cmd_rm)
    ps = sub.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true", help="show all containers (default: running)")
    ps.add_argument("-q", "--quiet", action="store_true", help="only show IDs")
    ps.add_argument("--format", help="table, json, or a Go-template subset")
    ps.set_defaults(func=cmd_ps)
    logs = sub.add_parser("logs", help="fetch the logs of a container")
    logs.add_argument("container", metavar="CONTAINER")
    logs.add_argument("-f", "--follow", action="store_true", help="follow log output")
    logs.add_argument("-n", "--tail", type=int, help="number of lines from the end")
    logs.set_defaults(func=cmd_logs)
    top = sub.add_parser("top", help="display the processes of a container")
    top.add_argument("container", metavar="CONTAINER")
    top.set_defaults(func=cmd_top)
    _images_args(sub.add_parser("images", help="list images"))
    _history_args(sub.add_parser("history", help="show the history of an image"))
    _inspect_args(sub.add_parser("inspect", help="show low-level information on containers or images"))
    _tag_args(sub.add_parser("tag", help="create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"))
    _rmi_args(sub.add_parser("rmi", help="remove one or more images"))
    _save_args(sub.add_parser("save", help="save images to a tar archive (Docker and OCI layout in one)"))
    _load_args(sub.add_parser("load", help="load images from a tar archive or OCI layout"))
    _import_args(sub.add_parser("import", help="import a rootfs tarball as a one-layer image"))
    _export_args(sub.add_parser("export", help="export an image's merged filesystem as a tar archive"))

    image = sub.add_parser("image", help="manage images").add_subparsers(
        dest="image_command", metavar="COMMAND", parser_class=_Parser)
    image.required = True
    _images_args(image.add_parser("ls", help="list images"))
    _history_args(image.add_parser("history", help="show the history of an image"))
    _inspect_args(image.add_parser("inspect", help="show low-level information on images"))\
        .set_defaults(image_only=True)
    _tag_args(image.add_parser("tag", help="create a tag"))
    _rmi_args(image.add_parser("rm", help="remove images"))
    _save_args(image.add_parser("save", help="save images to a tar archive"))
    _load_args(image.add_parser("load", help="load images"))
    _import_args(image.add_parser("import", help="import a rootfs tarball"))
    prune = image.add_parser("prune", help="remove unused images")
    _prune_args(prune)

    _viz_args(sub.add_parser("viz", help="draw images, builds, cgroups, namespaces or a network (Graphviz)",
                             description="Diagrams of minidocker's state, as DOT source or "
                                         "rendered with Graphviz's dot program."))

    _network_args(sub)
    port = sub.add_parser("port", help="list a container's published ports")
    port.add_argument("container", metavar="CONTAINER")
    port.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    port.set_defaults(func=cmd_port)

    boot = sub.add_parser("bootstrap", help="make a base image on this machine, without a registry")
    boot.add_argument("base", choices=["busybox", "debian"],
                      help="busybox: from the host's busybox-static (fast); "
                           "debian: with debootstrap (slow, needs a mirror)")
    boot.add_argument("-t", "--tag", help="name of the image (default busybox:latest / debian:SUITE)")
    boot.add_argument("--suite", default="bookworm", help="debian: the release (default bookworm)")
    boot.add_argument("--mirror", help="debian: the package mirror URL")
    boot.set_defaults(func=cmd_bootstrap)

    system = sub.add_parser("system", help="manage minidocker").add_subparsers(
        dest="system_command", metavar="COMMAND", parser_class=_Parser)
    system.required = True
    df = system.add_parser("df", help="show disk usage")
    df.add_argument("--format", help="table, json, or a Go-template subset")
    df.set_defaults(func=cmd_system_df)
    _prune_args(system.add_parser("prune", help="remove unused data"))
    check = system.add_parser("check", aliases=["fsck"], help="verify every blob, image and snapshot")
    check.set_defaults(func=cmd_system_check)
    return parser


def _prune_args(p):
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.set_defaults(func=cmd_system_prune)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv and not argv[0].startswith("-") else None
    parser = build_parser(command) if command in _COMMANDS else build_parser()
    args = parser.parse_args(argv)
    global _HOST
    _HOST = getattr(args, "host", None) if args.command != "daemon" else None
    _HOST = _HOST or (os.environ.get("MINIDOCKER_HOST") if args.command != "daemon" else None)
    try:
        return args.func(args)
    except MinidockerError as e:
        message = str(e).replace("\n", " ")
        print(f"minidocker: {message}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("minidocker: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:  # a host error nothing above turned into a clearer one
        where = f": {e.filename}" if e.filename else ""
        print(f"minidocker: {e.strerror or e}{where}", file=sys.stderr)
        return USAGE_ERROR





def entry() -> None:
    """The console script: ``main``, then a fast exit.

    Interpreter shutdown costs ~15 ms of pure CPU and nothing needs it: files
    are closed and state is on disk by now, so flush and leave.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)

"""The builtins of the simulated ``sh``, with busybox ash's wording.

Builtins that are also applets (``echo``, ``printf``, ``test``/``[``,
``true``, ``false``, ``pwd``, ``kill``) run the applet on the shell's current
redirections, so both behave the same. The rest change the shell itself.
"""

from __future__ import annotations

import posixpath
import re
import stat as st

from . import shparse as P
from .common import dec, enc, readline, strerror
from .sh import (SPECIAL_BUILTINS, Shell, ShellError, _Break, _Continue, _Exit, _Return, quote)

SIGNAL_NAMES = ("EXIT", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1",
                "SEGV", "USR2", "PIPE", "ALRM", "TERM")
ASH_OPTIONS = {"errexit": "e", "nounset": "u", "xtrace": "x", "noglob": "f", "allexport": "a",
               "verbose": "v", "noexec": "n", "noclobber": "C", "pipefail": "pipefail"}


def _out(sh: Shell, text: str) -> None:
    stream = sh.fds.get(1)
    if stream is not None:
        stream.write(enc(text))


def _number(sh: Shell, name: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text):
        raise ShellError(f"{name}: Illegal number: {text}")
    return int(text)


def b_colon(sh: Shell, argv: list[str]) -> int:
    return 0


def _applet(name: str):
    def run(sh: Shell, argv: list[str]) -> int:
        from .applets import APPLETS
        return APPLETS[name](sh.view(), argv)
    return run


def b_exit(sh: Shell, argv: list[str]) -> int:
    raise _Exit(_number(sh, "exit", argv[1]) & 0xFF if len(argv) > 1 else sh.status)


def b_return(sh: Shell, argv: list[str]) -> int:
    status = _number(sh, "return", argv[1]) & 0xFF if len(argv) > 1 else sh.status
    if sh.funcs_active or sh.sourcing:
        raise _Return(status)
    raise _Exit(status)


def _loop_jump(kind):
    def run(sh: Shell, argv: list[str]) -> int:
        n = _number(sh, argv[0], argv[1]) if len(argv) > 1 else 1
        if n < 1:
            raise ShellError(f"{argv[0]}: Illegal number: {argv[1]}")
        if not sh.loops:
            return 0
        raise kind(min(n, sh.loops))
    return run


def b_eval(sh: Shell, argv: list[str]) -> int:
    text = " ".join(argv[1:])
    if not text.strip():
        return 0
    try:
        tree = P.parse(text)
    except P.ShellSyntaxError as e:
        sh.msg(f"syntax error: {e.msg}")
        raise _Exit(2) from None
    sh._enter("eval")
    try:
        return sh.run(tree)
    finally:
        sh.depth -= 1


def b_source(sh: Shell, argv: list[str]) -> int:
    if len(argv) < 2:
        sh.msg(f"{argv[0]}: filename argument required")
        return 2
    name = argv[1]
    path = name if "/" in name else (find_in_path(sh, name, executable=False) or name)
    try:
        text = dec(sh.sys.read(path))
    except OSError as e:
        raise ShellError(f"{argv[0]}: can't open '{name}': {strerror(e)}") from None
    try:
        tree = P.parse(text)
    except P.ShellSyntaxError as e:
        raise ShellError(f"{name}: line {e.lineno}: syntax error: {e.msg}") from None
    sh._enter(".")
    saved_params = sh.params
    if len(argv) > 2:
        sh.params = argv[2:]
    sh.sourcing += 1
    try:
        return sh.run(tree)
    except _Return as r:
        return r.status
    finally:
        sh.sourcing -= 1
        if len(argv) > 2:
            sh.params = saved_params
        sh.depth -= 1


def b_exec(sh: Shell, argv: list[str]) -> int:
    if len(argv) == 1:
        return 0
    raise _Exit(sh.external(argv[1:]))


def _assign_words(sh: Shell, argv: list[str], export: bool = False, readonly: bool = False) -> int:
    for word in argv[1:]:
        name, eq, value = word.partition("=")
        if not P.is_name(name):
            raise ShellError(f"{argv[0]}: {name}: bad variable name")
        if eq:
            sh.setvar(name, value, export=export)
        if export:
            sh.exported.add(name)
        if readonly:
            sh.readonly.add(name)
    return 0


def b_export(sh: Shell, argv: list[str]) -> int:
    if len(argv) == 1 or argv[1] == "-p":
        for name in sorted(sh.exported):
            if name in sh.vars:
                _out(sh, f"export {name}={quote(sh.vars[name])}\n")
        return 0
    return _assign_words(sh, [argv[0]] + [a for a in argv[1:] if a != "-n"], export=True)


def b_readonly(sh: Shell, argv: list[str]) -> int:
    if len(argv) == 1 or argv[1] == "-p":
        for name in sorted(sh.readonly):
            _out(sh, f"readonly {name}={quote(sh.vars.get(name, ''))}\n")
        return 0
    return _assign_words(sh, argv, readonly=True)


def b_local(sh: Shell, argv: list[str]) -> int:
    if not sh.locals:
        sh.msg("local: not in a function")
        return 2
    frame = sh.locals[-1]
    for word in argv[1:]:
        name = word.partition("=")[0]
        if name not in frame:
            frame[name] = sh.vars.get(name)
    return _assign_words(sh, argv)


def b_unset(sh: Shell, argv: list[str]) -> int:
    funcs = False
    for word in argv[1:]:
        if word == "-f":
            funcs = True
        elif word == "-v":
            funcs = False
        elif funcs:
            sh.funcs.pop(word, None)
        else:
            sh.unsetvar(word)
    return 0


def b_set(sh: Shell, argv: list[str]) -> int:
    args = argv[1:]
    if not args:
        for name in sorted(sh.vars):
            _out(sh, f"{name}={quote(sh.vars[name])}\n")
        return 0
    while args:
        a = args[0]
        if a == "--":
            args.pop(0)
            sh.params = list(args)
            return 0
        if a in ("-o", "+o"):
            args.pop(0)
            if not args:
                for long, short in ASH_OPTIONS.items():
                    _out(sh, f"{long:<16}{'on' if short in sh.opts else 'off'}\n")
                return 0
            name = args.pop(0)
            if name not in ASH_OPTIONS:
                sh.msg(f"set: illegal option -o {name}")
                return 2
            (sh.opts.add if a == "-o" else sh.opts.discard)(ASH_OPTIONS[name])
            continue
        if len(a) > 1 and a[0] in "-+":
            args.pop(0)
            for c in a[1:]:
                if c not in "euxfavnC":
                    sh.msg(f"set: illegal option -{c}")
                    return 2
                (sh.opts.add if a[0] == "-" else sh.opts.discard)(c)
            continue
        if a == "-":
            args.pop(0)
            sh.opts -= {"x", "v"}
        sh.params = list(args)
        return 0
    return 0


def b_shift(sh: Shell, argv: list[str]) -> int:
    n = _number(sh, "shift", argv[1]) if len(argv) > 1 else 1
    if n > len(sh.params):
        sh.msg("shift: can't shift that many")
        return 1
    sh.params = sh.params[n:]
    return 0


def b_trap(sh: Shell, argv: list[str]) -> int:
    args = argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args or args == ["-p"]:
        for sig, action in sorted(sh.traps.items()):
            _out(sh, f"trap -- {quote(action)} {sig}\n")
        return 0
    if args == ["-l"]:
        _out(sh, "".join(f"{k:2d}) {n}\n" for k, n in enumerate(SIGNAL_NAMES) if k))
        return 0
    if len(args) == 1 or re.fullmatch(r"[0-9]+", args[0]):
        action, sigs = "-", args
    else:
        action, sigs = args[0], args[1:]
    status = 0
    for sig in sigs:
        name = sig.upper().removeprefix("SIG")
        if name.isdigit():
            name = SIGNAL_NAMES[int(name)] if int(name) < len(SIGNAL_NAMES) else ""
        if name not in SIGNAL_NAMES and name not in ("CHLD", "WINCH", "CONT", "STOP", "TSTP"):
            sh.msg(f"trap: {sig}: bad trap")
            status = 1
            continue
        if action == "-":
            sh.traps.pop(name, None)
        else:
            sh.traps[name] = action
    return status


def b_cd(sh: Shell, argv: list[str]) -> int:
    args = [a for a in argv[1:] if a not in ("-L", "-P")]
    target = args[0] if args else sh.vars.get("HOME", "/")
    show = False
    if target == "-":
        target = sh.vars.get("OLDPWD", sh.vars.get("PWD", "/"))
        show = True
    if not target:
        return 0
    old = sh.sys.getcwd()
    try:
        sh.sys.chdir(target)
    except OSError as e:
        sh.msg(f"cd: can't cd to {target}: {strerror(e)}")
        return 2
    new = sh.sys.getcwd()
    sh.vars["OLDPWD"] = old
    sh.vars["PWD"] = new
    if show:
        _out(sh, new + "\n")
    return 0


def b_read(sh: Shell, argv: list[str]) -> int:
    raw = False
    prompt = None
    args = argv[1:]
    while args and args[0].startswith("-") and len(args[0]) > 1:
        a = args.pop(0)
        if a == "--":
            break
        for k, c in enumerate(a[1:], 1):
            if c == "r":
                raw = True
            elif c in "pt":
                value = a[k + 1:] or (args.pop(0) if args else "")
                if c == "p":
                    prompt = value
                break
            else:
                sh.msg(f"read: invalid option -{c}")
                return 2
    names = args or ["REPLY"]
    for name in names:
        if not P.is_name(name):
            sh.msg(f"read: '{name}': not a valid identifier")
            return 2
    if prompt is not None and sh.fds.get(2) is not None:
        sh.fds[2].write(enc(prompt))
    stream = sh.fds.get(0)
    text = ""
    eof = True
    while stream is not None:
        line = dec(readline(stream))
        if not line:
            break
        if line.endswith("\n"):
            line = line[:-1]
            eof = False
        else:
            eof = True
        if not raw and line.endswith("\\") and not line.endswith("\\\\") and not eof:
            text += line[:-1]
            eof = True
            continue
        text += line
        break
    if not raw:
        text = re.sub(r"\\(.)", r"\1", text)
    ifs = sh.vars.get("IFS", " \t\n")
    white = "".join(c for c in ifs if c in " \t\n")
    text = text.strip(white) if white else text
    for k, name in enumerate(names):
        if k == len(names) - 1:
            value = text.rstrip(white) if white else text
            text = ""
        else:
            m = re.match("[^" + re.escape(ifs) + "]*", text) if ifs else None
            value = m.group() if m else text
            text = text[len(value):]
            if text:
                text = text[1:] if text[0] in ifs and text[0] not in white else text
                text = text.lstrip(white) if white else text
        sh.setvar(name, value)
    return 1 if eof else 0


def find_in_path(sh: Shell, name: str, executable: bool = True) -> str | None:
    for d in sh.vars.get("PATH", "").split(":"):
        cand = posixpath.join(d or ".", name)
        try:
            s = sh.sys.stat(cand)
        except OSError:
            continue
        if st.S_ISREG(s.mode) and (not executable or s.mode & 0o111):
            return cand
    return None


def describe(sh: Shell, name: str) -> tuple[str, str] | None:
    """(kind, what) of a command name, as ``type`` and ``command -v`` see it."""
    if name in P.RESERVED:
        return "keyword", name
    if name in sh.funcs:
        return "function", name
    if name in SPECIAL_BUILTINS:
        return "special", name
    if name in BUILTINS:
        return "builtin", name
    if "/" in name:
        try:
            s = sh.sys.stat(name)
            if st.S_ISREG(s.mode) and s.mode & 0o111:
                return "file", name
        except OSError:
            pass
        return None
    path = find_in_path(sh, name)
    return ("file", path) if path else None


_TYPE_TEXT = {"keyword": "{0} is a shell keyword", "function": "{0} is a function",
              "special": "{0} is a special shell builtin", "builtin": "{0} is a shell builtin",
              "file": "{0} is {1}"}


def b_type(sh: Shell, argv: list[str]) -> int:
    status = 0
    for name in argv[1:]:
        d = describe(sh, name)
        if d is None:
            _out(sh, f"{name}: not found\n")
            status = 127
        else:
            _out(sh, _TYPE_TEXT[d[0]].format(name, d[1]) + "\n")
    return status


def b_command(sh: Shell, argv: list[str]) -> int:
    args = argv[1:]
    mode = None
    while args and args[0] in ("-v", "-V", "-p"):
        a = args.pop(0)
        if a != "-p":
            mode = a
    if not args:
        return 0
    if mode == "-v":
        status = 0
        for name in args:
            d = describe(sh, name)
            if d is None:
                status = 127
            else:
                _out(sh, d[1] + "\n")
        return status
    if mode == "-V":
        return b_type(sh, ["type"] + args)
    return sh.dispatch(args, [], functions=False)


def b_wait(sh: Shell, argv: list[str]) -> int:
    """wait [PID...]: for the given background jobs, or all; the last one's status."""
    wanted = [int(a) for a in argv[1:] if a.isdigit()] or list(sh.jobs)
    status = 0
    for pid in wanted:
        if pid in sh.jobs:
            sh.jobs.remove(pid)
            status = sh.sys.wait(pid)
        else:
            status = 127
    return status


def b_umask(sh: Shell, argv: list[str]) -> int:
    if len(argv) == 1:
        _out(sh, f"{getattr(sh, 'umask_value', 0o022):04o}\n")
        return 0
    try:
        sh.umask_value = int(argv[1], 8)
    except ValueError:
        sh.msg(f"umask: Illegal number: {argv[1]}")
        return 1
    return 0


def b_ulimit(sh: Shell, argv: list[str]) -> int:
    if len(argv) == 1 or argv[1] in ("-f", "-a"):
        _out(sh, "unlimited\n" if len(argv) < 2 or argv[1] != "-a" else "file size (blocks)  unlimited\n")
    return 0


BUILTINS = {
    ":": b_colon,
    "true": _applet("true"),
    "false": _applet("false"),
    "echo": _applet("echo"),
    "printf": _applet("printf"),
    "test": _applet("test"),
    "[": _applet("["),
    "pwd": _applet("pwd"),
    "kill": _applet("kill"),
    "exit": b_exit,
    "return": b_return,
    "break": _loop_jump(_Break),
    "continue": _loop_jump(_Continue),
    "eval": b_eval,
    ".": b_source,
    "source": b_source,
    "exec": b_exec,
    "export": b_export,
    "readonly": b_readonly,
    "local": b_local,
    "unset": b_unset,
    "set": b_set,
    "shift": b_shift,
    "trap": b_trap,
    "cd": b_cd,
    "read": b_read,
    "type": b_type,
    "command": b_command,
    "wait": b_wait,
    "umask": b_umask,
    "ulimit": b_ulimit,
    "hash": b_colon,
}

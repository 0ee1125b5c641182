"""The simulated userland (minidocker/kernel/sim/userland) on the in-memory
``FakeKernel``: the shell's grammar, expansions, control flow and errors,
the busybox applets' output, the Dockerfiles' RUN lines, and the contract
with the kernel (``identify``, ``lookup``, ``not_found``)."""

from __future__ import annotations

import pytest

from minidocker.kernel.sim import userland
from minidocker.kernel.sim.userland.fake import FakeKernel, make_rootfs

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture
def k() -> FakeKernel:
    return make_rootfs(FakeKernel())


def sh(k: FakeKernel, script: str, **kw):
    return k.exec(["sh", "-c", script], **kw)


def out(k: FakeKernel, script: str, **kw) -> str:
    r = sh(k, script, **kw)
    assert r.err == "", r.err
    assert r.status == 0
    return r.out


# -- quoting and expansion ---------------------------------------------------------------

@pytest.mark.parametrize("script, expected", [
    ("echo hello   world", "hello world\n"),
    ("echo 'single  $HOME'", "single  $HOME\n"),
    ('echo "double  $HOME"', "double  /root\n"),
    (r"echo a\ b \$x \\", "a b $x \\\n"),
    (r'echo "q\"uote" "back\\slash" "keep\n"', 'q"uote back\\slash keep\\n\n'),
    ("x=val; echo $x ${x} ${x}s", "val val vals\n"),
    ("echo ${unset:-default} ${unset-dash}", "default dash\n"),
    ("x=; echo [${x:-empty}] [${x-unset}]", "[empty] []\n"),
    ("echo ${y:=assigned}; echo $y", "assigned\nassigned\n"),
    ("x=1; echo [${x:+alt}] [${unset:+alt}]", "[alt] []\n"),
    ("p=/usr/local/bin/tool.tar.gz; echo ${p##*/} ${p#*/} ${p%.*} ${p%%.*}",
     "tool.tar.gz usr/local/bin/tool.tar.gz /usr/local/bin/tool.tar /usr/local/bin/tool\n"),
    ("x=hello; echo ${#x}", "5\n"),
    ("echo $((1 + 2 * 3)) $((7 / 2)) $((-7 % 3)) $((2 ** 10)) $((1 << 4))", "7 3 -1 1024 16\n"),
    ("a=5; echo $((a > 3 ? a * 2 : 0)) $((a == 5 && 1)) $((!a))", "10 1 0\n"),
    ("i=1; : $((i += 4)); echo $i $((i++)) $i", "5 5 6\n"),
    ("echo $(echo inner) `echo back`", "inner back\n"),
    ("echo \"$(printf 'a\\n\\n\\n')\"", "a\n"),
    ("echo $(echo $(echo nested))", "nested\n"),
    ("x='a   b'; set -- $x; echo $#", "2\n"),
    ("x='a   b'; set -- \"$x\"; echo $#", "1\n"),
    ("IFS=:; x=a:b::c; set -- $x; echo $#", "4\n"),
    ("set -- one 'two three' four; echo $# $1 $3", "3 one four\n"),
    ('set -- a "b c"; for w in "$@"; do echo "<$w>"; done', "<a>\n<b c>\n"),
    ('set -- a "b c"; for w in $@; do echo "<$w>"; done', "<a>\n<b>\n<c>\n"),
    ('set -- a b; echo "$*"; IFS=,; echo "$*"', "a b\na,b\n"),
    ("echo ~ ~/x", "/root /root/x\n"),
    ("echo '~'", "~\n"),
    ("empty=; echo a $empty b \"$empty\" c", "a b  c\n"),
    ("echo $$", "1\n"),
    ("false; echo $?; true; echo $?", "1\n0\n"),
    ("sh -c 'echo $0 $1 $2' name first second", "name first second\n"),
])
def test_quoting_and_expansion(k, script, expected):
    assert out(k, script) == expected


def test_globbing_matches_the_filesystem_sorted_and_hides_dot_files(k):
    k.add_dir("/g")
    for name in ("b.txt", "a.txt", "c.log", ".hidden.txt", "sub"):
        if name == "sub":
            k.add_dir("/g/sub")
        else:
            k.add_file(f"/g/{name}", "x")
    k.add_file("/g/sub/d.txt", "x")
    assert out(k, "cd /g && echo *.txt") == "a.txt b.txt\n"
    assert out(k, "echo /g/?.log /g/[ab].txt") == "/g/c.log /g/a.txt /g/b.txt\n"
    assert out(k, "echo /g/*/*.txt") == "/g/sub/d.txt\n"
    assert out(k, "cd /g && echo .*.txt") == ".hidden.txt\n"
    assert out(k, "echo /g/*.none") == "/g/*.none\n"          # no match: the pattern stays
    assert out(k, "echo '/g/*.txt' \"/g/*\"") == "/g/*.txt /g/*\n"
    assert out(k, "set -f; echo /g/*.txt") == "/g/*.txt\n"
    assert out(k, "cd /g && echo [!ab]*") == "c.log sub\n"


def test_assignment_before_a_command_is_only_in_its_environment(k):
    assert out(k, "A=1 env | grep '^A='; echo \"[$A]\"") == "A=1\n[]\n"
    assert out(k, "A=1; env | grep -c '^A=' || true") == "0\n"
    assert out(k, "export A=2; env | grep '^A='") == "A=2\n"
    assert out(k, "B=x; export B; sh -c 'echo $B'") == "x\n"
    assert out(k, "export C=1; unset C; sh -c 'echo [$C]'") == "[]\n"


# -- control structures -------------------------------------------------------------------

@pytest.mark.parametrize("script, expected", [
    ("if true; then echo yes; else echo no; fi", "yes\n"),
    ("if false; then echo 1; elif true; then echo 2; else echo 3; fi", "2\n"),
    ("if false; then echo 1; elif false; then echo 2; else echo 3; fi", "3\n"),
    ("if [ -d /etc ]\nthen\n  echo dir\nfi", "dir\n"),
    ("for x in a b c; do echo $x; done", "a\nb\nc\n"),
    ("for x in; do echo never; done; echo after", "after\n"),
    ("set -- p q; for x; do echo $x; done", "p\nq\n"),
    ("i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done", "0\n1\n2\n"),
    ("i=0; until [ $i -ge 2 ]; do i=$((i+1)); done; echo $i", "2\n"),
    ("for i in 1 2 3 4; do [ $i = 3 ] && break; echo $i; done", "1\n2\n"),
    ("for i in 1 2 3; do [ $i = 2 ] && continue; echo $i; done", "1\n3\n"),
    ("for a in 1 2; do for b in x y; do [ $b = y ] && continue 2; echo $a$b; done; done", "1x\n2x\n"),
    ("for a in 1 2; do for b in x y; do break 2; done; done; echo $a$b", "1x\n"),
    ("case abc in a*) echo A;; *) echo other;; esac", "A\n"),
    ("case x.tar.gz in *.zip|*.gz) echo archive;; esac", "archive\n"),
    ("case '' in '') echo empty;; esac", "empty\n"),
    ("v=b; case $v in (a) echo a;; (b) echo b;; esac", "b\n"),
    ("case 5 in [0-9]) echo digit;; esac", "digit\n"),
    ("case '*' in '*') echo star;; *) echo any;; esac", "star\n"),
    ("{ echo one; echo two; } | wc -l", "2\n"),
    ("x=out; (x=in; echo $x); echo $x", "in\nout\n"),
    ("(cd /tmp && pwd); pwd", "/tmp\n/\n"),
    ("f() { echo \"args: $# $1\"; }; f a b", "args: 2 a\n"),
    ("f() { return 7; }; f; echo $?", "7\n"),
    ("f() { local v=inner; echo $v; }; v=outer; f; echo $v", "inner\nouter\n"),
    ("fact() { if [ $1 -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1 - 1))) )); fi; }; fact 5", "120\n"),
    ("! false && echo negated", "negated\n"),
    ("true || echo never; false || echo ran", "ran\n"),
    ("true && false || echo fallback", "fallback\n"),
    ("eval 'x=evaluated'; echo $x", "evaluated\n"),
    ("cmd='echo a; echo b'; eval \"$cmd\"", "a\nb\n"),
    ("echo start; exit 0; echo never", "start\n"),
])
def test_control_structures(k, script, expected):
    assert out(k, script) == expected


def test_while_read_loop_reads_a_file_line_by_line(k):
    k.add_file("/etc/list", "alpha 1\nbeta 2\ngamma 3\n")
    assert out(k, "while read name n; do echo \"$n:$name\"; done < /etc/list") == "1:alpha\n2:beta\n3:gamma\n"
    assert out(k, "read first rest < /etc/list; echo \"$first|$rest\"") == "alpha|1\n"
    assert out(k, "printf 'a b c\\n' | { read x y; echo \"$x/$y\"; }") == "a/b c\n"
    assert out(k, "echo piped | read v; echo \"[$v]\"") == "[]\n"   # pipeline stages are subshells
    r = sh(k, "read v < /dev/null; echo $?")
    assert r.out == "1\n"


def test_source_shift_type_and_command_v(k):
    k.add_file("/lib.sh", "greet() { echo \"hi $1\"; }\nLIBVAR=set\n")
    assert out(k, ". /lib.sh; greet you; echo $LIBVAR") == "hi you\nset\n"
    assert out(k, "source /lib.sh; type greet") == "greet is a function\n"
    assert out(k, "set -- a b c; shift; echo $@; shift 2; echo $#") == "b c\n0\n"
    assert out(k, "type cd echo ls if") == ("cd is a shell builtin\necho is a shell builtin\nls is /bin/ls\n"
                                            "if is a shell keyword\n")
    assert out(k, "command -v ls cd") == "/bin/ls\ncd\n"
    r = sh(k, "command -v nosuch; echo $?")
    assert r.out == "127\n"
    assert out(k, "f() { echo func; }; command -v f; f") == "f\nfunc\n"


def test_trap_exit_runs_when_the_shell_ends(k):
    r = sh(k, "trap 'echo cleanup' EXIT; echo work; exit 3")
    assert (r.status, r.out) == (3, "work\ncleanup\n")
    assert out(k, "trap 'echo bye' 0; trap") == "trap -- 'echo bye' EXIT\nbye\n"
    assert out(k, "trap 'echo x' INT TERM; echo ok") == "ok\n"


def test_cd_changes_pwd_and_reports_errors_like_ash(k):
    assert out(k, "cd /etc; pwd; echo $PWD; cd -; cd") == "/etc\n/etc\n/\n"
    r = sh(k, "cd /nonexistent; echo $?")
    assert r.err == "sh: cd: can't cd to /nonexistent: No such file or directory\n"
    assert r.out == "2\n"
    assert out(k, "cd /usr/sbin/../bin && pwd") == "/usr/bin\n"


# -- redirections and here-documents -------------------------------------------------------

def test_redirections_create_append_and_read_files(k):
    assert out(k, "echo one > /tmp/f; echo two >> /tmp/f; cat /tmp/f") == "one\ntwo\n"
    assert out(k, "echo new > /tmp/f; cat < /tmp/f") == "new\n"
    assert out(k, "ls /nope 2>/dev/null; echo $?") == "1\n"
    assert out(k, "ls /nope 2>&1 | wc -l") == "1\n"
    assert out(k, "ls /nope > /tmp/o 2>&1; cat /tmp/o") == "ls: /nope: No such file or directory\n"
    assert out(k, "echo err 2>/dev/null >&2") == ""          # left to right: fd 1 joins the new fd 2
    assert sh(k, "echo err >&2 2>/dev/null").err == "err\n"
    assert out(k, "{ echo a; echo b >&2; } 2>/tmp/e > /tmp/o; cat /tmp/o /tmp/e") == "a\nb\n"
    assert out(k, "> /tmp/empty; wc -c < /tmp/empty") == "0\n"
    assert out(k, "for i in 1 2; do echo $i; done > /tmp/loop; cat /tmp/loop") == "1\n2\n"
    assert out(k, "exec > /tmp/all; echo captured; exec >&2") == ""
    assert k.read("/tmp/all") == b"captured\n"
    assert out(k, "echo data > /dev/null; cat /dev/null") == ""


def test_redirection_errors_use_ash_wording(k):
    r = sh(k, "echo x > /no/such/dir/file; echo $?")
    assert r.err == "sh: can't create /no/such/dir/file: nonexistent directory\n"
    assert r.out == "1\n"
    r = sh(k, "cat < /missing")
    assert (r.status, r.err) == (1, "sh: can't open /missing: no such file\n")
    r = sh(k, "echo x > /etc")
    assert r.err == "sh: can't create /etc: Is a directory\n"


def test_here_documents(k):
    assert out(k, "cat <<EOF\nhome is $HOME\n$(echo sub)\nEOF") == "home is /root\nsub\n"
    assert out(k, "cat <<'EOF'\nliteral $HOME `x`\nEOF") == "literal $HOME `x`\n"
    assert out(k, "cat <<\"E\"\n$nothing\nE") == "$nothing\n"
    assert out(k, "cat <<-EOF\n\tindented\n\t\tmore\n\tEOF") == "indented\nmore\n"
    assert out(k, "cat <<EOF | wc -l\na\nb\nc\nEOF") == "3\n"
    assert out(k, "cat <<A; cat <<B\none\nA\ntwo\nB") == "one\ntwo\n"
    assert out(k, "x=1; cat <<EOF > /tmp/h\nx=$x \\$x\nEOF\ncat /tmp/h") == "x=1 $x\n"


# -- pipelines -----------------------------------------------------------------------------

@pytest.mark.parametrize("script, expected", [
    ("echo hello | tr a-z A-Z", "HELLO\n"),
    ("printf 'b\\na\\nc\\n' | sort | head -n 2", "a\nb\n"),
    ("seq 1 10 | grep 1 | wc -l", "2\n"),
    ("echo a b c | wc -w", "3\n"),
    ("yes | head -n 3", "y\ny\ny\n"),
    ("yes no | head -n 1", "no\n"),
    ("false | true; echo $?", "0\n"),
    ("true | false; echo $?", "1\n"),
    ("! true | false; echo $?", "0\n"),
    ("set -o pipefail; false | true; echo $?", "1\n"),
    ("echo x | cat | cat | cat", "x\n"),
    ("seq 3 | while read n; do echo \"n=$n\"; done", "n=1\nn=2\nn=3\n"),
])
def test_pipelines(k, script, expected):
    assert out(k, script) == expected


# -- exit statuses and errors -----------------------------------------------------------------

@pytest.mark.parametrize("script, status", [
    ("exit 3", 3),
    ("exit 256", 0),
    ("false", 1),
    ("false && echo x", 1),
    ("true && false", 1),
    ("false || true", 0),
    ("! true", 1),
    ("(exit 42)", 42),
    ("sh -c 'exit 5'", 5),
    ("f() { return 4; }; f", 4),
    ("[ 1 -eq 2 ]", 1),
    ("test -e /etc/passwd", 0),
    ("exit", 0),
    ("false; exit", 1),
])
def test_exit_statuses(k, script, status):
    assert sh(k, script).status == status


def test_unknown_command_is_127_with_busybox_shs_message(k):
    r = sh(k, "nosuchcmd arg; echo \"status $?\"")
    assert r.out == "status 127\n"
    assert r.err == "sh: nosuchcmd: not found\n"
    assert sh(k, "/bin/nothing").status == 127


def test_non_executable_file_is_126(k):
    k.add_file("/tmp/script", "echo hi\n", 0o644)
    r = sh(k, "/tmp/script")
    assert r.status == 126
    assert "permission denied" in r.err


@pytest.mark.parametrize("script, message", [
    ("if true; then echo x; fi; fi", 'sh: syntax error: unexpected "fi"'),
    ("fi", 'sh: syntax error: unexpected "fi"'),
    ("then", 'sh: syntax error: unexpected "then"'),
    ("do echo", 'sh: syntax error: unexpected "do"'),
    ("if true; then echo x", 'sh: syntax error: unexpected end of file (expecting "fi")'),
    ("while true; do echo", 'sh: syntax error: unexpected end of file (expecting "done")'),
    ("echo 'unterminated", "sh: syntax error: unterminated quoted string"),
    ('echo "unterminated', "sh: syntax error: unterminated quoted string"),
    (")", 'sh: syntax error: unexpected ")"'),
    ("; echo", 'sh: syntax error: unexpected ";"'),
    ("echo a &&", "sh: syntax error: unexpected end of file"),
    ("echo a | | b", 'sh: syntax error: unexpected "|"'),
    ("case x in", 'sh: syntax error: unexpected end of file (expecting ")")'),
    ("case x in a) echo;; b", 'sh: syntax error: unexpected end of file (expecting ")")'),
    ("case x in a) echo", 'sh: syntax error: unexpected end of file (expecting "esac")'),
    ("for 1 in a; do :; done", "sh: syntax error: bad for loop variable"),
    ("echo ${a b}", "sh: syntax error: bad substitution"),
    ("{ }", 'sh: syntax error: unexpected "}"'),
    ("echo $(", 'sh: syntax error: unexpected end of file (expecting ")")'),
    ("if then fi", 'sh: syntax error: unexpected "then"'),
])
def test_syntax_errors_are_status_2_with_busybox_messages(k, script, message):
    r = sh(k, script)
    assert (r.status, r.err) == (2, message + "\n")
    assert r.out == ""


def test_a_script_runs_up_to_its_syntax_error_and_names_the_line(k):
    k.add_file("/s.sh", "echo first\necho second\nfi\necho never\n", 0o755)
    r = k.exec(["sh", "/s.sh"])
    assert (r.status, r.out) == (2, "first\nsecond\n")
    assert r.err == 'sh: /s.sh: line 3: syntax error: unexpected "fi"\n'


def test_set_e_stops_at_the_first_failure_but_not_in_conditions(k):
    r = sh(k, "set -e; echo a; false; echo b")
    assert (r.status, r.out) == (1, "a\n")
    assert out(k, "set -e; if false; then :; fi; false || true; ! true; false && true; echo survived") == "survived\n"
    r = sh(k, "set -e; (exit 3); echo never")
    assert (r.status, r.out) == (3, "")
    r = sh(k, "set -e; ls /missing 2>/dev/null; echo never")
    assert r.status == 1 and r.out == ""
    assert out(k, "set -e; set +e; false; echo continued") == "continued\n"
    r = k.exec(["sh", "-e", "-c", "false; echo no"])
    assert (r.status, r.out) == (1, "")


def test_set_u_and_set_x(k):
    r = sh(k, "set -u; echo $missing; echo never")
    assert (r.status, r.err, r.out) == (2, "sh: missing: parameter not set\n", "")
    r = sh(k, "set -x; x=1; echo \"a b\" $x")
    assert r.out == "a b 1\n"
    assert r.err == "+ x=1\n+ echo 'a b' 1\n"
    r = sh(k, "echo ${need:?must be set}")
    assert (r.status, r.err) == (2, "sh: need: must be set\n")


def test_exit_with_a_bad_number_and_readonly_variables(k):
    r = sh(k, "exit abc")
    assert (r.status, r.err) == (2, "sh: exit: Illegal number: abc\n")
    r = sh(k, "readonly R=1; R=2; echo never")
    assert (r.status, r.err) == (2, "sh: R: is read only\n")


def test_recursion_is_bounded_with_a_clear_error(k):
    r = sh(k, "f() { f; }; f")
    assert r.status == 2
    assert "recursion too deep" in r.err
    assert "Traceback" not in r.err


def test_output_kept_in_memory_is_bounded(k, monkeypatch):
    from minidocker.kernel.sim.userland import sh as shmod
    monkeypatch.setattr(shmod, "PIPE_LIMIT", 1000)
    r = sh(k, "seq 1 100000 | wc -l")
    assert "exceeds" in r.err and "simulated SIGPIPE" in r.err
    assert int(r.out) < 300


# -- the Dockerfiles' RUN lines --------------------------------------------------------------

SEED_RUN_1 = ("mkdir -p /usr/local/lib/runtime /usr/local/bin  && echo \"runtime $RUNTIME_VERSION\" > "
              "/usr/local/lib/runtime/VERSION  && printf '#!/bin/sh\\necho \"[runtime $(cat "
              "/usr/local/lib/runtime/VERSION)] running $1\"\\nexec sh \"$@\"\\n' > /usr/local/bin/runtime  "
              "&& chmod +x /usr/local/bin/runtime")
SEED_RUN_2 = ("mkdir -p /var/lib/db  && for table in users orders products; do echo \"id,name\" > "
              "/var/lib/db/$table.csv; done  && echo \"1,alice\" >> /var/lib/db/users.csv")


def test_seed_app_run_lines_build_the_runtime_and_the_database(k):
    from pathlib import Path
    env = {"PATH": PATH, "HOME": "/root", "RUNTIME_VERSION": "20.11"}
    for line in (SEED_RUN_1, SEED_RUN_2):
        r = k.exec(["/bin/sh", "-c", line], env=env)
        assert (r.status, r.out, r.err) == (0, "", "")
    assert k.read("/usr/local/lib/runtime/VERSION") == b"runtime 20.11\n"
    assert k.read("/usr/local/bin/runtime") == (
        b'#!/bin/sh\necho "[runtime $(cat /usr/local/lib/runtime/VERSION)] running $1"\nexec sh "$@"\n')
    assert out(k, "ls -l /usr/local/bin/runtime").startswith("-rwxr-xr-x    1 root     root            89 ")
    assert out(k, "ls /var/lib/db") == "orders.csv\nproducts.csv\nusers.csv\n"
    assert k.read("/var/lib/db/users.csv") == b"id,name\n1,alice\n"
    assert k.read("/var/lib/db/orders.csv") == b"id,name\n"
    server = Path(__file__).resolve().parents[1] / "examples/seed-app/app/server.sh"
    k.add_dir("/app")
    k.add_file("/app/server.sh", server.read_text(), 0o755)
    r = k.exec(["runtime", "/app/server.sh"], env=dict(env, APP_GREETING="Hello from the seed app"), cwd="/app")
    assert r.out == ("[runtime runtime 20.11] running /app/server.sh\nHello from the seed app (version 1)\n"
                     "users in the database: 1\n")
    assert r.status == 0


def test_bench_dockerfile_run_lines(k):
    env = {"PATH": PATH, "GREETING": "hello", "APP_HOME": "/opt/app", "APP_MODE": "bench"}
    for line in ('mkdir -p /opt/app && echo "$GREETING from $APP_MODE" > /opt/app/greeting.txt',
                 "for i in $(seq 1 200); do echo $i > /opt/app/f$i; done"):
        assert k.exec(["/bin/sh", "-c", line], env=env).status == 0
    r = k.exec(["/bin/sh", "-c", "echo built > stamp && ls | wc -l > count.txt"], env=env, cwd="/opt/app")
    assert r.status == 0
    assert k.read("/opt/app/greeting.txt") == b"hello from bench\n"
    assert k.read("/opt/app/f1") == b"1\n" and k.read("/opt/app/f200") == b"200\n"
    assert k.read("/opt/app/stamp") == b"built\n"
    assert k.read("/opt/app/count.txt") == b"202\n"
    assert out(k, "ls /opt/app | grep -c '^f'") == "200\n"
    assert k.exec(["sh", "-c", "cat /opt/app/greeting.txt"]).out == "hello from bench\n"


def test_bench_dockerfile_is_the_one_tested(k):
    """The RUN lines above are copied from bench/build.py's Dockerfile: keep them in step."""
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "bench/build.py").read_text()
    assert 'RUN mkdir -p /opt/app && echo "$GREETING from $APP_MODE" > /opt/app/greeting.txt' in text
    assert 'RUN for i in $(seq 1 200); do echo $i > /opt/app/f$i; done' in text
    assert 'RUN echo built > stamp && ls | wc -l > count.txt' in text


# -- the contract with the kernel ---------------------------------------------------------------

def test_registry_lookup_commands_and_not_found():
    assert userland.lookup("ls") is userland.PROGRAMS["ls"]
    assert userland.lookup("nope") is None
    assert userland.COMMANDS == sorted(userland.COMMANDS)
    for name in ("sh", "ls", "busybox", "apt-get", "apk", "node", "memhog", "stress", "wget", "curl"):
        assert name in userland.COMMANDS
    msg = userland.not_found("frob")
    assert msg.startswith("sim: command not found: frob (supported: [, apk, apt, apt-get, ash, ")
    assert userland.NOT_FOUND("x") == userland.not_found("x")


@pytest.mark.parametrize("head, expected", [
    (b"#!minidocker-sim node\n# version: 18\n", ("node", ["/usr/bin/x"])),
    (b"#!/bin/sh\necho hi\n", ("sh", ["/bin/sh", "/usr/bin/x"])),
    (b"#!/bin/sh -e\n", ("sh", ["/bin/sh", "-e", "/usr/bin/x"])),
    (b"#!/usr/bin/env node\n", ("env", ["/usr/bin/env", "node", "/usr/bin/x"])),
    (b"\x7fELF\x02\x01", None),
    (b"echo no shebang\n", None),
    (b"#!\n", None),
])
def test_identify_reads_the_first_line(head, expected):
    assert userland.identify("/usr/bin/x", head) == expected


def test_shell_scripts_run_through_their_interpreter_line(k):
    k.add_file("/usr/local/bin/hello", "#!/bin/sh\necho \"hello $1 from $0\"\n", 0o755)
    assert out(k, "hello you") == "hello you from /usr/local/bin/hello\n"
    k.add_file("/usr/local/bin/viaenv", "#!/usr/bin/env sh\necho via env\n", 0o755)
    k.add_dir("/usr/bin")
    k.add_file("/usr/bin/env", "#!minidocker-sim env\n", 0o755)
    assert out(k, "viaenv") == "via env\n"


def test_interactive_shell_reads_stdin_and_exits_with_the_last_status(k):
    r = k.exec(["sh"], stdin=b"echo one\nif true\nthen echo two\nfi\nfalse\n")
    assert (r.status, r.out, r.err) == (1, "one\ntwo\n", "")
    r = k.exec(["sh"], stdin=b"echo a\nfi\necho b\n")
    assert (r.status, r.out, r.err) == (2, "a\n", 'sh: syntax error: unexpected "fi"\n')


def test_sh_runs_a_script_file_with_arguments(k):
    k.add_file("/t.sh", "echo \"$0 $# $1 $2\"\nexit 9\n")
    r = k.exec(["sh", "/t.sh", "x", "y"])
    assert (r.status, r.out) == (9, "/t.sh 2 x y\n")
    r = k.exec(["sh", "/missing.sh"])
    assert r.status == 127
    assert r.err == "sh: can't open '/missing.sh': No such file or directory\n"


# -- robustness ---------------------------------------------------------------------------------

_FUZZ_TOKENS = ["echo", "ls", "cat", "x=1", "$x", "${x:-y}", "${", "}", "$(", ")", "(", "`", "'", '"', "\\",
                "|", "||", "&&", ";", ";;", "&", ">", ">>", "<", "<<", "<<-", "2>&1", ">&-", "if", "then",
                "else", "fi", "for", "in", "do", "done", "case", "esac", "{", "!", "f()", "$((", "))", "1+",
                "*", "?", "[a-", "/etc/*", "~", "$@", "$#", "$?", "\n", "EOF", "set", "-e", "-u", "-x",
                "shift", "eval", "return", "break", "continue", "exit", "trap", "read", "cd", "..", "/tmp",
                "printf", "%d", "%s", "test", "[", "]", "-eq", "grep", "sed", "s/a/b/", "seq", "10", "sort",
                "head", "-n", "wc", "-l", "tr", "a-z", "export", "unset", "local", "type", "command", "-v",
                ".", "/dev/null", "nosuch", "sh", "-c", "$$", "${#x}", "${x#*}", "$((1/0))", "$((x+))",
                "f", "=", "\t", "#", "\x00", "é", "\udcff"]


def _fuzz_scripts(n: int, seed: int = 20240501) -> list[str]:
    import random
    rnd = random.Random(seed)
    scripts = []
    for i in range(n):
        if i % 4 == 3:      # raw garbage: printable and control characters
            scripts.append("".join(chr(rnd.choice([rnd.randint(32, 126), rnd.randint(0, 31), 0x2603]))
                                   for _ in range(rnd.randint(1, 40))))
        else:
            scripts.append(" ".join(rnd.choice(_FUZZ_TOKENS) for _ in range(rnd.randint(1, 14))))
    return scripts


def test_no_input_makes_a_traceback_escape(k):
    """200 random or garbled command strings: every one ends with a status and, at most,
    messages — never a Python exception or an internal error."""
    seen = set()
    for script in _fuzz_scripts(200):
        r = sh(k, script)
        assert 0 <= r.status <= 255, script
        assert "Traceback" not in r.err and "internal error" not in r.err, (script, r.err)
        seen.add(r.status)
    assert {0, 2} <= seen            # both successes and syntax errors were produced


def test_deep_nesting_and_huge_words_are_refused_cleanly(k):
    r = sh(k, "(" * 500 + "echo x" + ")" * 500)
    assert r.status == 2 and "nesting too deep" in r.err
    r = sh(k, "echo " + "$(" * 100 + "echo x" + ")" * 100)
    assert r.status == 2 and "Traceback" not in r.err
    r = sh(k, "echo $((" + "(" * 300 + "1" + ")" * 300 + "))")
    assert "Traceback" not in r.err
    assert out(k, "x=" + "a" * 100_000 + "; echo ${#x}") == "100000\n"


class _Tty:
    """A terminal's end of a stream: what ``docker run -it`` gives a container."""

    def __init__(self, data: bytes = b""):
        import io
        self.buf = io.BytesIO(data)

    def __getattr__(self, name):
        return getattr(self.buf, name)

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_sh_prompts_and_ls_prints_columns(k):
    proc = k.system(["sh"], cwd="/")
    proc.stdin = _Tty(b"ls /\ncd /root\necho $((6*7))\nnosuch_thing\nexit\n")
    proc.stdout, proc.stderr = _Tty(), _Tty()
    status = proc.exec_self(["sh"])
    assert status == 127                      # exit without a number: the last command's status
    err = proc.stderr.getvalue().decode()
    assert err.startswith("/ # / # ~ # ~ # sh: nosuch_thing: not found")
    assert err.endswith("~ # ")
    assert proc.stdout.getvalue().decode() == (
        "bin      etc      linuxrc  root     sys      usr\n"
        "dev      home     proc     sbin     tmp      var\n42\n")


def test_programs_never_raise_into_the_kernel(k, monkeypatch):
    from minidocker.kernel.sim.userland import coreutils
    def broken(sys, argv):
        raise ValueError("boom")
    monkeypatch.setitem(userland.PROGRAMS, "ls", userland._guarded("ls", broken))
    r = sh(k, "ls; echo $?")
    assert r.out == "1\n" and r.err == "ls: internal error: ValueError: boom\n"
    assert coreutils.ls is not None

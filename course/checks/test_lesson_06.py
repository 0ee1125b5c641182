"""Lesson 06 — the Engine API: a daemon on a unix socket, driven by HTTP by hand and by a CLI.

The exercises save some of the daemon's answers in ``ex06/``; run the checks in the
directory where you did them (the repository's, as the guide says):
``MINIDOCKER_KERNEL=sim python -m pytest course/checks/test_lesson_06.py``
"""

import json
import re
import struct
from pathlib import Path

SOCKET = "ex06/md.sock"
STREAMS = {0: "stdin", 1: "stdout", 2: "stderr"}
CURL = "curl -s --unix-socket ex06/md.sock"


def _frames(data: bytes) -> list[tuple[str, bytes]] | None:
    """The frames of a multiplexed stream (8-byte header: stream, 0, 0, 0, length big-endian),
    as (stream, data); None when ``data`` is not such a stream."""
    frames = []
    while data:
        if len(data) < 8 or data[0] not in STREAMS or data[1:4] != b"\0\0\0":
            return None
        size, = struct.unpack(">L", data[4:8])
        if len(data) < 8 + size:
            return None
        frames.append((STREAMS[data[0]], data[8:8 + size]))
        data = data[8 + size:]
    return frames


def _json(learner, data: bytes, path: str, exercise: str):
    try:
        return json.loads(data)
    except ValueError:
        pass
    text = data[:80].decode(errors="replace")
    learner.wrong(exercise, f"{path} is not JSON (it starts {text!r}): save the body only, without `-i` or `-v`",
                  f"{path} — не JSON (начало: {text!r}): сохраните только тело ответа, без `-i` и `-v`")


def test_06_1_the_daemon_answers_on_its_socket(learner):
    """06.1 a daemon on ex06/md.sock; its answer to GET /v1.47/version in ex06/version.json."""
    path = "ex06/version.json"
    data = learner.file(path, "06.1", f"`{CURL} http://localhost/v1.47/version > {path}`",
                        f"`{CURL} http://localhost/v1.47/version > {path}`")
    version = _json(learner, data, path, "06.1")
    learner.expect(isinstance(version, dict) and "ApiVersion" in version, "06.1",
                   f"{path} is not an answer of /version (no ApiVersion): ask for http://localhost/v1.47/version",
                   f"{path} — не ответ /version (нет ApiVersion): запросите http://localhost/v1.47/version")
    name = (version.get("Platform") or {}).get("Name")
    learner.expect(name == "minidocker", "06.1",
                   f"this /version comes from another engine ({name!r}): ask minidocker's daemon on "
                   f"{SOCKET}, not Docker's /var/run/docker.sock",
                   f"этот /version дал другой движок ({name!r}): спросите демон minidocker на "
                   f"{SOCKET}, а не Docker на /var/run/docker.sock")
    learner.expect(version["ApiVersion"] == "1.47", "06.1",
                   f"ApiVersion is {version['ApiVersion']!r}; minidocker's daemon serves 1.47",
                   f"ApiVersion = {version['ApiVersion']!r}; демон minidocker обслуживает 1.47")


def test_06_2_a_container_made_with_curl(learner):
    """06.2 `ex06-curl`, made, started and waited for with curl: Cmd `sh -c 'echo hello, $WHO'`,
    Env WHO=curl; it printed `hello, curl`; its log stream, as the API sent it, in ex06/logs.bin."""
    how = "`POST /v1.47/containers/create?name=ex06-curl` with curl"
    info = learner.exited("ex06-curl", "06.2", how, f"`POST /v1.47/containers/create?name=ex06-curl` через curl")
    config = info["Config"]
    cmd = ["sh", "-c", "echo hello, $WHO"]
    learner.expect(config.get("Cmd") == cmd, "06.2",
                   f"ex06-curl's Cmd is {config.get('Cmd')}; create it with \"Cmd\": {json.dumps(cmd)}",
                   f"Cmd у ex06-curl — {config.get('Cmd')}; создайте его с \"Cmd\": {json.dumps(cmd)}")
    learner.expect("WHO=curl" in (config.get("Env") or []), "06.2",
                   "ex06-curl has no WHO=curl in its environment; create it with \"Env\": [\"WHO=curl\"]",
                   "в окружении ex06-curl нет WHO=curl; создайте его с \"Env\": [\"WHO=curl\"]")
    state = info["State"]
    learner.expect(state["Status"] == "exited", "06.2",
                   f"ex06-curl is {state['Status']!r}: start it (`POST /v1.47/containers/ex06-curl/start`) "
                   "and wait for it (`POST …/wait`)",
                   f"ex06-curl в состоянии {state['Status']!r}: запустите его (`POST /v1.47/containers/ex06-curl/start`) "
                   "и дождитесь (`POST …/wait`)")
    learner.expect(state["ExitCode"] == 0 and learner.lines("ex06-curl") == ["hello, curl"], "06.2",
                   f"ex06-curl exited {state['ExitCode']} and printed {learner.lines('ex06-curl')}; "
                   "expected 0 and `hello, curl`",
                   f"ex06-curl завершился с кодом {state['ExitCode']} и вывел {learner.lines('ex06-curl')}; "
                   "ожидались 0 и `hello, curl`")
    path = "ex06/logs.bin"
    frames = _frames(learner.file(path, "06.2", f"`{CURL} 'http://localhost/v1.47/containers/ex06-curl/logs?stdout=1' > {path}`",
                                  f"`{CURL} 'http://localhost/v1.47/containers/ex06-curl/logs?stdout=1' > {path}`"))
    learner.expect(frames == [("stdout", b"hello, curl\n")], "06.2",
                   f"{path} should be one stdout frame (header 01 00 00 00 00 00 00 0c) with `hello, curl`; "
                   f"it is {frames if frames is not None else 'not a multiplexed stream'}: save the answer "
                   "of GET …/logs?stdout=1 as it is (no `-i`)",
                   f"{path} должен быть одним кадром stdout (заголовок 01 00 00 00 00 00 00 0c) с `hello, curl`; "
                   f"там {frames if frames is not None else 'не мультиплексированный поток'}: сохраните ответ "
                   "GET …/logs?stdout=1 как есть (без `-i`)")


def test_06_3_the_minidocker_cli_is_a_client_of_the_daemon(learner):
    """06.3 `ex06-cli`, run with `minidocker -H unix://…/ex06/md.sock run`; the daemon's list of all
    containers (GET /v1.47/containers/json?all=1) in ex06/containers.json, with ex06-curl and ex06-cli."""
    info = learner.exited("ex06-cli", "06.3", "`minidocker -H unix://$PWD/ex06/md.sock run --name ex06-cli …`",
                          "`minidocker -H unix://$PWD/ex06/md.sock run --name ex06-cli …`")
    out = learner.lines("ex06-cli")
    learner.expect(info["State"]["ExitCode"] == 0 and out == ["hi from the CLI"], "06.3",
                   f"ex06-cli exited {info['State']['ExitCode']} and printed {out}; expected 0 and "
                   "`hi from the CLI` (`… busybox echo hi from the CLI`)",
                   f"ex06-cli завершился с кодом {info['State']['ExitCode']} и вывел {out}; ожидались 0 и "
                   "`hi from the CLI` (`… busybox echo hi from the CLI`)")
    path = "ex06/containers.json"
    rows = _json(learner, learner.file(path, "06.3", f"`{CURL} 'http://localhost/v1.47/containers/json?all=1' > {path}`",
                                       f"`{CURL} 'http://localhost/v1.47/containers/json?all=1' > {path}`"),
                 path, "06.3")
    names = {n for row in rows if isinstance(row, dict) for n in row.get("Names") or []} \
        if isinstance(rows, list) else set()
    missing = sorted({"/ex06-curl", "/ex06-cli"} - names)
    learner.expect(not missing, "06.3",
                   f"{path} does not list {', '.join(missing)}: save it after 06.2 and ex06-cli, and ask for "
                   "`?all=1` (without it the daemon lists running containers only)",
                   f"в {path} нет {', '.join(missing)}: сохраните его после 06.2 и ex06-cli и добавьте "
                   "`?all=1` (без него демон перечисляет только работающие контейнеры)")


def test_06_4_the_hijacked_attach_stream(learner):
    """06.4 `ex06-attach` (`sh -c 'echo out; echo err >&2'`), attached with curl before its start:
    ex06/attach.txt holds the 101 answer (Upgrade: tcp) and a stdout and a stderr frame."""
    learner.exited("ex06-attach", "06.4", "`minidocker -H … create --name ex06-attach busybox sh -c 'echo out; echo err >&2'`",
                   "`minidocker -H … create --name ex06-attach busybox sh -c 'echo out; echo err >&2'`")
    path = "ex06/attach.txt"
    data = learner.file(path, "06.4", f"`{CURL} -i -X POST -H 'Connection: Upgrade' -H 'Upgrade: tcp' "
                                      f"'http://localhost/v1.47/containers/ex06-attach/attach?stream=1&stdout=1&stderr=1' -o {path} &`",
                        f"`{CURL} -i -X POST -H 'Connection: Upgrade' -H 'Upgrade: tcp' "
                        f"'http://localhost/v1.47/containers/ex06-attach/attach?stream=1&stdout=1&stderr=1' -o {path} &`")
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    learner.expect(bool(re.match(r"HTTP/1\.[01] 101\b", status)), "06.4",
                   f"{path} starts with {status[:60]!r}, not `HTTP/1.1 101 Switching Protocols`: keep the "
                   "headers (`curl -i`) and ask for the upgrade (`-H 'Connection: Upgrade' -H 'Upgrade: tcp'`, `-X POST`)",
                   f"{path} начинается с {status[:60]!r}, а не с `HTTP/1.1 101 Switching Protocols`: сохраните "
                   "заголовки (`curl -i`) и попросите переключение (`-H 'Connection: Upgrade' -H 'Upgrade: tcp'`, `-X POST`)")
    frames = _frames(body)
    learner.expect(frames is not None and sorted(frames) == [("stderr", b"err\n"), ("stdout", b"out\n")], "06.4",
                   f"after the headers {path} should hold two frames, stdout `out` and stderr `err`; it has "
                   f"{frames if frames is not None else 'no multiplexed stream'}: attach (in the background, `&`) "
                   "before you start ex06-attach, with `stream=1&stdout=1&stderr=1`",
                   f"после заголовков в {path} должны быть два кадра: stdout `out` и stderr `err`; там "
                   f"{frames if frames is not None else 'не мультиплексированный поток'}: подключитесь (в фоне, `&`) "
                   "до запуска ex06-attach, с `stream=1&stdout=1&stderr=1`")


def test_06_5_a_docker_style_error(learner):
    """06.5 a create for an image that is not here: ex06/error.txt holds the JSON message
    `No such image: no-such-image…` and the status 404 (curl -w '\\n%{http_code}\\n'); no
    container ex06-missing was made."""
    path = "ex06/error.txt"
    how = (f"`{CURL} -w '\\n%{{http_code}}\\n' -X POST -H 'Content-Type: application/json' "
           "-d '{\"Image\": \"no-such-image\", \"Cmd\": [\"true\"]}' "
           f"'http://localhost/v1.47/containers/create?name=ex06-missing' > {path}`")
    text = learner.file(path, "06.5", how, how).decode(errors="replace")
    body = re.search(r"\{.*\}", text, re.S)
    try:
        message = json.loads(body[0]).get("message", "") if body else ""
    except (ValueError, AttributeError):
        message = ""
    learner.expect(message.startswith("No such image: no-such-image"), "06.5",
                   f"{path} has no JSON error `{{\"message\": \"No such image: no-such-image\"}}` "
                   f"(it holds {text[:120]!r}): create a container of the image `no-such-image`",
                   f"в {path} нет JSON-ошибки `{{\"message\": \"No such image: no-such-image\"}}` "
                   f"(там {text[:120]!r}): создайте контейнер из образа `no-such-image`")
    learner.expect(re.search(r"^404$", text, re.M) is not None, "06.5",
                   f"{path} has no status code 404 on a line of its own: add `-w '\\n%{{http_code}}\\n'` to curl",
                   f"в {path} нет кода ответа 404 отдельной строкой: добавьте к curl `-w '\\n%{{http_code}}\\n'`")
    learner.expect("ex06-missing" not in {r.spec.name for r in learner.engine.containers.all()}, "06.5",
                   "there is a container ex06-missing: a create that fails makes nothing",
                   "есть контейнер ex06-missing: неудачный create ничего не создаёт")


def test_06_6_the_daemon_stopped_and_its_socket_is_gone(learner):
    """06.6 the daemon stopped with SIGTERM: ex06/md.sock is gone; the client's error, with no
    daemon to talk to, in ex06/no-daemon.txt."""
    path = "ex06/no-daemon.txt"
    text = learner.file(path, "06.6", f"after stopping the daemon, `minidocker -H unix://$PWD/{SOCKET} ps 2> {path}`",
                        f"после остановки демона `minidocker -H unix://$PWD/{SOCKET} ps 2> {path}`"
                        ).decode(errors="replace")
    learner.expect("cannot connect to the minidocker daemon" in text.lower(), "06.6",
                   f"{path} does not say `cannot connect to the minidocker daemon` (it holds {text[:120]!r}): "
                   "stop the daemon first, then save the client's error output (`2>`)",
                   f"в {path} нет `cannot connect to the minidocker daemon` (там {text[:120]!r}): "
                   "сначала остановите демон, затем сохраните вывод ошибок клиента (`2>`)")
    learner.expect(not Path(SOCKET).exists(), "06.6",
                   f"{Path(SOCKET).absolute()} is still there: stop the daemon with SIGTERM (`kill PID`, "
                   "or Ctrl-C in its terminal), which removes its socket; after `kill -9` delete the file yourself",
                   f"{Path(SOCKET).absolute()} всё ещё на месте: остановите демон сигналом SIGTERM (`kill PID` "
                   "или Ctrl-C в его терминале) — тогда он удалит сокет; после `kill -9` удалите файл сами")

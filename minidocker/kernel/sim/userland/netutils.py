"""Busybox's network applets, simulated over the kernel's network model: ``ip``
(addr, link, route), ``ping``, ``wget``, ``nc``, ``httpd``, ``nslookup`` — and
``curl``, which is not busybox's (a package installs it).

Names resolve as the C library resolves them in a container: an IPv4 address
as itself, else the first line of ``/etc/hosts`` that lists the name (the
runtime writes the container's own name and, on user networks, its peers').
The simulated machine has no DNS server, so other names are unknown
("bad address"), and ``nslookup`` finds no server.

The output is busybox 1.35's (Debian's busybox-static, which the real-kernel
tests run), measured by running it; times are the model's, not a clock's.

Simplifications: ``nc`` sends all of its standard input before it prints what
comes back (busybox's select()s both ways at once; for the request-and-answer
use of nc the result is the same); ``httpd`` serves one connection at a time;
``ping`` waits its interval between packets but not its timeout for a reply
that cannot come.
"""

from __future__ import annotations

import errno
import ipaddress
import posixpath
import time
from urllib.parse import unquote, urlsplit

from .common import UsageError, dec, enc, err, out, parse_opts, strerror, usage

ECHO_BYTES = 56
HTTP_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                501: "Not Implemented"}
# busybox httpd's explanations in its error pages
HTTP_INFO = {400: "Unsupported method", 403: "", 404: "The requested URL was not found",
             501: "The requested method is not recognized"}
MIME = {".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".css": "text/css",
        ".js": "application/javascript", ".json": "application/json", ".png": "image/png",
        ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml"}


# -- names ------------------------------------------------------------------------------------

def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def resolve(sys, name: str) -> str | None:
    """``name`` as an IPv4 address: itself if it is one, else from ``/etc/hosts``."""
    if is_ipv4(name):
        return name
    try:
        text = dec(sys.read("/etc/hosts"))
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) > 1 and is_ipv4(fields[0]) and name.lower() in (f.lower() for f in fields[1:]):
            return fields[0]
    return None


def _connect_error(sys, prog: str, ip: str, e: OSError) -> int:
    err(sys, prog, f"can't connect to remote host ({ip}): {strerror(e)}")
    return 1


# -- ip ------------------------------------------------------------------------------------------

_IP_USAGE = ("[OPTIONS] address|route|link [ARGS]\n\nOPTIONS := -f[amily] inet|inet6|link | -o[neline]\n\n"
             "ip addr add|del IFADDR dev IFACE | show|flush [dev IFACE] [to PREFIX]\n"
             "ip route list|flush|add|del|change|append|replace|test ROUTE\n"
             "ip link set IFACE [up|down] [arp on|off] [multicast on|off]\n"
             "\t[promisc on|off] [mtu NUM] [name NAME] [qlen NUM] [address MAC]")


def ip(sys, argv: list[str]) -> int:
    """ip [-4] addr|link|route [show [dev] IFACE] | ip link set IFACE up|down|mtu N |
    ip addr add CIDR dev IFACE | ip route add DST via GATEWAY — busybox's output, from the model."""
    args = argv[1:]
    inet_only = False
    while args and args[0].startswith("-"):
        flag = args.pop(0)
        if flag in ("-4", "-f", "-family"):
            inet_only = True
            if flag != "-4" and args:
                args.pop(0)
        elif flag not in ("-6", "-o", "-oneline"):
            return usage(sys, "ip", UsageError(f"invalid option -- '{flag[1:2]}'"), _IP_USAGE)
    if not args:
        return usage(sys, "ip", UsageError("missing command"), _IP_USAGE)
    obj, rest = args[0], args[1:]
    for full, handler in (("address", _ip_addr), ("link", _ip_link), ("route", _ip_route)):
        if obj and full.startswith(obj):
            try:
                return handler(sys, rest, inet_only)
            except OSError as e:
                return _ip_failure(sys, e)
    err(sys, "ip", f"invalid argument '{obj}' to 'ip'")
    return 1


def _ip_failure(sys, e: OSError) -> int:
    what = getattr(e, "ip_call", "RTNETLINK answers")
    err(sys, "ip", f"{what}: {strerror(e)}")
    return 2


def _show(sys, rest: list[str], text) -> int:
    """``ip addr|link [show [dev] IFACE]``: ``text(iface, by_index)`` of each (or the one named)."""
    words = [w for w in rest if w not in ("show", "list", "ls", "lst", "dev")]
    ifaces = sys.interfaces()
    if words and not any(i.name == words[0] for i in ifaces):
        err(sys, "ip", f"can't find device '{words[0]}'")
        return 1
    by_index = {i.index: i for i in ifaces}
    out(sys, "".join(text(i, by_index) for i in ifaces if not words or i.name == words[0]))
    return 0


def _flags(i, by_index: dict) -> str:
    names = ["LOOPBACK"] if i.kind == "loopback" else ["BROADCAST", "NOARP"] if i.kind == "dummy" \
        else ["BROADCAST", "MULTICAST"]
    if i.up:
        names.append("UP")
    if i.carrier:
        names.append("LOWER_UP")
    elif i.up:
        names.insert(0, "NO-CARRIER")
    if i.link_index:
        partner = by_index.get(i.link_index)   # looked up here, as busybox does: it may be another
        if partner is None or not partner.up:  # namespace's index, or another interface's here
            names.append("M-DOWN")
    return ",".join(names)


def _link_head(i, by_index: dict) -> str:
    name = i.name
    if i.link_index:
        partner = by_index.get(i.link_index)
        name += "@" + (partner.name if partner is not None else f"if{i.link_index}")
    qdisc = ("fq_codel" if i.kind == "device" else "noqueue") if i.up else "noop"
    master = f" master {i.master}" if i.master else ""
    kind = "loopback" if i.kind == "loopback" else "ether"
    brd = "00:00:00:00:00:00" if i.kind == "loopback" else "ff:ff:ff:ff:ff:ff"
    return (f"{i.index}: {name}: <{_flags(i, by_index)}> mtu {i.mtu} qdisc {qdisc}{master} qlen 1000\n"
            f"    link/{kind} {i.mac} brd {brd}\n")


def _link_local(mac: str) -> str:
    """The IPv6 link-local address a link gets from its MAC (modified EUI-64)."""
    b = bytes.fromhex(mac.replace(":", ""))
    eui = bytes([b[0] ^ 0x02]) + b[1:3] + b"\xff\xfe" + b[3:6]
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


def _addr_lines(i, inet_only: bool) -> str:
    lifetime = "       valid_lft forever preferred_lft forever\n"
    text = "".join(f"    inet {a} scope {'host' if a.startswith('127.') else 'global'} {i.name}\n"
                   + lifetime for a in i.addresses)
    if not inet_only and i.carrier:
        six = "::1/128 scope host" if i.kind == "loopback" else f"{_link_local(i.mac)}/64 scope link"
        text += f"    inet6 {six} \n" + lifetime
    return text


def _ip_addr(sys, rest: list[str], inet_only: bool) -> int:
    if rest and rest[0] in ("add", "del", "delete"):
        words = [w for w in rest[1:] if w != "dev"]
        if rest[0] != "add" or len(words) != 2:
            err(sys, "ip", "either \"local\" is duplicate, or \"dev\" is garbage" if len(words) > 2
                else "need at least \"dev\"")
            return 1
        sys.add_address(words[1], words[0])
        return 0

    def text(i, by_index) -> str:
        if inet_only and not i.addresses:
            return ""
        head = _link_head(i, by_index)
        return (head.split("\n", 1)[0] + "\n" if inet_only else head) + _addr_lines(i, inet_only)
    return _show(sys, rest, text)


def _ip_link(sys, rest: list[str], inet_only: bool) -> int:
    if rest and rest[0] == "set":
        return _ip_link_set(sys, [w for w in rest[1:] if w != "dev"])
    return _show(sys, rest, _link_head)


def _ip_link_set(sys, words: list[str]) -> int:
    if not words:
        err(sys, "ip", "need at least \"dev\"")
        return 1
    name, words = words[0], words[1:]
    up = mtu = None
    while words:
        w = words.pop(0)
        if w in ("up", "down"):
            up = w == "up"
        elif w == "mtu" and words and words[0].isdigit():
            mtu = int(words.pop(0))
        else:
            err(sys, "ip", f"invalid argument '{w}' to 'ip'")
            return 1
    if not any(i.name == name for i in sys.interfaces()):
        e = OSError(errno.ENODEV, "No such device")
        e.ip_call = "SIOCGIFFLAGS"
        raise e
    try:
        if mtu is not None:
            sys.configure_link(name, mtu=mtu)
        if up is not None:
            sys.configure_link(name, up=up)
    except OSError as e:
        e.ip_call = "SIOCSIFMTU" if mtu is not None else "SIOCSIFFLAGS"
        raise
    return 0


def _ip_route(sys, rest: list[str], inet_only: bool) -> int:
    if rest and rest[0] in ("add", "append", "replace", "change"):
        words = rest[1:]
        if len(words) < 3 or words[1] != "via":
            err(sys, "ip", "need at least \"via\" (the simulator adds routes through a gateway)")
            return 1
        sys.add_route(words[0], words[2])
        return 0
    lines = []
    for r in sys.routes():
        via = f" via {r.gateway}" if r.gateway else ""
        scope = f" scope link  src {r.src}" if r.src else ""
        lines.append(f"{r.dst}{via} dev {r.dev}{scope} \n")
    out(sys, "".join(lines))
    return 0


# -- ping -------------------------------------------------------------------------------------

def ping(sys, argv: list[str]) -> int:
    """ping [-c COUNT] [-W SEC] [-w SEC] [-i SEC] [-s SIZE] [-q] HOST — one echo a second,
    as busybox prints them; without -c until a signal ends it (SIGINT prints the summary)."""
    try:
        opts, args = parse_opts(argv, "q46n", "cWwisItp")
    except UsageError as e:
        return usage(sys, "ping", e, "[OPTIONS] HOST")
    if len(args) != 1:
        return usage(sys, "ping", UsageError("missing host" if not args else "extra operand"),
                     "[OPTIONS] HOST")
    host = args[0]
    ip_ = resolve(sys, host)
    if ip_ is None:
        err(sys, "ping", f"bad address '{host}'")
        return 1
    count = int(opts["c"]) if str(opts.get("c", "")).isdigit() else None
    size = int(opts["s"]) if str(opts.get("s", "")).isdigit() else ECHO_BYTES
    interval = float(opts["i"]) if "i" in opts else 1.0
    deadline = float(opts["w"]) if "w" in opts else None
    out(sys, f"PING {host} ({ip_}): {size} data bytes\n")
    sent, times = 0, []
    start = sys.time()
    try:
        while count is None or sent < count:
            try:
                ttl = sys.ping(ip_)
            except OSError as e:
                err(sys, "ping", f"sendto: {strerror(e)}")
                return 1
            if ttl is not None:
                ms = 0.05 * (1 + 64 - ttl) + 0.003 * (sent % 7)
                times.append(ms)
                if "q" not in opts:
                    out(sys, f"{size + 8} bytes from {ip_}: seq={sent} ttl={ttl} time={ms:.3f} ms\n")
            sent += 1
            if deadline is not None and sys.time() - start + interval > deadline:
                break
            if count is None or sent < count:
                sys.sleep(interval)
    except BaseException as e:
        if getattr(e, "signal", None) != 2:   # ^C: the summary, as busybox prints it then
            raise
    loss = (sent - len(times)) * 100 // sent if sent else 0
    text = (f"\n--- {host} ping statistics ---\n"
            f"{sent} packets transmitted, {len(times)} packets received, {loss}% packet loss\n")
    if times:
        text += (f"round-trip min/avg/max = {min(times):.3f}/{sum(times) / len(times):.3f}/"
                 f"{max(times):.3f} ms\n")
    out(sys, text)
    return 0 if times else 1


# -- nslookup ----------------------------------------------------------------------------------

def nslookup(sys, argv: list[str]) -> int:
    """nslookup HOST [SERVER] — no DNS server answers in the simulated network."""
    hosts = [a for a in argv[1:] if not a.startswith("-")]
    if not hosts:
        return usage(sys, "nslookup", UsageError("missing host"), "HOST [DNS_SERVER]")
    out(sys, ";; connection timed out; no servers could be reached\n\n")
    return 1


# -- HTTP clients ----------------------------------------------------------------------------------

class _Url:
    def __init__(self, text: str):
        parts = urlsplit(text if "://" in text else "http://" + text)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.netloc = parts.netloc
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.text = text

    def join(self, location: str) -> "_Url":
        if "://" in location:
            return _Url(location)
        base = self.path.rsplit("/", 1)[0] + "/"
        return _Url(f"{self.scheme}://{self.netloc}{location if location.startswith('/') else base + location}")


def _http(sys, ip_: str, url: _Url, method: str = "GET", headers: tuple[str, ...] = (),
          body: bytes = b"", agent: str = "Wget") -> tuple[str, list[tuple[str, str]], bytes]:
    """One HTTP/1.1 exchange over a simulated connection: (status line, headers, body)."""
    conn = sys.connect(ip_, url.port)
    try:
        request = [f"{method} {url.path} HTTP/1.1", f"Host: {url.netloc}", f"User-Agent: {agent}",
                   "Connection: close", *headers]
        if body:
            request.append(f"Content-Length: {len(body)}")
        conn.send(enc("\r\n".join(request) + "\r\n\r\n") + body)
        chunks = []
        while data := conn.recv():
            chunks.append(data)
    finally:
        conn.close()
    raw = b"".join(chunks)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = dec(head).split("\r\n")
    fields = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    length = next((v for k, v in fields if k.lower() == "content-length"), None)
    if length is not None and length.isdigit():
        rest = rest[:int(length)]
    return lines[0], fields, rest


def _status(line: str) -> int:
    words = line.split()
    return int(words[1]) if len(words) > 1 and words[1].isdigit() else 0


def _location(fields) -> str | None:
    return next((v for k, v in fields if k.lower() == "location"), None)


def _size5(n: int) -> str:
    """busybox's smart_ulltoa5: at most five characters, 1024-scaled with a unit past 99999."""
    if n <= 99999:
        return str(n)
    for unit in "kMGT":
        n //= 1024
        if n <= 9999:
            return f"{n}{unit}"
    return f"{n}P"


def wget(sys, argv: list[str]) -> int:
    """wget [-q] [-O FILE|-] [-T SEC] [-U AGENT] [--header H] URL… — busybox's messages and
    progress line (on standard error) over the simulated network; http only."""
    try:
        opts, urls = parse_opts(argv, "qcsS", "OTUYPo", {"--quiet": "q", "--output-document=": "O",
                                                         "--header=": "H", "--user-agent=": "U",
                                                         "--timeout=": "T", "--spider": "s"})
    except UsageError as e:
        return usage(sys, "wget", e, "[-cqS] [-O FILE] [-Y on/off] [-P DIR] [-U AGENT] [-T SEC] URL...")
    if not urls:
        return usage(sys, "wget", UsageError("missing URL"), "[-cqS] [-O FILE] URL...")
    quiet = "q" in opts
    for text in urls:
        url = _Url(text)
        for _ in range(20):
            if url.scheme not in ("http", "https"):
                err(sys, "wget", f"not an http or ftp url: {url.text}")
                return 1
            ip_ = resolve(sys, url.host)
            if ip_ is None:
                err(sys, "wget", f"bad address '{url.host}'")
                return 1
            if not quiet:
                sys.stderr.write(enc(f"Connecting to {url.netloc} ({ip_}:{url.port})\n"))
            try:
                line, fields, body = _http(sys, ip_, url, "GET", tuple(opts.get("H*", ())),
                                           agent=str(opts.get("U", "Wget")))
            except OSError as e:
                return _connect_error(sys, "wget", ip_, e)
            code = _status(line)
            if code in (301, 302, 303, 307, 308) and _location(fields):
                url = url.join(_location(fields))
                continue
            break
        if not 200 <= code < 300:
            err(sys, "wget", f"server returned error: {line}")
            return 1
        if "s" in opts:
            continue
        target = str(opts.get("O", "")) or posixpath.basename(url.path.split("?")[0]) or "index.html"
        if target == "-":
            if not quiet:
                sys.stderr.write(b"writing to stdout\n")
            sys.stdout.write(body)
        else:
            if not quiet:
                sys.stderr.write(enc(f"saving to '{target}'\n"))
            sys.write(target, body)
        if not quiet:
            name = "-" if target == "-" else posixpath.basename(target)
            sys.stderr.write(enc(f"{name:<20.20}100% |{'*' * 32}| {_size5(len(body)):>5}  0:00:00 ETA\n"
                                 + ("written to stdout\n" if target == "-" else f"'{target}' saved\n")))
    return 0


def curl(sys, argv: list[str]) -> int:
    """curl [-sSfLiI] [-o FILE|-O] [-X METHOD] [-H HEADER] [-d DATA] URL — curl 7.88's
    messages and exit codes (6 unknown host, 7 cannot connect, 22 HTTP error with -f,
    28 timed out) over the simulated network."""
    if "--version" in argv or "-V" in argv:
        out(sys, "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 (simulated)\n")
        return 0
    try:
        opts, urls = parse_opts(argv, "sSfLiIkv4O", "oXHdmA", {
            "--silent": "s", "--show-error": "S", "--fail": "f", "--location": "L", "--include": "i",
            "--head": "I", "--insecure": "k", "--verbose": "v", "--output=": "o", "--request=": "X",
            "--header=": "H", "--data=": "d", "--max-time=": "m", "--user-agent=": "A", "--remote-name": "O"})
    except UsageError as e:
        err(sys, "curl", f"{e}\ncurl: try 'curl --help' or 'curl --manual' for more information")
        return 2
    if not urls:
        err(sys, "curl", "no URL specified!\ncurl: try 'curl --help' or 'curl --manual' for more information")
        return 2
    shown = "s" not in opts or "S" in opts
    url = _Url(urls[-1])
    method = "HEAD" if "I" in opts else str(opts.get("X", "POST" if "d" in opts else "GET"))
    data = enc(str(opts.get("d", "")))
    headers = tuple(opts.get("H*", ())) + (("Content-Type: application/x-www-form-urlencoded",) if data else ())
    for _ in range(50):
        ip_ = resolve(sys, url.host)
        if ip_ is None:
            return _curl_fail(sys, shown, 6, f"Could not resolve host: {url.host}")
        try:
            line, fields, body = _http(sys, ip_, url, method, headers, data,
                                       agent=str(opts.get("A", "curl/7.88.1")))
        except OSError as e:
            if e.errno == errno.ETIMEDOUT:
                return _curl_fail(sys, shown, 28, f"Failed to connect to {url.host} port {url.port} after "
                                                  "0 ms: Connection timed out")
            return _curl_fail(sys, shown, 7, f"Failed to connect to {url.host} port {url.port} after 0 ms: "
                                             "Couldn't connect to server")
        code = _status(line)
        if "L" in opts and code in (301, 302, 303, 307, 308) and _location(fields):
            url = url.join(_location(fields))
            continue
        break
    if "f" in opts and code >= 400:
        return _curl_fail(sys, shown, 22, f"The requested URL returned error: {code}")
    text = enc(f"{line}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n") \
        if "i" in opts or "I" in opts else b""
    payload = text + (b"" if method == "HEAD" else body)
    target = str(opts.get("o", "")) or (posixpath.basename(url.path) if "O" in opts else "")
    if target and target != "-":
        sys.write(target, payload)
    else:
        sys.stdout.write(payload)
    if "s" not in opts and (target or not _isatty(sys.stdout)):
        n = len(body)
        speed = _size5(n * 1000)
        sys.stderr.write(enc("  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
                             "                                 Dload  Upload   Total   Spent    Left  Speed\n"
                             f"100 {_size5(n):>5}  100 {_size5(n):>5}    0     0 {speed:>6}      0 "
                             f"--:--:-- --:--:-- --:--:-- {speed:>5}\n"))
    return 0


def _curl_fail(sys, shown: bool, code: int, message: str) -> int:
    if shown:
        err(sys, "curl", f"({code}) {message}")
    return code


def _isatty(stream) -> bool:
    from .common import isatty
    return isatty(stream)


# -- nc ----------------------------------------------------------------------------------------

def nc(sys, argv: list[str]) -> int:
    """nc [-u] [-w SEC] HOST PORT | nc -l -p PORT [-u] — standard input to the peer, the peer's
    data to standard output; ``-l`` waits for one connection."""
    try:
        opts, args = parse_opts(argv, "lunv", "pwis")
    except UsageError as e:
        return usage(sys, "nc", e, "[-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]")
    proto = "udp" if "u" in opts else "tcp"
    if "l" in opts:
        port = str(opts.get("p", "0"))
        if not port.isdigit():
            err(sys, "nc", f"invalid number '{port}'")
            return 1
        try:
            listener = sys.listen(int(port), proto, str(opts.get("s", "0.0.0.0")))
        except OSError as e:
            err(sys, "nc", f"bind: {strerror(e)}")
            return 1
        try:
            conn = listener.accept()
        finally:
            listener.close()
    else:
        if len(args) != 2 or not args[1].isdigit():
            return usage(sys, "nc", UsageError("missing host or port" if len(args) < 2 else "bad port"),
                         "[-iN] [-wN] [-l] [-p PORT] [-f FILE|IPADDR PORT] [-e PROG]")
        ip_ = resolve(sys, args[0])
        if ip_ is None:
            err(sys, "nc", f"bad address '{args[0]}'")
            return 1
        try:
            conn = sys.connect(ip_, int(args[1]), proto)
        except OSError as e:
            return _connect_error(sys, "nc", ip_, e)
    try:
        while data := sys.stdin.read(65536):
            conn.send(data)
        conn.shutdown()
        while data := conn.recv():
            sys.stdout.write(data)
    finally:
        conn.close()
    return 0


# -- httpd -----------------------------------------------------------------------------------------

def httpd(sys, argv: list[str]) -> int:
    """httpd [-f] [-v[v[v]]] [-p [IP:]PORT] [-h HOME] — serves the files under HOME (default:
    the working directory, as busybox's) with busybox's answers: 200, 302 to add a
    directory's slash, 400, 403, 404, and 501 for methods other than GET and HEAD. Without
    -f it goes to the background, as a daemon does (and logs to syslog, which the simulator
    drops). With -f, each -v logs more to stderr, every line prefixed with the client's
    address: the response code; the URL; the connection opening and closing."""
    try:
        opts, _ = parse_opts(argv, "fvi", "phcurmed")
    except UsageError as e:
        return usage(sys, "httpd", e, "[-ifv[v]] [-c CONFFILE] [-p [IP:]PORT] [-u USER[:GRP]] [-r REALM] [-h HOME]")
    address, _, port = str(opts.get("p", "80")).rpartition(":")
    if not port.isdigit():
        err(sys, "httpd", f"invalid port '{port}'")
        return 1
    home = posixpath.join(sys.getcwd(), str(opts.get("h", ".")))
    try:
        listener = sys.listen(int(port), "tcp", address or "0.0.0.0")
    except OSError as e:
        err(sys, "httpd", f"bind: {strerror(e)}")
        return 1
    if "f" not in opts:   # daemonise: the listening socket goes to the child
        listener.close()
        sys.spawn(list(argv) + ["-f"], stderr=_Syslog())
        return 0
    verbose = int(opts.get("v", 0))
    try:
        while True:
            conn = listener.accept()
            # busybox listens on IPv6 (so IPv4 clients show as ::ffff:a.b.c.d) unless -p names an address
            peer = f"{conn.peer[0]}:{conn.peer[1]}" if address else f"[::ffff:{conn.peer[0]}]:{conn.peer[1]}"
            log = (lambda level, msg: err(sys, peer, msg) if verbose >= level else None)
            log(3, "connected")
            try:
                code, answer = _respond(sys, conn, posixpath.normpath(home), log)
                log(1, f"response:{code}")   # as busybox, before the answer goes out
                conn.send(answer)
            except OSError:
                pass   # the client went away
            finally:
                conn.close()
                log(3, "closed")
    finally:
        listener.close()


class _Syslog:
    """Where a daemonised httpd's log goes: syslog, which the simulated machine has not."""

    def write(self, data) -> int:
        return len(data)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _respond(sys, conn, home: str, log) -> tuple[int, bytes]:
    """Read one request: (the response code, the answer to send)."""
    raw = b""
    while b"\r\n\r\n" not in raw and b"\n\n" not in raw and len(raw) < 65536:
        data = conn.recv()
        if not data:
            break
        raw += data
    words = dec(raw.split(b"\n", 1)[0]).split()
    if len(words) < 2 or not words[1].startswith("/"):
        return 400, _answer(sys, 400)
    method, target = words[0], unquote(words[1].split("?", 1)[0])
    clean = posixpath.normpath(target)
    if any(part == ".." for part in target.split("/")):
        return 400, _answer(sys, 400)
    log(2, f"url:{target}")
    if method not in ("GET", "HEAD"):
        return 501, _answer(sys, 501)
    path = home + ("" if clean == "/" else clean)
    try:
        st = sys.stat(path)
    except OSError:
        return 404, _answer(sys, 404)
    import stat as st_
    if st_.S_ISDIR(st.mode):
        if not target.endswith("/"):
            return 302, _answer(sys, 302, location=target + "/")
        path = posixpath.join(path, "index.html")
        try:
            st = sys.stat(path)
        except OSError:
            return 404, _answer(sys, 404)
    try:
        body = sys.read(path)
    except OSError as e:
        code = 403 if e.errno == errno.EACCES else 404
        return code, _answer(sys, code)
    mime = MIME.get(posixpath.splitext(path)[1].lower(), "application/octet-stream")
    return 200, _answer(sys, 200, mime=mime, mtime=st.mtime, size=len(body)) + body  # HEAD too, as busybox


def _answer(sys, code: int, *, location: str = "", mime: str = "", mtime: float = 0.0,
            size: int = 0) -> bytes:
    """busybox httpd's status line and headers (and its page for an error)."""
    reason = HTTP_REASONS[code]
    lines = [f"HTTP/1.1 {code} {reason}", f"Date: {_http_date(sys.time())}", "Connection: close",
             f"Content-type: {mime or 'text/html'}"]
    if location:
        lines.append(f"Location: {location}")
    body = ""
    if code == 200:
        lines += ["Accept-Ranges: bytes", f"Last-Modified: {_http_date(mtime)}",
                  f'ETag: "{int(mtime):x}-{size:x}"', f"Content-Length: {size}"]
    elif code != 302:
        body = (f"<HTML><HEAD><TITLE>{code} {reason}</TITLE></HEAD>\n<BODY><H1>{code} {reason}</H1>\n"
                f"{HTTP_INFO[code]}\n</BODY></HTML>\n")
    return enc("\r\n".join(lines) + "\r\n\r\n" + body)


def _http_date(t: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


APPLETS = {"ip": ip, "ping": ping, "nslookup": nslookup, "wget": wget, "nc": nc, "httpd": httpd}
# not busybox's: a package installs it
EXTRA = {"curl": curl}

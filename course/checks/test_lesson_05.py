"""Lesson 05 — networking: network namespaces, the bridge, user networks and names, published ports.

Run: ``MINIDOCKER_KERNEL=sim python -m pytest course/checks/test_lesson_05.py``
"""

import ipaddress
import re

from minidocker.runtime.netspec import DEFAULT_SUBNET, first_host

GATEWAY = first_host(DEFAULT_SUBNET)      # 10.66.0.1: minidocker0's address on the host


def _interfaces(text: str) -> list[str]:
    """The interface names of `ip link` / `ip addr` output ("2: eth0@if4: <…" → eth0)."""
    return re.findall(r"^\d+: ([^:@\s]+)", text, re.M)


def _addresses(text: str) -> dict[str, str]:
    """interface → IPv4 address, from `ip addr` output ("inet 10.66.0.2/16 scope global eth0")."""
    return {dev: ip for ip, dev in re.findall(r"inet ([\d.]+)/\d+ .*?(\S+)$", text, re.M)}


def _hosts(text: str) -> dict[str, str]:
    """name → address, from the /etc/hosts lines in a container's output."""
    names = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 1 and re.fullmatch(r"[\d.]+", fields[0]):
            for name in fields[1:]:
                names.setdefault(name, fields[0])
    return names


def _in(address: str, subnet: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(subnet)


def test_05_1_network_none_leaves_only_lo(learner):
    """05.1 `ex05-none`: --network none; `ip link` shows lo only; the ping of 10.66.0.1 fails."""
    info = learner.exited("ex05-none", "05.1")
    mode = info["HostConfig"]["NetworkMode"]
    learner.expect(mode == "none", "05.1", f"ex05-none ran on the network {mode!r}; use `--network none`",
                   f"ex05-none работал в сети {mode!r}; используйте `--network none`")
    links = _interfaces(learner.output("ex05-none"))
    learner.expect(links == ["lo"], "05.1",
                   f"ex05-none's `ip link` listed {links or 'nothing'}; expected lo alone",
                   f"`ip link` в ex05-none показал {links or 'ничего'}; ожидался один lo")
    learner.expect("ping exit code 1" in learner.lines("ex05-none"), "05.1",
                   f"expected the ping of {GATEWAY} to fail with `ping exit code 1` in the output: "
                   f"run `ping -c 1 -W 1 {GATEWAY}; echo \"ping exit code $?\"`",
                   f"ожидалось, что ping {GATEWAY} не пройдёт и в выводе будет `ping exit code 1`: "
                   f"выполните `ping -c 1 -W 1 {GATEWAY}; echo \"ping exit code $?\"`")


def test_05_2_the_default_bridge(learner):
    """05.2 `ex05-bridge`: eth0 with an address of 10.66.0.0/16, a default route via
    10.66.0.1, and that gateway answers a ping."""
    info = learner.exited("ex05-bridge", "05.2")
    mode = info["HostConfig"]["NetworkMode"]
    learner.expect(mode in ("bridge", "default"), "05.2",
                   f"ex05-bridge ran on the network {mode!r}; run it without `--network` (the default bridge)",
                   f"ex05-bridge работал в сети {mode!r}; запустите его без `--network` (сеть bridge по умолчанию)")
    out = learner.output("ex05-bridge")
    eth0 = _addresses(out).get("eth0")
    learner.expect(eth0 is not None and _in(eth0, DEFAULT_SUBNET), "05.2",
                   f"no address of {DEFAULT_SUBNET} on eth0 in ex05-bridge's output: run `ip -4 addr show eth0`",
                   f"в выводе ex05-bridge нет адреса из {DEFAULT_SUBNET} на eth0: выполните `ip -4 addr show eth0`")
    learner.expect(f"default via {GATEWAY} dev eth0" in out, "05.2",
                   f"no `default via {GATEWAY} dev eth0` in ex05-bridge's output: run `ip route`",
                   f"в выводе ex05-bridge нет `default via {GATEWAY} dev eth0`: выполните `ip route`")
    learner.expect("ping exit code 0" in learner.lines("ex05-bridge"), "05.2",
                   f"expected `ping exit code 0`: the gateway {GATEWAY} (the bridge on the host) answers "
                   f"`ping -c 1 -W 1 {GATEWAY}`",
                   f"ожидалось `ping exit code 0`: шлюз {GATEWAY} (мост на хосте) отвечает на "
                   f"`ping -c 1 -W 1 {GATEWAY}`")


def test_05_3_names_resolve_on_a_user_network(learner):
    """05.3 network `ex05`; `ex05-db` on it; `ex05-app` on it finds ex05-db's address in
    /etc/hosts; `ex05-nonames` on the default bridge does not know the name."""
    net = learner.network("ex05", "05.3")
    subnet = net["IPAM"]["Config"][0]["Subnet"]
    for name in ("ex05-db", "ex05-app"):
        info = learner.container(name, "05.3")
        mode = info["HostConfig"]["NetworkMode"]
        learner.expect(mode == "ex05", "05.3", f"{name} ran on the network {mode!r}; use `--network ex05`",
                       f"{name} работал в сети {mode!r}; используйте `--network ex05`")
    learner.exited("ex05-app", "05.3")
    seen = _hosts(learner.output("ex05-app")).get("ex05-db")
    learner.expect(seen is not None, "05.3",
                   "ex05-app's output has no line for ex05-db: start ex05-db first (it must be running), "
                   "then run ex05-app with `cat /etc/hosts`",
                   "в выводе ex05-app нет строки с ex05-db: сначала запустите ex05-db (он должен работать), "
                   "затем ex05-app с `cat /etc/hosts`")
    learner.expect(_in(seen, subnet), "05.3",
                   f"ex05-app's /etc/hosts gives ex05-db the address {seen}, which is not in ex05's subnet {subnet}",
                   f"в /etc/hosts ex05-app у ex05-db адрес {seen}, он не из подсети ex05 {subnet}")
    info = learner.exited("ex05-nonames", "05.3")
    mode = info["HostConfig"]["NetworkMode"]
    learner.expect(mode in ("bridge", "default"), "05.3",
                   f"ex05-nonames ran on the network {mode!r}; run it without `--network` (the default bridge)",
                   f"ex05-nonames работал в сети {mode!r}; запустите его без `--network` (сеть bridge по умолчанию)")
    learner.expect("ex05-db" not in _hosts(learner.output("ex05-nonames")), "05.3",
                   "ex05-nonames's /etc/hosts lists ex05-db: on the default bridge it should not",
                   "в /etc/hosts ex05-nonames есть ex05-db: в сети bridge по умолчанию его быть не должно")
    learner.expect("bad address 'ex05-db'" in learner.output("ex05-nonames", "stderr"), "05.3",
                   "expected `ping: bad address 'ex05-db'` in ex05-nonames's log: run `ping -c 1 -W 1 ex05-db`",
                   "в логе ex05-nonames ожидалось `ping: bad address 'ex05-db'`: выполните `ping -c 1 -W 1 ex05-db`")


def test_05_4_a_published_port_answers_the_host(learner):
    """05.4 `ex05-web`: port 80 published (-p 8080:80); httpd -v logged an answer to a request
    that came through the published port, i.e. from the gateway 10.66.0.1."""
    info = learner.container("ex05-web", "05.4")
    learner.expect("80/tcp" in (info["HostConfig"].get("PortBindings") or {}), "05.4",
                   "ex05-web does not publish port 80: run it with `-p 8080:80`",
                   "ex05-web не публикует порт 80: запустите его с `-p 8080:80`")
    answers = re.findall(r"^\[?(?:::ffff:)?([\d.]+)\]?:\d+: response:(\d+)$",
                         learner.output("ex05-web", "stderr"), re.M)
    learner.expect(bool(answers), "05.4",
                   "ex05-web's log shows no request: run httpd with `-v`, then fetch "
                   "http://127.0.0.1:8080/ from the host (`wget -qO- http://127.0.0.1:8080/`)",
                   "в логе ex05-web нет ни одного запроса: запустите httpd с `-v`, затем загрузите "
                   "http://127.0.0.1:8080/ с хоста (`wget -qO- http://127.0.0.1:8080/`)")
    learner.expect((GATEWAY, "200") in answers, "05.4",
                   f"ex05-web answered {sorted(set(answers))} (client, code), but nothing with 200 to "
                   f"{GATEWAY}, where a request through the published port comes from: fetch the page "
                   "from the host, not from inside a container",
                   f"ex05-web ответил {sorted(set(answers))} (клиент, код), но ни разу 200 адресу "
                   f"{GATEWAY}, откуда приходит запрос через опубликованный порт: загрузите страницу "
                   "с хоста, а не изнутри контейнера")


def test_05_5_a_container_on_two_networks(learner):
    """05.5 `ex05-two`: created, connected to ex05 too, started: an address on each network,
    and ex05's names in its /etc/hosts."""
    info = learner.exited("ex05-two", "05.5")
    networks = sorted(info["NetworkSettings"]["Networks"])
    learner.expect(networks == ["bridge", "ex05"], "05.5",
                   f"ex05-two is on {networks}; expected bridge and ex05: create it, "
                   "`minidocker network connect ex05 ex05-two`, then start it",
                   f"ex05-two подключён к {networks}; ожидались bridge и ex05: создайте его, "
                   "выполните `minidocker network connect ex05 ex05-two`, затем запустите")
    subnet = learner.network("ex05", "05.5")["IPAM"]["Config"][0]["Subnet"]
    out = learner.output("ex05-two")
    addresses = _addresses(out)
    on = {net: sorted(dev for dev, ip in addresses.items() if _in(ip, s))
          for net, s in (("bridge", DEFAULT_SUBNET), ("ex05", subnet))}
    learner.expect(all(on.values()) and on["bridge"] != on["ex05"], "05.5",
                   f"ex05-two's `ip -4 addr` shows {addresses or 'no addresses'}; expected one interface "
                   f"on {DEFAULT_SUBNET} and another on {subnet}",
                   f"`ip -4 addr` в ex05-two показал {addresses or 'ни одного адреса'}; ожидался один "
                   f"интерфейс в {DEFAULT_SUBNET} и другой в {subnet}")
    learner.expect("ex05-db" in _hosts(out), "05.5",
                   "ex05-two's output has no line for ex05-db: keep ex05-db running and print /etc/hosts",
                   "в выводе ex05-two нет строки с ex05-db: ex05-db должен работать; напечатайте /etc/hosts")

"""Notebook 05: networking — a network namespace, a veth pair, the bridge, names, isolation, published ports."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbbuild import code, md, write  # noqa: E402

cells = [
    md("""
    # 05 · Networking: how containers talk

    A container has a **network namespace** of its own: its own interfaces, addresses,
    routes and ports. A new one has only a loopback interface, `lo`, so a container
    without help can talk to nobody but itself. Docker's *bridge network* connects it,
    with three kernel pieces you will build up step by step:

    - a **bridge**: a virtual switch on the host (Docker's `docker0`, minidocker's `minidocker0`);
    - a **veth pair**: a virtual cable with two ends; one end stays on the host, plugged
      into the bridge, the other goes into the container and is called `eth0`;
    - **routes and rules**: a default route in the container via the bridge's address, and
      packet-filter rules that keep networks apart and let containers reach the outside.

    The seed's web application needs two more things: its containers must find each other
    **by name** (the app connects to `db`, not to an address), and the app must be
    reachable **from the host** through a **published port**.

    **In this notebook you will:**

    1. see a network namespace with nothing but `lo`;
    2. watch the runtime wire a container onto the default bridge, call by call;
    3. find the veth pair from the host's side, and draw the topology;
    4. put a database and a client on a network of their own and connect by name;
    5. break it: try to reach that database from another network;
    6. publish a port and fetch a page from the host;
    7. check what you learned.
    """),
    md("""
    ## Setup
    """),
    code("""
    import minidocker
    from minidocker import lesson, viz
    from minidocker.engine import Engine

    e = lesson.engine()
    e.bootstrap("busybox");
    """),
    md("""
    ## Step 1 · A network namespace starts empty

    With `network="none"` the container gets its own network namespace and nothing else.
    `ip addr` lists its interfaces: only `lo`, with the loopback address 127.0.0.1.
    """),
    code("""
    alone = lesson.sh(e, "ip addr", network="none")
    alone
    """),
    md("""
    ## Step 2 · The runtime wires a container onto the bridge

    By default a container joins the **bridge** network. Trace a run and keep only the
    network calls. Read them in order: the bridge is made once (with its rules and the
    gateway address 10.66.0.1) if no container has used it yet, then for this container a veth pair whose far end is born
    inside the container's namespace as `eth0`, the container's address from the
    network's pool, the link brought up, and the default route via the gateway.
    """),
    code("""
    with minidocker.trace() as t:
        wired = lesson.sh(Engine(e.store.root), "ip addr show eth0; ip route")
    lesson.steps(t, ops=("link_add", "link_set", "addr_add", "route_add", "firewall", "link_delete"))
    """),
    md("""
    Inside, the container sees the result: `eth0` with its address, and two routes — the
    network itself (reachable directly on `eth0`) and everything else via the gateway.
    The last call above came at the end: the host's end of the veth was deleted with the
    container.
    """),
    code("""
    wired
    """),
    md("""
    ## Step 3 · The other end of the cable

    Start a container in the background and list the **host's** interfaces: the bridge
    `minidocker0` with the gateway address, and a `veth…` interface whose master is the
    bridge — the host's end of the container's cable.
    """),
    code("""
    sleeper = lesson.start(e, "busybox", "sleep", "300", name="sleeper")
    for link in e.kernel.links():
        if link.kind in ("bridge", "veth"):
            print(f"{link.name:18} {link.kind:7} master={link.master or '-':12} {' '.join(link.addresses)}")
    """),
    code("""
    viz.network_topology(e)
    """),
    md("""
    ## Step 4 · A network of its own, and names

    Create a user network `shop` (minidocker gives it a free subnet and a bridge of its
    own) and start a "database" on it: here a tiny web server, busybox `httpd`, that
    answers with a page. A client on the same network reaches it **by name**: the runtime
    keeps each container's `/etc/hosts` up to date with its peers on user networks.
    """),
    code("""
    shop = e.network_create("shop")
    print("network shop:", shop.subnet, "gateway", shop.gateway, "bridge", shop.bridge)
    db = lesson.start(e, "busybox", "sh", "-c",
                      "mkdir -p /www && echo 'rows from the database' > /www/index.html && "
                      "exec httpd -f -p 8080 -h /www", name="db", network="shop")
    # (tried a few times: the server may still be starting when the client asks)
    client = lesson.sh(e, "cat /etc/hosts; for try in 1 2 3 4 5 6 7 8 9 10; do "
                          "wget -qO- http://db:8080/ && break; sleep 0.3; done", network="shop")
    client
    """),
    md("""
    ## Step 5 · Break it: reach the database from another network

    A container on the default bridge tries the database's **address** (it could not use
    the name: the default bridge does not resolve names). Both networks' bridges live in
    the host, which could route between them — but the rules the runtime added drop any
    packet that enters one minidocker bridge and leaves by another.
    """),
    code("""
    db_ip = e.inspect_container("db")["NetworkSettings"]["Networks"]["shop"]["IPAddress"]
    outsider = lesson.sh(e, f"ping -c 1 -W 1 {db_ip} >/dev/null && echo reached || echo unreachable")
    print(f"from the bridge network to {db_ip}:", outsider.out.strip())
    """),
    code("""
    for rule in e.kernel.firewall_rules("filter"):
        if rule.chain.startswith("MINIDOCKER"):
            print(rule.chain, " ".join(rule.args))
    """),
    md("""
    ## Step 6 · Publish a port

    The host cannot reach a container's port directly by `localhost`. `publish` (the `-p`
    flag) asks the runtime to take a port on the host and forward what arrives there to
    the container. minidocker does it as Docker's `docker-proxy` does: a small proxy in the
    container's supervisor. Port 0 means "any free port"; `port()` says which one it got.
    """),
    code("""
    web = lesson.start(e, "busybox", "sh", "-c",
                       "mkdir -p /www && echo 'hello from the web container' > /www/index.html && "
                       "exec httpd -f -p 80 -h /www", name="web", publish=["127.0.0.1:0:80"])
    mapping = e.port("web")[0]
    host_port = int(mapping.rsplit(":", 1)[1])
    print(mapping)
    page = lesson.fetch(f"http://127.0.0.1:{host_port}/")
    print("the host fetched:", page)
    """),
    code("""
    viz.network_topology(e)
    """),
    md("""
    ## Check yourself

    **Q1.** What is the client's gateway, and whose address is it?
    """),
    code("""
    gateway = next(line.split()[2] for line in wired.out.splitlines() if line.startswith("default"))
    bridge = next(l for l in e.kernel.links() if l.name == "minidocker0")
    print("gateway:", gateway, "| the bridge minidocker0 has:", bridge.addresses)
    lesson.check(any(a.split("/")[0] == gateway for a in bridge.addresses),
                 "the default route points at the bridge's own address on the host")
    """),
    md("""
    **Q2.** How did the client find `db`? Where did the name come from?
    """),
    code("""
    line = next(l for l in client.out.splitlines() if l.endswith("db"))
    print("/etc/hosts says:", line)
    lesson.check(line.split()[0] == db_ip and "rows from the database" in client.out,
                 "db resolved through /etc/hosts, kept current by the runtime, to its address on shop")
    """),
    md("""
    **Q3.** Why could the container on the bridge network not reach `db` by its address?
    """),
    code("""
    drops = [r for r in e.kernel.firewall_rules("filter") if r.chain == "MINIDOCKER-ISOLATION-2"]
    lesson.check(outsider.out.strip() == "unreachable" and any(shop.bridge in r.args for r in drops),
                 "a rule drops packets that leave through shop's bridge after entering by another")
    """),
    md("""
    **Q4.** The page came from port 80 of the container. Which host port carried it?
    """),
    code("""
    lesson.check(page.strip() == "hello from the web container" and host_port > 0,
                 f"host port {host_port} was forwarded to port 80 in the container")
    """),
    md("""
    ## Clean up
    """),
    code("""
    for name in ("web", "db", "sleeper"):
        e.rm(name, force=True)
    e.network_rm("shop")
    print("networks:", [n["Name"] for n in e.network_rows()])
    """),
    md("""
    ## Summary

    - A **network namespace** starts with only `lo`; `network="none"` leaves it so.
    - The **bridge network**: a bridge on the host, a **veth pair** per container (host end
      on the bridge, `eth0` inside), an address from the network's pool (IPAM), a default
      route via the bridge's address.
    - **User networks** get their own bridge and subnet; containers on one find each other
      **by name**; networks are kept apart by packet-filter rules.
    - **Published ports** forward a host port to a container's port (`-p 8080:80`); the
      containers' traffic to the outside is masqueraded behind the host's address.

    This is the seed's web application, ready to wire: the app and its database on one
    network, reaching each other by name, the app's port published on the host.
    """),
]

if __name__ == "__main__":
    print(write("05_networking", cells))

"""Networks through the daemon: the Engine API's network routes, driven by `minidocker -H`,
the real docker CLI and docker-py, on the real kernel.

The suite runs in a network namespace of its own (conftest.py); published ports are
reached on its loopback. ``netclean`` (from test_network) proves afterwards that no
container, veth, bridge, firewall rule or address of the test is left.
"""

from __future__ import annotations

import json
import subprocess
from urllib.parse import quote

import pytest

from test_cli_remote import cli
from test_daemon import daemon, docker, http  # noqa: F401  (daemon is a fixture)
from test_network import _free_port, clean, netclean, wait_for  # noqa: F401  (fixtures)
from test_runtime import md

pytestmark = pytest.mark.root


@pytest.fixture
def host(netclean, daemon):
    """test_daemon's daemon on this test's state root, stopped before ``netclean`` looks
    for leftovers."""
    return daemon


def same(host: str, *args) -> subprocess.CompletedProcess:
    """Run a verb through the daemon and in-process; both say and exit exactly alike."""
    through, local = cli(host, *args), md(*args)
    assert (through.returncode, through.stdout, through.stderr) == \
        (local.returncode, local.stdout, local.stderr), args
    return through


def httpd(name: str, *options: str) -> list[str]:
    """argv of a detached busybox httpd serving the container's /etc (so /hostname)."""
    return ["run", "-d", "--name", name, *options, "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]


# -- minidocker -H ---------------------------------------------------------------------------

def test_network_verbs_through_the_daemon_say_what_the_local_engine_says(host):
    created = cli(host, "network", "create", "--label", "team=a", "web")
    assert created.returncode == 0 and len(created.stdout.strip()) == 64, created.stderr
    for verb in (["network", "ls"], ["network", "ls", "-q"], ["network", "ls", "--format", "{{.Name}}"],
                 ["network", "inspect", "web", "bridge"], ["network", "inspect", "nowhere"],
                 ["network", "create", "web"],                        # a duplicate: exit 1
                 ["network", "create", "--subnet", "10.1.2.3/24", "bad"],  # a bad subnet: exit 125
                 ["network", "rm", "bridge", "nowhere"]):
        same(host, *verb)
    assert cli(host, "network", "create", "--subnet", "10.1.2.3/24", "bad").returncode == 125
    [doc] = json.loads(cli(host, "network", "inspect", "web").stdout)
    assert doc["Labels"] == {"team": "a"} and doc["IPAM"]["Config"][0]["Subnet"].startswith("10.67.")
    assert cli(host, "network", "rm", "web").stdout == "web\n"
    assert "web" not in cli(host, "network", "ls").stdout


def test_connect_and_disconnect_through_the_daemon_rewire_a_running_container(host):
    assert cli(host, "network", "create", "web").returncode == 0
    assert cli(host, "run", "-d", "--name", "client", "busybox", "sleep", "30").returncode == 0
    assert cli(host, "network", "connect", "web", "client").returncode == 0
    r = cli(host, "inspect", "client")
    assert r.returncode == 0, r.stderr
    [info] = json.loads(r.stdout)
    assert set(info["NetworkSettings"]["Networks"]) == {"bridge", "web"}
    assert info["NetworkSettings"]["Networks"]["web"]["IPAddress"].startswith("10.67.")
    assert "eth1" in cli(host, "exec", "client", "ls", "/sys/class/net").stdout.split()
    refused = same(host, "network", "rm", "web")                 # a running member
    assert refused.returncode == 1 and "has active endpoints (client)" in refused.stderr
    same(host, "network", "connect", "web", "client")           # already there: refused alike
    assert cli(host, "network", "disconnect", "web", "client").returncode == 0
    assert "eth1" not in cli(host, "exec", "client", "ls", "/sys/class/net").stdout.split()
    not_there = same(host, "network", "disconnect", "web", "client")
    assert not_there.returncode == 1 and "is not connected to network web" in not_there.stderr
    assert cli(host, "rm", "-f", "client").returncode == 0
    pruned = cli(host, "network", "prune", "-f")
    assert (pruned.returncode, pruned.stdout) == (0, "Deleted Networks:\nweb\n")
    assert cli(host, "network", "prune", "-f").stdout == ""


def test_port_and_ps_through_the_daemon_show_the_published_port(host):
    port = _free_port()
    assert cli(host, *httpd("site", "-p", f"127.0.0.1:{port}:8080")).returncode == 0
    cid = json.loads(cli(host, "inspect", "site").stdout)[0]["Id"]
    assert wait_for(f"http://127.0.0.1:{port}/hostname") == f"{cid[:12]}\n".encode()
    assert same(host, "port", "site").stdout == f"8080/tcp -> 127.0.0.1:{port}\n"
    assert same(host, "port", "site", "8080").stdout == f"127.0.0.1:{port}\n"
    assert same(host, "port", "site", "9999/udp").returncode == 1
    assert same(host, "port", "nosuch").stderr == "minidocker: No such container: nosuch\n"
    assert f"127.0.0.1:{port}->8080/tcp" in cli(host, "ps").stdout
    assert cli(host, "rm", "-f", "site").returncode == 0


def test_without_a_daemon_network_verbs_say_how_to_start_one(tmp_path):
    for args in (["network", "ls"], ["network", "create", "x"], ["port", "x"]):
        r = cli(f"unix://{tmp_path}/none.sock", *args)
        assert r.returncode == 1
        assert r.stderr.strip().endswith("is it running? Start it with `minidocker daemon`"), r.stderr


# -- the docker CLI --------------------------------------------------------------------------

@pytest.mark.tools("docker")
def test_the_docker_cli_creates_lists_inspects_and_removes_networks(host):
    created = docker(host, "network", "create", "--subnet", "10.71.0.0/24", "--label", "k=v", "front")
    assert created.returncode == 0, created.stderr
    nid = created.stdout.strip()
    rows = docker(host, "network", "ls").stdout.splitlines()
    assert rows[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [nid[:12], "front", "bridge", "local"] in [r.split() for r in rows]
    assert {r.split()[1] for r in rows[1:]} == {"bridge", "host", "none", "front"}
    assert docker(host, "network", "ls", "-q", "--filter", "name=fro").stdout.split() == [nid[:12]]
    assert docker(host, "network", "ls", "-q", "--filter", "label=k=v").stdout.split() == [nid[:12]]
    assert docker(host, "network", "ls", "-q", "--filter", "type=custom").stdout.split() == [nid[:12]]
    assert docker(host, "network", "ls", "--format", "{{.Name}}", "--filter", "driver=null").stdout == "none\n"
    [doc] = json.loads(docker(host, "network", "inspect", "front").stdout)
    assert (doc["Id"], doc["Driver"], doc["Labels"]) == (nid, "bridge", {"k": "v"})
    assert doc["IPAM"]["Config"] == [{"Subnet": "10.71.0.0/24", "Gateway": "10.71.0.1"}]
    again = docker(host, "network", "create", "front")
    assert again.returncode == 1 and "network with name front already exists" in again.stderr
    overlap = docker(host, "network", "create", "--subnet", "10.71.0.0/16", "back")
    assert overlap.returncode == 1 and "Pool overlaps" in overlap.stderr
    builtin = docker(host, "network", "rm", "bridge")
    assert builtin.returncode == 1 and "pre-defined network" in builtin.stderr
    assert docker(host, "network", "rm", "front").stdout == "front\n"
    gone = docker(host, "network", "inspect", "front")
    assert gone.returncode == 1 and "network front not found" in gone.stderr
    assert docker(host, "network", "create", "spare").returncode == 0
    pruned = docker(host, "network", "prune", "-f")
    assert pruned.returncode == 0 and pruned.stdout.split() == ["Deleted", "Networks:", "spare"], pruned


@pytest.mark.tools("docker")
def test_docker_run_on_a_user_network_publishes_a_port_the_test_can_fetch(host):
    assert docker(host, "network", "create", "web").returncode == 0
    port = _free_port()
    r = docker(host, *httpd("site", "-p", f"127.0.0.1:{port}:8080", "--network", "web"))
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert wait_for(f"http://127.0.0.1:{port}/hostname") == f"{cid[:12]}\n".encode()
    assert docker(host, "port", "site").stdout == f"8080/tcp -> 127.0.0.1:{port}\n"
    ps = docker(host, "ps", "--format", "{{.Names}} {{.Ports}}").stdout
    assert ps == f"site 127.0.0.1:{port}->8080/tcp\n"
    [info] = json.loads(docker(host, "inspect", "site").stdout)
    assert info["HostConfig"]["NetworkMode"] == "web"
    web = info["NetworkSettings"]["Networks"]["web"]
    [net] = json.loads(docker(host, "network", "inspect", "web").stdout)
    assert web["NetworkID"] == net["Id"] and web["Gateway"] == net["IPAM"]["Config"][0]["Gateway"]
    assert net["Containers"][cid]["IPv4Address"] == web["IPAddress"] + "/24"
    busy = docker(host, "network", "rm", "web")
    assert busy.returncode == 1 and "has active endpoints" in busy.stderr
    # a peer on the same network reaches it by name; one on the default bridge cannot
    peer = docker(host, "run", "--rm", "--network", "web", "busybox", "wget", "-qO-",
                  "http://site:8080/hostname")
    assert peer.stdout == f"{cid[:12]}\n", peer.stderr
    stranger = docker(host, "run", "--rm", "busybox", "sh", "-c",
                      f"nc -w 1 {web['IPAddress']} 8080 </dev/null; echo nc=$?")
    assert stranger.stdout.strip().endswith("nc=1"), stranger.stdout
    assert docker(host, "network", "connect", "bridge", "site").returncode == 0
    attached = docker(host, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "site")
    assert attached.stdout.split() == ["bridge", "web"], attached.stderr
    assert docker(host, "network", "disconnect", "bridge", "site").returncode == 0
    assert docker(host, "rm", "-f", "site").returncode == 0
    assert docker(host, "network", "rm", "web").returncode == 0


# -- docker-py -------------------------------------------------------------------------------

def test_docker_py_creates_lists_connects_and_removes_networks(host):
    import docker as docker_py
    client = docker_py.DockerClient(base_url=host)
    net = client.networks.create("pynet", driver="bridge", labels={"owner": "test"})
    assert net.name == "pynet" and len(net.id) == 64
    assert [n.id for n in client.networks.list(names=["pynet"])] == [net.id]
    assert [n.name for n in client.networks.list(filters={"label": "owner=test"})] == ["pynet"]
    assert {n.name for n in client.networks.list()} == {"bridge", "host", "none", "pynet"}
    assert client.networks.get(net.id[:10]).attrs["Labels"] == {"owner": "test"}
    box = client.containers.run("busybox", ["sleep", "30"], name="pybox", detach=True)
    try:
        net.connect(box)
        net.reload()
        assert [c.id for c in net.containers] == [box.id]
        box.reload()
        assert set(box.attrs["NetworkSettings"]["Networks"]) == {"bridge", "pynet"}
        code, output = box.exec_run(["ls", "/sys/class/net"])
        assert code == 0 and b"eth1" in output.split()
        with pytest.raises(docker_py.errors.APIError) as refused:
            net.remove()                                             # it has a running member
        assert refused.value.response.status_code == 403
        net.disconnect(box)
        box.reload()
        assert set(box.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
    finally:
        box.remove(force=True)
    net.remove()
    with pytest.raises(docker_py.errors.NotFound):
        client.networks.get("pynet")


# -- the API itself --------------------------------------------------------------------------

def test_network_routes_answer_with_dockers_status_codes_and_shapes(host):
    assert http(host, "GET", "/networks/nope") == (404, {"message": "network nope not found"})
    status, body = http(host, "POST", "/v1.47/networks/create",
                        {"Name": "lan", "CheckDuplicate": True, "IPAM": {"Config": [{"Subnet": "10.72.0.0/24"}]}})
    assert status == 201 and set(body) == {"Id", "Warning"} and body["Warning"] == ""
    nid = body["Id"]
    refusals = [({"Name": "lan"}, 409),                                        # duplicate name
                ({"Name": "b", "IPAM": {"Config": [{"Subnet": "10.72.0.0/16"}]}}, 403),  # overlapping pool
                ({"Name": "b", "IPAM": {"Config": [{"Subnet": "10.1.2.3/24"}]}}, 400),   # host bits set
                ({"Name": "b", "IPAM": {"Config": [{"Subnet": "10.73.0.0/24", "Gateway": "10.9.9.9"}]}}, 400),
                ({"Name": "b", "Driver": "macvlan"}, 404),                   # no such plugin
                ({"Name": "b", "EnableIPv6": True}, 400), ({"Name": "bad name"}, 400),
                ({"Name": "bridge"}, 403), ({}, 400)]
    for request, expected in refusals:
        status, body = http(host, "POST", "/networks/create", request)
        assert (status, set(body)) == (expected, {"message"}), (request, body)
    assert "Pool overlaps" in http(host, "POST", "/networks/create",
                                   {"Name": "b", "IPAM": {"Config": [{"Subnet": "10.72.0.0/16"}]}})[1]["message"]

    def listed(filters: dict) -> tuple[int, list | dict]:
        return http(host, "GET", "/networks?filters=" + quote(json.dumps(filters)))

    def names(filters: dict) -> list[str]:
        status, rows = listed(filters)
        assert status == 200, rows
        return sorted(r["Name"] for r in rows)
    assert names({}) == ["bridge", "host", "lan", "none"]
    assert names({"name": {"lan": True}}) == ["lan"]
    assert names({"id": [nid[:8]]}) == ["lan"]
    assert names({"type": {"builtin": True}}) == ["bridge", "host", "none"]
    assert names({"driver": {"bridge": True}, "dangling": {"true": True}}) == ["lan"]
    assert listed({"color": ["red"]}) == (400, {"message": "invalid filter 'color'"})
    status, [row] = listed({"name": ["^lan$"]})
    assert row["Containers"] == {} and row["IPAM"]["Config"] == [{"Subnet": "10.72.0.0/24", "Gateway": "10.72.0.1"}]

    assert http(host, "DELETE", "/networks/bridge")[0] == 403
    status, body = http(host, "POST", "/containers/create", {"Image": "busybox", "Cmd": ["sleep", "30"]})
    cid = body["Id"]
    assert http(host, "POST", f"/containers/{cid}/start")[0] == 204
    assert http(host, "POST", "/networks/lan/connect", {"Container": cid})[0] == 200
    assert http(host, "POST", "/networks/lan/connect", {"Container": cid})[0] == 403   # already there
    assert http(host, "POST", "/networks/host/connect", {"Container": cid})[0] == 400
    assert http(host, "POST", "/networks/lan/connect", {"Container": "nope"}) == \
        (404, {"message": "No such container: nope"})
    assert names({"dangling": ["true"]}) == []
    status, body = http(host, "DELETE", f"/networks/{nid}")
    assert status == 403 and "has active endpoints" in body["message"]
    status, [listed] = http(host, "GET", "/containers/json")
    assert listed["HostConfig"]["NetworkMode"] == "bridge"
    assert set(listed["NetworkSettings"]["Networks"]) == {"bridge", "lan"}
    on_lan = listed["NetworkSettings"]["Networks"]["lan"]
    assert on_lan["NetworkID"] == nid and on_lan["Gateway"] == "10.72.0.1" and on_lan["IPAddress"] == "10.72.0.2"
    assert on_lan["EndpointID"]
    status, info = http(host, "GET", f"/containers/{cid}/json")
    assert info["NetworkSettings"]["Networks"]["lan"] == on_lan
    assert http(host, "POST", "/networks/lan/disconnect", {"Container": cid, "Force": False})[0] == 200
    assert http(host, "POST", "/networks/lan/disconnect", {"Container": cid})[0] == 500  # as Docker
    assert http(host, "DELETE", f"/containers/{cid}?force=1")[0] == 204
    assert http(host, "POST", "/networks/prune") == (200, {"NetworksDeleted": ["lan"]})
    assert http(host, "DELETE", "/networks/lan") == (404, {"message": "network lan not found"})

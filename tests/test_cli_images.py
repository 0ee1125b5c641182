"""The image verbs of the CLI, as a user types them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from minidocker.cli import main


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minidocker", *args],
                          capture_output=True, text=True)


def test_images_shows_dockers_columns(busybox, capsys):
    assert main(["images"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert row.split()[:3] == ["busybox", "latest", busybox.short_id]


def test_history_shows_every_step_newest_first(busybox, capsys):
    assert main(["history", "busybox"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["IMAGE", "CREATED", "CREATED", "BY"]
    assert "COMMENT" in lines[0]
    assert lines[1].startswith(busybox.short_id) and 'CMD ["sh"]' in lines[1]
    assert lines[2].startswith("<missing>") and "ADD file:" in lines[2]


def test_format_json_and_templates(busybox, capsys):
    main(["images", "--format", "json"])
    row = json.loads(capsys.readouterr().out)
    assert row["Repository"] == "busybox" and row["ID"] == busybox.short_id
    main(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
    assert capsys.readouterr().out.strip() == f"busybox:latest {busybox.short_id}"
    main(["history", "--format", "json", "busybox"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["Size"] for r in rows][0] == "0B"
    assert main(["images", "--format", "{{.Nope}}"]) == 1
    assert "can't evaluate field Nope" in capsys.readouterr().err



def test_inspect_format_reaches_into_nested_objects_and_refuses_what_it_does_not_know(busybox, capsys):
    assert main(["image", "inspect", "-f", "{{.Config.Cmd}} {{json .Config.Cmd}} {{.RootFS.Type}}",
                 "busybox"]) == 0
    assert capsys.readouterr().out == '[sh] ["sh"] layers\n'
    assert main(["image", "inspect", "-f", "{{.Config.Nope}}", "busybox"]) == 1
    assert "can't evaluate field Nope (fields: " in capsys.readouterr().err
    assert main(["image", "inspect", "-f", "{{range .RepoTags}}{{.}}{{end}}", "busybox"]) == 1
    assert capsys.readouterr().err == ("minidocker: template: {{range .RepoTags}} is not supported: minidocker "
                                       "knows {{.Field}}, {{.Field.Key}}, {{json .}} and {{json .Field}}\n")


def test_inspect_gives_docker_like_json(busybox, capsys):
    assert main(["image", "inspect", "busybox"]) == 0
    [doc] = json.loads(capsys.readouterr().out)
    assert doc["Id"] == busybox.id
    assert doc["RepoTags"] == ["busybox:latest"]
    assert doc["Config"]["Cmd"] == ["sh"]
    assert doc["RootFS"]["Layers"] == busybox.config.diff_ids
    assert main(["image", "inspect", "busybox", "missing"]) == 1
    assert "No such image: missing:latest" in capsys.readouterr().err
    # the top-level verb looks for containers and images, as `docker inspect` does
    assert main(["inspect", "missing"]) == 1
    assert "No such object: missing" in capsys.readouterr().err


def test_busybox_bootstrap_is_reproducible(engine, busybox):
    again = engine.bootstrap("busybox", "busybox:again")
    assert again.id == busybox.id


def test_tag_and_rmi_untag_before_deleting(engine, busybox, capsys):
    assert main(["tag", "busybox", "me/box:1"]) == 0
    assert main(["rmi", "me/box:1"]) == 0
    assert capsys.readouterr().out.strip() == "Untagged: me/box:1"
    assert engine.image("busybox").id == busybox.id
    assert main(["rmi", "busybox"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["Untagged: busybox:latest", f"Deleted: {busybox.id}"]
    assert os.listdir(engine.store.blob_dir) == []


def test_rmi_by_id_of_an_image_in_two_repositories_needs_force(engine, busybox, capsys):
    main(["tag", "busybox", "other:1"])
    assert main(["rmi", busybox.short_id]) == 1
    assert "must be forced" in capsys.readouterr().err
    assert main(["rmi", "-f", busybox.short_id]) == 0
    assert engine.store.entries() == []


@pytest.mark.parametrize("args, message", [
    (["tag", "busybox", "me/UPPER"], "must be lowercase"),
    (["tag", "busybox", "a;rm -rf /"], "invalid reference format"),
    (["history", "../x"], "invalid reference format"),
    (["rmi", "nothing:here"], "No such image: nothing:here"),
    (["load", "-i", "/nonexistent.tar"], "no such file"),
    (["import", "/nonexistent.tar"], "cannot open"),
    (["bootstrap", "busybox", "-t", "Bad Name"], "invalid reference format"),
])
def test_bad_input_is_one_clear_line_and_exit_1(busybox, args, message):
    r = run(*args)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_usage_errors_exit_125(state_root):
    r = run("images", "--no-such-flag")
    assert r.returncode == 125
    assert "unrecognized arguments" in r.stderr


def test_save_and_load_round_trip_keeps_every_digest(engine, busybox, tmp_path, monkeypatch):
    archive = tmp_path / "bb.tar"
    assert main(["save", "-o", str(archive), "busybox"]) == 0
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("MINIDOCKER_ROOT", str(fresh))
    assert main(["load", "-i", str(archive)]) == 0
    from minidocker.engine import Engine
    loaded = Engine(fresh).image("busybox")
    assert loaded.id == busybox.id
    assert loaded.manifest_descriptor.digest == busybox.manifest_descriptor.digest
    names = tarfile.open(archive).getnames()
    assert {"index.json", "manifest.json", "oci-layout", "repositories"} <= set(names)


def test_loading_garbage_fails_cleanly_and_leaves_nothing(engine, tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(os.urandom(4096))
    r = run("load", "-i", str(bad))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert os.listdir(engine.store.tmp_dir) == []
    assert os.listdir(engine.store.blob_dir) == []


def test_import_export_round_trip(engine, busybox, tmp_path, capsys):
    exported = tmp_path / "rootfs.tar"
    assert main(["export", "-o", str(exported), "busybox"]) == 0
    assert main(["import", "-m", "from export", str(exported), "again:1"]) == 0
    new_id = capsys.readouterr().out.strip()
    img = engine.image("again:1")
    assert img.id == new_id and img.config.history[0]["comment"] == "from export"
    with tarfile.open(exported) as t:
        names = set(t.getnames())
    assert {"bin/busybox", "bin/sh", "etc/passwd", "tmp"} <= names


def test_system_df_prune_and_check(engine, busybox, capsys):
    main(["tag", "busybox", "extra:1"])
    engine.store.set_tags(engine.store.put_json({"x": 1}, "text/plain") and
                          busybox.manifest_descriptor, [])
    assert main(["system", "df"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert main(["system", "check"]) == 0
    assert main(["system", "prune", "-f"]) == 0
    assert "Total reclaimed space" in capsys.readouterr().out
    assert engine.image("busybox").id == busybox.id  # tagged images survive
    assert main(["system", "prune", "-f", "-a"]) == 0
    assert engine.store.entries() == []


def test_system_check_fails_on_a_corrupted_layer(engine, busybox, capsys):
    layer = engine.store.blob_path(busybox.manifest.layers[0].digest)
    os.chmod(layer, 0o644)
    with open(layer, "r+b") as f:
        f.seek(1000)
        f.write(b"corruption")
    assert main(["system", "check"]) == 1
    assert "does not match" in capsys.readouterr().out


@pytest.mark.root
def test_unpacked_layers_are_shared_between_images(engine, busybox, tmp_path):
    # A second image on top of busybox shares its base layer snapshot.
    from minidocker.image.create import ingest_layer, write_image
    from minidocker.image import oci, reference
    from layers import make_tar
    layer, diff = ingest_layer(engine.store, io.BytesIO(make_tar(("app", b"app"))))
    cfg = oci.new_config(busybox.config.diff_ids + [diff], busybox.config.history + [{"created_by": "app"}])
    write_image(engine.store, list(busybox.manifest.layers) + [layer], cfg, [reference.parse("app:1")])
    top1 = engine.unpack("busybox")
    top2 = engine.unpack("app:1")
    snaps = {i.key: i for i in engine.snapshots.walk()}
    assert snaps[top2].parent == top1
    assert len(snaps) == 2
    assert engine.unpack("app:1") == top2 and len(engine.snapshots.walk()) == 2


def test_bootstrap_debian_without_debootstrap_says_how_to_get_it(state_root, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # nothing on PATH
    r = subprocess.run([sys.executable, "-m", "minidocker", "bootstrap", "debian"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1
    assert r.stderr.strip() == ("minidocker: debootstrap is not installed; "
                                "install it with `apt-get install debootstrap`")


def test_the_fast_parser_knows_every_command():
    # main() builds only the parser of the command it runs; the list must stay complete.
    from minidocker import cli
    full = cli.build_parser()
    assert set(full._subparsers._group_actions[0].choices) == cli._COMMANDS
    for command in cli._COMMANDS:
        assert command in cli.build_parser(command)._subparsers._group_actions[0].choices

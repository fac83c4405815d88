"""``nightcramp export``: labelled snippets and a manifest in one zip, nothing else."""

from __future__ import annotations

import json
import zipfile

from service import cli
from service.learning.snippets import SnippetStore
from tests.service.learning.test_tune import _labelled_week


def test_export_writes_the_labelled_snippets_and_a_manifest(state_dir, tmp_path, capsys):
    store = _labelled_week(state_dir)
    unlabelled = store.set_label(store.list()[0], "unlabelled", "cli")
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{state_dir}"\n')
    out = tmp_path / "labels.zip"
    assert cli.main(["export", "-o", str(out), "--config", str(conf)]) == 0
    assert "nothing was sent" in capsys.readouterr().out
    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
        names = set(z.namelist())
    listed = {s["name"] for s in manifest["snippets"]}
    assert len(listed) == 4 and unlabelled.name not in listed
    for s in manifest["snippets"]:
        assert {f"snippets/{f}" for f in s["files"]} <= names and s["label"] in ("cramp", "false_alarm")
    assert cli.main(["export", "-o", str(out), "--all", "--config", str(conf)]) == 0
    with zipfile.ZipFile(out) as z:
        assert len(json.loads(z.read("manifest.json"))["snippets"]) == 5


def test_export_with_nothing_labelled_exits_1(state_dir, tmp_path, capsys):
    conf = tmp_path / "config.toml"
    conf.write_text(f'[storage]\nstate_dir = "{state_dir}"\n')
    assert cli.main(["export", "-o", str(tmp_path / "x.zip"), "--config", str(conf)]) == 1
    assert not (tmp_path / "x.zip").exists() and SnippetStore(state_dir).list() == []

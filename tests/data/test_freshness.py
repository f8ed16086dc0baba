"""tasks/data/freshness.py: the dataset is stale by content (the digest in merge_metadata.json), never by file times."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tasks.data import freshness

ROOT = freshness.ROOT


def test_the_tracked_dataset_is_up_to_date_with_its_inputs():
    """What a fresh clone sees: `make data`, `make train` and `make setup-*` do not regenerate it.

    When this fails, an input changed without `make data`: run it and commit data/synthetic/.
    """
    assert freshness.stale_reasons(ROOT) == []


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("training_config_*.yaml")))
def test_max_seq_length_without_yaml_agrees_with_yaml(config):
    text = (ROOT / "configs" / config).read_text(encoding="utf-8")
    assert freshness.max_seq_length(text) == str(yaml.safe_load(text)["data"]["max_seq_length"])


def test_only_data_max_seq_length_counts_in_a_config():
    text = "model:\n  max_seq_length: 99   # not this one\ndata:\n  train: x.jsonl\n  max_seq_length: 1024 # this\ntraining:\n  epochs: 1\n"
    assert freshness.max_seq_length(text) == "1024"
    assert freshness.max_seq_length("data:\n  train: x\n") is None


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in ("tasks/data", "configs", "data/real"):
        shutil.copytree(ROOT / rel, tmp_path / rel, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "tasks/train").mkdir(parents=True)
    shutil.copy2(ROOT / "tasks/train/template.py", tmp_path / "tasks/train/template.py")
    synth = tmp_path / "data/synthetic"
    synth.mkdir()
    for name in ("final_train.jsonl", "final_validation.jsonl"):
        (synth / name).write_text("{}\n")
    (synth / "merge_metadata.json").write_text(json.dumps({"inputs": freshness.digest(tmp_path)}))
    return tmp_path


def test_readers_of_the_data_and_comments_are_not_inputs(tree):
    assert freshness.stale_reasons(tree) == []
    for rel in ("tasks/data/validate.py", "tasks/data/links.py", "tasks/data/__init__.py"):
        (tree / rel).write_text((tree / rel).read_text() + "\n# edited\n")
    cfg = tree / "configs/training_config_cpu.yaml"
    cfg.write_text(cfg.read_text().replace("epochs: 1 ", "epochs: 2 ") + "\n# a comment\n")
    assert freshness.stale_reasons(tree) == []
    assert freshness.run(root=tree) == 0


def test_stale_reasons_name_what_changed(tree, capsys):
    (tree / "tasks/data/weather.py").write_text("# rewritten\n")
    (tree / "data/real/extra.jsonl").write_text("{}\n")
    (tree / "configs/tools.json").unlink()
    reasons = freshness.stale_reasons(tree)
    assert reasons == ["configs/tools.json is gone", "data/real/extra.jsonl is new", "tasks/data/weather.py changed"]
    assert freshness.run(state_only=True, root=tree) == 1
    assert capsys.readouterr().out == "stale\n"


def test_metadata_from_an_older_generator_is_stale(tree):
    (tree / "data/synthetic/merge_metadata.json").write_text('{"seed": 1}')
    assert "records no input digest" in freshness.stale_reasons(tree)[0]
    (tree / "data/synthetic/merge_metadata.json").write_text("{not json")
    assert "not readable JSON" in freshness.stale_reasons(tree)[0]

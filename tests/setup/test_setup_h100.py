"""setup-h100 on recorded pods: GPU, CUDA, driver, storage, conda, the env step, flash-attn, W&B, stamps."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.helpers_setup import FakeMachine, copy_project

from tasks import ui

from tasks.setup import h100, probes, wandb_auth


@pytest.fixture
def pod(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path).pod()
    machine.apply(monkeypatch)
    return machine


def _status(checks, name):
    return next(c for c in checks if c.name == name)


@pytest.mark.parametrize("gpu", ["h100_80gb_hbm3", "h100_pcie", "h100_80gb_hbm3_x8"])
def test_real_h100_80gb_cards_pass(pod, gpu):
    pod.pod(gpu=gpu)
    checks = h100.check_gpu()
    assert _status(checks, "GPU").status == probes.OK
    assert "81559 MiB" in _status(checks, "GPU").value
    assert _status(checks, "NVIDIA driver").status == probes.OK


def test_h200_passes_with_a_note(pod):
    pod.pod(gpu="h200")
    gpu = _status(h100.check_gpu(), "GPU")
    assert gpu.status == probes.OK and "H200" in gpu.value and "note" in gpu.value


def test_a100_40gb_is_refused_with_the_reason(pod):
    pod.pod(gpu="a100_40gb")
    gpu = _status(h100.check_gpu(), "GPU")
    assert gpu.status == probes.FAIL
    assert "40960 MiB" in gpu.value and "needs an 80 GB card" in gpu.value
    assert "H100 80GB" in gpu.fix


@pytest.mark.parametrize("gpu, said", [(None, "nvidia-smi not found"), ("no_driver", "couldn't communicate with the NVIDIA driver"),
                                       ("no_devices", "No devices were found")])
def test_no_gpu_fails_clearly(pod, gpu, said):
    pod.pod(gpu=gpu)
    checks = h100.check_gpu()
    assert [c.name for c in checks] == ["GPU"]
    assert checks[0].status == probes.FAIL and said in checks[0].value


def test_a_driver_older_than_cuda_13_needs_fails(pod):
    pod.pod(gpu="h100_80gb_hbm3_driver550")
    driver = _status(h100.check_gpu(), "NVIDIA driver")
    assert driver.status == probes.FAIL
    assert "550.127.05" in driver.value and "580.65.06" in driver.value


@pytest.mark.parametrize("version, ok", [("11.8", False), ("12.1", True), ("12.4", True), ("13.0", True)])
def test_cuda_versions_compare_whole(pod, version, ok):
    pod.pod(nvcc=version)
    check = probes.check_nvcc(h100.MIN_CUDA)
    assert (check.status == probes.OK) is ok, check.text()
    assert f"nvcc {version}" in check.value


def test_whole_versions_without_packaging():
    # The system python3 may lack packaging: the fallback still compares whole versions.
    r = probes._Release
    assert r("13.0") > r("12.1") and r("12.10") > r("12.9") and r("12.1") == r("12.1.0")
    assert r("580.65.06") > r("550.127.05") and r("580.65.06") < r("580.82.07")
    with pytest.raises(ValueError):
        r("2.0.0rc1")


def test_missing_nvcc_fails_with_the_fix(pod):
    pod.remove("nvcc")
    check = probes.check_nvcc("12.1")
    assert check.status == probes.FAIL and "nvcc not found" in check.value and "/usr/local/cuda/bin" in check.fix


def test_machine_step_passes_on_a_recorded_h100_pod(pod, capsys):
    h100.step_machine()
    out = capsys.readouterr().out
    assert "[SETUP-H100] Starting RunPod H100 environment setup" in out
    assert "✅ GPU: 1 x NVIDIA H100 80GB HBM3, 81559 MiB" in out
    assert "✅ Storage: 204.0 GB free on /workspace" in out
    assert "df -Pk" in pod.log.read_text()


def test_low_disk_fails_and_names_the_numbers(pod, capsys):
    pod.pod(df="runpod_container_low")
    with pytest.raises(ui.Fail, match="Storage"):
        h100.step_machine()
    err = capsys.readouterr().err
    assert "❌ Storage: 3.2 GB free on / (needs 50 GB)" in err


def test_every_failure_is_reported_in_one_run(pod, capsys):
    pod.pod(gpu="a100_40gb", nvcc="11.8", conda=False)
    pod.remove("conda")
    with pytest.raises(ui.Fail) as exc:
        h100.step_machine()
    assert "4 check(s) failed (Conda, CUDA toolkit, GPU, NVIDIA driver)" in str(exc.value)


def test_conda_missing_says_how_to_install_it(pod, capsys):
    pod.remove("conda")
    check = h100.check_conda()
    assert check.status == probes.FAIL and "Miniforge3-Linux-x86_64.sh" in check.fix and "/workspace/miniforge3" in check.fix
    with pytest.raises(ui.Fail, match="conda: not found on PATH"):
        h100.step_env()


def test_env_step_creates_the_env_and_installs_flash_attn(pod, tmp_path, capsys):
    stamp = tmp_path / "h100-env.stamp"
    python = h100.step_env(stamp=str(stamp))
    out = capsys.readouterr().out
    calls = pod.calls()
    assert f"conda env create -f {h100.ENV_FILE}" in calls
    assert not any("env remove" in c for c in calls)
    assert "python -m pip install flash-attn --no-build-isolation" in calls
    assert "✅ Conda environment created: weatherman-lora" in out
    assert "✅ Flash Attention 2 installed" in out
    assert "✅ Packages: torch 2.13.0, transformers 5.24.0, peft 0.21.2, trl 1.16.0, accelerate 1.15.0" in out
    assert "✅ torch CUDA: torch 2.13.0 (CUDA 13.0) on NVIDIA H100 80GB HBM3: bf16 matmul ok" in out
    assert stamp.read_text() == str(pod.conda_root / "envs" / "weatherman-lora")
    assert python == str(pod.conda_root / "envs" / "weatherman-lora" / "bin" / "python")


def test_existing_env_without_a_terminal_is_updated_not_asked(pod, tmp_path):
    pod.conda_env_exists()
    pod.flash_present()
    # A real process with stdin closed: it must finish on its own, never waiting for an answer.
    proc = subprocess.run([sys.executable, "-m", "tasks.setup.h100", "--step", "env"], cwd=h100.ROOT,
                          env=pod.environ(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no terminal to ask, so it is kept and updated" in proc.stdout
    calls = pod.calls()
    assert any(c.startswith("conda env update -n weatherman-lora") and c.endswith("--prune") for c in calls)
    assert not any("env remove" in c or "env create" in c for c in calls)
    assert not any("pip install flash-attn" in c for c in calls)  # already importable
    assert "already present: flash-attn 2.8.3" in proc.stdout


def test_recreate_removes_and_creates(pod, capsys):
    pod.conda_env_exists()
    h100.step_env(recreate=True)
    calls = [c for c in pod.calls() if c.startswith("conda env ") and "list" not in c]
    assert calls == ["conda env remove -n weatherman-lora -y", f"conda env create -f {h100.ENV_FILE}"]
    assert "RECREATE=1" in capsys.readouterr().out


@pytest.mark.parametrize("answer, recreated", [("y", True), ("", False), ("n", False)])
def test_on_a_terminal_the_question_defaults_to_no(pod, monkeypatch, answer, recreated):
    pod.conda_env_exists()
    monkeypatch.setattr(ui, "is_interactive", lambda: True)
    asked = []
    monkeypatch.setattr("builtins.input", lambda q: asked.append(q) or answer)
    h100.step_env()
    assert len(asked) == 1 and "[y/N]" in asked[0]
    assert any("env remove" in c for c in pod.calls()) is recreated


def test_flash_attn_failure_warns_with_troubleshooting_and_setup_goes_on(pod, tmp_path, capsys):
    pod.pip_rc(1)
    pod.env_probe("h100_no_flash_attn.json")
    stamp = tmp_path / "env.stamp"
    h100.step_env(stamp=str(stamp))
    out = capsys.readouterr().out
    assert "⚠️ Flash Attention 2 not installed (pip exit 1): training falls back to sdpa" in out
    assert "flash-attn troubleshooting:" in out and "MAX_JOBS=4" in out
    assert "⚠️ Flash Attention 2: not importable" in out
    assert stamp.exists()


def test_torch_that_sees_no_gpu_fails_the_env_step(pod):
    pod.env_probe("h100_old_driver.json")
    pod.flash_present()
    with pytest.raises(ui.Fail, match="torch CUDA"):
        h100.step_env()


def test_env_probe_runs_for_real_in_a_cpu_environment():
    # The probe script itself, in the test venv: versions read, no CUDA here.
    env = probes.probe_env(sys.executable, h100.KEY_PACKAGES[:2], "cuda")
    assert env["error"] is None and env["versions"]["torch"].startswith("2.13.0")
    assert env["available"] is False
    checks = probes.check_packages(env, probes.read_pins(h100.ENV_FILE), ("torch", "transformers"), "test", "fix")
    assert checks.status == probes.OK, checks.text()


# ----------------------------------------------------------------- W&B

FAKE_WANDB = '#!/bin/bash\necho "wandb $*" >> "$FAKE_LOG"\necho "Logged in with key $WANDB_API_KEY as someone"\nexit {rc}\n'


@pytest.mark.parametrize("rc, status", [(0, probes.OK), (1, probes.WARN)])
def test_wandb_login_is_verified_without_printing_the_key(pod, monkeypatch, capsys, rc, status):
    pod.script("wandb", FAKE_WANDB.format(rc=rc))
    monkeypatch.setenv("WANDB_API_KEY", "secret0123456789abcdef")
    result = wandb_auth.run(cli=str(pod.bin / "wandb"))
    out = capsys.readouterr()
    assert result.status == status
    assert "secret0123456789abcdef" not in out.out + out.err
    assert "wandb login --verify" in pod.calls()
    if rc == 0:
        assert "Weights & Biases authenticated (key from WANDB_API_KEY, not shown)" in out.out
    else:
        assert "***" in out.out and "WANDB_MODE=offline" in out.out


def test_wandb_stored_login_in_netrc_and_no_key(pod, capsys):
    assert wandb_auth.check(verify=False).status == probes.WARN
    (pod.home / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password storedkey123\n")
    check = wandb_auth.check(verify=False)
    assert check.status == probes.OK and "~/.netrc" in check.value and "storedkey123" not in check.text()


# ----------------------------------------------------------------- through make

def _data(project: Path) -> None:
    """The dataset files and their generator, as the data task leaves them (stand-ins for files not written yet)."""
    old = time.time() - 1000
    for rel in ("tasks/data/generate.py", "tasks/data/gazetteer.py", "tasks/data/personas.py", "tasks/data/weather.py", "configs/tools.json",
                "tasks/data/phrasing.py", "tasks/data/quality.py", "tasks/data/snips.py", "data/real/snips_getweather.jsonl",
                "tasks/train/template.py", "configs/chat_template.jinja"):
        path = project / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("# stand-in: the data task is not in this tree yet\n")
        os.utime(path, (old, old))
    synth = project / "data" / "synthetic"
    synth.mkdir(parents=True)
    for name in ("final_train.jsonl", "final_validation.jsonl", "merge_metadata.json"):
        (synth / name).write_text("{}\n")
    if not (project / "tasks" / "link_data.py").exists():
        (project / "tasks" / "link_data.py").write_text(
            "import os\nos.makedirs('data/processed', exist_ok=True)\n"
            "for a, b in (('train', 'final_train'), ('val', 'final_validation')):\n"
            "    p = f'data/processed/{a}.jsonl'\n    os.path.lexists(p) or os.symlink(f'../synthetic/{b}.jsonl', p)\n")


def _make(project, machine, *args):
    start = time.monotonic()
    proc = subprocess.run(["make", "--no-print-directory", *args], cwd=project, env=machine.environ(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    return proc, time.monotonic() - start


def test_make_setup_h100_then_a_fast_no_op_then_only_the_env_step(tmp_path):
    project = copy_project(tmp_path / "project")
    _data(project)
    machine = FakeMachine(tmp_path).pod()
    first, _ = _make(project, machine, "setup-h100")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    for line in ("[SETUP-H100] Starting RunPod H100 environment setup", "✅ Conda environment created: weatherman-lora",
                 "✅ Flash Attention 2 installed", "configs/training_config_h100.yaml: valid", "✅ Data paths verified",
                 "[SETUP-H100-COMPLETE] Ready for training", "Next step: make train-h100", "make plan"):
        assert line in out, line
    assert "3-4 h" not in out
    assert (project / "data/processed/train.jsonl").is_file()

    machine.log.write_text("")
    second, elapsed = _make(project, machine, "setup-h100")
    assert second.returncode == 0
    assert "[SETUP-H100] Nothing to do" in second.stdout and "[SETUP-H100-COMPLETE] Ready for training" in second.stdout
    # Only the Makefile's own `uname` at parse time: no probe, no conda, no pip.
    assert [c for c in machine.calls() if not c.startswith("uname")] == [] and elapsed < 1.0

    later = time.time() + 5
    os.utime(project / "environment-remote.yml", (later, later))
    third, _ = _make(project, machine, "setup-h100")
    assert third.returncode == 0, third.stderr
    calls = machine.calls()
    assert any(c.startswith("conda env update") for c in calls)
    assert not any(c.startswith(("nvidia-smi", "nvcc", "df")) for c in calls)  # the machine step did not rerun
    assert "Starting RunPod H100" not in third.stdout and "valid (profile h100" not in third.stdout

    # The env is gone (a wiped container disk) while the stamps remain: setup builds it again.
    import shutil
    shutil.rmtree(machine.conda_root / "envs" / "weatherman-lora")
    machine.log.write_text("")
    fourth, _ = _make(project, machine, "setup-h100")
    assert fourth.returncode == 0, fourth.stderr
    assert any(c.startswith("conda env create") for c in machine.calls())


def test_make_setup_h100_fails_at_the_machine_step_without_conda(tmp_path):
    project = copy_project(tmp_path / "project")
    machine = FakeMachine(tmp_path).pod(conda=False)
    proc, _ = _make(project, machine, "setup-h100")
    assert proc.returncode != 0
    assert "❌ Conda: conda not found on PATH" in proc.stderr
    assert not (project / ".stamps" / "h100-machine.stamp").exists()

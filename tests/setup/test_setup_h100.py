"""setup-h100 on recorded pods: GPU, CUDA, driver, storage, conda, the env step, flash-attn, W&B, stamps."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.helpers_setup import FakeHub, FakeMachine, copy_project, seed_model

from tasks import ui

from tasks.data import freshness
from tasks.setup import h100, probes, wandb_auth


@pytest.fixture
def hub():
    server = FakeHub()
    yield server
    server.close()


@pytest.fixture
def pod(tmp_path, monkeypatch, hub):
    machine = FakeMachine(tmp_path).pod()
    machine.apply(monkeypatch, HF_ENDPOINT=hub.url, HF_TOKEN="hf_test_valid")
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


@pytest.mark.parametrize("gpu, driver", [("h100_80gb_hbm3_driver550", "550.127.05"), ("h100_80gb_hbm3_driver565", "565.57.01"),
                                         ("h100_80gb_hbm3_driver570", "570.124.06"), ("h100_80gb_hbm3", "580.65.06")])
def test_drivers_of_the_cuda_12_line_and_newer_run_the_pinned_torch(pod, gpu, driver):
    pod.pod(gpu=gpu)
    check = _status(h100.check_gpu(), "NVIDIA driver")
    assert check.status == probes.OK, check.text()
    assert check.value == f"{driver} (>= 550.54.14 for torch 2.8.0's CUDA 12.8)"


def test_a_driver_older_than_cuda_12_4_fails_and_names_the_runpod_filter(pod):
    pod.pod(gpu="h100_pcie_driver535")
    driver = _status(h100.check_gpu(), "NVIDIA driver")
    assert driver.status == probes.FAIL
    assert "535.183.01" in driver.value and "550.54.14" in driver.value and "CUDA 12.8" in driver.value
    assert "CUDA version filter at 12.4 or newer" in driver.fix and "no setup can change it" in driver.fix


@pytest.mark.parametrize("visible, wanted, status", [(None, 1, probes.OK), (None, 8, probes.OK), ("0", 8, probes.FAIL), ("0,1", 2, probes.OK)])
def test_gpus_is_compared_with_the_visible_gpus(pod, monkeypatch, visible, wanted, status):
    pod.pod(gpu="h100_80gb_hbm3_x8")
    if visible is not None:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    check = _status(h100.check_gpu(wanted), "GPU count")
    assert check.status == status, check.text()


def test_more_gpus_than_the_pod_has_fails_with_the_count(pod):
    check = _status(h100.check_gpu(8), "GPU count")
    assert check.status == probes.FAIL
    assert check.value == "GPUS=8 but 1 GPU(s) visible" and "make train-h100 GPUS=1" in check.fix


@pytest.mark.parametrize("version, ok", [("11.8", False), ("12.1", True), ("12.4", True), ("13.0", True)])
def test_cuda_versions_compare_whole(pod, version, ok):
    pod.pod(nvcc=version)
    check = probes.check_nvcc("12.1")
    assert (check.status == probes.OK) is ok, check.text()
    assert f"nvcc {version}" in check.value


def test_whole_versions_without_packaging():
    # The system python3 may lack packaging: the fallback still compares whole versions.
    r = probes._Release
    assert r("13.0") > r("12.1") and r("12.10") > r("12.9") and r("12.1") == r("12.1.0")
    assert r("580.65.06") > r("550.127.05") and r("580.65.06") < r("580.82.07")
    with pytest.raises(ValueError):
        r("2.0.0rc1")


@pytest.mark.parametrize("nvcc", [None, "11.8", "12.4", "12.8", "13.0"])
def test_nvcc_is_reported_never_required(pod, nvcc):
    # Images with and without the toolkit: torch brings its CUDA runtime and flash-attn comes prebuilt.
    pod.pod(nvcc=nvcc)
    check = h100.check_cuda_toolkit()
    assert check.status == probes.OK
    assert ("no nvcc: not needed" in check.value) if nvcc is None else check.value.startswith(f"nvcc {nvcc} (not needed")


def test_machine_step_passes_on_a_recorded_h100_pod(pod, capsys):
    h100.step_machine()
    out = capsys.readouterr().out
    assert "[SETUP-H100] Starting RunPod H100 environment setup" in out
    assert "✅ GPU: 1 x NVIDIA H100 80GB HBM3, 81559 MiB" in out
    assert "✅ Storage: 204.0 GB free on /workspace; needs " in out
    assert "✅ HF access: mistralai/Mistral-7B-Instruct-v0.2: licence accepted, token from HF_TOKEN (not shown)" in out
    assert "hf_test_valid" not in out
    assert "df -Pk" in pod.log.read_text()


def test_low_disk_fails_and_names_the_numbers(pod, capsys):
    pod.pod(df="runpod_container_low")
    with pytest.raises(ui.Fail, match="Storage"):
        h100.step_machine()
    err = capsys.readouterr().err
    # Nothing is installed yet: Miniforge, the env, the model and the checkpoints all count.
    assert "❌ Storage: 3.2 GB free on /; needs 29.1 GB = conda env 10 + base model 14.5 + checkpoints 2.58 + reserve 2" in err


def test_every_failure_is_reported_in_one_run(pod, capsys, monkeypatch):
    pod.pod(gpu="a100_40gb", nvcc="11.8", conda=False)
    pod.remove("conda")
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(ui.Fail) as exc:
        h100.step_machine()
    assert "3 check(s) failed (Conda, GPU, HF access)" in str(exc.value)


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
    # The release wheel by URL: pip never compiles, and the wheel matches torch 2.8 (CUDA 12, C++11 ABI) and Python 3.11.
    assert ("python -m pip install --no-deps https://github.com/Dao-AILab/flash-attention/releases/download/v2.8.3/"
            "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp311-cp311-linux_x86_64.whl") in calls
    assert not any("--no-build-isolation" in c for c in calls)
    assert "✅ Conda environment created: weatherman-lora" in out
    assert "✅ Flash Attention 2 installed (flash-attn 2.8.3, prebuilt)" in out
    assert "✅ Packages: torch 2.8.0, transformers 5.24.0, peft 0.21.2, trl 1.16.0, accelerate 1.15.0" in out
    assert "✅ torch CUDA: torch 2.8.0 (CUDA 12.8) on NVIDIA H100 80GB HBM3: bf16 matmul ok" in out
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
    assert "⚠️ Flash Attention 2 not installed (pip exit 1): training uses sdpa attention, still padding-free" in out
    assert "flash-attn troubleshooting:" in out and "github.com" in out
    assert "⚠️ Flash Attention 2: not importable" in out
    assert stamp.exists()


def test_a_pip_that_hangs_is_stopped_at_the_timeout_and_setup_goes_on(pod, tmp_path, capsys, monkeypatch):
    # A fake pip that sleeps far longer than the limit stands for a build that would run for an hour.
    pod.pip_sleep(120)
    pod.env_probe("h100_no_flash_attn.json")
    monkeypatch.setenv("WEATHERMAN_FLASH_ATTN_TIMEOUT_S", "1")
    start = time.monotonic()
    h100.step_env(stamp=str(tmp_path / "env.stamp"))
    elapsed = time.monotonic() - start
    out = capsys.readouterr().out
    assert elapsed < 30, elapsed
    assert "⚠️ Flash Attention 2 not installed (stopped after 1 s): training uses sdpa attention, still padding-free" in out
    assert (tmp_path / "env.stamp").exists()


def test_the_default_limit_is_ten_minutes():
    assert h100.FLASH_ATTN_TIMEOUT_S == 600


def test_a_torch_without_a_published_wheel_is_never_compiled(pod, capsys):
    pod.torch_facts("torch2130_cu130.json")
    pod.env_probe("h100_no_flash_attn.json")
    h100.step_env()
    out = capsys.readouterr().out
    assert not any("pip install" in c for c in pod.calls())
    assert "flash-attn 2.8.3 publishes no wheel for torch 2.13.0 (CUDA 13.0) and setup never compiles it" in out


@pytest.mark.parametrize("facts, name", [
    ({"torch": "2.8.0+cu128", "cuda": "12.8", "cxx11abi": True, "python": "311"}, "flash_attn-2.8.3+cu12torch2.8cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"),
    ({"torch": "2.6.0", "cuda": "12.4", "cxx11abi": False, "python": "312"}, "flash_attn-2.8.3+cu12torch2.6cxx11abiFALSE-cp312-cp312-linux_x86_64.whl"),
    ({"torch": "2.13.0", "cuda": "13.0", "cxx11abi": True, "python": "311"}, None),
    ({"torch": "2.9.1", "cuda": "12.8", "cxx11abi": True, "python": "311"}, None),
    ({"torch": "2.8.0+cpu", "cuda": None, "cxx11abi": True, "python": "311"}, None),
])
def test_the_flash_attn_wheel_name_follows_its_setup_py(facts, name):
    url = h100.flash_attn_wheel_url(facts)
    assert (url.rsplit("/", 1)[1] if url else None) == name


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
    checks = probes.check_packages(env, probes.read_pins(h100.ROOT / "requirements-ci.txt"), ("torch", "transformers"), "test", "fix")
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
    for name in ("final_train.jsonl", "final_validation.jsonl"):
        (synth / name).write_text("{}\n")
    # up to date with its inputs, as the generator records it: setup links the data, never regenerates it
    (synth / "merge_metadata.json").write_text(json.dumps({"inputs": freshness.digest(project)}) + "\n")
    if not (project / "tasks" / "link_data.py").exists():
        (project / "tasks" / "link_data.py").write_text(
            "import os\nos.makedirs('data/processed', exist_ok=True)\n"
            "for a, b in (('train', 'final_train'), ('val', 'final_validation')):\n"
            "    p = f'data/processed/{a}.jsonl'\n    os.path.lexists(p) or os.symlink(f'../synthetic/{b}.jsonl', p)\n")


def _make(project, machine, *args, **env):
    start = time.monotonic()
    proc = subprocess.run(["make", "--no-print-directory", *args], cwd=project, env=machine.environ(**env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    return proc, time.monotonic() - start


def _pod_project(tmp_path, model=True, **pod):
    """A copied project on a pod with a /workspace volume; the config's model cache on that volume, the model there."""
    project = copy_project(tmp_path / "project")
    _data(project)
    machine = FakeMachine(tmp_path).pod(workspace=True, **pod)
    config = project / "configs" / "training_config_h100.yaml"
    cache = machine.workspace / "hf-cache"
    config.write_text(config.read_text().replace("cache_dir: /workspace/hf-cache", f"cache_dir: {cache}"))
    old = time.time() - 1000
    os.utime(config, (old, old))  # as old as the data, which Make would regenerate for a newer config
    if model:
        seed_model(cache)
    return project, machine


def test_make_setup_h100_then_a_fast_no_op_then_only_the_env_step(tmp_path):
    project, machine = _pod_project(tmp_path)
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
    # The Makefile's own `uname` at parse time and the restart re-check's `tmux -V`: no GPU probe, no conda, no pip.
    assert [c for c in machine.calls() if not c.startswith("uname")] == ["tmux -V"] and elapsed < 3.0

    later = time.time() + 5
    os.utime(project / "environment-remote.yml", (later, later))
    third, _ = _make(project, machine, "setup-h100")
    assert third.returncode == 0, third.stderr
    calls = machine.calls()
    assert any(c.startswith("conda env update") for c in calls)
    assert not any(c.startswith(("nvidia-smi", "nvcc", "df")) for c in calls)  # the machine step did not rerun
    assert "Starting RunPod H100" not in third.stdout and "valid (profile h100" not in third.stdout

    # The env is gone (a wiped container disk) while the stamps remain: setup builds it again.
    shutil.rmtree(machine.conda_root / "envs" / "weatherman-lora")
    machine.log.write_text("")
    fourth, _ = _make(project, machine, "setup-h100")
    assert fourth.returncode == 0, fourth.stderr
    assert any(c.startswith("conda env create") for c in machine.calls())


def test_a_restarted_pod_is_ready_again_with_the_documented_steps(tmp_path):
    # After setup the pod restarts: the container disk (apt's tmux, ~/.netrc, ~/.cache) is wiped, /workspace is kept.
    project, machine = _pod_project(tmp_path, model=False)
    (machine.home / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password storedkey123\n")
    machine.script("wandb", '#!/bin/bash\necho "wandb $*" >> "$FAKE_LOG"\necho "Currently logged in as: someone"\n')
    hub = FakeHub()
    try:
        # The model download itself is tested with a fake huggingface_hub below; here it is already on the volume.
        seed_model(machine.workspace / "hf-cache")
        first, _ = _make(project, machine, "setup-h100", HF_ENDPOINT=hub.url, HF_TOKEN="hf_test_valid")
    finally:
        hub.close()
    assert first.returncode == 0, first.stdout + first.stderr
    assert (machine.workspace / ".netrc").is_file(), first.stdout + first.stderr
    assert (machine.workspace / ".netrc").read_text() == (machine.home / ".netrc").read_text()
    assert oct((machine.workspace / ".netrc").stat().st_mode & 0o777) == "0o600"

    shutil.rmtree(machine.home)
    machine.home.mkdir()
    machine.remove("tmux")
    machine.log.write_text("")
    again, elapsed = _make(project, machine, "setup-h100")  # a fresh shell: no HF_TOKEN, no WANDB_API_KEY, no CONDA_EXE
    assert again.returncode == 0, again.stdout + again.stderr
    out = again.stdout
    assert "apt-get install -y -qq tmux" in machine.calls()
    assert "✅ tmux: tmux 3.2a" in out and "installed now" in out
    assert "W&B login restored to ~/.netrc" in out and "storedkey123" in (machine.home / ".netrc").read_text()
    assert "✅ W&B: key configured in ~/.netrc" in out
    assert "⚠️ HF token: none" in out and "training loads it offline" in out
    assert "✅ Base model: mistralai/Mistral-7B-Instruct-v0.2: complete in" in out
    assert "[SETUP-H100-COMPLETE] Ready for training" in out and elapsed < 10
    assert "storedkey123" not in out + again.stderr


def test_the_restart_check_fails_clearly_when_tmux_cannot_be_installed(tmp_path):
    project, machine = _pod_project(tmp_path)
    first, _ = _make(project, machine, "setup-h100")
    assert first.returncode == 0, first.stdout + first.stderr
    machine.remove("tmux")
    (machine.dir / "apt_rc").write_text("100")
    again, elapsed = _make(project, machine, "setup-h100")
    assert again.returncode != 0
    assert "❌ tmux: not installed: `apt-get update -qq` failed (exit 100) (fix: run apt-get install -y tmux by hand" in again.stderr
    assert "[SETUP-H100-COMPLETE]" not in again.stdout and elapsed < 10


# A Miniforge installer stand-in, as curl would save it: `bash installer -b -p PREFIX` puts the fake conda in PREFIX/bin.
FAKE_CURL = r"""#!/bin/bash
echo "curl $*" >> "$FAKE_LOG"
out="$3"
printf '#!/bin/bash\nmkdir -p "$3/bin" && cp "$FAKE_DIR/conda_script" "$3/bin/conda" && echo "PREFIX=$3"\n' > "$out"
"""


def _pod_without_conda(tmp_path):
    project, machine = _pod_project(tmp_path)
    machine.remove("conda")
    from tests.helpers_setup import CONDA
    (machine.dir / "conda_script").write_text(CONDA)
    (machine.dir / "conda_script").chmod(0o755)
    machine.script("curl", FAKE_CURL)
    return project, machine


def test_a_pod_without_conda_gets_miniforge_on_the_volume_and_reaches_ready(tmp_path):
    project, machine = _pod_without_conda(tmp_path)
    root = machine.workspace / "miniforge3"
    proc, _ = _make(project, machine, "setup-h100", FAKE_CONDA_ROOT=str(root))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"✅ Conda: not installed: the env step installs Miniforge at {machine.workspace}/miniforge3" in out
    assert f"✅ Miniforge installed: {root}/bin/conda" in out
    assert "[SETUP-H100-COMPLETE] Ready for training" in out
    assert any(c.startswith("curl -fsSL -o") and c.endswith("Miniforge3-Linux-x86_64.sh") for c in machine.calls())
    assert not (machine.workspace / ".miniforge-installer.sh").exists()

    # A fresh SSH shell: no conda on PATH, no CONDA_EXE; the env on /workspace is found, nothing is rebuilt.
    machine.log.write_text("")
    again, _ = _make(project, machine, "setup-h100", FAKE_CONDA_ROOT=str(root))
    assert again.returncode == 0 and "[SETUP-H100] Nothing to do" in again.stdout
    # The setup code finds the conda by its known place:
    check = subprocess.run([sys.executable, "-c", "from tasks.setup import h100; print(h100.find_conda())"], cwd=h100.ROOT,
                           env=machine.environ(FAKE_CONDA_ROOT=str(root)), capture_output=True, text=True)
    assert check.stdout.strip() == str(root / "bin" / "conda")


@pytest.mark.parametrize("gpu, nvcc", [("h100_80gb_hbm3_driver550", "12.4"), ("h100_80gb_hbm3_driver550", None),
                                       ("h100_80gb_hbm3_driver570", "12.8"), ("h100_80gb_hbm3_driver565", None)])
def test_cuda_12_images_with_and_without_nvcc_reach_ready(tmp_path, gpu, nvcc):
    project, machine = _pod_project(tmp_path, gpu=gpu, nvcc=nvcc)
    proc, elapsed = _make(project, machine, "setup-h100")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✅ NVIDIA driver:" in proc.stdout and "[SETUP-H100-COMPLETE] Ready for training" in proc.stdout


@pytest.mark.parametrize("token, said", [(None, "is gated and no Hugging Face token is set"),
                                         ("hf_test_noaccess", "has not accepted its licence (HTTP 403)")])
def test_a_fresh_pod_without_hf_access_stops_in_the_machine_step_in_seconds(tmp_path, token, said):
    project, machine = _pod_project(tmp_path, model=False)
    hub = FakeHub()
    try:
        extra = {"HF_ENDPOINT": hub.url, **({"HF_TOKEN": token} if token else {})}
        proc, elapsed = _make(project, machine, "setup-h100", **extra)
    finally:
        hub.close()
    assert proc.returncode != 0 and elapsed < 30
    errors = [line for line in proc.stderr.splitlines() if line.startswith("❌")]
    assert len(errors) == 2 and said in errors[0] and "(fix: " in errors[0]  # the cause with its fix, then the summary
    assert "machine checks: 1 check(s) failed (HF access)" in errors[1]
    assert not any(c.startswith("conda env create") for c in machine.calls())  # before the 10-minute env build
    assert "hf_test_noaccess" not in proc.stdout + proc.stderr


def test_make_setup_h100_fails_at_the_machine_step_without_conda(tmp_path):
    project = copy_project(tmp_path / "project")
    machine = FakeMachine(tmp_path).pod(conda=False)
    proc, _ = _make(project, machine, "setup-h100")
    assert proc.returncode != 0
    assert "❌ Conda: conda not found on PATH" in proc.stderr
    assert not (project / ".stamps" / "h100-machine.stamp").exists()


def test_free_space_is_measured_where_each_part_goes(pod, tmp_path, capsys):
    # The conda env goes next to its conda (here the container disk), the model to model.cache_dir on the volume,
    # the checkpoints under the project (here the container disk too): one line per filesystem.
    pod.pod(workspace=True)
    pod.df_split("runpod_volume_50gb_fresh", "runpod_container_20gb")
    cache = pod.workspace / "hf-cache"
    config = tmp_path / "h100.yaml"
    config.write_text((h100.ROOT / h100.DEFAULT_CONFIG).read_text().replace("cache_dir: /workspace/hf-cache", f"cache_dir: {cache}"))
    needs = h100.disk_needs(str(config), env_missing=True, conda_missing=False, model_missing=True)
    checks = h100.check_disk(needs)
    assert [c.text() for c in checks] == [
        "Storage: 20.6 GB free on /; needs 14.6 GB = conda env 10 + checkpoints 2.58 + reserve 2",
        "Storage: 53.7 GB free on /workspace; needs 16.5 GB = base model 14.5 + reserve 2",
    ]
    pod.df_split("runpod_volume_50gb_fresh", "runpod_container_low")
    low = h100.check_disk(needs)
    assert [c.status for c in low] == [probes.FAIL, probes.OK]
    assert low[0].value.startswith("3.2 GB free on /; needs 14.6 GB") and "free 11.4 GB on /" in low[0].fix


def test_the_restart_check_fails_when_the_model_is_gone_and_says_how_to_get_it_back(tmp_path):
    project, machine = _pod_project(tmp_path)
    first, _ = _make(project, machine, "setup-h100")
    assert first.returncode == 0, first.stdout + first.stderr
    marker = next((machine.workspace / "hf-cache").rglob("weatherman-complete.json"))
    marker.unlink()
    again, elapsed = _make(project, machine, "setup-h100")
    assert again.returncode != 0 and elapsed < 10
    assert "❌ Base model: mistralai/Mistral-7B-Instruct-v0.2: download not finished in" in again.stderr
    assert "(fix: rm .stamps/setup-h100.stamp && make setup-h100 downloads it again)" in again.stderr

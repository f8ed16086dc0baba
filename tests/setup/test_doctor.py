"""make doctor: one line per check with the value and the fix, every check run, exit 1 on any failure, nothing changed."""

import subprocess
import sys

from tests.helpers_setup import FakeHub, FakeMachine

from tasks.setup import probes


def _doctor(machine, env, cwd=probes.ROOT, **extra):
    return subprocess.run([sys.executable, "-m", "tasks.setup.doctor", "--env", env], cwd=cwd, env=machine.environ(**extra),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)


def _lines(proc):
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line[:1] in ("✅", "⚠", "❌")]


def test_doctor_h100_on_a_good_pod_with_the_env(tmp_path):
    machine = FakeMachine(tmp_path).pod()
    machine.conda_env_exists()
    hub = FakeHub()
    try:
        proc = _doctor(machine, "h100", HF_ENDPOINT=hub.url, HF_TOKEN="hf_test_valid")
    finally:
        hub.close()
    lines = _lines(proc)
    for want in ("✅ GPU: 1 x NVIDIA H100 80GB HBM3, 81559 MiB", "✅ CUDA toolkit: nvcc 13.0 (not needed", "✅ Conda env:",
                 "✅ torch CUDA: torch 2.8.0 (CUDA 12.8) on NVIDIA H100 80GB HBM3", "✅ Config: configs/training_config_h100.yaml: valid",
                 "✅ HF access: mistralai/Mistral-7B-Instruct-v0.2: licence accepted, token from HF_TOKEN (not shown)",
                 "❌ Base model: mistralai/Mistral-7B-Instruct-v0.2: not downloaded to /workspace/hf-cache", "⚠️ W&B: no key"):
        assert any(line.startswith(want) for line in lines), want
    assert hub.requests == [("/api/models/mistralai/Mistral-7B-Instruct-v0.2/auth-check", True)]
    assert "hf_test_valid" not in proc.stdout + proc.stderr
    # Only probes ran: nothing was created, updated or installed.
    assert not any(word in c for c in machine.calls() for word in ("create", "update", "remove", "pip install"))


def test_doctor_goes_on_after_failures_and_exits_1(tmp_path):
    machine = FakeMachine(tmp_path).pod(gpu="a100_40gb", nvcc="11.8", df="runpod_container_low", conda=False)
    proc = _doctor(machine, "h100")
    assert proc.returncode == 1
    err = proc.stderr
    assert "❌ GPU: 1 x NVIDIA A100-SXM4-40GB, 40960 MiB" in err
    assert "❌ Storage: 3.2 GB free on /; needs 29.7 GB = Miniforge 0.6 + conda env 10 + base model 14.5 + checkpoints 2.58 + reserve 2 (fix:" in err
    assert "❌ HF access: the Hugging Face Hub is unreachable" in err
    assert "❌ Conda env: conda not found" in err
    assert "✅ tmux: tmux 3.3a" in proc.stdout  # checks after the failures still ran
    assert "failed" in err.splitlines()[-1] and "[DOCTOR]" in err.splitlines()[-1]


def test_doctor_m4_reports_the_memory_category(tmp_path):
    machine = FakeMachine(tmp_path).mac(chip="m4_pro_24gb", memsize="24gb")
    proc = _doctor(machine, "m4")
    lines = _lines(proc)
    assert any(line.startswith("✅ Chip: Apple M4 Pro") for line in lines)
    assert any(line.startswith("⚠️ Unified Memory: 24GB LIMITED") for line in lines)
    assert proc.returncode == (1 if any(line.startswith("❌") for line in lines) else 0)


def test_doctor_cpu_in_the_real_ci_venv(tmp_path):
    machine = FakeMachine(tmp_path)
    machine.command("df", "df/linux_build_machine.txt")
    machine.command("tmux", "tmux/3.3a.txt")
    proc = _doctor(machine, "cpu")
    out = proc.stdout
    assert "✅ Packages: torch 2.13.0" in out and "✅ torch CPU: torch 2.13.0" in out
    assert "✅ Config: configs/training_config_cpu.yaml: valid" in out
    assert "✅ Storage: 81.0 GB free on /" in out
    data_ok = (probes.ROOT / "data/processed/train.jsonl").is_file() and (probes.ROOT / "data/processed/val.jsonl").is_file()
    assert proc.returncode == (0 if data_ok else 1)


def test_a_tmux_from_conda_is_flagged(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path)
    conda_bin = tmp_path / "miniconda3" / "envs" / "x" / "bin"
    conda_bin.mkdir(parents=True)
    (conda_bin / "tmux").write_text("#!/bin/bash\necho tmux 3.4\n")
    (conda_bin / "tmux").chmod(0o755)
    machine.apply(monkeypatch, PATH=f"{conda_bin}:/usr/bin:/bin")
    check = probes.check_tmux()
    assert check.status == probes.WARN and "conda" in check.value and "apt-get install -y tmux" in check.fix

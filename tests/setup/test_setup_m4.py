"""setup-m4 / preflight-m4 on recorded Macs: chip, memory category, macOS, Python, the venv step, stamps."""

import os
import subprocess
import sys
import time

import pytest
from tests.helpers_setup import FakeMachine, copy_project
from test_setup_h100 import _data

from tasks import ui

from tasks.setup import m4, probes


@pytest.fixture
def mac(tmp_path, monkeypatch):
    machine = FakeMachine(tmp_path).mac()
    machine.apply(monkeypatch)
    return machine


@pytest.mark.parametrize("chip, memsize, category, status", [
    ("m4_16gb", "16gb", "LIMITED", probes.WARN),
    ("m4_pro_24gb", "24gb", "LIMITED", probes.WARN),
    ("m4_pro_24gb", "48gb", "SUFFICIENT", probes.OK),
    ("m4_max_64gb", "64gb", "SUFFICIENT", probes.OK),
])
def test_m4_chips_pass_with_the_right_memory_category(mac, chip, memsize, category, status):
    mac.mac(chip=chip, memsize=memsize)
    chip_check = m4.check_chip()
    assert chip_check.status == probes.OK and chip_check.value.startswith("Apple M4")
    memory = m4.check_memory()
    assert memory.status == status
    assert memory.value.startswith(f"{memsize[:-2]}GB {category}")


def test_8gb_is_insufficient_a_warning_in_setup_and_a_failure_before_training(mac):
    mac.mac(chip="m1_8gb", memsize="8gb")
    assert m4.check_chip().status == probes.OK  # any Apple M chip
    setup_check = m4.check_memory()
    assert setup_check.status == probes.WARN and "INSUFFICIENT" in setup_check.value and "does not fit" in setup_check.value
    assert m4.check_memory(preflight=True).status == probes.FAIL


def test_intel_mac_is_refused(mac):
    mac.mac(chip="intel_i9", uname="darwin_x86_64")
    chip = m4.check_chip()
    assert chip.status == probes.FAIL and "8-Core Intel Core i9" in chip.value and "Apple Silicon" in chip.value
    assert m4.check_arm64().status == probes.FAIL


def test_linux_is_not_a_mac(mac):
    mac.remove("system_profiler")
    assert "not a Mac" in m4.check_chip().value


def test_python_39_fails_with_the_fix(mac, capsys):
    mac.mac(python="3.9.6")
    with pytest.raises(ui.Fail, match="Python"):
        m4.step_machine("python3")
    err = capsys.readouterr().err
    assert "❌ Python: python3 is Python 3.9.6, older than 3.10" in err and "PYTHON=python3.11" in err


def test_old_macos_fails(mac):
    mac.mac(macos="13.6.7")
    check = m4.check_macos()
    assert check.status == probes.FAIL and "13.6.7" in check.value


def test_machine_step_on_an_m4_max(mac, capsys):
    m4.step_machine("python3")
    out = capsys.readouterr().out
    assert "[SETUP-M4] Starting Mac M4 local setup" in out
    assert "✅ Chip: Apple M4 Max (MacBook Pro)" in out
    assert "✅ Unified Memory: 64GB SUFFICIENT" in out
    assert "✅ Python: python3 is Python 3.11.9" in out


def test_venv_step_creates_installs_and_proves_mps(mac, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(m4, "VENV", tmp_path / ".venv-local")
    stamp = tmp_path / "venv.stamp"
    m4.step_venv("python3", stamp=str(stamp))
    out = capsys.readouterr().out
    calls = mac.calls()
    assert f"python3 -m venv {tmp_path / '.venv-local'}" in calls
    assert "python -m pip install --upgrade pip" in calls
    assert f"python -m pip install -r {m4.REQUIREMENTS}" in calls
    assert "✅ Virtual environment created: .venv-local (Python 3.11.9)" in out
    assert "✅ MPS: MPS backend available: torch 2.13.0, 100x100 matmul on mps ok" in out
    assert "✅ Packages installed" in out and stamp.exists()


def test_mps_unavailable_fails_the_venv_step(mac, monkeypatch, tmp_path):
    monkeypatch.setattr(m4, "VENV", tmp_path / ".venv-local")
    (mac.dir / "env_probe.json").write_text((mac.dir / "env_probe.json").read_text().replace('"available": true', '"available": false'))
    with pytest.raises(ui.Fail, match="MPS"):
        m4.step_venv("python3")


def test_preflight_on_linux_fails_on_chip_and_mlx(tmp_path):
    # The real preflight in the real test python on Linux: not a Mac, MLX on the CPU only; one line per check.
    machine = FakeMachine(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "tasks.setup.m4", "--preflight", "--config", "configs/training_config_m4.yaml"],
                          cwd=m4.ROOT, env=machine.environ(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "[TRAINING-M4] Pre-flight checks starting" in proc.stdout
    assert "❌ Chip: system_profiler not found" in proc.stderr
    assert "❌ MLX:" in proc.stderr and "no Metal GPU" in proc.stderr  # the M4 profile trains with MLX
    assert "✅ Config: configs/training_config_m4.yaml: valid" in proc.stdout


def test_make_setup_m4_then_a_no_op_then_only_the_venv_step(tmp_path):
    project = copy_project(tmp_path / "project")
    _data(project)
    machine = FakeMachine(tmp_path).mac()

    def make():
        start = time.monotonic()
        proc = subprocess.run(["make", "--no-print-directory", "setup-m4"], cwd=project, env=machine.environ(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        return proc, time.monotonic() - start

    first, _ = make()
    assert first.returncode == 0, first.stdout + first.stderr
    for line in ("[SETUP-M4] Starting Mac M4 local setup", "✅ Unified Memory: 64GB SUFFICIENT", "✅ Packages installed",
                 "✅ Memory fit: MLX needs 32.8 GB at 2048 tokens; budget 51.5 GB (Metal's working set, three quarters of 64 GB)",
                 "configs/training_config_m4.yaml: valid", "⚠️ WARNING: M4 training takes many hours",
                 "⚠️ Close unnecessary applications to free unified memory", "[SETUP-M4-COMPLETE] Ready for local training",
                 "Next step: make train-m4"):
        assert line in first.stdout, line
    assert "12-18 hours" not in first.stdout
    machine.log.write_text("")
    second, elapsed = make()
    assert "[SETUP-M4] Nothing to do" in second.stdout and elapsed < 1.0
    assert [c for c in machine.calls() if not c.startswith("uname")] == []
    later = time.time() + 5
    os.utime(project / "requirements-local.txt", (later, later))
    third, _ = make()
    assert third.returncode == 0, third.stderr
    calls = machine.calls()
    assert any("pip install -r" in c for c in calls)
    assert not any("--step machine" in c for c in calls)  # the machine step is not redone
    # The finish step fits the run to this Mac's Metal budget again, and names its hours on this chip.
    assert "sysctl iogpu.wired_limit_mb" in calls and "system_profiler SPHardwareDataType" in calls
    assert "M4 training takes many hours" in third.stdout + third.stderr


def test_preflight_data_check_names_the_bad_line(tmp_path):
    """Both pre-flights run the data validator on the config's files: a bad line fails it, with file and line."""
    import json as _json

    from tests.helpers_train import CPU_CONFIG, write_data

    train, val = write_data(tmp_path / "data", n_train=5, n_val=2)
    cfg = tmp_path / "c.yaml"
    text = CPU_CONFIG.read_text().replace("data/processed/train.jsonl", str(train)).replace("data/processed/val.jsonl", str(val))
    cfg.write_text(text)
    good = probes.check_training_data(str(cfg))
    assert good.status == probes.OK and str(train) in good.value
    lines = train.read_text().splitlines()
    broken = _json.loads(lines[1])
    broken["messages"][3]["tool_call_id"] = "nobody"
    lines[1] = _json.dumps(broken)
    train.write_text("\n".join(lines) + "\n")
    bad = probes.check_training_data(str(cfg))
    assert bad.status == probes.FAIL
    assert f"{train}:2: " in bad.value and "make data" in bad.fix


M4_CONFIG = str(m4.ROOT / "configs" / "training_config_m4.yaml")


@pytest.mark.parametrize("chip, memsize, budget_gb, rule, overrides", [
    # Metal's working set: two thirds below 36 GB, three quarters from 36 GB; the profile needs 32.8 GB at 2,048
    # tokens without checkpointing and 8.0 GB with it, and must stay under the budget less 10%.
    ("m4_16gb", "16gb", 11.5, "two thirds of 16 GB", {"training.gradient_checkpointing": True}),
    ("m4_pro_24gb", "24gb", 17.2, "two thirds of 24 GB", {"training.gradient_checkpointing": True}),
    ("m4_max_36gb", "36gb", 29.0, "three quarters of 36 GB", {"training.gradient_checkpointing": True}),
    ("m4_pro_24gb", "48gb", 38.7, "three quarters of 48 GB", {}),
    ("m4_max_64gb", "64gb", 51.5, "three quarters of 64 GB", {}),
])
def test_the_m4_profile_is_fitted_to_each_macs_metal_budget(mac, chip, memsize, budget_gb, rule, overrides):
    from tasks.config import load_config
    from tasks.run import train_m4
    from tasks.train import mlx_plan

    mac.mac(chip=chip, memsize=memsize)
    budget, how = m4.metal_budget()
    assert round(budget / 1e9, 1) == budget_gb and rule in how
    cfg = load_config(M4_CONFIG)
    fit, why = m4.fit_overrides(cfg)
    assert fit == overrides
    check = m4.check_fit(M4_CONFIG)
    assert check.status == (probes.WARN if overrides else probes.OK), check
    assert f"budget {budget_gb} GB" in check.value
    if overrides:
        assert "32.8 GB at 2048 tokens" in check.value and "gradient checkpointing on: 8.0 GB" in check.value
        assert "--set training.gradient_checkpointing=true" in check.value
        # train-m4 applies it (the margin holds: 8.0 GB under the budget less 10%), unless the command line says otherwise.
        assert train_m4.fit_to_this_mac(cfg, [])[0] == ["training.gradient_checkpointing=true"]
        assert train_m4.fit_to_this_mac(cfg, ["training.gradient_checkpointing=false"]) == ([], "")
        fitted = load_config(M4_CONFIG, ["training.gradient_checkpointing=true"])
        assert mlx_plan.cfg_peak(fitted)["total"] <= 0.9 * budget
    else:
        assert mlx_plan.cfg_peak(cfg)["total"] <= 0.9 * budget


def test_a_raised_wired_limit_is_the_budget(mac):
    mac.mac(chip="m4_pro_24gb", memsize="24gb", wired_limit="iogpu_wired_limit_20480")
    budget, how = m4.metal_budget()
    assert budget == 20480 * 2**20 and "iogpu.wired_limit_mb = 20480" in how
    assert "sysctl iogpu.wired_limit_mb" in mac.calls()


def test_preflight_refuses_a_config_that_does_not_fit_with_the_numbers_and_the_fix(mac, tmp_path):
    mac.mac(chip="m4_pro_24gb", memsize="24gb")
    # PyTorch/MPS on a 24 GB Mac: the bf16 weights alone are 14.5 GB of a 15.5 GB usable budget.
    cfg = tmp_path / "torch.yaml"
    text = (m4.ROOT / "configs" / "training_config_m4.yaml").read_text()
    cfg.write_text(text.replace("backend: mlx ", "backend: torch ").replace("load_in_4bit: true ", "load_in_4bit: false ")
                   .replace("gradient_checkpointing: false", "gradient_checkpointing: true"))
    check = m4.check_fit(str(cfg))
    assert check.status == probes.FAIL, check
    assert "PyTorch/MPS needs 1" in check.value and "budget 17.2 GB" in check.value and "= 15.5 GB" in check.value
    assert "training.backend: mlx" in check.fix
    # Nothing makes the 7B fit 8 GB's 5.2 usable GB: refused, with the way out.
    mac.mac(chip="m1_8gb", memsize="8gb")
    tiny = tmp_path / "long.yaml"
    tiny.write_text(text.replace("r: 16 ", "r: 512 "))  # LoRA + AdamW alone: 16 B x 1.34 G parameters = 21 GB
    check = m4.check_fit(str(tiny))
    assert check.status == probes.FAIL and "even checkpointing at 128 tokens needs" in check.value and "H100" in check.fix


def test_setup_names_the_hours_of_this_mac_from_the_plan(mac, tmp_path):
    from tests.helpers_train import write_data

    train, val = write_data(tmp_path / "data", n_train=6, n_val=2)
    cfg = tmp_path / "m4.yaml"
    cfg.write_text((m4.ROOT / "configs" / "training_config_m4.yaml").read_text()
                   .replace("data/processed/train.jsonl", str(train)).replace("data/processed/val.jsonl", str(val)))
    mac.mac(chip="m4_pro_24gb", memsize="24gb")
    assert m4.this_mac() == ("m4-pro", 24, 16)  # the 24 GB M4 Pro is the 16-GPU-core chip
    said = m4.this_mac_hours(str(cfg))
    assert said.startswith("this M4 Pro 24 GB (16 GPU cores) trains the profile's") and "with gradient checkpointing" in said
    mac.mac(chip="m4_max_64gb", memsize="64gb")
    said = m4.this_mac_hours(str(cfg))
    assert "M4 Max 64 GB (40 GPU cores)" in said and "checkpointing" not in said
    mac.mac(chip="m1_8gb", memsize="8gb")  # not an M4: the plan's table is the answer
    assert m4.this_mac_hours(str(cfg)).startswith("`make plan CONFIG=")

"""make gpu-check --tiny: the GPU check's whole code path on the CPU, its JSON lines, and `make plan` reading a measured MFU."""

import dataclasses
import json
import subprocess

import pytest

from tasks.config import load_config
from tasks.train import gpu_check, plan
from tests.helpers_train import CPU_CONFIG, PY, ROOT, env

SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _shape(layers: int = 1):
    return dataclasses.replace(plan.tiny_shape(load_config(CPU_CONFIG)["model"]["tiny"]), layers=layers)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    log = tmp_path_factory.mktemp("gpu-check") / "gpu_check.json"
    # --layers 1 of the tiny shape's 2: the path of a GPU too small for all 32 layers (scaled by FLOPs)
    r = subprocess.run([PY, "-m", "tasks.train.gpu_check", "--tiny", "--log", str(log), "--peak-tflops", "1", "--layers", "1"],
                       cwd=ROOT, env=env(), capture_output=True, text=True, timeout=400)
    rows = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.is_file() else []
    return r, log, {row["part"]: row for row in rows}


def test_every_part_writes_one_line_and_the_run_passes(tiny_run):
    r, _, rows = tiny_run
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(rows) == ["env", *gpu_check.PARTS, "summary"]
    assert len({row["run_id"] for row in rows.values()}) == 1 and {row["mode"] for row in rows.values()} == {"tiny"}
    summary = rows["summary"]
    # only the memory comparison needs CUDA; everything else ran and passed on the CPU
    assert summary["parts"] == {"throughput": "ok", "padding": "ok", "memory": "skipped", "attention": "ok", "resume": "ok"}
    assert "no CUDA" in summary["not_ok"]["memory"]
    env_row = rows["env"]
    assert (env_row["device"], env_row["attention"], env_row["padding_free"], env_row["layers"], env_row["layers_full"]) == ("cpu", "sdpa", True, 1, 2)
    assert env_row["trainable"] == _shape().lora_params(16, SEVEN)  # the H100 profile's r=16
    for row in rows.values():
        if row["part"] in gpu_check.PARTS:
            assert row["elapsed_s"] <= row["limit_s"], row
    # the skipped parts are said on the terminal with their reason
    out = r.stdout + r.stderr
    assert "memory: skipped: no CUDA device" in out and "flash-attn varlen vs sdpa skipped: flash-attn needs a CUDA GPU" in out


def test_throughput_and_mfu_follow_the_printed_formula(tiny_run):
    r, _, rows = tiny_run
    t = rows["throughput"]
    assert t["status"] == "ok" and t["tokens_per_s"] > 0 and t["measured_steps"] >= 1
    mean = t["mean_conversation_tokens"]
    batch = load_config(ROOT / "configs" / "training_config_h100.yaml")["training"]["per_device_batch_size"]  # the profile's micro-batch
    fpt = plan.flops_per_token(_shape(), mean, False, "sdpa", batch * mean)
    assert t["flops_per_token"] == pytest.approx(fpt, rel=1e-3)
    assert t["peak_flops"] == 1e12 and t["mfu"] == pytest.approx(t["tokens_per_s"] * t["flops_per_token"] / 1e12, abs=1e-4)
    # one layer measured, the two-layer model's tokens/s follows at the same MFU
    full = plan.flops_per_token(_shape(2), mean, False, "sdpa", batch * mean)
    assert t["tokens_per_s_full_model"] == pytest.approx(t["tokens_per_s"] * fpt / full, rel=0.02) and "1 of 2 layers" in t["scaled"]
    assert t["flop_formula"] in r.stdout and "MFU: " in r.stdout


def test_padding_memory_and_attention_lines_are_sane(tiny_run):
    _, _, rows = tiny_run
    p = rows["padding"]
    assert p["padding_share"] == 0.0 and 0 < p["padding_share_if_padded"] < 0.6 and p["tokens"] > 0
    m = rows["memory"]
    dropout = load_config(ROOT / "configs" / "training_config_h100.yaml")["lora"]["dropout"] > 0  # the profile's
    predicted = plan.memory(_shape(), 16, SEVEN, m["tokens"], False, False, dropout, "sdpa", True)["total"]
    batch = load_config(ROOT / "configs" / "training_config_h100.yaml")["training"]["per_device_batch_size"]
    assert m["predicted_gb"] == round(predicted / 1e9, 2) > 0 and m["conversations"] == batch
    assert m["optimizer_state"] is True and 5 < m["loss"] < 15  # the step ran after training, on random weights
    a = rows["attention"]
    assert a["status"] == "ok" and a["conversations"] >= 2
    # packed sdpa equals each conversation alone (fp32), while a row without position ids leaks across conversations
    assert a["mean_abs_token_diff_packed_sdpa"] < 1e-5 < a["mean_abs_token_diff_leak_sdpa"] and a["packed_sdpa_diff_over_leak"] < 0.01
    assert a["flash_vs_sdpa_loss_diff"] is None and "CUDA" in a["flash_skipped"]


def test_sigterm_checkpoint_and_resume_continue_from_the_saved_step(tiny_run):
    _, _, rows = tiny_run
    res = rows["resume"]
    assert res["status"] == "ok", res
    assert res["exit_codes"] == [1, 0] and 2 <= res["stopped_at"] < res["max_steps"]
    assert res["resumed_from"] == res["stopped_at"] and res["first_step_after_resume"] == res["stopped_at"] + 1
    assert res["final_step"] == res["max_steps"] and res["final_adapter"] and res["checkpoint_mb"] > 0


def test_plan_uses_a_measured_gpu_mfu_and_keeps_the_assumption_otherwise(tiny_run, tmp_path):
    _, log, rows = tiny_run
    assert gpu_check.measured_mfu(log) is None  # CPU lines never stand for a GPU
    assert gpu_check.measured_mfu(tmp_path / "absent.json") is None
    gpu = tmp_path / "gpu.json"
    line = {**rows["throughput"], "mode": "gpu", "mfu": 0.4123, "tokens_per_s": 12345.0}
    gpu.write_text(log.read_text(encoding="utf-8") + json.dumps(line) + "\n", encoding="utf-8")
    mfu, source = gpu_check.measured_mfu(gpu)
    assert mfu == 0.4123 and "make gpu-check" in source and rows["throughput"]["run_id"] in source

    data = tmp_path / "train.jsonl"
    data.write_text("".join(open(gpu_check.FINAL_TRAIN, encoding="utf-8").readlines()[:40]), encoding="utf-8")
    h100 = ["--config", str(ROOT / "configs" / "training_config_h100.yaml"), "--data", str(data)]

    def planned(*more):
        r = subprocess.run([PY, "-m", "tasks.train.plan", *h100, *more], cwd=ROOT, env=env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    measured, assumed = planned("--gpu-check-log", str(gpu)), planned("--gpu-check-log", str(log))
    assert measured["h100_throughput_source"].startswith("MFU 41.2% measured by make gpu-check")
    assert assumed["h100_throughput_source"].startswith("assumed MFU 35% of 989 TFLOP/s")
    # the plan's fixed cost per micro-batch does not scale with the MFU: nearly, not exactly, proportional
    assert measured["h100_tokens_per_s"] == pytest.approx(assumed["h100_tokens_per_s"] * 0.4123 / 0.35, rel=0.02)
    assert measured["h100_tokens_per_s"] < assumed["h100_tokens_per_s"] * 0.4123 / 0.35


def test_layers_shrink_to_the_free_memory_and_say_so():
    cfg = load_config(ROOT / "configs" / "training_config_h100.yaml")
    choice = type("Choice", (), {"attn_implementation": "flash_attention_2", "padding_free": True})()
    n, why = gpu_check.choose_layers(plan.MISTRAL_7B, cfg, choice, 3600, 140e9)
    assert n == 32 and why.startswith("all 32 layers")
    n, why = gpu_check.choose_layers(plan.MISTRAL_7B, cfg, choice, 3600, 24e9)
    need = plan.memory(dataclasses.replace(plan.MISTRAL_7B, layers=n), 16, SEVEN, 3600, False, False, cfg["lora"]["dropout"] > 0,
                       "flash_attention_2")["total"]
    assert 1 <= n < 32 and need <= 0.85 * 24e9 and f"{n} of 32 layers" in why and "scaled" in why


def test_the_peak_table_knows_the_sxm_pcie_and_nvl_parts():
    assert gpu_check.gpu_peak("NVIDIA H100 80GB HBM3")[0] == plan.H100_PEAK_FLOPS == 989e12
    assert gpu_check.gpu_peak("NVIDIA H100 PCIe")[0] == 756e12 and gpu_check.gpu_peak("NVIDIA H100 NVL")[0] == 835e12
    assert gpu_check.gpu_peak("NVIDIA H200")[0] == 989e12 and gpu_check.gpu_peak("NVIDIA A100-SXM4-80GB")[0] == 312e12
    peak, why = gpu_check.gpu_peak("NVIDIA GeForce RTX 4090")
    assert peak is None and "--peak-tflops" in why


def test_without_a_gpu_the_check_says_so_in_one_line_and_writes_nothing(tmp_path):
    log = tmp_path / "gpu_check.json"
    r = subprocess.run([PY, "-m", "tasks.train.gpu_check", "--log", str(log)], cwd=ROOT, env={**env(), "CUDA_VISIBLE_DEVICES": ""},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "no CUDA GPU is visible to torch" in r.stderr and "--tiny" in r.stderr
    assert "Traceback" not in r.stderr and not log.exists()

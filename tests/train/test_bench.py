"""make bench: the last line is one JSON object with the throughput, ratio, padding and memory figures."""

import json
import subprocess

import pytest

from tests.helpers_train import CPU_CONFIG, PY, ROOT, env, write_data


def test_bench_prints_the_json_contract(tmp_path):
    train, _ = write_data(tmp_path / "data")
    r = subprocess.run([PY, "-m", "tasks.train.bench", "--config", str(CPU_CONFIG), "--steps", "4", "--warmup", "1",
                        "--set", f"data.train={train}", "--set", "data.max_seq_length=256",
                        "--set", "training.per_device_batch_size=2"],
                       cwd=ROOT, env=env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    for key in ("train_tokens_per_s", "raw_tokens_per_s", "ratio", "padding_fraction", "peak_rss_mb"):
        assert isinstance(result[key], (int, float)), key
    assert result["train_tokens_per_s"] > 0 and result["raw_tokens_per_s"] > 0
    assert abs(result["ratio"] - result["train_tokens_per_s"] / result["raw_tokens_per_s"]) < 0.01
    assert result["padding_free"] is True and result["padding_fraction"] == 0.0  # packed batches carry no padding
    assert result["peak_rss_mb"] > 100
    assert any("raw forward+backward" in line for line in lines) and any("ratio (target >= 0.7)" in line for line in lines)


def test_padded_batches_report_their_padding(tmp_path):
    train, _ = write_data(tmp_path / "data")
    r = subprocess.run([PY, "-m", "tasks.train.bench", "--config", str(CPU_CONFIG), "--steps", "2", "--warmup", "1",
                        "--set", f"data.train={train}", "--set", "data.max_seq_length=256", "--set", "data.packing=false",
                        "--set", "training.per_device_batch_size=4"],
                       cwd=ROOT, env=env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["padding_free"] is False and 0 < result["padding_fraction"] < 0.5


def test_the_model_of_the_plans_shape_is_that_shape_with_the_configured_lora_and_its_mfu_is_the_plans_arithmetic():
    """What bench trains on a GPU when the configured model is not Mistral 7B, built here at the tiny shape on the CPU."""
    from tasks.config import load_config
    from tasks.train import bench, plan, train

    cfg = load_config(CPU_CONFIG)
    shape = plan.tiny_shape(cfg["model"]["tiny"])
    choice = train.choose_device(cfg)
    model = bench.plan_shaped_model(shape, cfg, choice)
    trainable, total = model.get_nb_trainable_parameters()
    assert total - trainable == shape.params()
    assert trainable == shape.lora_params(cfg["lora"]["r"], list(cfg["lora"]["target_modules"]))
    assert model.base_model.model.config._attn_implementation == choice.attn_implementation
    # MFU = tokens/s x plan's FLOPs per token for this setting / peak; PLAN_MFU=<it> gives back the same tokens/s
    t = cfg["training"]
    mfu = bench.utilisation(5000.0, plan.MISTRAL_7B, cfg, choice, 800.0, 989e12)
    fpt = plan.flops_per_token(plan.MISTRAL_7B, 800.0, t["gradient_checkpointing"], choice.attn_implementation,
                               t["per_device_batch_size"] * 800.0)
    assert mfu == 5000.0 * fpt / 989e12
    assert plan.seconds_per_token(fpt, 989e12, mfu, 1600.0, 0.0) == pytest.approx(1 / 5000.0)

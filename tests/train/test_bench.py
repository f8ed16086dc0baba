"""make bench: the last line is one JSON object with the throughput, ratio, padding and memory figures."""

import json
import subprocess

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

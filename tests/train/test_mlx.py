"""The MLX backend (training.backend: mlx) on the CPU build of MLX, with the tiny model.

Same first-step loss as the PyTorch path, a loss that falls, SIGTERM then resume with the
same steps and losses as an unbroken run, and an adapter in PEFT's layout that gives PEFT the
logits MLX computes. About a minute of CPU in all (56 s user time measured on 2 cores), mostly the start of
six short training processes (torch, transformers and mlx imports).
"""

import copy
import re
import shutil
import subprocess
import sys

import pytest

from tasks.train import checkpoints
from tests.helpers_train import CPU_CONFIG, ROOT, env, events, overrides, reached_step, run_train, sigterm_when, train_cmd

mx = pytest.importorskip("mlx.core", reason="MLX is not installed (pip install -r requirements-ci.txt)")


def test_first_step_loss_equals_the_pytorch_paths(tmp_path):
    # One step covers all four conversations (batch 2 x accumulation 2), so the data order of each
    # backend cannot matter; B = 0 at init, so the loss is the base model's masked loss: PyTorch packs
    # the conversations into one row, MLX pads them, and the assistant-only labels decide the tokens.
    extra = {"data.max_train_examples": 4, "training.gradient_accumulation_steps": 2, "training.max_steps": 1,
             "training.save_steps": 1}
    procs = {}
    for backend in ("torch", "mlx"):
        sets = overrides(tmp_path / backend, tmp_path / backend / "out", **extra, **{"training.backend": backend})
        procs[backend] = subprocess.Popen(train_cmd(sets), cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True)
    for backend, proc in procs.items():
        out = proc.communicate(timeout=240)[0]
        assert proc.returncode == 0, (backend, out)
    torch_step, mlx_step = (events(tmp_path / b / "out", "step")[0] for b in ("torch", "mlx"))
    assert torch_step["step"] == mlx_step["step"] == 1
    assert abs(torch_step["loss"] - mlx_step["loss"]) < 1e-4, (torch_step["loss"], mlx_step["loss"])  # fp32 on both
    assert torch_step["tokens_seen"] == mlx_step["tokens_seen"]  # the same tokens, none of them padding
    assert torch_step["learning_rate"] == pytest.approx(mlx_step["learning_rate"], rel=1e-9)
    assert set(torch_step) == set(mlx_step)  # the same fields for eta/status
    # Both evaluate at the last step; the update used learning rate 0 (warm-up), so this is the base model too.
    torch_eval, mlx_eval = (events(tmp_path / b / "out", "eval")[0] for b in ("torch", "mlx"))
    assert set(torch_eval) == set(mlx_eval) and torch_eval["eval_examples"] == mlx_eval["eval_examples"] == 4
    assert abs(torch_eval["eval_loss"] - mlx_eval["eval_loss"]) < 1e-4
    for backend in ("torch", "mlx"):
        assert checkpoints.checkpoint_problem(tmp_path / backend / "out" / "checkpoint-1") is None


EXTRA = {"data.max_train_examples": 6, "training.per_device_batch_size": 1, "training.max_steps": 8,
         "training.save_steps": 4, "training.learning_rate": 1e-2, "training.backend": "mlx"}


def test_sigterm_then_resume_continues_like_an_unbroken_run_and_the_loss_falls(tmp_path):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    # The unbroken run goes through train-m4's wrapper: its [ETA] line reads the same metrics events.
    cmd = [sys.executable, "-m", "tasks.run.train_m4", "--config", str(CPU_CONFIG), "--logs-dir", str(tmp_path / "logs"),
           "--eta-after-steps", "4"]
    for s in overrides(tmp_path, straight, **EXTRA):
        cmd += ["--set", s]
    r = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[TRAINING-M4] Starting training on MLX (CPU) backend" in r.stdout
    assert re.search(r"\[ETA\] Estimated completion: \d+ hours \d+ minutes \(step \d+/8", r.stdout), r.stdout
    assert "[TRAINING-COMPLETE]" in r.stdout and "PEFT layout" in r.stdout and "[TRAINING-M4-COMPLETE]" in r.stdout
    losses = [e["loss"] for e in events(straight, "step")]
    assert len(losses) == 8
    assert sum(losses[-3:]) / 3 < losses[0] - 0.1, losses  # it learns (ln 32000 = 10.37 at the start)
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json", "chat_template.jinja", "FINAL",
                 "training_config.resolved.yaml", "data_hashes.json"):
        assert (straight / name).is_file(), name

    stopped_run = sigterm_when(overrides(tmp_path, broken, **EXTRA), reached_step(broken, 2))
    assert stopped_run.returncode == 1, stopped_run.stdout
    stopped = events(broken, "end")[-1]
    assert stopped["status"] == "interrupted" and 2 <= stopped["step"] < 8, stopped
    assert "Stopped at step" in stopped_run.stdout and "on SIGTERM" in stopped_run.stdout
    ck = broken / f"checkpoint-{stopped['step']}"
    assert checkpoints.checkpoint_problem(ck) is None
    assert '"backend": "mlx"' in (ck / "trainer_state.json").read_text()
    assert not (broken / "FINAL").exists() and not (broken / "train.lock").exists()

    r = run_train(overrides(tmp_path, broken, **EXTRA))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"⚠️ RESUME: Found checkpoint at step {stopped['step']}. Resuming training." in r.stdout
    start = events(broken, "start")[-1]
    assert (start["step"], start["resumed_from"], start["total_steps"]) == (stopped["step"], stopped["step"], 8)
    a = {e["step"]: e for e in events(straight, "step")}
    b = {e["step"]: e for e in events(broken, "step")}
    assert sorted(b) == list(range(1, 9))  # no step repeated or skipped
    for step in range(stopped["step"] + 1, 9):
        assert abs(a[step]["loss"] - b[step]["loss"]) < 1e-4, step  # same batches, dropout, optimizer state
        assert a[step]["learning_rate"] == pytest.approx(b[step]["learning_rate"], rel=1e-12)
        assert a[step]["tokens_seen"] == b[step]["tokens_seen"], step
    meta = checkpoints.read_metadata(broken)
    assert (meta["last_step"], meta["resume_count"]) == (stopped["step"], 1)

    # A torch run cannot pick up an MLX checkpoint (optimizer states differ): a clear refusal, nothing trained.
    (broken / "FINAL").unlink()
    r = run_train(overrides(tmp_path, broken, **{**EXTRA, "training.backend": "torch"}))
    assert r.returncode == 1 and 'training.backend: was "mlx", now "torch"' in r.stdout + r.stderr, r.stdout + r.stderr
    r = run_train(overrides(tmp_path, broken, **{**EXTRA, "training.backend": "torch"}), "--force")  # even when forced
    assert r.returncode == 1 and "written by the mlx backend" in r.stdout + r.stderr, r.stdout + r.stderr


def _tiny_cfg():
    from tasks.config import load_config

    return load_config(ROOT / "configs" / "training_config_cpu.yaml", ["training.backend=mlx"])


def test_the_peft_adapter_gives_peft_the_logits_mlx_computes(tmp_path):
    import numpy as np
    import torch
    from mlx.utils import tree_flatten, tree_map
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tasks.serve import gguf_lora
    from tasks.train import mlx_backend, tiny_model

    cfg = _tiny_cfg()
    folder = tiny_model.build(cfg["model"]["tiny"])
    mx.random.seed(3)
    model = mlx_backend.load_model(cfg, folder, "fp32")
    # A trained-looking adapter: B away from 0, so the LoRA path changes the logits.
    model.update(tree_map(lambda p: mx.random.normal(p.shape) * 0.2, model.trainable_parameters()))
    model.eval()
    ids = np.array([[1, 733, 16289, 28793, 1824, 28742, 28713, 272, 8086, 297, 5465, 28804, 733, 28748, 16289, 28793]])
    mlx_logits = np.array(model(mx.array(ids)))
    mlx_backend.save_peft_adapter(model, tmp_path, cfg, str(folder))

    settings = gguf_lora.adapter_settings(tmp_path)  # what `make export` accepts
    assert (settings["r"], settings["lora_alpha"], settings["peft_type"]) == (8, 16, "LORA")
    assert sorted(settings["target_modules"]) == sorted(cfg["lora"]["target_modules"])
    base = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(base, str(tmp_path)).eval()
    with torch.no_grad():
        torch_logits = peft_model(torch.tensor(ids)).logits.numpy()
    assert np.abs(torch_logits - mlx_logits).max() < 1e-4, np.abs(torch_logits - mlx_logits).max()  # fp32 both
    with peft_model.disable_adapter(), torch.no_grad():
        plain = peft_model(torch.tensor(ids)).logits.numpy()
    assert np.abs(plain - mlx_logits).max() > 1e-2  # the adapter matters, so the match above means something

    # And back: the PEFT file restores the MLX LoRA weights exactly (how resume reads a checkpoint).
    again = mlx_backend.load_model(cfg, folder, "fp32")
    mlx_backend.load_peft_adapter(again, tmp_path)
    for (k1, v1), (k2, v2) in zip(tree_flatten(model.trainable_parameters()), tree_flatten(again.trainable_parameters()), strict=True):
        assert k1 == k2 and mx.array_equal(v1, v2).item(), k1


def test_lora_layers_match_the_pytorch_paths_counts_and_start_at_zero():
    from tasks.train import mlx_backend, plan, tiny_model

    cfg = _tiny_cfg()
    model = mlx_backend.load_model(cfg, tiny_model.build(cfg["model"]["tiny"]), "fp32")
    trainable, _ = mlx_backend.count_parameters(model)
    shape = plan.tiny_shape(cfg["model"]["tiny"])
    assert trainable == shape.lora_params(cfg["lora"]["r"], cfg["lora"]["target_modules"]) == 16_384
    from mlx.utils import tree_flatten

    params = dict(tree_flatten(model.trainable_parameters()))
    b = [v for k, v in params.items() if k.endswith("lora_b")]
    assert len(b) == 2 * 7 and all(mx.all(v == 0).item() for v in b)
    a = params["model.layers.0.self_attn.q_proj.lora_a"]
    assert a.shape == (64, 8) and mx.abs(a).max().item() <= 1 / 8  # uniform in +-1/sqrt(in), like PEFT's A


def test_the_4bit_base_is_quantized_once_and_cached(tmp_path, monkeypatch):
    import numpy as np
    from mlx import nn

    from tasks.train import mlx_backend, tiny_model

    monkeypatch.setattr(mlx_backend, "MLX_MODELS", tmp_path / "mlx")
    cfg = _tiny_cfg()
    cfg["model"]["load_in_4bit"] = True
    folder = str(tiny_model.build(cfg["model"]["tiny"]))
    said = []
    q = mlx_backend.prepare_base(cfg, folder, said.append)
    assert q.parent == tmp_path / "mlx" and q.name.endswith("-4bit") and "quantizing" in said[-1]
    assert mlx_backend.prepare_base(cfg, folder, said.append) == q and "(cached)" in said[-1]
    assert mlx_backend.quantized_path(folder).name == "models--tiny-mistral-4bit"  # project-relative name
    assert mlx_backend.quantized_path("mistralai/Mistral-7B-Instruct-v0.2").name == "mistralai--Mistral-7B-Instruct-v0.2-4bit"
    model = mlx_backend.load_model(cfg, q, "fp32")
    layer = model.layers[0].self_attn.q_proj
    assert isinstance(layer.linear, nn.QuantizedLinear) and layer.linear.bits == 4
    # The embeddings and the output layer stay unquantized (mlx_lm.convert's quant_predicate), as on the H100's NF4 path.
    assert type(model.model.embed_tokens) is nn.Embedding and type(model.lm_head) is nn.Linear
    # A copy made by the older recipe (everything at 4 bits, a stamp without the recipe) is made again.
    (q / mlx_backend.SOURCE_STAMP).write_text((q / mlx_backend.SOURCE_STAMP).read_text().split()[0] + "\n")
    assert mlx_backend.prepare_base(cfg, folder, said.append) == q and "quantizing" in said[-1]
    ids = mx.array([[1, 733, 16289, 28793, 1824, 28742, 28713, 272]])
    full = mlx_backend.load_model(cfg, tiny_model.build(cfg["model"]["tiny"]), "fp32")
    diff = np.abs(np.array(model(ids)) - np.array(full(ids)))
    assert 0 < diff.max() < 0.5  # quantized, so not identical, but the same model

    # A local base that changed (another tiny shape, a re-saved model) is quantized again, not reused.
    other = tmp_path / "tiny"
    shutil.copytree(folder, other)
    first = mlx_backend.prepare_base(cfg, str(other), said.append)
    (other / "config.json").write_text((other / "config.json").read_text().replace('"rms_norm_eps": 1e-06', '"rms_norm_eps": 1e-05'))
    assert mlx_backend.prepare_base(cfg, str(other), said.append) == first and "quantizing" in said[-1]
    assert '"rms_norm_eps": 1e-05' in (first / "config.json").read_text()


def test_config_accepts_mlx_on_a_mac_or_cpu_profile_only():
    from tasks.config import load_config
    from tasks import ui

    m4 = load_config(ROOT / "configs" / "training_config_m4.yaml")
    assert (m4["training"]["backend"], m4["model"]["load_in_4bit"]) == ("mlx", True)  # MLX's own 4-bit base is allowed
    with pytest.raises(ui.Fail) as err:
        load_config(ROOT / "configs" / "training_config_h100.yaml", ["training.backend=mlx"])
    assert "training.backend: mlx runs on Apple Silicon" in str(err.value)
    with pytest.raises(ui.Fail) as err:
        load_config(ROOT / "configs" / "training_config_m4.yaml", ["training.backend=torch"])  # 4-bit on MPS: no
    assert "model.load_in_4bit" in str(err.value) and "training.backend: mlx" in str(err.value)
    with pytest.raises(ui.Fail, match=r"training.backend: not an allowed value \(got 'jax'"):
        load_config(ROOT / "configs" / "training_config_cpu.yaml", ["training.backend=jax"])


def test_plan_scales_the_cited_mlx_figure_and_the_m4_profile_fits_one_night():
    from tasks.config import load_config
    from tasks.train import plan

    n = 7_241_732_096
    # 250 tok/s x 2N x (1 + 4/32) FLOP per token on the M1 Max (10.4 TFLOP/s), scaled by peak.
    assert plan.mlx_flops_rate("m4-max") == pytest.approx(250 * 2 * n * 1.125 * 17 / 10.4)
    assert plan.mlx_flops_rate("m4-pro") == pytest.approx(250 * 2 * n * 1.125 * 8.5 / 10.4)
    cfg = load_config(ROOT / "configs" / "training_config_m4.yaml")
    # The generated set's mean length (make data reports 859.0) and its longest conversation (1,824 tokens).
    lengths = [1824] + [859] * 14_399
    p = plan.plan(cfg, lengths, m4_chip="m4-pro")
    tokens = 1824 + 4499 * 859
    assert p["conversations"] == 4500 and p["total_steps"] == 563 and p["total_tokens"] == tokens
    # MLX pads each micro-batch and computes its whole causal row: attention meets the micro-batch's tokens.
    fpt = plan.flops_per_token(plan.MISTRAL_7B, tokens / 4500, False, plan.attention_in_use(cfg),
                               cfg["training"]["per_device_batch_size"] * tokens / 4500)
    assert p["mlx"]["tokens_per_s"]["m4-pro"] == pytest.approx(plan.mlx_flops_rate("m4-pro") / fpt, abs=0.05)
    assert p["hours_m4"] == p["mlx"]["hours"]["m4-pro"] <= 12.0  # one night on an M4 Pro
    assert p["mlx"]["hours"]["m4-max"] <= 6.5
    assert "mlx-lm LORA.md" in p["m4_throughput_source"]
    mem = p["mlx"]["memory"]
    outer = 2 * 32000 * 4096  # embeddings and lm_head, kept in 16 bits
    assert mem["weights"] == pytest.approx(((n - outer) * 4.5 / 8 + outer * 2) / 1e9, abs=0.01)  # 4.44 GB
    # The unfused attention keeps (2 x 32 heads + 1) bytes per pair and layer: 6.9 GB at 1,824 tokens.
    assert mem["attention_l2"] == pytest.approx(32 * 65 * 1824**2 / 1e9, abs=0.01)
    assert 28 < mem["total"] < 29  # about 28 GB without checkpointing, as Metal runs it
    # Metal's working set less 10%: 2/3 x 32 GiB x 0.9 = 20.6 GB is too small, 3/4 x 48 GiB x 0.9 = 34.8 GB is not.
    assert not p["fits"]["mac_32gb"] and not p["fits"]["mac_36gb"] and p["fits"]["mac_48gb"]
    small = copy.deepcopy(cfg)
    small["training"]["gradient_checkpointing"] = True
    assert plan.plan(small, lengths)["fits"]["mac_16gb"]  # about 7 GB: a 16 GB Mac trains with checkpointing on
    macs = {r["mac"]: r for r in p["mlx"]["macs"]}
    assert macs["M4 Pro 24 GB"]["overrides"] == {"training.gradient_checkpointing": True} and macs["M4 Pro 24 GB"]["gpu_cores"] == 16
    assert macs["M4 Max 36 GB"]["gpu_cores"] == 32 and macs["M4 Max 48 GB"]["overrides"] == {}
    assert "M4 Pro 32 GB" not in macs  # no such machine


def test_a_stop_request_ends_the_mlx_evaluation_at_the_next_batch():
    """The MLX evaluation checks the stop request every batch, as the Trainer path does (issue 11)."""
    from types import SimpleNamespace

    from tasks.train import mlx_backend

    class Model:
        modes: list[str] = []

        def eval(self):
            self.modes.append("eval")

        def train(self):
            self.modes.append("train")

    model = Model()
    ev = mlx_backend.evaluate(model, [{"input_ids": [1, 2], "labels": [-100, 2]}] * 4, 2, 0, 600, stop=SimpleNamespace(requested=True))
    assert (ev["eval_stopped"], ev["eval_examples"], ev["eval_loss"], ev["eval_timed_out"]) == (True, 0, None, False)
    assert model.modes == ["eval", "train"]  # back in training mode for the checkpoint that follows


def _killed_at(sets, out, step):
    """Start an MLX run and SIGKILL it (no checkpoint, as an abort or a Metal OOM) once it has logged `step`."""
    import signal
    import time

    before = len(events(out))
    proc = subprocess.Popen(train_cmd(sets), cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        steps = [e for e in events(out)[before:] if e["event"] == "step"]  # this start's steps only
        if steps and steps[-1]["step"] >= step:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode


def test_an_mlx_run_that_dies_at_the_same_step_every_time_is_a_crash_loop(tmp_path):
    out = tmp_path / "out"
    sets = overrides(tmp_path, out, **EXTRA)
    for _ in range(3):
        assert _killed_at(sets, out, 5) == -9
    meta = checkpoints.read_metadata(out)
    assert (meta["last_step"], meta["resume_count"], meta["reached_step"]) == (4, 2, True)
    r = run_train(sets)
    assert r.returncode == 2, r.stdout + r.stderr  # the fourth start at checkpoint 4 is refused, as on PyTorch
    assert checkpoints.read_metadata(out)["resume_count"] == 2  # and writes nothing


def test_a_stop_inside_an_accumulation_window_keeps_the_last_complete_step(tmp_path):
    out = tmp_path / "out"
    # 4 micro-batches per optimizer step: SIGTERM lands inside a window far more often than at its end (the
    # window is dropped, the last complete step saved); either way no step may be lost or repeated.
    sets = overrides(tmp_path, out, **{**EXTRA, "training.gradient_accumulation_steps": 4, "training.save_steps": 100})
    stopped = sigterm_when(sets, reached_step(out, 1))
    assert stopped.returncode == 1, stopped.stdout
    end = events(out, "end")[-1]
    assert end["status"] == "interrupted" and end["step"] >= 1, end
    ck = out / f"checkpoint-{end['step']}"
    assert checkpoints.checkpoint_problem(ck) is None  # the last complete step, saved though save_steps is 100
    r = run_train(sets)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(e["step"] for e in events(out, "step")) == list(range(1, 9))  # no step lost or repeated


def test_the_download_is_the_files_the_loaders_read_and_its_disk_is_said_first(tmp_path, monkeypatch, capsys):
    import fnmatch
    from collections import namedtuple

    from tasks import ui
    from tasks.config import load_config
    from tasks.setup import hf_auth
    from tasks.train import mlx_backend, model_cache
    from tests.helpers_setup import seed_model

    # One list for setup-h100 and the MLX backend: the three shards, never consolidated.safetensors (another 14.5 GB).
    assert hf_auth.ALLOW_PATTERNS is model_cache.ALLOW_PATTERNS
    allowed = lambda name: any(fnmatch.fnmatch(name, p) for p in model_cache.ALLOW_PATTERNS)  # noqa: E731
    assert allowed("model-00001-of-00003.safetensors") and allowed("tokenizer.model") and allowed("config.json")
    assert not allowed("consolidated.safetensors") and not allowed("pytorch_model-00001-of-00003.bin")
    cfg = load_config(ROOT / "configs" / "training_config_m4.yaml")
    cfg["model"]["cache_dir"] = str(tmp_path / "hub")
    monkeypatch.setattr(mlx_backend, "MLX_MODELS", tmp_path / "models" / "mlx")
    base = "mistralai/Mistral-7B-Instruct-v0.2"
    assert mlx_backend.disk_needed_gb(cfg, base) == {"download": 14.5, "4-bit copy": 4.1}
    seed_model(tmp_path / "hub")  # downloaded already: only the 4-bit copy is left to write
    assert mlx_backend.disk_needed_gb(cfg, base) == {"4-bit copy": 4.1}
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(mlx_backend.shutil, "disk_usage", lambda path: Usage(0, 0, 3e9))
    with pytest.raises(ui.Fail, match=r"3.0 GB free, and the base needs 4.1 GB 4-bit copy = 4.1 GB"):
        mlx_backend.check_disk(cfg, base)
    monkeypatch.setattr(mlx_backend.shutil, "disk_usage", lambda path: Usage(0, 0, 100e9))
    mlx_backend.check_disk(cfg, base)
    assert "Disk: the base needs 4.1 GB 4-bit copy = 4.1 GB; 100.0 GB free" in capsys.readouterr().out


def test_a_checkpoint_follows_wall_time_as_well_as_save_steps(tmp_path):
    # save_steps 100 in an 6-step run: only the end would be saved; an interval of 0 s saves every step, and the
    # rotation keeps the newest three (the default interval is 30 minutes: mlx_backend.CHECKPOINT_EVERY_S).
    from tasks.train import mlx_backend

    assert mlx_backend.CHECKPOINT_EVERY_S == 1800
    out = tmp_path / "out"
    sets = overrides(tmp_path, out, **{**EXTRA, "training.max_steps": 6, "training.save_steps": 100,
                                       "training.save_total_limit": 3})
    r = subprocess.run(train_cmd(sets), cwd=ROOT, env={**env(), "WEATHERMAN_CHECKPOINT_EVERY_S": "1e-9"},
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("Checkpoint complete") == 6, r.stdout
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-5", "checkpoint-6"]


def test_train_m4_measures_its_first_20_steps_for_plan_and_eta(tmp_path):
    import json

    from tasks.config import load_config
    from tasks.run import eta
    from tasks.train import plan

    out, logs = tmp_path / "out", tmp_path / "logs"
    sets = overrides(tmp_path, out, **{**EXTRA, "training.max_steps": 22, "training.save_steps": 100})
    cmd = [sys.executable, "-m", "tasks.run.train_m4", "--config", str(CPU_CONFIG), "--logs-dir", str(logs)]
    for s in sets:
        cmd += ["--set", s]
    r = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    speed = json.loads((logs / "speed_m4.json").read_text())
    assert speed["steps"][0] == 0 and speed["steps"][1] >= 20, speed  # polled: the first step event at 20 or later
    step20 = next(e for e in events(out, "step") if e["step"] == speed["steps"][1])
    assert speed["tokens_per_s"] == step20["tokens_per_s"] > 0  # the run's own measure, warm-up left out
    assert "written to" in r.stdout and "speed_m4.json" in r.stdout
    cfg = load_config(CPU_CONFIG, sets)
    kw = plan.measured_m4_speed(cfg, str(logs))
    assert kw["m4_tokens_per_s"] == speed["tokens_per_s"] and "measured by make train-m4" in kw["m4_measured"]
    p = plan.plan(cfg, [200] * 6, **kw)
    assert p["m4_tokens_per_s"] == round(speed["tokens_per_s"], 1) and p["m4_throughput_source"] == kw["m4_measured"]
    other = load_config(CPU_CONFIG, sets + ["training.gradient_checkpointing=true"])
    assert plan.measured_m4_speed(other, str(logs)) == {}  # measured with another setting: not this run's speed
    assert "Measured by make train-m4" in eta.measured_speed_line(logs, "cpu")


def test_the_compiled_step_gives_the_uncompiled_losses(tmp_path):
    # mx.compile with widths bucketed to 128 (padding carries no label and sits to the right of every real token):
    # the same first loss to float precision; after updates, the same curve within rounding (fused kernels sum in
    # another order). Measured on the CPU build: equal to 1e-7 at step 1, 4e-5 relative at step 3.
    losses = {}
    for flag in ("0", "1"):
        out = tmp_path / flag
        sets = overrides(tmp_path / flag, out, **{**EXTRA, "data.max_train_examples": 4, "training.per_device_batch_size": 2,
                                                  "training.gradient_accumulation_steps": 2, "training.max_steps": 3,
                                                  "training.save_steps": 100})
        r = subprocess.run(train_cmd(sets), cwd=ROOT, env={**env(), "WEATHERMAN_MLX_COMPILE": flag}, capture_output=True,
                           text=True, timeout=240)
        assert r.returncode == 0, r.stdout + r.stderr
        assert ("Step: compiled (mx.compile)" in r.stdout) == (flag == "1")
        losses[flag] = [e["loss"] for e in events(out, "step")]
    assert len(losses["0"]) == len(losses["1"]) == 3
    assert losses["1"][0] == pytest.approx(losses["0"][0], abs=1e-5)
    assert losses["1"] == pytest.approx(losses["0"], rel=1e-3)

"""Prove the CUDA training path on any lent GPU in minutes: `make gpu-check`.

    python -m tasks.train.gpu_check [--tiny] [--log logs/gpu_check.json] [--budget 460] [--only part,...] [--peak-tflops N]
    make gpu-check

With no download: a Mistral-7B-Instruct-v0.2-shaped model built from its config with random
weights (all 32 layers when the GPU's free memory holds the largest micro-batch `make plan`
sizes, else fewer, said and scaled), the H100 profile's LoRA and batching
(configs/training_config_h100.yaml), the project's template and collator on the tracked data
(data/synthetic/final_train.jsonl). Parts, each with its own time limit, each one JSON line
appended to the log (after an `env` line; a `summary` line closes the run):

- throughput: tokens/s of the real Trainer (tasks.train.train.make_trainer) and MFU, the FLOP
  formula printed (tasks.train.plan.flops_per_token; the GPU's dense bf16 peak from PEAK_BF16);
- padding: the share of padding tokens in the batches the Trainer got, and what padded batches would spend;
- memory: peak CUDA memory of one training step on the longest micro-batch against `make plan`'s
  prediction (tasks.train.plan.memory) for the same tokens;
- attention: loss of the same packed batch with flash-attn's varlen kernel and with sdpa, against
  each conversation run alone; a packed row without position ids (conversations see each other) shows
  how large a leak would be;
- resume: the real training entry (tasks.train.train) in a subprocess, SIGTERM after a few steps,
  its checkpoint, a second start that must continue from the saved step to the end.

`--tiny` runs the same code on the CPU with the tiny shape of configs/training_config_cpu.yaml
(make check tests it). `make plan` reads the newest measured GPU MFU from the log (`measured_mfu`).
On a bare machine: docs/TRAINING_H100.md, "Checking a GPU in minutes" (`--wheels` / `--install`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tasks import ui
from tasks.config import ROOT, load_config

TAG = "GPU-CHECK"
LOG = ROOT / "logs" / "gpu_check.json"
H100_CONFIG = ROOT / "configs" / "training_config_h100.yaml"
CPU_CONFIG = ROOT / "configs" / "training_config_cpu.yaml"
FINAL_TRAIN = ROOT / "data" / "synthetic" / "final_train.jsonl"
MIN_GPU_GB = 24
PARTS = ("throughput", "padding", "memory", "attention", "resume")
# Dense bf16 tensor-core peaks (NVIDIA data sheets, without sparsity), matched in this order against
# torch.cuda.get_device_name(). H100 SXM is plan.H100_PEAK_FLOPS; the H200 has the H100's compute.
PEAK_BF16 = (("H100 PCIe", 756e12), ("H100 NVL", 835e12), ("H200 NVL", 835e12), ("H100", None), ("H200", 989e12),
             ("A100", 312e12), ("L40S", 362e12))
# What the check imports beyond torch, pinned in environment-remote.yml (`--wheels` / `--install`).
NEEDED = ("transformers", "tokenizers", "safetensors", "huggingface-hub", "hf-xet", "peft", "accelerate", "pyyaml",
          "jsonschema", "jsonschema-specifications", "referencing", "rpds-py", "attrs", "regex", "tqdm", "packaging",
          "psutil", "filelock", "fsspec", "typing-extensions", "jinja2", "markupsafe", "numpy", "einops",
          "mistral-common", "sentencepiece", "protobuf", "pydantic", "pydantic-core", "pydantic-extra-types",
          "annotated-types", "typing-inspection", "pycountry", "requests", "certifi", "charset-normalizer", "idna", "urllib3")


@dataclasses.dataclass
class Settings:
    tiny: bool
    conversations: int  # loaded for the throughput part (the first N of the tracked file)
    warmup: int  # optimizer steps left out of the timing
    steps: int  # measured optimizer steps
    accumulation: int | None  # None: the profile's
    resume_steps: int  # max_steps of the resume run
    resume_stop_at: int  # SIGTERM once this step is logged
    resume_accumulation: int
    limits: dict  # seconds per part
    max_seq_length: int | None = None  # None: the profile's
    pack_tokens: int = 4096  # the attention part's packed row


LIMITS = {"setup": 150, "throughput": 150, "padding": 10, "memory": 60, "attention": 60, "resume": 240}
GPU = Settings(False, 256, 2, 10, None, 8, 2, 2, LIMITS)
# The tiny shape's cost is its 32,000-token LM head: short sequences keep `make check` fast.
TINY = Settings(True, 32, 1, 3, 1, 5, 2, 1, LIMITS, max_seq_length=512, pack_tokens=1024)
DEFAULT_BUDGET_S = 460  # under 8 minutes with the start


class SkipPart(Exception):
    """A part that cannot run here; the message says why."""


class PartTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise PartTimeout in this process after `seconds` (SIGALRM), so no part can overrun the check."""
    def expire(signum, frame):
        raise PartTimeout

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def gpu_peak(name: str) -> tuple[float | None, str]:
    from tasks.train import plan

    for key, peak in PEAK_BF16:
        if key in name:
            peak = peak or plan.H100_PEAK_FLOPS
            return peak, f"{key} dense bf16 {peak / 1e12:g} TFLOP/s (tasks.train.gpu_check.PEAK_BF16)"
    return None, f"no dense bf16 peak known for {name!r} (pass --peak-tflops)"


# ----------------------------------------------------------------- the model


def write_model_folder(folder: Path, shape: dict, tok) -> Path:
    """config.json of a Mistral v0.2-shaped model (tiny_model.mistral_config) and the tokenizer: no weights."""
    from tasks.train import tiny_model

    folder.mkdir(parents=True, exist_ok=True)
    tiny_model.mistral_config(shape, tok).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_random_model(folder: str | Path, choice):
    """The model of `folder`'s config with random weights (seeded by the caller), built on its device in its dtype."""
    import torch
    from transformers import AutoConfig, MistralForCausalLM

    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    config = AutoConfig.from_pretrained(folder)
    with torch.device("cuda" if choice.device == "cuda" else "cpu"):
        model = MistralForCausalLM._from_config(config, dtype=dtypes[choice.dtype], attn_implementation=choice.attn_implementation)
    model.config.use_cache = False  # as train.load_model: packed sequences are read from the position ids
    model.config._name_or_path = model.name_or_path = str(folder)
    return model


def random_load_model(cfg: dict, choice, base: str):
    """train.load_model for the check: the random base of `base`'s config with the configured LoRA (train.add_lora)."""
    from tasks.train import train

    return train.add_lora(cfg, build_random_model(base, choice))


def overrides(s: Settings, model_dir: Path, out: Path, data: Path) -> list[str]:
    """The H100 profile, changed only where the check must: the random base, the tracked data's first lines, no W&B or evaluation."""
    sets = [f"model.base={model_dir}", f"output_dir={out}", f"data.train={data}", f"data.validation={data.parent / 'none.jsonl'}",
            "training.eval_steps=null", "reporting.report_to=none"]
    if s.tiny:
        sets += ["profile=cpu", "model.attn_implementation=sdpa", f"data.max_seq_length={s.max_seq_length}"]
    return sets


def head_of_data(path: Path, lines: int) -> Path:
    """The first `lines` conversations of the tracked training file (so a start validates and tokenizes no more)."""
    with open(FINAL_TRAIN, encoding="utf-8") as fh:
        path.write_text("".join(itertools.islice(fh, lines)), encoding="utf-8")
    return path


# ----------------------------------------------------------------- the parts


def flop_formula(shape, mean_len: float, ckpt: bool, attention: str, batch: int) -> tuple[float, str]:
    from tasks.train import plan

    fpt = plan.flops_per_token(shape, mean_len, ckpt, attention, batch * mean_len)
    keys = mean_len / 2 if attention == "flash_attention_2" else batch * mean_len
    text = (f"FLOPs/token = passes x (2 x params + 4 x layers x hidden x keys) = {3 if ckpt else 2} x (2 x {shape.params():,} + "
            f"4 x {shape.layers} x {shape.hidden} x {keys:,.0f}) = {fpt:.4e} (tasks.train.plan.flops_per_token, {attention})")
    return fpt, text


def part_throughput(ctx: dict, limit: float) -> dict:
    import torch
    import transformers

    from tasks.train import bench

    s, trainer, choice, cuda = ctx["settings"], ctx["trainer"], ctx["choice"], ctx["choice"].device == "cuda"
    recorder = bench.RecordingCollator(trainer.data_collator, ctx["tok"].pad_token_id)
    trainer.data_collator = ctx["recorder"] = recorder
    marks, soft_end = {}, time.monotonic() + 0.8 * limit

    class Clock(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            marks[state.global_step] = (time.perf_counter(), state.num_input_tokens_seen)
            if time.monotonic() > soft_end and state.global_step > s.warmup:
                control.should_training_stop = True  # out of time: measure the steps done
            return control

    trainer.add_callback(Clock())
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    last = max(marks)
    if last <= s.warmup:
        raise SkipPart(f"only {last} steps in {limit:.0f} s: none measured after {s.warmup} warm-up steps")
    (t0, n0), (t1, n1) = marks[s.warmup], marks[last]
    tps = (n1 - n0) / (t1 - t0)
    convs = sum(int((b["position_ids"] == 0).sum()) if "position_ids" in b else b["input_ids"].shape[0] for b in recorder.batches)
    mean_len = recorder.real / max(1, convs)
    t = ctx["cfg"]["training"]
    shape, full = ctx["shape"], ctx["full_shape"]
    fpt, formula = flop_formula(shape, mean_len, t["gradient_checkpointing"], choice.attn_implementation, t["per_device_batch_size"])
    peak, peak_source = ctx["peak"]
    mfu = tps * fpt / peak if peak else None
    row = {"status": "ok", "tokens_per_s": round(tps, 1), "measured_steps": last - s.warmup, "warmup_steps": s.warmup,
           "tokens_per_step": round((n1 - n0) / (last - s.warmup), 1), "mean_conversation_tokens": round(mean_len, 1),
           "batch": t["per_device_batch_size"], "accumulation": t["gradient_accumulation_steps"],
           "gradient_checkpointing": t["gradient_checkpointing"], "flops_per_token": fpt, "flop_formula": formula,
           "peak_flops": peak, "peak_source": peak_source, "mfu": round(mfu, 4) if mfu is not None else None,
           "mfu_formula": "MFU = tokens/s x FLOPs/token / peak FLOP/s"}
    if shape.layers != full.layers and mfu is not None:
        fpt_full, _ = flop_formula(full, mean_len, t["gradient_checkpointing"], choice.attn_implementation, t["per_device_batch_size"])
        row["tokens_per_s_full_model"] = round(mfu * peak / fpt_full, 1)
        row["scaled"] = f"measured with {shape.layers} of {full.layers} layers; full-model tokens/s = MFU x peak / its FLOPs/token"
    if cuda:
        row["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    ui.info(TAG, f"throughput: {tps:,.0f} tokens/s over {last - s.warmup} steps; {formula}")
    ui.info(TAG, "MFU: " + (f"{tps:,.0f} x {fpt:.4e} / {peak:.4g} = {100 * mfu:.1f}%" if mfu is not None else peak_source))
    return row


def part_padding(ctx: dict, limit: float) -> dict:
    rec = ctx.get("recorder")
    if rec is None or not rec.batches:
        raise SkipPart("needs the batches of the throughput part, which did not run")
    share = rec.padding / max(1, rec.real + rec.padding)
    padded = real = 0
    for b in rec.batches:  # what right-padding each micro-batch to its longest conversation would process
        if "position_ids" in b:
            pos = b["position_ids"][0].tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
            lengths = [starts[i + 1] - starts[i] for i in range(len(starts) - 1)]
        else:
            lengths = b["attention_mask"].sum(dim=1).tolist()
        padded += len(lengths) * max(lengths)
        real += sum(lengths)
    alt = 1 - real / max(1, padded)
    ok = share == 0 if ctx["choice"].padding_free else True
    ui.info(TAG, f"padding: {100 * share:.2f}% of {rec.real + rec.padding:,} processed tokens "
                 f"({'padding-free' if ctx['choice'].padding_free else 'padded'} batches); padded batches would spend {100 * alt:.1f}%")
    return {"status": "ok" if ok else "failed", "padding_share": round(share, 4), "padding_share_if_padded": round(alt, 4),
            "tokens": rec.real + rec.padding, "micro_batches": len(rec.batches), "padding_free": ctx["choice"].padding_free}


def part_memory(ctx: dict, limit: float) -> dict:
    import torch

    from tasks.train import plan

    cfg, choice, trainer = ctx["cfg"], ctx["choice"], ctx["trainer"]
    collator = getattr(trainer.data_collator, "inner", trainer.data_collator)
    longest = ctx["longest"]
    tokens = sum(len(e["input_ids"]) for e in longest)
    lora, t = cfg["lora"], cfg["training"]
    pred = plan.memory(ctx["shape"], lora["r"], list(lora["target_modules"]), tokens, t["gradient_checkpointing"], False,
                       lora["dropout"] > 0, choice.attn_implementation, choice.padding_free)
    cuda = choice.device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    trainer.model.train()
    try:
        loss = trainer.training_step(trainer.model, collator(longest))
    except torch.OutOfMemoryError:
        raise SkipPart(f"out of memory at {tokens:,} tokens; make plan predicted {pred['total'] / 1e9:.2f} GB") from None
    trainer.model.zero_grad(set_to_none=True)
    row = {"tokens": tokens, "conversations": len(longest), "predicted_gb": round(pred["total"] / 1e9, 2),
           "predicted_parts_gb": {k: round(v / 1e9, 3) for k, v in pred.items() if k != "total"},
           "optimizer_state": trainer.optimizer is not None, "loss": round(float(loss), 4), "layers": ctx["shape"].layers}
    what = f"the {len(longest)} longest of the first {ctx['longest_pool']} conversations by size, {tokens:,} tokens"
    if not cuda:
        ui.info(TAG, f"memory: make plan predicts {row['predicted_gb']} GB for {what}; not measured (no CUDA)")
        return {"status": "skipped", "reason": "no CUDA device: the allocator's peak is measured on a GPU only (the step ran)", **row}
    torch.cuda.synchronize()
    measured, reserved = torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()
    row.update({"status": "ok", "measured_gb": round(measured / 1e9, 2), "reserved_gb": round(reserved / 1e9, 2),
                "measured_over_predicted": round(measured / pred["total"], 3), "plan_holds": measured <= pred["total"] * 1.10})
    ui.info(TAG, f"memory: peak {row['measured_gb']} GB allocated ({row['reserved_gb']} reserved) for {what}; make plan "
                 f"predicted {row['predicted_gb']} GB (x{row['measured_over_predicted']})")
    return row


def _token_losses(model, ids, labels, position_ids=None):
    import torch

    with torch.no_grad():
        logits = model(input_ids=ids, position_ids=position_ids).logits[0, :-1].float()
    target = labels[0, 1:]
    keep = target != -100
    return torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="none").double().cpu()


def part_attention(ctx: dict, limit: float) -> dict:
    import torch

    from tasks.train import train

    choice, model = ctx["choice"], ctx["trainer"].model
    examples, total = [], 0
    for e in ctx["train_set"]:  # a packed row of a few conversations
        if total + len(e["input_ids"]) > ctx["settings"].pack_tokens and len(examples) >= 2:
            break
        examples.append(e)
        total += len(e["input_ids"])
    if len(examples) < 2:
        raise SkipPart("fewer than two conversations to pack")
    device = next(model.parameters()).device
    packed = train.make_collator(dataclasses.replace(choice, padding_free=True), ctx["tok"])(examples)
    ids, labels, pos = (packed[k].to(device) for k in ("input_ids", "labels", "position_ids"))
    base = model.get_base_model()
    model.eval()
    losses, skipped = {}, None
    try:
        base.set_attn_implementation("sdpa")
        sep = torch.cat([_token_losses(model, torch.tensor([e["input_ids"]], device=device),
                                       torch.tensor([[-100] + e["labels"][1:]], device=device)) for e in examples])
        losses["packed_sdpa"] = _token_losses(model, ids, labels, pos)
        losses["leak_sdpa"] = _token_losses(model, ids, labels, None)  # no position ids: one long causal row
        if choice.device != "cuda":
            skipped = "flash-attn needs a CUDA GPU"
        elif not train._flash_attn_importable():
            skipped = "flash-attn is not installed (import flash_attn failed)"
        else:
            base.set_attn_implementation("flash_attention_2")
            losses["packed_flash"] = _token_losses(model, ids, labels, pos)
    finally:
        base.set_attn_implementation(choice.attn_implementation)
        model.train()

    def mean_abs(a, b):
        return float((a - b).abs().mean())

    row = {"tokens": ids.shape[1], "conversations": len(examples), "loss_separate_sdpa": round(float(sep.mean()), 6),
           **{f"loss_{k}": round(float(v.mean()), 6) for k, v in losses.items()},
           **{f"mean_abs_token_diff_{k}": mean_abs(v, sep) for k, v in losses.items()}, "dtype": choice.dtype}
    leak = row["mean_abs_token_diff_leak_sdpa"]
    packed_keys = [k for k in losses if k.startswith("packed_")]
    agree = all(row[f"mean_abs_token_diff_{k}"] < 0.1 * leak for k in packed_keys)
    if "packed_flash" in losses:
        row["flash_vs_sdpa_loss_diff"] = abs(row["loss_packed_flash"] - row["loss_packed_sdpa"])
        row["flash_vs_sdpa_mean_abs_token_diff"] = mean_abs(losses["packed_flash"], losses["packed_sdpa"])
    else:
        row["flash_vs_sdpa_loss_diff"] = None
        row["flash_skipped"] = skipped
    row["status"] = "ok" if agree else "failed"
    row["criterion"] = "each packed kernel's mean |token loss - separate| is under a tenth of the leak's"
    ui.info(TAG, f"attention: {len(examples)} conversations packed in {ids.shape[1]:,} tokens; loss alone {row['loss_separate_sdpa']:.6f}, "
                 + ", ".join(f"{k.replace('_', ' ')} {row['loss_' + k]:.6f} (mean |token diff| {row['mean_abs_token_diff_' + k]:.2e})" for k in losses))
    if skipped:
        ui.warning(f"[{TAG}] attention: flash-attn varlen vs sdpa skipped: {skipped}")
    else:
        ui.info(TAG, f"attention: flash-attn varlen vs sdpa on the same packed batch: loss differs by {row['flash_vs_sdpa_loss_diff']:.2e}")
    return row


def _events(out: Path) -> list[dict]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _child(ctx: dict, log: Path, stop_at: int | None, deadline: float) -> tuple[int, float | None]:
    """One start of the real training entry (this module's --train-child); SIGTERM once `stop_at` is logged."""
    cmd = [sys.executable, "-m", "tasks.train.gpu_check", "--train-child", str(ctx["child_spec"])]
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1"}
    out, sent = ctx["resume_out"], None
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    raise PartTimeout
                if stop_at is not None and sent is None and any(e["event"] == "step" and e["step"] >= stop_at for e in _events(out)):
                    proc.send_signal(signal.SIGTERM)
                    sent = time.monotonic()
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return proc.returncode, (time.monotonic() - sent) if sent else None


def part_resume(ctx: dict, limit: float) -> dict:
    from tasks.train import checkpoints

    s, out, deadline = ctx["settings"], ctx["resume_out"], time.monotonic() + limit - 1
    logs = [ctx["workdir"] / "resume-1.log", ctx["workdir"] / "resume-2.log"]

    def tail(p: Path) -> str:
        return " | ".join(p.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])

    rc, latency = _child(ctx, logs[0], s.resume_stop_at, deadline)
    ends = [e for e in _events(out) if e["event"] == "end"]
    if rc != 1 or not ends or ends[-1]["status"] != "interrupted":
        return {"status": "failed", "reason": f"the first start exited {rc} without an interrupted end ({tail(logs[0])})"}
    stopped = ends[-1]["step"]
    problem = checkpoints.checkpoint_problem(out / f"checkpoint-{stopped}")
    if problem:
        return {"status": "failed", "reason": f"checkpoint-{stopped}: {problem}"}
    size = sum(f.stat().st_size for f in (out / f"checkpoint-{stopped}").rglob("*") if f.is_file())
    n_before = len(_events(out))
    rc2, _ = _child(ctx, logs[1], None, deadline)
    later = _events(out)[n_before:]
    start = next((e for e in later if e["event"] == "start"), {})
    steps = [e["step"] for e in later if e["event"] == "step"]
    row = {"stopped_at": stopped, "sigterm_to_exit_s": round(latency, 2), "checkpoint_mb": round(size / 1e6, 1),
           "resumed_from": start.get("resumed_from"), "first_step_after_resume": steps[0] if steps else None,
           "final_step": steps[-1] if steps else None, "max_steps": s.resume_steps, "exit_codes": [rc, rc2],
           "final_adapter": (out / checkpoints.FINAL).is_file(),
           "losses_after_resume": [round(e["loss"], 4) for e in later if e["event"] == "step"][:3]}
    ok = (rc2 == 0 and row["resumed_from"] == stopped and steps == list(range(stopped + 1, s.resume_steps + 1)) and row["final_adapter"])
    row["status"] = "ok" if ok else "failed"
    if not ok:
        row["reason"] = f"the resume did not continue from step {stopped} to {s.resume_steps} ({tail(logs[1])})"
    ui.info(TAG, f"resume: SIGTERM at step {stopped} -> checkpoint ({row['checkpoint_mb']} MB, exit {rc} after {latency:.1f} s) -> "
                 f"resumed from {row['resumed_from']}, steps {row['first_step_after_resume']}..{row['final_step']} of {s.resume_steps}, exit {rc2}")
    return row


# ----------------------------------------------------------------- the run


class Log:
    """One JSON object per line, appended and flushed: a run's lines share `run_id`."""

    def __init__(self, path: Path, mode: str):
        self.path, self.mode = path, mode
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"
        self.rows: dict[str, dict] = {}
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, part: str, row: dict) -> None:
        from tasks.train import checkpoints

        row = {"part": part, **row, "mode": self.mode, "run_id": self.run_id, "timestamp": checkpoints.now_iso()}
        self.rows[part] = row
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def run_part(ctx: dict, log: Log, name: str, fn, deadline: float) -> None:
    if name not in ctx["only"]:
        log.write(name, {"status": "skipped", "reason": "not in --only"})
        ui.info(TAG, f"{name}: skipped (not in --only)")
        return
    limit = min(ctx["settings"].limits[name], deadline - time.monotonic())
    if limit < 5:
        row = {"status": "skipped", "reason": f"the check's time budget is spent ({max(0, limit):.0f} s left)"}
    else:
        t0 = time.monotonic()
        try:
            with time_limit(limit):
                row = fn(ctx, limit)
        except PartTimeout:
            row = {"status": "timed_out", "reason": f"stopped at its limit of {limit:.0f} s"}
        except SkipPart as exc:
            row = {"status": "skipped", "reason": str(exc)}
        except ui.Fail:
            raise
        except Exception as exc:  # a diagnostic: one part's failure is reported, the others still run
            row = {"status": "failed", "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
        row["elapsed_s"] = round(time.monotonic() - t0, 1)
        row["limit_s"] = round(limit)
    log.write(name, row)
    if row["status"] != "ok":
        ui.warning(f"[{TAG}] {name}: {row['status']}: {row.get('reason', '')}")


def longest_examples(tok, max_len: int, batch: int, pool: int, workdir: Path) -> list[dict]:
    """The `batch` longest in tokens of the 4 x batch longest by characters among the first `pool` lines (the plan's worst micro-batch)."""
    from tasks.train import train

    with open(FINAL_TRAIN, encoding="utf-8") as fh:
        lines = [line for line in itertools.islice(fh, pool) if line.strip()]
    path = workdir / "longest.jsonl"
    path.write_text("".join(sorted(lines, key=len)[-4 * batch:]), encoding="utf-8")
    encoded, _ = train.load_examples(str(path), tok, max_len)
    return sorted(encoded, key=lambda e: len(e["input_ids"]))[-batch:]


def choose_layers(shape, cfg: dict, choice, tokens: int, free_bytes: float | None) -> tuple[int, str]:
    """All layers when the plan's memory for `tokens` fits 85% of the free GPU memory, else the most that do."""
    from tasks.train import plan

    lora, t = cfg["lora"], cfg["training"]

    def need(layers: int) -> float:
        return plan.memory(dataclasses.replace(shape, layers=layers), lora["r"], list(lora["target_modules"]), tokens,
                           t["gradient_checkpointing"], False, lora["dropout"] > 0, choice.attn_implementation,
                           choice.padding_free)["total"]

    if free_bytes is None:
        return shape.layers, f"{shape.layers} layers (the tiny CPU shape)"
    fitting = [n for n in range(1, shape.layers + 1) if need(n) <= 0.85 * free_bytes]
    if not fitting:
        raise ui.Fail(f"even one layer needs {need(1) / 1e9:.1f} GB for {tokens:,} tokens, more than 85% of the "
                      f"{free_bytes / 1e9:.1f} GB free on this GPU (free the GPU, or use one with {MIN_GPU_GB} GB or more)")
    n = fitting[-1]
    why = f"make plan needs {need(shape.layers) / 1e9:.1f} GB for all {shape.layers} layers at {tokens:,} tokens; {free_bytes / 1e9:.1f} GB free"
    return n, (f"all {n} layers ({why})" if n == shape.layers else f"{n} of {shape.layers} layers ({why}): results scaled by FLOPs")


def run(tiny: bool, log_path: Path, budget: float, only: list[str], peak_tflops: float | None) -> int:
    started = time.monotonic()
    deadline = started + budget
    s = TINY if tiny else GPU
    log = Log(log_path, "tiny" if tiny else "gpu")
    import torch

    from tasks.train import plan, template, train

    if not tiny:
        if not torch.cuda.is_available():
            raise ui.Fail("no CUDA GPU is visible to torch: make gpu-check needs one with 24 GB or more "
                          "(`nvidia-smi`; on a CPU run `python -m tasks.train.gpu_check --tiny`)")
        total = torch.cuda.get_device_properties(0).total_memory
        if total < MIN_GPU_GB * 1e9 * 0.95:
            raise ui.Fail(f"{torch.cuda.get_device_name()}: {total / 1e9:.0f} GB, the check needs {MIN_GPU_GB} GB or more")
    if not FINAL_TRAIN.is_file():
        raise ui.Fail(f"{FINAL_TRAIN.relative_to(ROOT)}: tracked data not found (git checkout data/synthetic, or make data)")
    train.quiet_libraries()
    workdir = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        with time_limit(min(s.limits["setup"], budget)):
            tok = template.load_tokenizer()
            data = head_of_data(workdir / "train.jsonl", s.conversations)
            probe = load_config(H100_CONFIG, overrides(s, workdir / "model", workdir / "throughput", data))
            choice = train.choose_device(probe)
            for w in choice.warnings:
                ui.warning(f"[{TAG}] {w}")
            batch = probe["training"]["per_device_batch_size"]
            longest = longest_examples(tok, probe["data"]["max_seq_length"], batch, 2000, workdir)
            full = plan.tiny_shape(load_config(CPU_CONFIG)["model"]["tiny"]) if tiny else plan.MISTRAL_7B
            free = torch.cuda.mem_get_info()[0] if choice.device == "cuda" else None
            layers, why = choose_layers(full, probe, choice, sum(len(e["input_ids"]) for e in longest), free)
            shape = dataclasses.replace(full, layers=layers)
            dims = {"hidden_size": shape.hidden, "intermediate_size": shape.intermediate, "num_hidden_layers": layers,
                    "num_attention_heads": shape.heads, "num_key_value_heads": shape.kv_heads}
            model_dir = write_model_folder(workdir / "model", dims, tok)
            sets = overrides(s, model_dir, workdir / "throughput", data)
            sets += [f"training.max_steps={s.warmup + s.steps}", "training.logging_steps=1000"]
            if s.accumulation:
                sets.append(f"training.gradient_accumulation_steps={s.accumulation}")
            cfg = load_config(H100_CONFIG, sets)
            train_set, _ = train.load_examples(str(data), tok, cfg["data"]["max_seq_length"])
            torch.manual_seed(cfg["training"]["seed"])
            model = random_load_model(cfg, choice, str(model_dir))
            trainer = train.make_trainer(cfg, choice, model, tok, train_set, None, workdir / "throughput", "gpu-check", save=False)
        gpu = torch.cuda.get_device_name() if choice.device == "cuda" else "cpu"
        peak = (peak_tflops * 1e12, f"--peak-tflops {peak_tflops:g}") if peak_tflops else (gpu_peak(gpu) if choice.device == "cuda" else (None, "no peak for a CPU (pass --peak-tflops)"))
        resume_data = head_of_data(workdir / "resume.jsonl", 2 * s.resume_steps * s.resume_accumulation * batch)
        resume_sets = overrides(s, model_dir, workdir / "resume", resume_data) + [
            f"training.max_steps={s.resume_steps}", f"training.gradient_accumulation_steps={s.resume_accumulation}",
            "training.logging_steps=1", "training.save_steps=1000", "training.warmup_steps=2"]
        spec = workdir / "child.json"
        spec.write_text(json.dumps({"config": str(H100_CONFIG), "overrides": resume_sets}), encoding="utf-8")
        versions = {m: getattr(sys.modules.get(m), "__version__", None) for m in ("torch", "transformers", "peft", "accelerate")}
        try:
            import flash_attn
            versions["flash_attn"] = flash_attn.__version__
        except ImportError:
            versions["flash_attn"] = None
        env_row = {"status": "ok", "device": gpu, "dtype": choice.dtype, "attention": choice.attn_implementation,
                   "padding_free": choice.padding_free, "layers": layers, "layers_full": full.layers, "layers_why": why,
                   "params": shape.params(), "trainable": model.get_nb_trainable_parameters()[0], "versions": versions,
                   "cuda": torch.version.cuda, "gpu_memory_gb": round(torch.cuda.get_device_properties(0).total_memory / 1e9, 1) if choice.device == "cuda" else None,
                   "conversations": len(train_set), "data": f"{FINAL_TRAIN.relative_to(ROOT)}, first {s.conversations} lines", "setup_s": round(time.monotonic() - started, 1)}
        log.write("env", env_row)
        ui.info(TAG, f"{gpu}: {choice.reason}; model {why}, {shape.params():,} parameters, LoRA r={cfg['lora']['r']} on "
                     f"{len(cfg['lora']['target_modules'])} projections ({env_row['trainable']:,} trainable); {len(train_set)} conversations")
        ctx = {"settings": s, "cfg": cfg, "choice": choice, "tok": tok, "trainer": trainer, "train_set": train_set, "shape": shape,
               "full_shape": full, "peak": peak, "longest": longest, "longest_pool": 2000, "workdir": workdir, "only": only,
               "child_spec": spec, "resume_out": workdir / "resume"}
        for name, fn in (("throughput", part_throughput), ("padding", part_padding), ("memory", part_memory), ("attention", part_attention)):
            run_part(ctx, log, name, fn, deadline)
        # The resume child needs the GPU memory this process holds.
        del model, trainer
        ctx.pop("trainer")
        import gc

        gc.collect()
        if choice.device == "cuda":
            torch.cuda.empty_cache()
        run_part(ctx, log, "resume", part_resume, deadline)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    statuses = {p: log.rows[p]["status"] for p in PARTS}
    not_ok = {p: f"{log.rows[p]['status']}: {log.rows[p].get('reason', '')}" for p in PARTS if statuses[p] != "ok"}
    wall = round(time.monotonic() - started, 1)
    log.write("summary", {"status": "ok" if not not_ok else "incomplete", "parts": statuses, "not_ok": not_ok, "wall_s": wall})
    for p, why in not_ok.items():
        print(f"  {p:<11} {why}")
    failed = [p for p in PARTS if statuses[p] in ("failed", "timed_out")]
    (ui.warning if not_ok else ui.success)(f"[{TAG}] {len(PARTS) - len(not_ok)} of {len(PARTS)} parts ok in {wall:.0f} s; "
                                           f"lines appended to {log_path}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def measured_mfu(path: Path = LOG) -> tuple[float, str] | None:
    """The newest MFU a GPU run of the check measured, with its source; None when there is none (stdlib only: plan calls it)."""
    if not Path(path).is_file():
        return None
    found = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("part") == "throughput" and row.get("mode") == "gpu" and row.get("status") == "ok" and row.get("mfu"):
            found = row
    if found is None:
        return None
    scaled = " with fewer layers" if found.get("scaled") else ""
    return float(found["mfu"]), (f"measured by make gpu-check{scaled}, {found.get('tokens_per_s'):,} tokens/s, "
                                 f"{Path(path).name} run {found.get('run_id')}")


def train_child(spec_path: str) -> int:
    """The real training entry with the random base in place of a download (the resume part's subprocess)."""
    from tasks.train import train

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    train.load_model = random_load_model
    return ui.main_guard(train.run, spec["config"], spec["overrides"])


def wheels(folder: str, install: bool) -> int:
    """--wheels: download the environment-remote.yml pins of NEEDED (here, with PyPI); --install: install them from the folder, offline."""
    pins = {}
    for line in (ROOT / "environment-remote.yml").read_text(encoding="utf-8").splitlines():
        item = line.strip().removeprefix("- ")
        if "==" in item:
            name, version = item.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    missing = [n for n in NEEDED if n not in pins]
    if missing:
        raise ui.Fail(f"environment-remote.yml: no pin for {', '.join(missing)} (add it, or drop it from gpu_check.NEEDED)")
    reqs = [f"{n}=={pins[n]}" for n in NEEDED]
    if install:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--find-links", folder, *reqs]
    else:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64",
               "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64", "-d", folder]
        for py in ("310", "311", "312"):
            subprocess.run(cmd + ["--python-version", py, *reqs], check=False)
        ui.success(f"[{TAG}] wheels for Python 3.10-3.12 in {folder}: carry it to the GPU machine and run --install {folder}")
        return 0
    return subprocess.run(cmd).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the same check on the CPU with the tiny shape (configs/training_config_cpu.yaml)")
    parser.add_argument("--log", default=str(LOG), help="JSON lines file the results are appended to")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds for the whole check (each part also has its own limit)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run, comma-separated ({', '.join(PARTS)})")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, for a GPU not in the table")
    parser.add_argument("--wheels", metavar="DIR", help="download the pinned wheels the check needs into DIR (needs PyPI), then stop")
    parser.add_argument("--install", metavar="DIR", help="install those wheels from DIR with no network (--no-deps; torch is left alone), then stop")
    parser.add_argument("--train-child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_child:
        return train_child(args.train_child)
    if args.wheels or args.install:
        return ui.main_guard(wheels, args.wheels or args.install, bool(args.install))
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in only if p not in PARTS]
    if unknown:
        parser.error(f"--only {','.join(unknown)}: unknown part (expected {', '.join(PARTS)})")
    return ui.main_guard(run, args.tiny, Path(args.log), args.budget, only, args.peak_tflops)


if __name__ == "__main__":
    raise SystemExit(main())

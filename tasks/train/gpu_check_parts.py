"""The parts of `make gpu-check` (tasks/train/gpu_check.py): each measures one thing and returns its JSON line.

Each takes the check's context (the config, the device choice, the random model's Trainer, the data)
and its time limit in seconds; SkipPart says why a part cannot run here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tasks import ui
from tasks.config import ROOT

TAG = "GPU-CHECK"


class SkipPart(Exception):
    """A part that cannot run here; the message says why."""


class PartTimeout(Exception):
    pass


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
        trainer.model.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        return {"status": "failed", "reason": f"out of memory at {tokens:,} tokens, where make plan predicted {pred['total'] / 1e9:.2f} GB",
                "tokens": tokens, "predicted_gb": round(pred["total"] / 1e9, 2)}
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
    for k in (k for k in losses if k.startswith("packed_")):  # how close to a leak each kernel's packed result comes
        row[f"{k}_diff_over_leak"] = row[f"mean_abs_token_diff_{k}"] / leak if leak else None
    agree = all(row[f"{k}_diff_over_leak"] is not None and row[f"{k}_diff_over_leak"] < 0.5 for k in losses if k.startswith("packed_"))
    if "packed_flash" in losses:
        row["flash_vs_sdpa_loss_diff"] = abs(row["loss_packed_flash"] - row["loss_packed_sdpa"])
        row["flash_vs_sdpa_mean_abs_token_diff"] = mean_abs(losses["packed_flash"], losses["packed_sdpa"])
    else:
        row["flash_vs_sdpa_loss_diff"] = None
        row["flash_skipped"] = skipped
    row["status"] = "ok" if agree else "failed"
    row["criterion"] = "each packed kernel's mean |token loss - separate| is under half the leak's (bf16 kernels differ a little; a leak does not)"
    if not agree:
        row["reason"] = "a packed kernel's losses are as far from the separate conversations as a leak's: conversations may see each other"
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
           "losses_after_resume": [round(e["loss"], 4) for e in later if e["event"] == "step"][:3],
           "main_process_gpu_gb": ctx.get("main_process_gpu_gb")}
    ok = (rc2 == 0 and row["resumed_from"] == stopped and steps == list(range(stopped + 1, s.resume_steps + 1)) and row["final_adapter"])
    row["status"] = "ok" if ok else "failed"
    if not ok:
        row["reason"] = f"the resume did not continue from step {stopped} to {s.resume_steps} ({tail(logs[1])})"
    ui.info(TAG, f"resume: SIGTERM at step {stopped} -> checkpoint ({row['checkpoint_mb']} MB, exit {rc} after {latency:.1f} s) -> "
                 f"resumed from {row['resumed_from']}, steps {row['first_step_after_resume']}..{row['final_step']} of {s.resume_steps}, exit {rc2}")
    return row

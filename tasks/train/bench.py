"""Measure the training loop against its ceiling: tokens/s, padding, peak memory (and MFU on CUDA).

    python -m tasks.train.bench --config configs/training_config_cpu.yaml [--steps 30] [--set key=value]
    make bench

Runs the real training Trainer (`tasks.train.train.make_trainer`) for a few steps on the
configured data, records every batch it was given, then runs a raw
forward+backward of the same LoRA model on the same batches in the same process:
the ceiling for that model on that machine. Prints a table, then one JSON object
as the last line: train_tokens_per_s, raw_tokens_per_s, ratio, padding_fraction,
peak_rss_mb (plus MFU for a 7B-shaped Mistral when a CUDA GPU is present).
Targets: ratio >= 0.7, padding under 5%. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time

from tasks import ui
from tasks.config import load_config

TAG = "BENCH"
# H100/H200 SXM dense bf16 peak, the denominator of MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def peak_rss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return rss / (1024 * 1024) if platform.system() == "Darwin" else rss / 1024


class RecordingCollator:
    """Wraps the training collator: keeps each batch (for the raw run) and counts real and padding tokens."""

    def __init__(self, inner, pad_token_id: int):
        self.inner, self.pad_token_id = inner, pad_token_id
        self.batches, self.real, self.padding = [], 0, 0

    def __call__(self, features):
        batch = self.inner(features)
        real = int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
        self.real += real
        self.padding += batch["input_ids"].numel() - real
        self.batches.append({k: v.clone() for k, v in batch.items() if hasattr(v, "clone")})
        return batch


def _batch_tokens(batch) -> int:
    return int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()


def raw_tokens_per_s(model, batches, device: str, warmup: int) -> float:
    """Forward + backward of `model` on `batches`, nothing else: the ceiling of the training loop."""
    import torch

    model.train()
    for i, batch in enumerate(batches):
        if i == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start, tokens = time.perf_counter(), 0
        batch = {k: v.to(device) for k, v in batch.items()}
        model(**batch).loss.backward()
        model.zero_grad(set_to_none=True)
        if i >= warmup:
            tokens += _batch_tokens(batch)
    if device == "cuda":
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - start)


def mfu_7b(steps: int = 5, seq: int = 4096) -> dict:
    """Tokens/s and model FLOP utilisation of a LoRA forward+backward on a randomly initialised 7B-shaped Mistral."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    from tasks.train import train

    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)
    attn = "flash_attention_2" if train._flash_attn_importable() else "sdpa"
    config = MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                           num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                           rope_theta=1e6, sliding_window=None, attn_implementation=attn, use_cache=False)
    with torch.device("cuda"):
        model = MistralForCausalLM(config).to(torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                                                  "gate_proj", "up_proj", "down_proj"]))
    ids = torch.randint(0, 32000, (1, seq), device="cuda")
    for i in range(steps + 2):
        if i == 2:
            torch.cuda.synchronize()
            start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
    torch.cuda.synchronize()
    tps = steps * seq / (time.perf_counter() - start)
    # LoRA with activation checkpointing: forward, recompute and activation backward, ~2N FLOP/token each (DESIGN.md §6).
    flops = 6 * n_params * tps
    return {"gpu": name, "attn": attn, "params": n_params, "tokens_per_s_7b": round(tps, 1),
            "mfu_7b": round(flops / peak, 4) if peak else None, "peak_gpu_mem_gb": round(torch.cuda.max_memory_allocated() / 1e9, 1)}


def run(config: str, overrides: list[str], steps: int, warmup: int) -> dict:
    import torch
    import transformers

    from tasks.train import template, train

    cfg = load_config(config, overrides)
    cfg["training"]["max_steps"] = warmup + steps
    train.quiet_libraries()
    choice = train.choose_device(cfg)
    ui.info(TAG, f"Device: {choice.reason}")
    base = train.resolve_base(cfg)
    from tasks.train import model_cache

    tok = template.load_tokenizer(None if cfg["model"]["base"] == "tiny" else model_cache.load_source(base, cfg["model"].get("cache_dir")))
    data = cfg["data"]
    train_set, _ = train.load_examples(data["train"], tok, data["max_seq_length"], data["max_train_examples"])
    torch.manual_seed(cfg["training"]["seed"])
    model = train.load_model(cfg, choice, base)

    with tempfile.TemporaryDirectory(prefix="bench-") as out:
        trainer = train.make_trainer(cfg, choice, model, tok, train_set, None, out, "bench", save=False)
        recorder = RecordingCollator(trainer.data_collator, tok.pad_token_id)
        trainer.data_collator = recorder
        marks = {}

        class Clock(transformers.TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if choice.device == "cuda":
                    torch.cuda.synchronize()
                marks[state.global_step] = (time.perf_counter(), state.num_input_tokens_seen)

        trainer.add_callback(Clock())
        trainer.train()
    (t0, n0), (t1, n1) = marks[warmup], marks[warmup + steps]
    train_tps = (n1 - n0) / (t1 - t0)
    ga = cfg["training"]["gradient_accumulation_steps"]
    raw_tps = raw_tokens_per_s(model, recorder.batches, choice.device, warmup * ga)
    result = {
        "device": choice.device, "dtype": choice.dtype, "attn": choice.attn_implementation,
        "padding_free": choice.padding_free, "steps": steps,
        "tokens_per_step": round((n1 - n0) / steps, 1),
        "train_tokens_per_s": round(train_tps, 1), "raw_tokens_per_s": round(raw_tps, 1),
        "ratio": round(train_tps / raw_tps, 3),
        "padding_fraction": round(recorder.padding / max(1, recorder.real + recorder.padding), 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if choice.device == "cuda":
        result["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
        del model, trainer
        torch.cuda.empty_cache()
        result.update(mfu_7b())
    return result


def report(result: dict) -> None:
    rows = [
        ("training loop", f"{result['train_tokens_per_s']:,.0f} tokens/s"),
        ("raw forward+backward", f"{result['raw_tokens_per_s']:,.0f} tokens/s"),
        ("ratio (target >= 0.7)", f"{result['ratio']:.3f}"),
        ("padding (target < 5%)", f"{100 * result['padding_fraction']:.2f}%"),
        ("peak RSS", f"{result['peak_rss_mb']:,.0f} MB"),
    ]
    if "mfu_7b" in result:
        rows.append(("7B-shaped LoRA step", f"{result['tokens_per_s_7b']:,.0f} tokens/s on {result['gpu']} ({result['attn']})"))
        rows.append(("MFU (7B)", "unknown peak for this GPU" if result["mfu_7b"] is None else f"{100 * result['mfu_7b']:.1f}%"))
    for name, value in rows:
        print(f"  {name:<24} {value}")
    ok = result["ratio"] >= 0.7 and result["padding_fraction"] < 0.05
    (ui.success if ok else ui.warning)(f"[{TAG}] ratio {result['ratio']:.3f}, padding {100 * result['padding_fraction']:.2f}%: "
                                       + ("within targets" if ok else "outside targets (ratio >= 0.7, padding < 5%)"))
    print(json.dumps(result), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/training_config_cpu.yaml")
    parser.add_argument("--steps", type=int, default=20, help="measured optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="steps left out of the timing")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    return ui.main_guard(lambda: report(run(args.config, args.overrides, args.steps, args.warmup)))


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure the training loop against its ceiling: tokens/s, padding, peak memory (and MFU on CUDA).

    python -m tasks.train.bench --config configs/training_config_cpu.yaml [--steps 30] [--set key=value]
    make bench [CONFIG=configs/training_config_h100.yaml]

Runs the real training Trainer (`tasks.train.train.make_trainer`) for a few steps on the
configured data, records every batch it was given, then runs a raw
forward+backward of the same LoRA model on the same batches in the same process
(under the same autocast): the ceiling for that model on that machine. Prints a table,
then one JSON object as the last line: train_tokens_per_s, raw_tokens_per_s, ratio,
padding_fraction, peak_rss_mb.

On CUDA it also gives the model FLOPs utilisation of training, with `make plan`'s FLOPs per
token and the peak of the GPU it runs on (`plan.gpu_peak`): measured on the configured model
when that is Mistral 7B, else on a randomly initialised model of Mistral 7B's shape trained
the same way (the Trainer, its bf16 autocast, the configured micro-batch, checkpointing and
LoRA, the same packed batches of the real data), after the first model is freed. Pass it on:
`make plan PLAN_MFU=<mfu>`. Targets: ratio >= 0.7, padding under 5%. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import tempfile
import time

from tasks import ui
from tasks.config import load_config

TAG = "BENCH"


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
        # flash-attn's max_length_q/k are plain ints: kept as they are
        self.batches.append({k: v.clone() if hasattr(v, "clone") else v for k, v in batch.items()})
        return batch


def _batch_tokens(batch) -> int:
    return int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()


def _autocast(choice):
    """The Trainer's mixed precision (bf16/fp16 on CUDA and MPS), so the raw run computes what training computes."""
    import contextlib

    import torch

    if choice.device == "cpu" or choice.dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(choice.device, dtype=torch.bfloat16 if choice.dtype == "bf16" else torch.float16)


def raw_tokens_per_s(model, batches, choice, warmup: int) -> float:
    """Forward + backward of `model` on `batches`, nothing else: the ceiling of the training loop."""
    import torch

    device = choice.device
    model.train()
    for i, batch in enumerate(batches):
        if i == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            start, tokens = time.perf_counter(), 0
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        with _autocast(choice):
            loss = model(**batch).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        if i >= warmup:
            tokens += _batch_tokens(batch)
    if device == "cuda":
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - start)


def timed_training(cfg: dict, choice, model, tok, train_set, warmup: int, steps: int):
    """`warmup + steps` optimizer steps of the training Trainer: (tokens/s after warm-up, tokens per step, the recorder)."""
    import torch
    import transformers

    from tasks.train import train

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
    return (n1 - n0) / (t1 - t0), (n1 - n0) / steps, recorder


def plan_shaped_model(shape, cfg: dict, choice):
    """A randomly initialised Mistral of `shape` (plan.MISTRAL_7B) with the configured LoRA, on the device, in the dtype."""
    import torch
    from peft import get_peft_model
    from transformers import MistralConfig, MistralForCausalLM

    from tasks.train import train

    config = MistralConfig(vocab_size=shape.vocab, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
                           num_hidden_layers=shape.layers, num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads,
                           max_position_embeddings=32768, rope_theta=1e6, sliding_window=None,
                           attn_implementation=choice.attn_implementation, use_cache=False)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[choice.dtype]
    with torch.device(choice.device):
        model = MistralForCausalLM._from_config(config, dtype=dtype)
    return get_peft_model(model, train.lora_config(cfg))


def utilisation(tokens_per_s: float, shape, cfg: dict, choice, mean_len: float, peak: float) -> float:
    """Model FLOPs utilisation with make plan's FLOPs per token for this setting (so PLAN_MFU= means the same there)."""
    from tasks.train import plan

    t = cfg["training"]
    fpt = plan.flops_per_token(shape, mean_len, t["gradient_checkpointing"], choice.attn_implementation,
                               t["per_device_batch_size"] * mean_len)
    return tokens_per_s * fpt / peak


def cuda_utilisation(cfg: dict, choice, tok, train_set, train_tps: float, is_7b: bool, warmup: int, steps: int) -> dict:
    """MFU on this GPU: of the configured run when it trains Mistral 7B, else of a 7B-shaped model trained the same way."""
    import torch

    from tasks.train import plan

    name = torch.cuda.get_device_name()
    peak, gpu = plan.gpu_peak(name)
    mean_len = sum(len(e["input_ids"]) for e in train_set) / len(train_set)
    if is_7b:
        source, tps = "the configured model", train_tps
    else:
        torch.cuda.reset_peak_memory_stats()
        torch.manual_seed(cfg["training"]["seed"])
        model = plan_shaped_model(plan.MISTRAL_7B, cfg, choice)
        tps, _, _ = timed_training(cfg, choice, model, tok, train_set, warmup, steps)
        del model
        source = "a randomly initialised model of Mistral 7B's shape"
    return {"gpu": gpu, "peak_tflops": peak / 1e12, "mfu_source": source, "tokens_per_s_7b": round(tps, 1),
            "mfu": round(utilisation(tps, plan.MISTRAL_7B, cfg, choice, mean_len, peak), 4),
            "peak_gpu_mem_gb_7b": round(torch.cuda.max_memory_allocated() / 1e9, 2)}


def run(config: str, overrides: list[str], steps: int, warmup: int) -> dict:
    import torch

    from tasks.train import plan, template, train

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
    trainable, total = model.get_nb_trainable_parameters()
    is_7b = total - trainable == plan.MISTRAL_7B.params()
    train_tps, tokens_per_step, recorder = timed_training(cfg, choice, model, tok, train_set, warmup, steps)
    ga = cfg["training"]["gradient_accumulation_steps"]
    raw_tps = raw_tokens_per_s(model, recorder.batches, choice, warmup * ga)
    result = {
        "device": choice.device, "dtype": choice.dtype, "attn": choice.attn_implementation,
        "padding_free": choice.padding_free, "steps": steps,
        "tokens_per_step": round(tokens_per_step, 1),
        "train_tokens_per_s": round(train_tps, 1), "raw_tokens_per_s": round(raw_tps, 1),
        "ratio": round(train_tps / raw_tps, 3),
        "padding_fraction": round(recorder.padding / max(1, recorder.real + recorder.padding), 4),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if choice.device == "cuda":
        result["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
        # The first model, its optimizer state and the recorded batches leave the GPU before a second model comes.
        del model, recorder
        gc.collect()
        torch.cuda.empty_cache()
        result.update(cuda_utilisation(cfg, choice, tok, train_set, train_tps, is_7b, warmup, steps))
    return result


def report(result: dict) -> None:
    rows = [
        ("training loop", f"{result['train_tokens_per_s']:,.0f} tokens/s"),
        ("raw forward+backward", f"{result['raw_tokens_per_s']:,.0f} tokens/s"),
        ("ratio (target >= 0.7)", f"{result['ratio']:.3f}"),
        ("padding (target < 5%)", f"{100 * result['padding_fraction']:.2f}%"),
        ("peak RSS", f"{result['peak_rss_mb']:,.0f} MB"),
    ]
    if "mfu" in result:
        rows.append(("Mistral 7B training", f"{result['tokens_per_s_7b']:,.0f} tokens/s on {result['gpu']} ({result['attn']}; "
                                            f"{result['mfu_source']})"))
        rows.append(("MFU", f"{100 * result['mfu']:.1f}% of {result['peak_tflops']:g} TFLOP/s: make plan PLAN_MFU={result['mfu']}"))
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

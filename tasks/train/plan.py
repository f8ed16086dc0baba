"""Plan a training run before renting a GPU: tokens, steps, memory, wall time and cost, with the arithmetic shown.

    python -m tasks.train.plan --config configs/training_config_h100.yaml [--data PATH] [--h100-usd-per-hour 2.69]
    make plan CONFIG=configs/training_config_h100.yaml

Reads the real training data (the config's data.train, else data/synthetic/final_train.jsonl)
and tokenizes every conversation with the real Mistral v0.2 tokenizer and the project's chat
template, exactly as training does. From that and the config it prints:

- tokens per epoch (padding-free: the sum of conversation lengths, each cut at max_seq_length),
  optimizer steps per epoch and in total;
- memory for Mistral-7B-Instruct-v0.2 (or the tiny CPU model): weights (bf16 or 4-bit NF4), LoRA
  weights + gradients + AdamW state, activations of the largest micro-batch the data can form
  (per token and layer, by part, for the attention in use: flash-attn on the H100, sdpa elsewhere
  or with --attention), with and without gradient checkpointing, and whether that fits an 80 GB
  H100 and the M4 Macs' Metal working sets (16-128 GB); for training.backend mlx the memory as
  Metal runs it (tasks/train/mlx_plan.py, with the unfused attention's L^2 term) and each real M4
  Mac's setting, speed and hours;
- for the H100 profile, every conversations-per-micro-batch / checkpointing setting with the same
  effective batch, and the choice: the fewest FLOPs per token whose memory stays under 95% of 80 GB
  less a 10% margin (configs/training_config_h100.yaml uses it; a GPU confirms it with
  `python -m tasks.train.bench --config configs/training_config_h100.yaml`);
- wall time on an H100 and an M4 from a stated throughput (a model-FLOPs-utilisation assumption,
  or a measured tokens/s from `make bench` passed with --h100-tokens-per-s / --m4-tokens-per-s),
  and the H100 cost at a stated price per hour.

Every number is an estimate from the formulas printed beside it. The last line is one JSON
object: tokens_per_epoch, total_steps, memory_gb, hours_h100, hours_m4, cost_usd_h100, ...
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from pathlib import Path

from tasks import ui
from tasks.config import ROOT, load_config, project_path
from tasks.train import mlx_plan

TAG = "PLAN"
GB = 1e9  # decimal gigabytes, as GPU and Mac memory are sold
FINAL_TRAIN = ROOT / "data" / "synthetic" / "final_train.jsonl"


@dataclasses.dataclass(frozen=True)
class Shape:
    """A Mistral-architecture model's shape: all the memory and FLOP formulas need."""

    name: str
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of the seven projections of one decoder layer."""
        h, i, kv = self.hidden, self.intermediate, self.kv_dim
        return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def linear_params(self) -> int:
        return self.layers * sum(a * b for a, b in self.linear_shapes().values())

    def other_params(self) -> int:
        """Embeddings, LM head (untied in Mistral) and RMSNorm weights: kept in 16 bits even in 4-bit loading."""
        return 2 * self.vocab * self.hidden + self.layers * 2 * self.hidden + self.hidden

    def params(self) -> int:
        return self.linear_params() + self.other_params()

    def lora_params(self, r: int, targets: list[str]) -> int:
        """r x (in + out) per targeted projection and layer: A is r x in, B is out x r."""
        shapes = self.linear_shapes()
        return self.layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


MISTRAL_7B = Shape("Mistral-7B-Instruct-v0.2", layers=32, hidden=4096, intermediate=14336, heads=32, kv_heads=8, vocab=32000)
# DESIGN.md section 4: 7,241,732,096 parameters; LoRA r=16 on all seven projections adds 41.9 M.
assert MISTRAL_7B.params() == 7_241_732_096
assert MISTRAL_7B.lora_params(16, list(MISTRAL_7B.linear_shapes())) == 41_943_040

# Throughput assumptions (overridable). Dense bf16 peak of an H100 SXM, as in DESIGN.md section 6.
H100_PEAK_FLOPS = 989e12
# Dense bf16 tensor-core peaks by GPU (NVIDIA's datasheets, without sparsity), matched against the name that
# nvidia-smi and torch.cuda.get_device_name() report ("NVIDIA H100 80GB HBM3" is the SXM part); the most
# specific name first. A PCIe H100 trains about a quarter slower than the SXM one at the same utilisation.
GPU_PEAK_FLOPS = (("H200 NVL", 835e12), ("H200", 989e12), ("H100 NVL", 835e12), ("H100 PCIe", 756e12),
                  ("H100", 989e12), ("A100", 312e12))
DEFAULT_GPU = "H100 SXM (assumed: no nvidia-smi here)"
# Fixed time per micro-batch on top of its FLOPs: the exposed launch latency of the ~7,000 kernels a LoRA
# forward and backward of 32 layers runs, the collation, and each step's share of the optimizer. An
# ASSUMPTION, not a measurement; a tokens/s measured by `make bench` already contains it.
DEFAULT_MICROBATCH_OVERHEAD_S = 0.01
# Model FLOPs utilisation a LoRA run of a 7B with the HF Trainer, bf16, flash-attn and padding-free
# batches can be expected to reach: an ASSUMPTION, not a measurement (replace it with `make bench`).
DEFAULT_MFU_H100 = 0.35
# Apple does not publish GPU FLOP/s; these are commonly quoted fp16/fp32 estimates (ASSUMPTIONS):
# M4 10-core GPU ~4.3, M4 Pro 20-core ~8.5, M4 Max 40-core ~17 TFLOP/s.
M4_PEAK_FLOPS = {"m4": 4.3e12, "m4-pro": 8.5e12, "m4-max": 17e12}
DEFAULT_M4_CHIP = "m4-max"
# PyTorch on MPS reaches a smaller share of peak than CUDA kernels do: an ASSUMPTION.
DEFAULT_MFU_M4 = 0.25
# MLX (training.backend: mlx), from a published figure rather than an MFU guess: mlx-lm's LORA.md
# ("Memory Issues") reports about 250 tokens/s for `mlx_lm.lora --model mistralai/Mistral-7B-v0.1
# --batch-size 1 --num-layers 4` on an M1 Max with 32 GB. That run puts LoRA on the last 4 of 32
# layers, so its backward pass covers 4/32 of the model: 2N + 2N x 4/32 = 2.25 N FLOP per token. The
# FLOP rate it shows is scaled by GPU peak to the M4 chips above (Apple: M1 Max 10.4 TFLOP/s) and
# divided by this run's FLOPs per token. ASSUMPTIONS: the 4-bit base runs at the 16-bit base's FLOP
# rate (training is compute-bound; MLX dequantizes in the matmul), and compute, not bandwidth, scales.
MLX_CITED = {"tokens_per_s": 250.0, "chip": "M1 Max", "peak_flops": 10.4e12, "lora_layers": 4, "layers": 32,
             "source": "mlx-lm LORA.md: ~250 tok/s, Mistral-7B, batch 1, LoRA on 4 layers, M1 Max 32 GB"}
MLX_QUANT_BITS = 4 + 2 * 16 / 64  # mlx_lm.convert -q: 4 bits + an fp16 scale and bias per group of 64, every weight
DEFAULT_H100_USD_PER_HOUR = 2.69  # an assumed on-demand H100 price; check RunPod's pricing page
H100_MEMORY_GB = 80
MAC_MEMORY_GB = (16, 24, 32, 36, 48, 64, 128)  # the unified memory sizes M4 Macs are sold with
# The share of memory a run can use: CUDA context and allocator fragmentation take about 5% of an
# H100. On a Mac, Metal's recommendedMaxWorkingSetSize: two thirds of unified memory below 36 GB,
# three quarters from 36 GB (mlx_plan.metal_budget), less mlx_plan's 10% margin.
USABLE_H100 = 0.95
# M4 GPU cores of the chips in M4_PEAK_FLOPS (the peaks are for these); tasks/train/mlx_plan.MACS has each Mac's own.
M4_GPU_CORES = {"m4": 10, "m4-pro": 20, "m4-max": 40}


def mac_fits(need: float, ram_gb: int) -> bool:
    """`need` bytes within Metal's working set of a Mac with `ram_gb` GB (sold as GB, counted in GiB), less the margin."""
    return need <= mlx_plan.usable(mlx_plan.metal_budget(ram_gb * mlx_plan.GIB)[0])
# Bytes per element for activations (bf16) and bits per parameter of NF4 with double quantisation
# (4 bits + an 8-bit scale per 64 weights + a 32-bit scale per 256 scales).
ACT_BYTES = 2
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)


def tiny_shape(tiny: dict) -> Shape:
    return Shape("tiny Mistral (CPU profile)", layers=tiny["num_hidden_layers"], hidden=tiny["hidden_size"],
                 intermediate=tiny["intermediate_size"], heads=tiny["num_attention_heads"],
                 kv_heads=tiny["num_key_value_heads"], vocab=32000)


# ----------------------------------------------------------------- tokens and steps


def conversation_lengths(path: Path, max_seq_length: int, limit: int | None = None) -> list[int]:
    """Token count of each conversation as training sees it (chat template, cut at max_seq_length)."""
    from tasks.train import template

    tok = template.load_tokenizer()
    lengths = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if limit is not None and len(lengths) >= limit:
                break
            try:
                ids = template.encode(json.loads(line), tok)["input_ids"]
            except (ValueError, KeyError, TypeError) as exc:
                raise ui.Fail(f"{path}:{n}: cannot tokenize this line ({exc}); check it with `make validate-data DATA={path}`") from exc
            lengths.append(min(len(ids), max_seq_length))
    if not lengths:
        raise ui.Fail(f"{path}: no conversations in the file (run `make data`)")
    return lengths


def steps(n_conversations: int, epochs: int, batch: int, accum: int, gpus: int, max_steps: int | None) -> dict:
    """Optimizer steps: ceil(conversations / (batch x accumulation x GPUs)) per epoch, times epochs; max_steps caps it."""
    per_step = batch * accum * gpus
    per_epoch = math.ceil(n_conversations / per_step)
    total = per_epoch * epochs
    if max_steps is not None:
        total = min(total, max_steps)
    return {"conversations_per_step": per_step, "steps_per_epoch": per_epoch, "total_steps": total}


# ----------------------------------------------------------------- memory


def activation_bytes_per_token(shape: Shape, lora_dropout: bool, attention: str = "flash_attention_2",
                               targets: list[str] | None = None, autocast: bool = False, lora_r: int = 16,
                               dropout_mask_bytes: int = 1) -> dict:
    """Bytes one token keeps alive for the backward pass in one decoder layer, by part, with the formula.

    What autograd saves in a Mistral layer under LoRA (frozen bf16 base, fp32 adapters; the frozen base
    linears keep nothing, their weights need no gradient):
    - the two RMSNorms upcast their input to fp32 and keep it: 2 x 4h (and a 4-byte rsqrt each, under autocast);
    - PEFT casts each adapter's input to the adapter's fp32. Without autocast lora_A keeps that fp32 copy:
      4 x (sum of in_features over the targeted projections) = 4 x (6h + i) for all seven. Under autocast
      (the Trainer's bf16 on CUDA and MPS) lora_A's matmul runs in bf16 and keeps autocast's bf16 copy:
      2 x (6h + i); lora_B keeps its r-wide input, 2r per adapter. With lora.dropout > 0 each adapter also
      keeps its dropout mask: 1 byte per element on CUDA (a bool mask), 4 on the CPU (an fp32 noise tensor);
    - attention keeps q, k, v after RoPE and its output in bf16: 2 x (2h + 2kv), and RoPE's bf16 cos and sin,
      2 x 2 x head_dim (one pair shared by the layers, counted per layer: under 0.3%); flash-attn and sdpa keep
      the fp32 softmax statistics per head: 4 x heads (no seq x seq matrix); eager keeps the bf16 softmax
      probabilities, 2 x heads x (row length) - not a per-token constant, added in memory();
    - the MLP keeps gate, SiLU(gate) and up in bf16: 2 x 3i (their product is down_proj's adapter input, above).
    Measured with saved-tensor hooks on one full-width layer under CPU autocast (tests/train/test_plan.py):
    217,960 B with dropout 0, exactly this sum.
    """
    h, kv, i, heads = shape.hidden, shape.kv_dim, shape.intermediate, shape.heads
    shapes = shape.linear_shapes()
    chosen = targets if targets is not None else list(shapes)
    adapter_in = sum(shapes[t][0] for t in chosen)
    mask = dropout_mask_bytes * adapter_in if lora_dropout else 0
    if autocast:
        parts = {"rmsnorm_fp32_inputs": 2 * (4 * h + 4), "adapter_bf16_inputs": 2 * adapter_in,
                 "lora_b_inputs": 2 * lora_r * len(chosen), "dropout_masks": mask,
                 "attention_qkv_out": 2 * (2 * h + 2 * kv), "rope_cos_sin": 2 * 2 * shape.head_dim,
                 "softmax_stats": 4 * heads, "mlp": 2 * 3 * i}
        formula = ("2(4h + 4) + 2 x adapter inputs + 2r x adapters" + (f" + {dropout_mask_bytes} x adapter inputs (dropout masks)" if lora_dropout else "")
                   + " + 2(2h + 2kv) + 4 x head_dim + 4 x heads + 6i (bf16 autocast)")
    else:
        parts = {"rmsnorm_fp32_inputs": 2 * 4 * h, "adapter_fp32_inputs": 4 * adapter_in,
                 "dropout_masks": mask, "attention_qkv_out": 2 * (2 * h + 2 * kv),
                 "softmax_stats": 4 * heads, "mlp": 2 * 3 * i}
        formula = ("8h + 4 x adapter inputs" + (f" + {dropout_mask_bytes} x adapter inputs (dropout masks)" if lora_dropout else "")
                   + " + 2(2h + 2kv) + 4 x heads + 6i")
    return {"parts": parts, "bytes": sum(parts.values()), "formula": formula, "attention": attention}


def memory(shape: Shape, lora_r: int, targets: list[str], tokens_in_microbatch: int, gradient_checkpointing: bool,
           load_in_4bit: bool, lora_dropout: bool, attention: str = "flash_attention_2", padding_free: bool = True,
           autocast: bool = False) -> dict:
    """Peak training memory in bytes, by part (`autocast`: the Trainer's bf16/fp16 mixed precision, see activation_bytes_per_token)."""
    weights = (shape.linear_params() * NF4_BITS / 8 + shape.other_params() * 2) if load_in_4bit else shape.params() * 2
    lora_p = shape.lora_params(lora_r, targets)
    # PEFT keeps adapter weights in fp32 over a bf16 base: weight 4 + gradient 4 + AdamW m and v 8 bytes.
    lora = lora_p * 16
    per_layer = activation_bytes_per_token(shape, lora_dropout, attention, targets, autocast, lora_r)["bytes"]
    if attention == "eager":
        per_layer += 2 * shape.heads * tokens_in_microbatch  # the softmax probabilities of a packed row
    if gradient_checkpointing:
        # Only each layer's input survives the forward pass; one layer at a time is recomputed in full.
        acts = tokens_in_microbatch * (shape.layers * shape.hidden * ACT_BYTES + per_layer)
    else:
        acts = tokens_in_microbatch * shape.layers * per_layer
    # sdpa and eager read packed conversations apart through a boolean block-diagonal mask over the whole row
    # (one byte per pair, shared by the layers); flash-attn's varlen kernel needs no mask.
    mask = tokens_in_microbatch ** 2 if (attention != "flash_attention_2" and padding_free) else 0
    # The loss upcasts logits to fp32: bf16 logits, their fp32 copy and its gradient.
    logits = tokens_in_microbatch * shape.vocab * (2 + 4 + 4)
    total = weights + lora + acts + mask + logits
    return {"weights": weights, "lora_and_optimizer": lora, "activations": acts, "mask": mask, "logits": logits, "total": total}


# ----------------------------------------------------------------- time


def flops_per_token(shape: Shape, mean_len: float, gradient_checkpointing: bool, attention: str = "flash_attention_2",
                    microbatch_tokens: float | None = None) -> float:
    """Training FLOPs per token of a LoRA run (frozen base: no weight gradients).

    Matmuls: forward 2N, backward through activations 2N, plus another forward 2N when activations
    are recomputed (DESIGN.md section 6: about 6 x N with checkpointing). Attention scores and values
    add 4 x layers x hidden x (keys each query meets) per forward: flash-attn's varlen kernel meets only
    the earlier tokens of its own conversation (mean length / 2); sdpa and eager with the packed mask
    compute the whole micro-batch row and mask it afterwards (micro-batch tokens; no block is skipped).
    LoRA's own matmuls are under 1% of N and left out.
    """
    n = shape.params()
    passes = 3 if gradient_checkpointing else 2
    keys = mean_len / 2 if attention == "flash_attention_2" or microbatch_tokens is None else microbatch_tokens
    attention_flops = 4 * shape.layers * shape.hidden * keys
    return passes * (2 * n + attention_flops)


# torchrun's default grace for its ranks after a stop signal, before SIGKILL (torch < 2.12 cannot raise it).
TORCHRUN_GRACE_S = 30
# How often the H100 profile checkpoints, in estimated training time (save_steps is rounded to tens of steps).
CHECKPOINT_EVERY_S = 15 * 60
# The H100 profile's settings are chosen by this plan: the fastest one whose estimate stays under the
# usable memory less this margin (the estimate leaves out allocator fragmentation and temporary buffers).
H100_MARGIN = 0.10


def gpu_peak(name: str | None) -> tuple[float, str]:
    """(dense bf16 FLOP/s, the GPU it is for) from a GPU name; an unknown or missing name is an H100 SXM, said so."""
    if name:
        for key, peak in GPU_PEAK_FLOPS:
            if key.casefold() in name.casefold():
                return peak, name.strip()
        return H100_PEAK_FLOPS, f"{name.strip()} (unknown peak: an H100 SXM's assumed)"
    return H100_PEAK_FLOPS, DEFAULT_GPU


def detect_gpu_name() -> str | None:
    """The first GPU's name from nvidia-smi on PATH (none on a laptop: the plan then assumes an H100 SXM)."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return lines[0].split(",")[0].strip() if out.returncode == 0 and lines else None


def trains_under_autocast(cfg: dict) -> bool:
    """The Trainer's bf16/fp16 mixed precision: on CUDA and MPS with PyTorch; the CPU profile trains in fp32, MLX has no autocast."""
    return cfg["profile"] in ("h100", "m4") and cfg["model"]["dtype"] != "fp32" and cfg["training"]["backend"] != "mlx"


def seconds_per_token(fpt: float, peak: float, mfu: float, microbatch_tokens: float, overhead_s: float) -> float:
    """The FLOPs at `mfu` of `peak`, plus the fixed cost of each micro-batch spread over its tokens."""
    return fpt / (peak * mfu) + overhead_s / microbatch_tokens


def h100_settings(shape: Shape, cfg: dict, lengths: list[int], attention: str, peak: float = H100_PEAK_FLOPS,
                  mfu: float = 0.35, overhead_s: float = DEFAULT_MICROBATCH_OVERHEAD_S) -> list[dict]:
    """Every (conversations per micro-batch, checkpointing) with the same effective batch: memory, fit, time, the choice."""
    t, lora = cfg["training"], cfg["lora"]
    effective = t["per_device_batch_size"] * t["gradient_accumulation_steps"]
    budget = H100_MEMORY_GB * GB * USABLE_H100 * (1 - H100_MARGIN)
    mean_len = sum(lengths) / len(lengths)
    ordered = sorted(lengths, reverse=True)
    rows = []
    for batch in (16, 8, 4, 2, 1):
        if effective % batch:
            continue
        worst = sum(ordered[:batch])
        for ckpt in (False, True):
            mem = memory(shape, lora["r"], list(lora["target_modules"]), worst, ckpt, cfg["model"]["load_in_4bit"], lora["dropout"] > 0,
                         attention, cfg["data"]["packing"], trains_under_autocast(cfg))
            fpt = flops_per_token(shape, mean_len, ckpt, attention, batch * mean_len)
            rows.append({"batch": batch, "accumulation": effective // batch, "gradient_checkpointing": ckpt,
                         "worst_microbatch_tokens": worst, "memory_gb": _gb(mem["total"]), "fits": mem["total"] <= budget,
                         "flops_per_token": fpt, "s_per_token": seconds_per_token(fpt, peak, mfu, batch * mean_len, overhead_s)})
    fitting = [r for r in rows if r["fits"]]
    if fitting:
        # The least time per token: no recomputation beats everything else (2 instead of 3 passes); among the
        # rest, the bigger micro-batch pays its fixed cost over more tokens; a tie goes to the bigger one.
        best = min(fitting, key=lambda r: (round(r["s_per_token"] * 1e9), -r["batch"]))
        for r in rows:
            r["chosen"] = r is best
            r["relative_time"] = round(r["s_per_token"] / best["s_per_token"], 2)
    return rows


def hours(total_tokens: int, tokens_per_s: float) -> float:
    return total_tokens / tokens_per_s / 3600


def throughput(peak: float, mfu: float, flop_per_token: float) -> float:
    return peak * mfu / flop_per_token


def mlx_flops_rate(chip: str) -> float:
    """FLOP/s that mlx-lm's cited LoRA run reached, scaled by GPU peak from the M1 Max to `chip`."""
    c, n = MLX_CITED, MISTRAL_7B.params()
    cited_flops_per_token = 2 * n * (1 + c["lora_layers"] / c["layers"])  # forward + backward through the LoRA layers
    return c["tokens_per_s"] * cited_flops_per_token * M4_PEAK_FLOPS[chip] / c["peak_flops"]


def mlx_m4(cfg: dict, fpt: float, total_tokens: int, longest: int, shape: Shape, mean_len: float) -> dict:
    """The M4 estimate for training.backend mlx: tokens/s and hours per chip, memory as Metal runs it
    (mlx_plan.peak at the longest conversation), the Macs it fits, and each real Mac's choice and hours."""
    t = cfg["training"]
    tps = {chip: mlx_flops_rate(chip) / fpt for chip in M4_PEAK_FLOPS}
    mem = mlx_plan.peak(shape, length=longest, rows=t["per_device_batch_size"], lora_r=cfg["lora"]["r"],
                        targets=list(cfg["lora"]["target_modules"]), gradient_checkpointing=t["gradient_checkpointing"],
                        load_in_4bit=cfg["model"]["load_in_4bit"])
    batch = t["per_device_batch_size"]

    def fpt_of(ckpt: bool) -> float:
        return flops_per_token(shape, mean_len, ckpt, "sdpa", batch * mean_len)

    macs = mlx_plan.mac_table(cfg, total_tokens, lambda chip, cores: mlx_flops_rate(chip) * cores / M4_GPU_CORES[chip], fpt_of)
    return {"tokens_per_s": {c: round(v, 1) for c, v in tps.items()},
            "hours": {c: round(hours(total_tokens, v), 2) for c, v in tps.items()},
            "memory": {p: _gb(v) for p, v in mem.items()},
            "fits": {f"mac_{m}gb": mac_fits(mem["total"], m) for m in MAC_MEMORY_GB},
            "macs": macs,
            "cited_flops_per_s": mlx_flops_rate("m4-max") * MLX_CITED["peak_flops"] / M4_PEAK_FLOPS["m4-max"]}


# ----------------------------------------------------------------- the report


def _gb(x: float) -> float:
    return round(x / GB, 2)


def attention_in_use(cfg: dict) -> str:
    """The attention training will use: as configured, else flash-attn on the H100 (setup installs its prebuilt wheel), else sdpa."""
    configured = cfg["model"].get("attn_implementation", "auto")
    if configured != "auto":
        return configured
    return "flash_attention_2" if cfg["profile"] == "h100" else "sdpa"


def plan(cfg: dict, lengths: list[int], *, gpus: int = 1, h100_usd_per_hour: float = DEFAULT_H100_USD_PER_HOUR,
         mfu_h100: float = DEFAULT_MFU_H100, mfu_m4: float = DEFAULT_MFU_M4, m4_chip: str = DEFAULT_M4_CHIP,
         h100_tokens_per_s: float | None = None, m4_tokens_per_s: float | None = None, attention: str | None = None,
         gpu_name: str | None = None, microbatch_overhead_s: float = DEFAULT_MICROBATCH_OVERHEAD_S,
         mfu_h100_source: str | None = None, m4_measured: str = "measured (--m4-tokens-per-s)") -> dict:
    """Everything `make plan` prints, as numbers; no output, no I/O.

    `gpu_name` (nvidia-smi's, or None for an H100 SXM) sets the peak the MFU applies to; the fixed cost of each
    micro-batch is added to the FLOP time unless a measured `h100_tokens_per_s` (which holds it) is given.
    `mfu_h100_source` says where a measured `mfu_h100` came from (gpu-check's log, --mfu-h100); `m4_measured`
    names the source of a measured `m4_tokens_per_s`."""
    t, d, lora = cfg["training"], cfg["data"], cfg["lora"]
    if d.get("max_train_examples"):
        lengths = lengths[: d["max_train_examples"]]
    shape = tiny_shape(cfg["model"]["tiny"]) if cfg["model"]["base"] == "tiny" else MISTRAL_7B
    n = len(lengths)
    tokens_per_epoch = sum(lengths)
    st = steps(n, t["epochs"], t["per_device_batch_size"], t["gradient_accumulation_steps"], gpus, t.get("max_steps"))
    # Tokens actually trained: whole epochs, or max_steps worth of conversations at the mean length.
    epochs_done = st["total_steps"] / st["steps_per_epoch"]
    total_tokens = round(tokens_per_epoch * epochs_done)
    mean_len = tokens_per_epoch / n
    # The largest micro-batch the data can form: the `batch` longest conversations together.
    worst_microbatch = sum(sorted(lengths, reverse=True)[: t["per_device_batch_size"]])
    targets = list(lora["target_modules"])
    dropout = lora["dropout"] > 0
    attention = attention or attention_in_use(cfg)
    autocast = trains_under_autocast(cfg)
    peak, gpu = gpu_peak(gpu_name)
    variants = {}
    for four_bit in (False, True):
        for ckpt in (True, False):
            key = f"{'4bit' if four_bit else 'bf16'}_{'ckpt' if ckpt else 'no_ckpt'}"
            variants[key] = memory(shape, lora["r"], targets, worst_microbatch, ckpt, four_bit, dropout, attention, d["packing"], autocast)
    configured_key = f"{'4bit' if cfg['model']['load_in_4bit'] else 'bf16'}_{'ckpt' if t['gradient_checkpointing'] else 'no_ckpt'}"
    configured = variants[configured_key]
    fits = {"h100_80gb": configured["total"] <= H100_MEMORY_GB * GB * USABLE_H100}
    for mac in MAC_MEMORY_GB:
        # No bitsandbytes on a Mac: judge the bf16 variant with the configured checkpointing.
        mac_need = variants[f"bf16_{'ckpt' if t['gradient_checkpointing'] else 'no_ckpt'}"]["total"]
        fits[f"mac_{mac}gb"] = mac_fits(mac_need, mac)
    fpt = flops_per_token(shape, mean_len, t["gradient_checkpointing"], attention, t["per_device_batch_size"] * mean_len)
    per_layer = activation_bytes_per_token(shape, dropout, attention, targets, autocast, lora["r"])
    settings = h100_settings(shape, cfg, lengths, attention, peak, mfu_h100, microbatch_overhead_s) if cfg["profile"] == "h100" else []
    # Without flash-attn the pod trains with sdpa, still padding-free: its choice, for the report.
    fallback = (h100_settings(shape, cfg, lengths, "sdpa", peak, mfu_h100, microbatch_overhead_s)
                if cfg["profile"] == "h100" and attention != "sdpa" else [])
    microbatch_tokens = t["per_device_batch_size"] * mean_len
    h100_tps = h100_tokens_per_s or 1 / seconds_per_token(fpt, peak, mfu_h100, microbatch_tokens, microbatch_overhead_s)
    if h100_tokens_per_s:
        h100_source = "measured (--h100-tokens-per-s)"
    else:
        mfu_label = f"MFU {mfu_h100:.1%} {mfu_h100_source}" if mfu_h100_source else f"assumed MFU {mfu_h100:.0%}"
        h100_source = (f"{mfu_label} of {peak / 1e12:.0f} TFLOP/s ({gpu}) + {microbatch_overhead_s * 1e3:g} ms per "
                       f"micro-batch of {microbatch_tokens:,.0f} tokens")
    # Checkpoints about every 15 minutes of estimated time: a preemption loses at most that much.
    tokens_per_step = mean_len * st["conversations_per_step"]
    save_steps_15min = max(1, round(CHECKPOINT_EVERY_S * h100_tps * gpus / tokens_per_step / 10) * 10)
    # A stop (SIGTERM) finishes the step under way, then writes a checkpoint: the adapter in fp32 and AdamW's two moments.
    step_s = tokens_per_step / (h100_tps * gpus)
    checkpoint_bytes = shape.lora_params(lora["r"], targets) * (4 + 8)
    m4_tps = m4_tokens_per_s or throughput(M4_PEAK_FLOPS[m4_chip], mfu_m4, fpt)
    m4_source = m4_measured if m4_tokens_per_s else f"assumed MFU {mfu_m4:.0%} of {M4_PEAK_FLOPS[m4_chip] / 1e12:g} TFLOP/s ({m4_chip})"
    mlx = None
    if t["backend"] == "mlx":
        mlx = mlx_m4(cfg, fpt, total_tokens, max(lengths), shape, mean_len)
        if not m4_tokens_per_s:
            m4_tps = mlx_flops_rate(m4_chip) / fpt
            m4_source = f"MLX, scaled from {MLX_CITED['source']} ({m4_chip})"
        fits.update(mlx["fits"])  # a Mac runs MLX's footprint, not the bf16 PyTorch one
    hours_h100 = hours(total_tokens, h100_tps * gpus)
    hours_m4 = hours(total_tokens, m4_tps)
    return {
        "model": shape.name, "params": shape.params(), "lora_params": shape.lora_params(lora["r"], targets),
        "conversations": n, "tokens_per_epoch": tokens_per_epoch, "mean_tokens": round(mean_len, 1),
        "max_tokens": max(lengths), "truncated": sum(1 for x in lengths if x >= d["max_seq_length"]),
        "epochs": t["epochs"], "total_tokens": total_tokens, "worst_microbatch_tokens": worst_microbatch, **st,
        "memory": {k: {p: _gb(v) for p, v in parts.items()} for k, parts in variants.items()},
        "attention": attention, "activation_bytes_per_token_layer": per_layer["bytes"], "activation_parts": per_layer["parts"],
        "activation_formula": per_layer["formula"], "layers": shape.layers, "h100_settings": settings,
        "h100_choice": next(({k: r[k] for k in ("batch", "accumulation", "gradient_checkpointing")} for r in settings if r.get("chosen")), None),
        "h100_choice_sdpa": next(({k: r[k] for k in ("batch", "accumulation", "gradient_checkpointing", "relative_time")}
                                  for r in fallback if r.get("chosen")), None),
        "memory_variant": configured_key, "memory_gb": _gb(configured["total"]), "fits": fits,
        "flops_per_token": fpt, "total_flops": fpt * total_tokens,
        "h100_tokens_per_s": round(h100_tps), "h100_throughput_source": h100_source, "gpu": gpu, "peak_flops": peak,
        "autocast": autocast, "save_steps_15min": save_steps_15min, "step_s": round(step_s, 2), "checkpoint_gb": _gb(checkpoint_bytes),
        "m4_tokens_per_s": round(m4_tps, 1), "m4_throughput_source": m4_source, "mlx": mlx,
        "gpus": gpus, "hours_h100": round(hours_h100, 3), "hours_m4": round(hours_m4, 2),
        "h100_usd_per_hour": h100_usd_per_hour, "cost_usd_h100": round(hours_h100 * gpus * h100_usd_per_hour, 2),
    }


def report(p: dict, cfg: dict, data: Path) -> None:
    t, lora = cfg["training"], cfg["lora"]
    ui.info(TAG, f"{cfg['_config_path']}: {p['model']}, LoRA r={lora['r']} on {len(lora['target_modules'])} projections, data {data}")
    print(f"  conversations        {p['conversations']:,} (mean {p['mean_tokens']} tokens, longest {p['max_tokens']}, "
          f"{p['truncated']} cut at max_seq_length {cfg['data']['max_seq_length']})")
    print(f"  tokens per epoch     {p['tokens_per_epoch']:,} = sum of conversation lengths (padding-free batches: no padding)")
    print(f"  steps per epoch      {p['steps_per_epoch']:,} = ceil({p['conversations']:,} / ({t['per_device_batch_size']} batch x "
          f"{t['gradient_accumulation_steps']} accumulation x {p['gpus']} GPU))")
    cap = f", capped by max_steps {t['max_steps']}" if t.get("max_steps") else ""
    print(f"  total steps          {p['total_steps']:,} = {p['steps_per_epoch']:,} x {p['epochs']} epochs{cap}; {p['total_tokens']:,} tokens trained")
    print(f"  parameters           {p['params']:,} base; LoRA {p['lora_params']:,} = layers x sum over targets of r x (in + out)")
    print(f"  largest micro-batch  {p['worst_microbatch_tokens']:,} tokens (the {t['per_device_batch_size']} longest conversations together)")
    per_layer, layers = p["activation_bytes_per_token_layer"], p["layers"]
    parts = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in p["activation_parts"].items() if v)
    print(f"  activations          {per_layer:,} B per token and layer with {p['attention']} = {p['activation_formula']} ({parts})")
    print(f"                       without checkpointing {per_layer * layers / 1e6:.2f} MB per token (x {layers} layers); with it "
          f"{(layers * cfg_hidden(p) * ACT_BYTES + per_layer) / 1e6:.2f} MB ({layers} layer inputs x 2 B x hidden + one layer recomputed)")
    print("  memory (GB)          weights + LoRA/grad/AdamW (16 B/param) + activations + packed mask + fp32 logits = total")
    for key, parts in p["memory"].items():
        mark = "  <- configured" if key == p["memory_variant"] else ""
        print(f"    {key:<14} {parts['weights']:>7.2f} + {parts['lora_and_optimizer']:>5.2f} + {parts['activations']:>7.2f} + "
              f"{parts['mask']:>5.2f} + {parts['logits']:>5.2f} = {parts['total']:>7.2f}{mark}")
    fit_line = ", ".join(f"{k.replace('_', ' ')} {'yes' if v else 'NO'}" for k, v in p["fits"].items())
    print(f"  fits (usable {USABLE_H100:.0%} of an H100; a Mac: Metal's working set less {mlx_plan.MARGIN:.0%}) {fit_line}")
    print(f"  FLOPs per token      {p['flops_per_token']:.3e} = {'3' if t['gradient_checkpointing'] else '2'} passes x (2 x params + attention)"
          f"; total {p['total_flops']:.3e}")
    print(f"  H100 throughput      {p['h100_tokens_per_s']:,} tokens/s per GPU ({p['h100_throughput_source']})")
    if cfg["profile"] == "h100":
        print(f"  checkpoints          every {p['save_steps_15min']:,} steps is about {CHECKPOINT_EVERY_S // 60} minutes at that rate "
              f"(the config saves every {t['save_steps']:,})")
        rate = p["checkpoint_gb"] * 1e3 / max(1e-6, TORCHRUN_GRACE_S - p["step_s"])
        print(f"  stop on SIGTERM      the step under way ({p['step_s']:.1f} s) + a {p['checkpoint_gb']:.2f} GB checkpoint: within "
              f"torchrun's {TORCHRUN_GRACE_S} s grace (several GPUs) at {rate:.0f} MB/s or more to the volume")
    print(f"  M4 throughput        {p['m4_tokens_per_s']:,} tokens/s ({p['m4_throughput_source']})")
    print(f"  H100 time, cost      {p['hours_h100']} h = {p['total_tokens']:,} tokens / ({p['h100_tokens_per_s']:,} x {p['gpus']}) / 3600; "
          f"${p['cost_usd_h100']} at ${p['h100_usd_per_hour']}/GPU-hour (assumed price)")
    print(f"  M4 time              {p['hours_m4']} h = {p['total_tokens']:,} / {p['m4_tokens_per_s']} / 3600")
    if p["h100_settings"]:
        report_h100_settings(p, t)
    if p["mlx"]:
        m, c = p["mlx"], MLX_CITED
        print(f"  MLX throughput       {c['tokens_per_s']:g} tok/s x 2.25 N ({c['lora_layers']}/{c['layers']} layers backpropagated) = "
              f"{m['cited_flops_per_s'] / 1e12:.2f} TFLOP/s on the {c['chip']} ({c['peak_flops'] / 1e12:g} peak) [{c['source']}]")
        for chip, tps in m["tokens_per_s"].items():
            print(f"    {chip:<7} x {M4_PEAK_FLOPS[chip] / 1e12:g}/{c['peak_flops'] / 1e12:g} peak / {p['flops_per_token']:.3e} FLOP per token "
                  f"= {tps} tok/s -> {m['hours'][chip]} h")
        mem = m["memory"]
        print(f"  MLX memory (GB)      {mem['weights']:.2f} weights ({'4-bit: ' + format(MLX_QUANT_BITS, 'g') + ' bits a weight, embeddings and lm_head 16' if cfg['model']['load_in_4bit'] else '16-bit'}) "
              f"+ {mem['lora_and_optimizer']:.2f} LoRA/AdamW + {mem['activations']:.2f} kept activations (of which "
              f"{mem['attention_l2']:.2f} the unfused attention's softmax and mask, (2 x heads + 1) x L^2 a layer) + "
              f"{mem['attention_grad']:.2f} attention gradient + {mem['logits']:.2f} logits = {mem['total']:.2f} at the longest "
              f"conversation ({p['max_tokens']:,} tokens; tasks/train/mlx_plan.py)")
        print("  Macs (Metal budget   two thirds of memory below 36 GB, three quarters above, less 10%; setup-m4 reads the real one)")
        for r in m["macs"]:
            how = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["overrides"].items()) or "as configured"
            print(f"    {r['mac']:<14} {r['gpu_cores']:>2} GPU cores, budget {r['budget_gb']:>5.1f} GB: "
                  + (f"{how}, {r['need_gb']} GB, {r['tokens_per_s']} tok/s -> {r['hours']} h" if r["fits"] else
                     f"does not fit ({r['need_gb']} GB at the least)"))
    for key, ok in p["fits"].items():
        if key == "h100_80gb" and not ok:
            ui.warning(f"[{TAG}] The configured run needs {p['memory_gb']} GB: more than an 80 GB H100 (turn on gradient checkpointing or lower per_device_batch_size)")
    ui.success(f"[{TAG}] Estimates, not measurements: replace the throughput assumptions with `make gpu-check` (its MFU is read "
               "from logs/gpu_check.json) or `make bench` numbers (PLAN_MFU=, or --h100-tokens-per-s / --m4-tokens-per-s) "
               "when you have them.")


def cfg_hidden(p: dict) -> int:
    return MISTRAL_7B.hidden if p["model"] == MISTRAL_7B.name else round((p["activation_parts"]["rmsnorm_fp32_inputs"]) / 8)


def report_h100_settings(p: dict, t: dict) -> None:
    """The H100 settings with the same effective batch: memory of the largest micro-batch, fit, time; the choice and why."""
    budget = H100_MEMORY_GB * USABLE_H100 * (1 - H100_MARGIN)
    print(f"  H100 settings        same effective batch; fits = at most {budget:.1f} GB ({USABLE_H100:.0%} of 80 GB less a "
          f"{H100_MARGIN:.0%} margin); time relative to the fastest that fits")
    for r in p["h100_settings"]:
        mark = "  <- chosen" if r.get("chosen") else ""
        configured = (r["batch"] == t["per_device_batch_size"] and r["gradient_checkpointing"] == t["gradient_checkpointing"])
        print(f"    batch {r['batch']:>2} x accumulation {r['accumulation']:>2}, checkpointing {'on ' if r['gradient_checkpointing'] else 'off'}: "
              f"largest micro-batch {r['worst_microbatch_tokens']:>6,} tokens, {r['memory_gb']:>7.2f} GB, "
              f"{'fits' if r['fits'] else 'too big'}, time x{r.get('relative_time', float('nan')):.2f}"
              f"{mark}{'  (configured)' if configured else ''}")
    best = next((r for r in p["h100_settings"] if r.get("chosen")), None)
    if best is None:
        ui.warning(f"[{TAG}] No setting fits an 80 GB H100: lower data.max_seq_length or use model.load_in_4bit")
        return
    why = ("no activation recomputation: 2 instead of 3 forward-equivalents per token" if not best["gradient_checkpointing"]
           else "only recomputing activations fits")
    print(f"  H100 choice          batch {best['batch']} x accumulation {best['accumulation']}, gradient checkpointing "
          f"{'on' if best['gradient_checkpointing'] else 'off'}: the least estimated time per token that fits ({why}; {p['attention']})")
    sdpa = p.get("h100_choice_sdpa")
    if sdpa:
        print(f"  without flash-attn   sdpa, still padding-free: batch {sdpa['batch']} x accumulation {sdpa['accumulation']}, "
              f"checkpointing {'on' if sdpa['gradient_checkpointing'] else 'off'} would be chosen (the packed mask makes sdpa "
              "compute the whole micro-batch row, so its attention grows with conversations per micro-batch)")
    print("  confirm on a GPU     make bench CONFIG=configs/training_config_h100.yaml (tokens/s, MFU, peak memory); then "
          "make plan PLAN_MFU=<its mfu>; the memory above is an estimate")
    if best["batch"] != t["per_device_batch_size"] or best["gradient_checkpointing"] != t["gradient_checkpointing"]:
        ui.warning(f"[{TAG}] The config uses batch {t['per_device_batch_size']} x {t['gradient_accumulation_steps']}, checkpointing "
                   f"{'on' if t['gradient_checkpointing'] else 'off'}; the plan's choice above is faster or fits better")


def data_path(cfg: dict, override: str | None) -> Path:
    if override:
        p = Path(override)
        if not p.is_file():
            raise ui.Fail(f"{p}: data file not found (pass an existing --data, or run `make data`)")
        return p
    configured = project_path(cfg["data"]["train"])
    for p in (configured, FINAL_TRAIN):
        if p.is_file():
            return p
    raise ui.Fail(f"{configured}: training data not found, nor {FINAL_TRAIN.relative_to(ROOT)} (run `make data` first)")


def measured_m4_speed(cfg: dict, logs_dir: str | None = None) -> dict:
    """plan() keywords for the tokens/s `make train-m4` measured on this Mac (logs/speed_m4.json), when it was
    measured with the same backend, checkpointing, batch and max_seq_length as this config; else {}."""
    speed = mlx_plan.read_speed(logs_dir or os.environ.get("WEATHERMAN_LOGS_DIR") or ROOT / "logs")
    t = cfg["training"]
    if not speed or speed.get("profile") != cfg["profile"] or (speed.get("backend"), speed.get("gradient_checkpointing"), speed.get("batch"),
                                               speed.get("max_seq_length")) != (t["backend"], t["gradient_checkpointing"],
                                                                                t["per_device_batch_size"], cfg["data"]["max_seq_length"]):
        return {}
    return {"m4_tokens_per_s": float(speed["tokens_per_s"]),
            "m4_measured": f"measured by make train-m4 on this Mac ({speed.get('measured_at')}, steps "
                           f"{speed['steps'][0] + 1}-{speed['steps'][1]}; {mlx_plan.SPEED_FILE} in logs/)"}


def run(config: str, data: str | None = None, limit: int | None = None, **kwargs) -> None:
    cfg = load_config(config)
    path = data_path(cfg, data)
    if kwargs.get("m4_chip", DEFAULT_M4_CHIP) not in M4_PEAK_FLOPS:
        raise ui.Fail(f"--m4-chip {kwargs['m4_chip']!r}: unknown (expected one of {', '.join(M4_PEAK_FLOPS)})")
    lengths = conversation_lengths(path, cfg["data"]["max_seq_length"], limit)
    if not kwargs.get("m4_tokens_per_s"):
        kwargs.update(measured_m4_speed(cfg))
    if kwargs.get("gpu_name") is None:
        kwargs["gpu_name"] = detect_gpu_name()
    p = plan(cfg, lengths, **kwargs)
    report(p, cfg, path)
    keys = ("tokens_per_epoch", "total_steps", "memory_gb", "hours_h100", "hours_m4", "cost_usd_h100", "conversations",
            "steps_per_epoch", "total_tokens", "h100_tokens_per_s", "m4_tokens_per_s", "fits", "memory_variant", "attention",
            "h100_choice", "h100_throughput_source", "m4_throughput_source", "mlx", "gpu", "save_steps_15min")
    print(json.dumps({k: p[k] for k in keys}), flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/training_config_h100.yaml")
    parser.add_argument("--data", default=None, help="training JSONL (default: the config's data.train, else data/synthetic/final_train.jsonl)")
    parser.add_argument("--limit", type=int, default=None, help="read only the first N conversations (a quick look)")
    parser.add_argument("--gpus", type=int, default=1, help="data-parallel GPUs (steps shrink, cost counts every GPU)")
    parser.add_argument("--h100-usd-per-hour", type=float, default=DEFAULT_H100_USD_PER_HOUR, help="price of one H100 hour (assumed default)")
    parser.add_argument("--mfu-h100", type=float, default=None,
                        help=f"model FLOPs utilisation on an H100 (default: the newest `make gpu-check` measurement in --gpu-check-log, else an assumed {DEFAULT_MFU_H100:.0%})".replace("%", "%%"))
    parser.add_argument("--gpu-check-log", default=None, help="where `make gpu-check` wrote its measurements (default logs/gpu_check.json)")
    parser.add_argument("--mfu-m4", type=float, default=DEFAULT_MFU_M4, help="assumed model FLOPs utilisation on an M4 GPU")
    parser.add_argument("--m4-chip", default=DEFAULT_M4_CHIP, help="m4, m4-pro or m4-max: which GPU peak to assume")
    parser.add_argument("--attention", choices=("flash_attention_2", "sdpa", "eager"), default=None,
                        help="attention to plan for (default: the config's, auto = flash-attn on the H100, sdpa elsewhere)")
    parser.add_argument("--h100-tokens-per-s", type=float, default=None, help="measured training tokens/s per H100 (make bench); overrides the MFU assumption")
    parser.add_argument("--gpu", dest="gpu_name", default=None,
                        help="GPU name for the peak FLOP/s, e.g. 'NVIDIA H100 PCIe' (default: nvidia-smi's, else an H100 SXM)")
    parser.add_argument("--microbatch-overhead-s", type=float, default=DEFAULT_MICROBATCH_OVERHEAD_S,
                        help="assumed fixed seconds per micro-batch on the GPU (left out with a measured --h100-tokens-per-s)")
    parser.add_argument("--m4-tokens-per-s", type=float, default=None, help="measured training tokens/s on the Mac (make bench); overrides the MFU assumption")
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error("--gpus must be at least 1")
    from tasks.train import gpu_check

    measured = None if args.mfu_h100 is not None else gpu_check.measured_mfu(Path(args.gpu_check_log) if args.gpu_check_log else gpu_check.LOG)
    mfu_h100, mfu_source = measured or (args.mfu_h100 or DEFAULT_MFU_H100, "given (--mfu-h100)" if args.mfu_h100 else None)
    return ui.main_guard(run, args.config, args.data, args.limit, gpus=args.gpus, h100_usd_per_hour=args.h100_usd_per_hour,
                         mfu_h100=mfu_h100, mfu_h100_source=mfu_source, mfu_m4=args.mfu_m4, m4_chip=args.m4_chip,
                         h100_tokens_per_s=args.h100_tokens_per_s, m4_tokens_per_s=args.m4_tokens_per_s, attention=args.attention,
                         gpu_name=args.gpu_name, microbatch_overhead_s=args.microbatch_overhead_s)


if __name__ == "__main__":
    raise SystemExit(main())

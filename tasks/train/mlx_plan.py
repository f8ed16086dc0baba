"""MLX training memory as Metal runs it, the Mac's GPU budget, and what fits which Mac: arithmetic only.

Standard library only: `make setup-m4`'s machine step runs it in the system python, before any venv.
`tasks.train.plan` (make plan) prints it; `tasks.setup.m4` (setup-m4, preflight-m4) and
`tasks.run.train_m4` use `choose()` to fit the run to this Mac.

Peak memory of one MLX LoRA step, in bytes (`peak()`), for one micro-batch of `rows` conversations
padded to `length` tokens (T = rows x length tokens), activations of `act` bytes (bf16 on Metal: 2;
the CPU build trains in fp32: 4):

- weights: the decoder's weights at 4.5 bits with mlx_lm.convert -q, the embeddings and the LM head in 16 bits
  (tasks.train.mlx_backend.quant_predicate keeps them unquantized), or `act` bytes unquantized; LoRA weights,
  gradients and AdamW's two moments in fp32: 16 B per LoRA parameter;
- kept for the backward pass, per token and layer (`per_token_layer()`): the two RMSNorm inputs
  (2 x act x h: the fused norm's gradient needs only its input); each adapter's input promoted to
  the fp32 of lora_a (4 x the sum of in_features over the targeted projections; in fp32 the
  shared inputs are one array each: 4 x (3h + i) for all seven); the scaled q, k and v attention's
  matmuls need (act x (h + 2kv)); gate, SiLU(gate) and up (3 x act x i);
- kept per layer and row, quadratic in the row: on Metal mlx runs the unfused attention when
  training (mx.fast.scaled_dot_product_attention falls back to matmul + softmax whenever a gradient
  is taken), so the backward keeps the softmax probabilities, act x heads x L^2, and the causal
  mask's boolean L^2 - (act x heads + 1) x L^2 per layer: 6.5 GB over 32 layers at 1,770 tokens;
- with gradient checkpointing (mlx-lm's grad_checkpoint) only each layer's input is kept
  (act x h per token and layer) and one layer at a time is recomputed in full (its per-token parts
  counted 1.5 times: measured, see peak());
- transient at the backward's peak: the attention gradient of the layer being differentiated
  (2 x act x heads x L^2: the gradients of the probabilities and of the scores) and the loss's
  logits (act + 4 + 4 bytes x vocab per token: the logits, their fp32 copy and its gradient).

The CPU build also runs RMSNorm and RoPE unfused (their fast kernels are Metal's): `device="cpu"`
adds what those fallbacks keep (2 norms x 2 fp32 copies x h, and q and k before RoPE with their
rotated halves, 2 x act x (h + kv)), so the formula can be checked against `mx.get_peak_memory()`
on the CPU build (tests/train/test_mlx_memory.py: a small Mistral-shaped model at 512-2,048 tokens,
within 4% from 1,024 tokens and 8% at 512, with checkpointing within 5%; the L^2 coefficient
measured 3-5% above the formula's; the compiled step measured the same within 2%). The Metal-only difference is exactly that term.

The budget (`metal_budget()`): Metal's recommendedMaxWorkingSetSize, which macOS sets to about two
thirds of unified memory below 36 GB and three quarters from 36 GB (a 32 GB Mac: 21.3 GiB), or the
`iogpu.wired_limit_mb` sysctl when someone has raised it. A run fits when its peak stays under the
budget less a 10% margin (fragmentation, the step's smaller temporaries, the desktop's own GPU use).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

GB = 1e9
GIB = 2**30
MARGIN = 0.10
# mlx_lm.convert -q: 4 bits + an fp16 scale and an fp16 bias per group of 64 weights.
QUANT_BITS = 4 + 2 * 16 / 64
# Gradient checkpointing recomputes each layer's forward: 3 passes instead of 2 (DESIGN.md section 6).
CKPT_SLOWDOWN = 1.5
SEQ_STEP = 128  # a shortened data.max_seq_length is a multiple of this


@dataclasses.dataclass(frozen=True)
class Dims:
    """The shape numbers the memory formula needs (tasks.train.plan.Shape has the same fields)."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * (self.hidden // self.heads)

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        h, i, kv = self.hidden, self.intermediate, self.kv_dim
        return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    def params(self) -> int:
        return (self.layers * (sum(a * b for a, b in self.linear_shapes().values()) + 2 * self.hidden)
                + 2 * self.vocab * self.hidden + self.hidden)

    def lora_params(self, r: int, targets: list[str]) -> int:
        shapes = self.linear_shapes()
        return self.layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


MISTRAL_7B = Dims(layers=32, hidden=4096, intermediate=14336, heads=32, kv_heads=8, vocab=32000)


def dims_of(cfg: dict) -> Dims:
    """The model of a config: the tiny CPU model's shape, else Mistral-7B."""
    if cfg["model"]["base"] == "tiny":
        t = cfg["model"]["tiny"]
        return Dims(t["num_hidden_layers"], t["hidden_size"], t["intermediate_size"], t["num_attention_heads"],
                    t["num_key_value_heads"], 32000)
    return MISTRAL_7B


def per_token_layer(d: Dims, targets: list[str], act: int, device: str = "metal") -> dict:
    """Bytes one token keeps for the backward pass in one decoder layer, by part (module docstring)."""
    h, i, kv = d.hidden, d.intermediate, d.kv_dim
    shapes = d.linear_shapes()
    if act == 4:  # fp32 activations: no promotion copies; q/k/v share one input, gate/up another
        groups = [("q_proj", "k_proj", "v_proj"), ("o_proj",), ("gate_proj", "up_proj"), ("down_proj",)]
        adapter_in = sum(shapes[g[0]][0] for g in groups if any(t in targets for t in g))
    else:
        adapter_in = sum(shapes[t][0] for t in targets)
    parts = {"norm_inputs": 2 * act * h, "adapter_fp32_inputs": 4 * adapter_in, "attention_qkv": act * (h + 2 * kv),
             "mlp": 3 * act * i}
    if device == "cpu":
        parts["cpu_fallbacks"] = 2 * 2 * 4 * h + 2 * act * (h + kv)
    return parts


def pairs_per_layer_bytes(d: Dims, act: int) -> int:
    """Bytes per (query, key) pair and layer the unfused attention keeps: probabilities and the causal mask."""
    return act * d.heads + 1


def peak(d: Dims, *, length: int, rows: int = 1, lora_r: int = 16, targets: list[str] | None = None,
         gradient_checkpointing: bool = False, load_in_4bit: bool = True, act: int = 2, device: str = "metal") -> dict:
    """Peak bytes of one MLX training step, by part (module docstring); 'total' is their sum."""
    targets = list(d.linear_shapes()) if targets is None else targets
    tokens, pairs = rows * length, rows * length * length
    outer = 2 * d.vocab * d.hidden  # embeddings and LM head: 16 bits in the 4-bit copy
    weights = (d.params() - outer) * QUANT_BITS / 8 + outer * 2 if load_in_4bit else d.params() * act
    lora = d.lora_params(lora_r, targets) * 16
    layer_tok = sum(per_token_layer(d, targets, act, device).values())
    layer_sq = pairs_per_layer_bytes(d, act) * pairs
    if gradient_checkpointing:
        # The recomputed layer's kept parts, and about half a layer more of them alive beside the gradient flowing
        # between layers (measured on the CPU build: 1.5 x one layer's per-token parts matches it within 5%).
        kept = d.layers * tokens * act * d.hidden + 1.5 * tokens * layer_tok + layer_sq
    else:
        kept = d.layers * (tokens * layer_tok + layer_sq)
    attention_grad = 2 * act * d.heads * pairs
    logits = tokens * d.vocab * (act + 4 + 4)
    parts = {"weights": weights, "lora_and_optimizer": lora, "activations": kept,
             "attention_l2": d.layers * layer_sq if not gradient_checkpointing else layer_sq,
             "attention_grad": attention_grad, "logits": logits}
    parts["total"] = weights + lora + kept + attention_grad + logits
    return parts


def cfg_peak(cfg: dict, length: int | None = None, gradient_checkpointing: bool | None = None) -> dict:
    """peak() for a config's micro-batch at `length` tokens (default: data.max_seq_length, the worst case)."""
    t, lora = cfg["training"], cfg["lora"]
    return peak(dims_of(cfg), length=length or cfg["data"]["max_seq_length"], rows=t["per_device_batch_size"],
                lora_r=lora["r"], targets=list(lora["target_modules"]),
                gradient_checkpointing=t["gradient_checkpointing"] if gradient_checkpointing is None else gradient_checkpointing,
                load_in_4bit=cfg["model"]["load_in_4bit"])


# ----------------------------------------------------------------- the Mac's budget


def metal_budget(memsize: int, wired_limit_mb: int | None = None) -> tuple[int, str]:
    """(bytes Metal lets one process use, how that was found) for `memsize` bytes of unified memory."""
    if wired_limit_mb:
        return wired_limit_mb * 2**20, f"iogpu.wired_limit_mb = {wired_limit_mb}"
    gib = memsize / GIB
    share, rule = ((2 / 3, "two thirds") if gib < 36 else (3 / 4, "three quarters"))
    return int(memsize * share), f"Metal's working set, {rule} of {gib:.0f} GB"


def usable(budget: int) -> float:
    return budget * (1 - MARGIN)


# Macs with an M4 that exist (Apple's configurations): chip, unified memory in GB, GPU cores of that
# configuration (the base M4 Pro has 16, the 24 GB M4 Pro ships with 16; the 36 GB M4 Max has 32, 48 GB+ 40).
MACS = [("m4", 16, 10), ("m4", 24, 10), ("m4", 32, 10), ("m4-pro", 24, 16), ("m4-pro", 48, 20), ("m4-pro", 64, 20),
        ("m4-max", 36, 32), ("m4-max", 48, 40), ("m4-max", 64, 40), ("m4-max", 128, 40)]
CHIP_NAMES = {"m4": "M4", "m4-pro": "M4 Pro", "m4-max": "M4 Max"}


def choose(cfg: dict, budget: int) -> dict:
    """What this config needs to fit `budget` bytes with the margin, trying in order: as configured; gradient
    checkpointing on (all of every conversation kept, 1.5x the time); checkpointing on and data.max_seq_length
    cut to the longest multiple of 128 that fits. Returns {fits, overrides, need, why}; fits False when
    nothing does (need is then the smallest need found)."""
    limit = usable(budget)
    seq = cfg["data"]["max_seq_length"]
    as_is = cfg_peak(cfg)["total"]
    if as_is <= limit:
        return {"fits": True, "overrides": {}, "need": as_is, "configured_need": as_is, "why": "fits as configured"}
    if not cfg["training"]["gradient_checkpointing"]:
        ckpt = cfg_peak(cfg, gradient_checkpointing=True)["total"]
        if ckpt <= limit:
            return {"fits": True, "overrides": {"training.gradient_checkpointing": True}, "need": ckpt, "configured_need": as_is,
                    "why": f"gradient checkpointing on: {ckpt / GB:.1f} GB instead of {as_is / GB:.1f}, about "
                           f"{CKPT_SLOWDOWN:g}x the time"}
    for length in range((seq - 1) // SEQ_STEP * SEQ_STEP, SEQ_STEP - 1, -SEQ_STEP):
        need = cfg_peak(cfg, length=length, gradient_checkpointing=True)["total"]
        if need <= limit:
            return {"fits": True, "overrides": {"training.gradient_checkpointing": True, "data.max_seq_length": length},
                    "need": need, "configured_need": as_is,
                    "why": f"gradient checkpointing on and conversations cut at {length} tokens instead of {seq}: "
                           f"{need / GB:.1f} GB"}
    smallest = cfg_peak(cfg, length=SEQ_STEP, gradient_checkpointing=True)["total"]
    return {"fits": False, "overrides": {}, "need": smallest, "configured_need": as_is,
            "why": f"even checkpointing at {SEQ_STEP} tokens needs {smallest / GB:.1f} GB"}


def mac_table(cfg: dict, tokens: int, flop_rate, flops_per_token) -> list[dict]:
    """For each Mac in MACS: budget, the choice that fits, tokens/s and hours (`flop_rate(chip, gpu_cores)` FLOP/s,
    `flops_per_token(checkpointing)`)."""
    rows = []
    for chip, ram, cores in MACS:
        budget, _ = metal_budget(ram * GIB)
        c = choose(cfg, budget)
        ckpt = cfg["training"]["gradient_checkpointing"] or c["overrides"].get("training.gradient_checkpointing", False)
        tps = flop_rate(chip, cores) / flops_per_token(ckpt)
        rows.append({"mac": f"{CHIP_NAMES[chip]} {ram} GB", "chip": chip, "ram_gb": ram, "gpu_cores": cores,
                     "budget_gb": round(budget / GB, 1), "fits": c["fits"], "overrides": c["overrides"],
                     "need_gb": round(c["need"] / GB, 1), "tokens_per_s": round(tps, 1),
                     "hours": round(tokens / tps / 3600, 1) if c["fits"] else None})
    return rows


# ----------------------------------------------------------------- the measured speed

SPEED_FILE = "speed_m4.json"  # in logs/: written by `make train-m4` after its first 20 steps, read by `make plan` and `make eta`
SPEED_STEPS = 20


def speed_path(logs_dir) -> Path:
    return Path(logs_dir) / SPEED_FILE


def read_speed(logs_dir) -> dict | None:
    """The tokens/s `make train-m4` measured on this Mac ({tokens_per_s, gradient_checkpointing, ...}), or None."""
    try:
        speed = json.loads(speed_path(logs_dir).read_text(encoding="utf-8"))
        return speed if float(speed["tokens_per_s"]) > 0 else None
    except (OSError, ValueError, KeyError, TypeError):
        return None

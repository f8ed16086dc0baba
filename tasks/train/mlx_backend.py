"""Train the LoRA adapter with Apple's MLX: the fast path of `make train-m4` on Apple Silicon.

    make train-m4                                       # configs/training_config_m4.yaml has training.backend: mlx
    python -m tasks.train.train --config configs/training_config_cpu.yaml --set training.backend=mlx   # Linux: mlx[cpu]
    python -m tasks.train.mlx_backend --config configs/training_config_m4.yaml   # only fetch and quantize the base

Not a second training entry: `tasks.train.train` does the run-folder bookkeeping for
both backends (FINAL check, data pre-flight, run lock, crash-loop rule, resume
metadata, the metrics writer, SIGTERM) and calls `train()` here when
`training.backend` is `mlx`. What is the same as the PyTorch path, by calling the
same code: the data (`train.load_examples`, i.e. `template.encode` with its
assistant-only labels), the base (`train.resolve_base`), the metrics events and
their fields, `checkpoint-<step>/` with `COMPLETE` (`checkpoints.mark_complete`,
rotation), W&B (`train.setup_wandb`), and the final folder (`train.write_final_files`).
What MLX does its own way:

- batches are right-padded to the longest conversation of the micro-batch, rounded up to
  a multiple of 128 tokens for the compiled step (a causal model never attends to padding
  on the right, and padding carries no loss); each micro-batch's forward and backward is
  one `mx.compile`d graph (WEATHERMAN_MLX_COMPILE=0: not compiled, no rounding);
- a checkpoint every training.save_steps and every 30 minutes of wall time;
- the base is fetched with model_cache.ALLOW_PATTERNS (the files the loaders read), after
  saying the disk it needs;
- the loss is the token-weighted mean over the whole accumulation window (the sum of
  the masked cross-entropy divided by the window's trained tokens), as the Trainer does;
- LoRA layers come from mlx-lm's tuner (`linear_to_lora_layers`), scale alpha / r,
  the same r, dropout and target modules; A starts uniform in +-1/sqrt(in), B at 0;
- the adapter on disk is always PEFT's layout (`adapter_model.safetensors` with
  `base_model.model.<module>.lora_A/B.weight`, A as r x in, B as out x r, and
  `adapter_config.json`), in checkpoints and in the final folder, so evaluation,
  export and chat read it unchanged; `trainer_state.json` says `"backend": "mlx"`;
- the data order and the LoRA dropout are functions of (seed, step), so a resumed run
  sees the batches and the dropout masks an uninterrupted one would have seen;
- `model.load_in_4bit: true` quantizes the base with `mlx_lm.convert` (4 bits,
  groups of 64; the embeddings and lm_head kept in 16 bits) once, into models/mlx/<name>-4bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from tasks import ui
from tasks.config import ROOT, load_config
from tasks.train import checkpoints, mlx_plan, model_cache

MLX_MODELS = ROOT / "models" / "mlx"
QUANT_BITS, QUANT_GROUP = 4, 64  # mlx_lm.convert -q defaults: 4.5 bits per weight with the scales and biases
ADAPTER_FILE = "adapter_model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"
SOURCE_STAMP = "source_config.sha256"  # in a 4-bit copy: the config.json it was converted from, and the recipe
# How the 4-bit copy is made: every decoder projection at 4 bits, the token embeddings and the output layer (lm_head)
# kept in the base's 16 bits (mlx_lm.convert's quant_predicate): 0.37 GB more than quantizing them too, and the two
# layers that map tokens in and out keep their precision, as bitsandbytes' NF4 path leaves them on the H100. A copy made
# by another recipe is made again.
QUANT_RECIPE = "q4-g64-embed-head-16bit"
UNQUANTIZED = ("embed_tokens", "lm_head")


def quant_predicate(path: str, module, config=None) -> bool:
    """mlx_lm.convert's per-layer choice: quantize everything that can be, except the embeddings and the LM head."""
    return hasattr(module, "to_quantized") and path.rpartition(".")[2] not in UNQUANTIZED
PEFT_PREFIX = "base_model.model."
# The seven projections and where they sit in a Mistral decoder layer (mlx-lm's key names).
MODULE_KEYS = {"q_proj": "self_attn.q_proj", "k_proj": "self_attn.k_proj", "v_proj": "self_attn.v_proj",
               "o_proj": "self_attn.o_proj", "gate_proj": "mlp.gate_proj", "up_proj": "mlp.up_proj",
               "down_proj": "mlp.down_proj"}
# Besides every training.save_steps, a checkpoint once this much wall time has passed since the last one (or the
# start): an abort on a Mac then loses at most about 30 minutes, whatever the chip's speed (WEATHERMAN_CHECKPOINT_EVERY_S
# sets another interval).
CHECKPOINT_EVERY_S = 1800.0
BUCKET = 128  # the compiled step's widths: multiples of this (WEATHERMAN_MLX_COMPILE=0 turns compilation off)
_PEFT_KEY = re.compile(r"^base_model\.model\.(.+)\.lora_([AB])\.weight$")


# ----------------------------------------------------------------- platform and device


def require_mlx() -> None:
    """MLX runs on Apple Silicon (Metal) and on Linux with the `mlx[cpu]` build; say how to get it."""
    if platform.system() == "Darwin" and platform.machine() != "arm64":
        raise ui.Fail("training.backend mlx: needs Apple Silicon and an arm64 Python (this is "
                      f"{platform.machine()}); set training.backend: torch, or use an arm64 Python")
    try:
        import mlx.core  # noqa: F401
        import mlx_lm  # noqa: F401
    except ImportError as exc:
        hint = "pip install -r requirements-local.txt (make setup-m4)" if platform.system() == "Darwin" else \
               'pip install "mlx[cpu]" mlx-lm (pins in requirements-ci.txt)'
        raise ui.Fail(f"training.backend mlx: {exc.name or 'mlx'} is not installed ({hint}); "
                      f"or set training.backend: torch") from exc


def choose_device(cfg: dict) -> tuple[str, str, str]:
    """(device, dtype, reason): Metal GPU with bf16 on a Mac, the CPU with fp32 elsewhere."""
    import mlx.core as mx

    gpu = mx.default_device() == mx.gpu
    device = "mlx-gpu" if gpu else "mlx-cpu"
    wanted = cfg["model"]["dtype"]
    if wanted == "auto":
        dtype = "bf16" if gpu else "fp32"
        why = ("bf16 on the Metal GPU: the Hub weights' own type, half the memory of fp32" if gpu
               else "fp32 on the CPU: bf16 matmuls are slow on most CPUs")
    else:
        dtype, why = wanted, f"{wanted} as configured"
    if cfg["model"]["load_in_4bit"]:
        why += f"; the base quantized to {QUANT_BITS} bits (groups of {QUANT_GROUP}), LoRA in fp32 over it"
    return device, dtype, f"{device}/{dtype}: {why}; MLX {mx.__version__}, right-padded batches"


def require_backend(resume_path: str | None, backend: str) -> None:
    """Refuse to resume a checkpoint that the other backend wrote (their optimizer states differ)."""
    if not resume_path:
        return
    state = Path(resume_path) / STATE_FILE
    try:
        written = json.loads(state.read_text(encoding="utf-8")).get("backend", "torch")
    except (OSError, ValueError):
        return  # checkpoints.checkpoint_problem has judged the folder already
    if written != backend:
        raise ui.Fail(f"{resume_path}: this checkpoint was written by the {written} backend, and this run uses "
                      f"training.backend {backend}; set training.backend: {written} to continue it, or pass a new "
                      f"output_dir (--set output_dir=adapters/<new-run>)")


# ----------------------------------------------------------------- the base model


def disk_needed_gb(cfg: dict, base: str) -> dict:
    """GB the base still needs on disk, asked before fetching or converting it: the download
    (model_cache.ALLOW_PATTERNS: the three model-*.safetensors shards, config and tokenizer; not
    consolidated.safetensors or the .bin copies) unless the Hub cache has it, and the 4-bit copy unless it is cached."""
    need = {}
    if not Path(base).is_dir() and not _downloaded(base, cfg["model"].get("cache_dir")):
        need["download"] = model_cache.MODEL_GB
    if cfg["model"]["load_in_4bit"] and not (quantized_path(base) / SOURCE_STAMP).is_file():
        need["4-bit copy"] = round(mlx_plan.MISTRAL_7B.params() * mlx_plan.QUANT_BITS / 8 / 1e9, 1)
    return need


def _downloaded(base: str, cache_dir: str | None) -> bool:
    """Every allowed file of `base` already in the Hub cache (no request)."""
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(base, cache_dir=cache_dir, allow_patterns=model_cache.ALLOW_PATTERNS, local_files_only=True)
        return True
    except Exception:  # not cached (LocalEntryNotFoundError and relatives)
        return False


def check_disk(cfg: dict, base: str, say=print) -> None:
    """Say the disk the base needs before fetching it; refuse, with the numbers, when it is not free."""
    need = disk_needed_gb(cfg, base)
    if not need:
        return
    where = Path(cfg["model"].get("cache_dir") or MLX_MODELS.parent)
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free / 1e9
    total = sum(need.values())
    parts = " + ".join(f"{v:g} GB {k}" for k, v in need.items())
    if free < total + 1:
        raise ui.Fail(f"{where}: {free:.1f} GB free, and the base needs {parts} = {total:.1f} GB (plus 1 GB of room); "
                      f"free some disk, or point model.cache_dir at a disk with room")
    say(f"Disk: the base needs {parts} = {total:.1f} GB; {free:.1f} GB free at {where}")


def _hub_folder(base: str, cache_dir: str | None) -> Path:
    """A local folder with config.json and the safetensors of `base` (a folder, or a Hub id downloaded once)."""
    if Path(base).is_dir():
        return Path(base)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(base, cache_dir=cache_dir, allow_patterns=model_cache.ALLOW_PATTERNS))
    except Exception as exc:  # the hub raises many types; each means "cannot get the weights"
        raise ui.Fail(f"model.base {base!r}: cannot download it ({str(exc).splitlines()[0]}); accept the licence on the "
                      f"model's Hub page and log in (`hf auth login` or HF_TOKEN), or point model.base at a folder") from exc


def quantized_path(base: str) -> Path:
    """Where the 4-bit MLX copy of `base` is cached: models/mlx/<Hub id or project-relative folder>-4bit."""
    name = base
    if Path(base).is_absolute() and Path(base).resolve().is_relative_to(ROOT):
        name = str(Path(base).resolve().relative_to(ROOT))
    return MLX_MODELS / f"{re.sub(r'[^A-Za-z0-9._-]+', '--', name.strip('/'))}-{QUANT_BITS}bit"


def _source_stamp(folder: Path) -> str:
    return hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()


def prepare_base(cfg: dict, base: str, say=print) -> Path:
    """The folder MLX loads: the base itself, or its 4-bit copy (made once with mlx_lm.convert, then reused).

    A Hub base's copy is reused by name (its 14.5 GB download may be deleted once converted); a local
    folder's copy only while the folder's config.json is the one it was made from.
    """
    if not cfg["model"]["load_in_4bit"]:
        check_disk(cfg, base, say)
        return _hub_folder(base, cfg["model"].get("cache_dir"))
    target = quantized_path(base)
    stamp = target / SOURCE_STAMP
    if (target / "config.json").is_file() and stamp.is_file():
        sha, _, recipe = stamp.read_text(encoding="utf-8").strip().partition(" ")
        if recipe == QUANT_RECIPE and (not Path(base).is_dir() or sha == _source_stamp(Path(base))):
            say(f"4-bit base: {target} (cached)")
            return target
    from mlx_lm import convert

    check_disk(cfg, base, say)
    source = _hub_folder(base, cfg["model"].get("cache_dir"))
    say(f"4-bit base: quantizing {base} with mlx_lm.convert (q_bits {QUANT_BITS}, group {QUANT_GROUP}; embeddings and "
        f"lm_head kept in 16 bits) into {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        # convert() refuses an existing folder: give it a fresh one inside the staging folder, then rename.
        convert(str(source), mlx_path=str(staging / "model"), quantize=True, q_bits=QUANT_BITS, q_group_size=QUANT_GROUP,
                quant_predicate=quant_predicate)
        (staging / "model" / SOURCE_STAMP).write_text(f"{_source_stamp(source)} {QUANT_RECIPE}\n", encoding="utf-8")
        if target.exists():  # a copy of another version of the base: moved aside, then dropped
            os.replace(target, staging / "old")
        os.replace(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _rope_config(folder: Path) -> dict:
    """RoPE settings mlx-lm would miss: transformers 5 writes `rope_parameters`, mlx-lm 0.32's llama reads only
    `rope_theta` and would fall back to 10,000 (the tiny model and any re-saved base use 1e6, as v0.2 does)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    rope = config.get("rope_parameters") or {}
    if "rope_theta" in config or "rope_theta" not in rope:
        return {}
    if rope.get("rope_type", "default") != "default":
        raise ui.Fail(f"{folder}/config.json: rope_type {rope['rope_type']!r} is not supported by the MLX backend "
                      f"(expected 'default', as Mistral-7B-Instruct-v0.2 has); use training.backend: torch")
    return {"rope_theta": rope["rope_theta"]}


def load_model(cfg: dict, folder: Path, dtype: str):
    """The MLX model from `folder`, frozen, in `dtype`, with LoRA (fp32) on the configured projections."""
    import mlx.core as mx
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm.utils import load_model as mlx_load_model

    try:
        model, _ = mlx_load_model(folder, model_config=_rope_config(folder))
    except (FileNotFoundError, ValueError) as exc:
        raise ui.Fail(f"{folder}: MLX cannot load this model ({exc}); model.base must be a Mistral/Llama "
                      f"safetensors folder or Hub id") from exc
    if not cfg["model"]["load_in_4bit"]:
        model.set_dtype({"bf16": mx.bfloat16, "fp16": mx.float16, "fp32": mx.float32}[dtype])
    model.freeze()
    lora = cfg["lora"]
    keys = [MODULE_KEYS[t] for t in lora["target_modules"]]
    linear_to_lora_layers(model, len(model.layers), {"rank": lora["r"], "scale": lora["alpha"] / lora["r"],
                                                     "dropout": lora["dropout"], "keys": keys})
    return model


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameters; a 4-bit weight counts as the parameters it stands for."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import get_total_parameters

    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    return trainable, get_total_parameters(model)


# ----------------------------------------------------------------- PEFT layout


def peft_tensors(model) -> dict:
    """The adapter as PEFT names and orients it: lora_A (r x in) and lora_B (out x r), fp32 numpy."""
    import numpy as np
    from mlx.utils import tree_flatten

    out = {}
    for name, value in tree_flatten(model.trainable_parameters()):
        module, _, which = name.rpartition(".")
        letter = {"lora_a": "A", "lora_b": "B"}[which]
        out[f"{PEFT_PREFIX}{module}.lora_{letter}.weight"] = np.ascontiguousarray(np.array(value, dtype=np.float32).T)
    return out


def save_peft_adapter(model, folder: Path, cfg: dict, base: str) -> None:
    """adapter_model.safetensors and adapter_config.json in PEFT's layout (what evaluate/export/chat read)."""
    from peft import LoraConfig
    from safetensors.numpy import save_file

    lora = cfg["lora"]
    folder.mkdir(parents=True, exist_ok=True)
    with ui.atomic_path(folder / ADAPTER_FILE) as tmp:
        save_file(peft_tensors(model), str(tmp), metadata={"format": "pt"})
    config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                        target_modules=list(lora["target_modules"]), bias="none", task_type="CAUSAL_LM",
                        base_model_name_or_path=base, inference_mode=True)
    staging = Path(tempfile.mkdtemp(prefix=".adapter_config.", dir=folder))
    try:
        config.save_pretrained(str(staging))  # PEFT's own serialization of its config
        os.replace(staging / "adapter_config.json", folder / "adapter_config.json")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_peft_adapter(model, folder: Path) -> None:
    """Put a PEFT-layout adapter (ours, from a checkpoint) back into the MLX LoRA layers; shapes must match."""
    import mlx.core as mx
    from mlx.utils import tree_flatten, tree_unflatten
    from safetensors.numpy import load_file

    tensors = load_file(str(folder / ADAPTER_FILE))
    expected = dict(tree_flatten(model.trainable_parameters()))
    weights = {}
    for key, value in tensors.items():
        m = _PEFT_KEY.match(key)
        name = f"{m.group(1)}.lora_{m.group(2).lower()}" if m else None
        if name not in expected or tuple(expected[name].shape) != value.T.shape:
            raise ui.Fail(f"{folder / ADAPTER_FILE}: tensor {key} {value.shape} does not fit this model's LoRA "
                          f"(another r, target_modules or base?); pass a new output_dir to start afresh")
        weights[name] = mx.array(value.T)
    if set(weights) != set(expected):
        raise ui.Fail(f"{folder / ADAPTER_FILE}: {len(set(expected) - set(weights))} LoRA tensors are missing")
    model.update(tree_unflatten(list(weights.items())))


# ----------------------------------------------------------------- data order, schedule, loss


def steps_per_epoch(n: int, batch: int, accum: int) -> int:
    """Optimizer steps in one pass: micro-batches ceil(n / batch), grouped by `accum`, the last group possibly short."""
    return math.ceil(math.ceil(n / batch) / accum)


def total_steps(t: dict, n: int) -> int:
    per_epoch = steps_per_epoch(n, t["per_device_batch_size"], t["gradient_accumulation_steps"])
    return t["max_steps"] or max(1, math.ceil(t["epochs"] * per_epoch))


def step_batches(step: int, n: int, batch: int, accum: int, seed: int) -> list[list[int]]:
    """The micro-batches (lists of example indices) of optimizer step `step` (1-based).

    Each epoch is its own permutation drawn from (seed, epoch), so any step's batches are
    known without replaying the ones before it: resume needs only the step number.
    """
    import numpy as np

    per_epoch = steps_per_epoch(n, batch, accum)
    epoch, k = divmod(step - 1, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n).tolist()
    micro = [order[i:i + batch] for i in range(0, n, batch)]
    return micro[k * accum:(k + 1) * accum]


def lr_factor(kind: str, i: int, warmup: int, total: int) -> float:
    """The multiplier of the peak learning rate for update number i (0-based), as transformers' schedulers define it."""
    if kind != "constant" and i < warmup:
        return i / max(1, warmup)
    if kind in ("constant", "constant_with_warmup"):
        return 1.0
    if kind == "linear":
        return max(0.0, (total - i) / max(1, total - warmup))
    progress = (i - warmup) / max(1, total - warmup)  # cosine
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


def pad_batch(examples: list[dict], pad_id: int, bucket: int = 1):
    """(input_ids, labels) as int32 arrays, right-padded to the longest conversation rounded up to a multiple of
    `bucket`; padding's label is -100, and a causal model never attends to the right, so the loss is the same.

    The compiled step is traced once per width: buckets of BUCKET tokens bound that to max_seq_length / BUCKET shapes.
    """
    import numpy as np

    width = -(-max(len(e["input_ids"]) for e in examples) // bucket) * bucket
    ids = np.full((len(examples), width), pad_id, dtype=np.int32)
    labels = np.full((len(examples), width), -100, dtype=np.int32)
    for row, e in enumerate(examples):
        ids[row, :len(e["input_ids"])] = e["input_ids"]
        labels[row, :len(e["labels"])] = e["labels"]
    return ids, labels


def loss_sum(model, ids, labels):
    """(summed cross-entropy over the tokens that carry a label, their count): token i predicts label i+1."""
    import mlx.core as mx
    import mlx.nn as nn

    logits = model(ids[:, :-1])
    targets = labels[:, 1:]
    mask = targets != -100
    ce = nn.losses.cross_entropy(logits.astype(mx.float32), mx.where(mask, targets, 0), reduction="none")
    return (ce * mask).sum(), mask.sum()


# ----------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, model, optimizer, cfg: dict, base: str, state: dict) -> None:
    """checkpoint-<step>/: the PEFT adapter, the optimizer state, trainer_state.json; COMPLETE last."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    path.mkdir(parents=True, exist_ok=True)
    save_peft_adapter(model, path, cfg, base)
    # mx.save_safetensors adds ".safetensors" to any other name, so the temporary name ends with it too.
    tmp = path / f".{os.getpid()}.{OPTIMIZER_FILE}"
    mx.save_safetensors(str(tmp), dict(tree_flatten(optimizer.state)))
    os.replace(tmp, path / OPTIMIZER_FILE)
    ui.write_json_atomic(path / STATE_FILE, {**state, "backend": "mlx"})
    checkpoints.mark_complete(path, state["global_step"])


def load_checkpoint(path: Path, model, optimizer) -> dict:
    """Adapter and optimizer state back from a checkpoint; returns its trainer_state.json."""
    import mlx.core as mx
    from mlx.utils import tree_unflatten

    load_peft_adapter(model, path)
    optimizer.init(model.trainable_parameters())
    optimizer.state = tree_unflatten(list(mx.load(str(path / OPTIMIZER_FILE)).items()))
    return json.loads((path / STATE_FILE).read_text(encoding="utf-8"))


# ----------------------------------------------------------------- W&B


def start_wandb(cfg: dict, output_dir: Path, meta: dict, tag: str):
    """The same W&B project, run id and resume rule as the Trainer's integration; None when off."""
    from tasks.train import train as torch_train

    report_to, offline = torch_train.setup_wandb(cfg, output_dir, meta, tag)
    if report_to != "wandb":
        return None, False
    import wandb

    run = wandb.init(project=os.environ["WANDB_PROJECT"], id=os.environ["WANDB_RUN_ID"], resume=os.environ["WANDB_RESUME"],
                     name=meta["run_name"], dir=str(output_dir),
                     config={k: v for k, v in cfg.items() if not k.startswith("_")})
    return run, offline


# ----------------------------------------------------------------- the run


class Rates:
    """Tokens/s and ETA since this (re)start, leaving out the warm-up steps (as the PyTorch path does)."""

    def __init__(self, step: int, tokens: int, total: int, warmup_steps: int):
        self.t0, self.start_step, self.start_tokens, self.total = time.monotonic(), step, tokens, total
        self.warmup_steps, self.warm = warmup_steps, None

    def __call__(self, step: int, tokens: int) -> tuple[float | None, float | None]:
        now, done = time.monotonic(), step - self.start_step
        if self.warm is None and done >= min(self.warmup_steps, max(1, self.total - self.start_step - 1)):
            self.warm = (now, tokens, step)
        if self.warm is None or step == self.warm[2]:
            elapsed = now - self.t0
            return ((tokens - self.start_tokens) / elapsed if elapsed > 0 and done else None), None
        dt_ = now - self.warm[0]
        return (tokens - self.warm[1]) / dt_, (self.total - step) / ((step - self.warm[2]) / dt_)


def evaluate(model, eval_set: list[dict], batch: int, pad_id: int, timeout_s: float, stop=None) -> dict:
    """Token-weighted loss on the fixed validation subset; stops at `timeout_s`, or at a stop request
    (`stop.requested`, checked every batch as the Trainer path does), and says which."""
    import mlx.core as mx

    model.eval()
    start, total, tokens, examples, timed_out, stopped = time.monotonic(), 0.0, 0, 0, False, False
    for i in range(0, len(eval_set), batch):
        if time.monotonic() - start > timeout_s:
            timed_out = True
            break
        if stop is not None and stop.requested:
            stopped = True
            break
        ids, labels = pad_batch(eval_set[i:i + batch], pad_id)
        s, n = loss_sum(model, mx.array(ids), mx.array(labels))
        mx.eval(s, n)
        total, tokens, examples = total + s.item(), tokens + int(n.item()), examples + len(eval_set[i:i + batch])
    model.train()
    return {"eval_loss": total / tokens if tokens else None, "eval_examples": examples, "eval_timed_out": timed_out,
            "eval_stopped": stopped, "eval_s": round(time.monotonic() - start, 2)}


def train(cfg: dict, tag: str, output_dir: Path, resume_path: str | None, state, ctx: dict, meta: dict) -> str:
    """One MLX training run inside the bookkeeping of `tasks.train.train.run`; returns finished | interrupted."""
    require_mlx()
    if state.num_processes > 1:
        raise ui.Fail("training.backend mlx: one process only (--gpus 1); several GPUs are the torch backend's")

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlx.utils import tree_map

    from tasks.train import template
    from tasks.train import train as torch_train

    say = lambda m: ui.info(tag, m)  # noqa: E731
    torch_train.quiet_libraries()
    device, dtype, reason = choose_device(cfg)
    say(f"Device: {reason}")
    t, data = cfg["training"], cfg["data"]

    base = torch_train.resolve_base(cfg)
    tokenizer = template.load_tokenizer(None if cfg["model"]["base"] == "tiny" else base)
    train_set, stats = torch_train.load_examples(data["train"], tokenizer, data["max_seq_length"], data["max_train_examples"])
    val_path = Path(data["validation"])
    eval_set = None
    if t["eval_steps"] and val_path.is_file():
        eval_set, _ = torch_train.load_examples(str(val_path), tokenizer, data["max_seq_length"], data["max_eval_examples"])
    elif t["eval_steps"]:
        ui.warning(f"{val_path}: validation file not found; training runs without evaluation")
    say(f"Data: {len(train_set)} conversations, {stats['tokens']:,} tokens ({stats['trained_tokens']:,} carry the loss), "
        f"{stats['truncated']} truncated to {data['max_seq_length']}, {stats['no_trained_tokens']} skipped"
        + (f"; evaluation on {len(eval_set)} validation conversations" if eval_set else ""))
    data_hashes = {"train": {"path": data["train"], "sha256": torch_train.file_sha256(data["train"]), "conversations": len(train_set)}}
    if val_path.is_file():
        data_hashes["validation"] = {"path": data["validation"], "sha256": torch_train.file_sha256(val_path)}

    if device == "mlx-gpu":
        from mlx_lm.utils import maybe_set_recommended_wired_limit

        maybe_set_recommended_wired_limit()  # keep the weights wired in GPU memory, as mlx-lm's trainer does
    mx.random.seed(t["seed"])  # the adapter's initial weights
    model = load_model(cfg, prepare_base(cfg, base, say), dtype)
    trainable, total = count_parameters(model)
    say(f"Model: {base} with LoRA r={cfg['lora']['r']} alpha={cfg['lora']['alpha']} on {', '.join(cfg['lora']['target_modules'])}: "
        f"{trainable:,} trainable of {total:,} parameters ({100 * trainable / total:.3f}%)")
    if t["gradient_checkpointing"]:
        from mlx_lm.tuner.trainer import grad_checkpoint

        grad_checkpoint(model.layers[0])  # recompute each decoder layer in the backward pass

    n, batch, accum = len(train_set), t["per_device_batch_size"], t["gradient_accumulation_steps"]
    per_epoch = steps_per_epoch(n, batch, accum)
    max_steps = total_steps(t, n)
    optimizer = optim.AdamW(learning_rate=0.0, betas=[0.9, 0.999], eps=1e-8, weight_decay=t["weight_decay"],
                            bias_correction=True)  # torch.optim.AdamW's update, as the Trainer uses
    step, tokens_seen = 0, 0
    if resume_path:
        saved = load_checkpoint(Path(resume_path), model, optimizer)
        step, tokens_seen = saved["global_step"], saved["num_input_tokens_seen"]
    else:
        optimizer.init(model.trainable_parameters())
    ctx["step"], ctx["total_steps"] = step, max_steps

    if ctx["stop"].requested:
        return "interrupted"
    wandb_run, offline = start_wandb(cfg, output_dir, meta, tag)
    writer = ctx["writer"]
    writer.write("start", pid=os.getpid(), step=step, total_steps=max_steps, resumed_from=ctx["resumed_from"],
                 log_file=ctx["log_file"], run_name=ctx["run_name"], host=socket.gethostname(), world_size=1)
    grad_fn = nn.value_and_grad(model, loss_sum)
    bucket = 1
    if os.environ.get("WEATHERMAN_MLX_COMPILE", "1") != "0":
        # One micro-batch's forward and backward as one compiled graph (mx.compile fuses its elementwise work), traced
        # once per bucketed width; the model's arrays and the random state (LoRA dropout) are its inputs and outputs.
        from functools import partial

        compiled_state, plain = [model.state, mx.random.state], grad_fn
        compiled = partial(mx.compile, inputs=compiled_state, outputs=compiled_state)(lambda ids, labels: plain(model, ids, labels))
        grad_fn = lambda _model, ids, labels: compiled(ids, labels)  # noqa: E731
        bucket = BUCKET
    say(f"Step: {'compiled (mx.compile), widths in buckets of ' + str(BUCKET) + ' tokens' if bucket > 1 else 'not compiled'}")
    rates = Rates(step, tokens_seen, max_steps, torch_train.ETA_WARMUP_STEPS)
    pad_id = tokenizer.pad_token_id
    from tqdm.auto import tqdm

    bar = tqdm(total=max_steps, initial=step, desc=tag, dynamic_ncols=True, mininterval=0.5 if sys.stderr.isatty() else 30,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
    logged, last_loss = [], None

    def trainer_state() -> dict:
        return {"global_step": step, "max_steps": max_steps, "epoch": step / per_epoch,
                "num_input_tokens_seen": tokens_seen, "steps_per_epoch": per_epoch, "backend": "mlx"}

    # The step of the newest checkpoint on disk (the resumed one at first), and when it was written.
    saved = {"step": step, "reached": False, "at": time.monotonic()}
    every_s = float(os.environ.get("WEATHERMAN_CHECKPOINT_EVERY_S") or CHECKPOINT_EVERY_S)

    def checkpoint() -> None:
        path = output_dir / f"checkpoint-{step}"
        save_checkpoint(path, model, optimizer, cfg, base, trainer_state())
        checkpoints.rotate_checkpoints(output_dir, ctx["keep"])
        saved["step"], saved["at"] = step, time.monotonic()
        bar.write(f"{ui.OK_MARK} Checkpoint complete: {path} (step {step})")

    try:
        model.train()
        while step < max_steps:
            # Dropout masks follow (seed, step): a resumed run draws the ones an unbroken run would.
            mx.random.seed(t["seed"] * 1_000_003 + step)
            grads, window_loss, window_tokens, seen = None, mx.array(0.0), mx.array(0), 0
            for micro in step_batches(step + 1, n, batch, accum, t["seed"]):
                if ctx["stop"].requested:
                    # An optimizer step is 45-90 s of micro-batches on an M4 Pro: stop between them, drop the
                    # unfinished window, and keep the last complete step (a spot pod or a closing laptop lid waits for no one).
                    if step > saved["step"]:
                        checkpoint()
                    return "interrupted"
                examples = [train_set[i] for i in micro]
                ids, labels = pad_batch(examples, pad_id, bucket)
                (s, k), g = grad_fn(model, mx.array(ids), mx.array(labels))
                grads = g if grads is None else tree_map(lambda a, b: a + b, grads, g)
                window_loss, window_tokens = window_loss + s, window_tokens + k
                seen += sum(len(e["input_ids"]) for e in examples)
                mx.eval(grads, window_loss, window_tokens)
            scale = 1.0 / window_tokens.astype(mx.float32)  # the window's mean over its trained tokens
            grads = tree_map(lambda x, s=scale: x * s.astype(x.dtype), grads)
            grads, grad_norm = optim.clip_grad_norm(grads, t["max_grad_norm"])
            lr = t["learning_rate"] * lr_factor(t["lr_scheduler"], step, t["warmup_steps"], max_steps)
            optimizer.learning_rate = lr
            optimizer.update(model, grads)
            loss = (window_loss / window_tokens).item()
            mx.eval(model.trainable_parameters(), optimizer.state)
            step, tokens_seen = step + 1, tokens_seen + seen
            ctx["step"] = step
            if not saved["reached"]:
                # From here on, dying before the next checkpoint counts as a crash (checkpoints.py), as on PyTorch.
                checkpoints.mark_step_reached(output_dir)
                saved["reached"] = True
            logged.append(loss)
            bar.update(step - bar.n)
            tps, eta = rates(step, tokens_seen)

            if step % t["logging_steps"] == 0 or step == max_steps:
                last_loss = sum(logged) / len(logged)
                logged = []
                writer.write("step", step=step, total_steps=max_steps, loss=last_loss, learning_rate=lr,
                             grad_norm=grad_norm.item(), tokens_per_s=round(tps, 1) if tps else None,
                             elapsed_s=round(time.monotonic() - rates.t0, 2), eta_s=round(eta, 1) if eta is not None else None,
                             tokens_seen=tokens_seen, epoch=step / per_epoch)
                ctx["losses"].append((step, last_loss))
                if wandb_run is not None:
                    wandb_run.log({"train/loss": last_loss, "train/learning_rate": lr, "train/grad_norm": grad_norm.item(),
                                   "train/epoch": step / per_epoch, "train/global_step": step}, step=step)
            post = [f"loss {last_loss:.4f}"] if last_loss is not None else []
            if tps:
                post.append(f"{tps:,.0f} tok/s")
            post.append(f"ETA {torch_train._fmt_eta(eta)}")
            bar.set_postfix_str(", ".join(post), refresh=False)

            if ctx["stop"].requested:
                # Checkpoint now and stop; any evaluation due now is skipped (a spot pod has ~5 s).
                checkpoint()
                return "interrupted"
            save_due = (step % t["save_steps"] == 0 or step == max_steps
                        or time.monotonic() - saved["at"] >= every_s)
            if eval_set and (step % t["eval_steps"] == 0 or step == max_steps):  # the Trainer also evaluates at the end
                if save_due:  # written before the evaluation, so a stop during it keeps this step
                    checkpoint()
                ev = evaluate(model, eval_set, batch, pad_id, float(t["eval_timeout_s"]), stop=ctx["stop"])
                writer.write("eval", step=step, **ev)
                if wandb_run is not None and ev["eval_loss"] is not None:
                    wandb_run.log({"eval/loss": ev["eval_loss"]}, step=step)
                if ev["eval_stopped"] and step < max_steps:
                    if not save_due:
                        checkpoint()
                    return "interrupted"
            elif save_due:
                checkpoint()
    finally:
        bar.close()
        if wandb_run is not None:
            wandb_run.finish()

    save_peft_adapter(model, output_dir, cfg, base)
    tokenizer.save_pretrained(str(output_dir))
    template.saved_tokenizer_matches(output_dir, tokenizer)  # the copy eval and export read encodes as training did
    torch_train.write_final_files(output_dir, cfg, data_hashes, step, meta["run_name"])
    torch_train.report_finished(tag, output_dir, step, ctx["losses"], offline, note=", PEFT layout")
    return "finished"


# ----------------------------------------------------------------- prepare the base ahead of time


def run(config: str, overrides: list[str] | None = None) -> None:
    cfg = load_config(config, overrides)
    if cfg["training"]["backend"] != "mlx":
        raise ui.Fail(f"{config}: training.backend is {cfg['training']['backend']!r}, not 'mlx' (nothing to prepare)")
    require_mlx()
    from tasks.train import train as torch_train

    folder = prepare_base(cfg, torch_train.resolve_base(cfg), lambda m: ui.info("MLX", m))
    ui.success(f"MLX base ready: {folder}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fetch (and with model.load_in_4bit, quantize once) the MLX base model")
    parser.add_argument("--config", default="configs/training_config_m4.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    return ui.main_guard(run, args.config, args.overrides)


if __name__ == "__main__":
    raise SystemExit(main())

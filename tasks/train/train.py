"""Train the LoRA adapter: one entry for CUDA, MPS and CPU, resumable and preemption-safe.

    python -m tasks.train.train --config configs/training_config_cpu.yaml [--set training.max_steps=20] [--gpus N] [--force]
    make train CONFIG=configs/training_config_h100.yaml [FORCE=1]

What it does, in order:
1. validates the config; with `--gpus N` (N > 1) re-runs itself under
   `accelerate launch --config_file configs/accelerate_ddp.yaml` (DDP);
2. takes the run lock (`train.lock`), refuses a resume whose settings (config,
   data sha256, processes) differ from the run's first start (`run_start.json`;
   `--force` accepts them), refuses a crash loop (exit 2), and picks the newest
   *complete* checkpoint to resume from (`resume_metadata.json`);
3. chooses device, dtype and attention in `choose_device` and prints why;
4. tokenizes the data with the project's chat template (loss on assistant
   spans only) and batches it padding-free (position ids restart per
   conversation) unless the attention kernel cannot keep sequences apart; a
   conversation over max_seq_length is cut after its last complete answer
   (or dropped), so no answer is trained without its `</s>`;
5. trains with transformers' Trainer + PEFT LoRA; every `save_steps` a checkpoint
   is written and marked `COMPLETE` (before the evaluation of the same step);
   SIGTERM/SIGINT/SIGHUP write one at the next step boundary and stop, during an
   evaluation too; evaluation is bounded in examples and seconds;
6. saves the adapter, tokenizer, chat template, resolved config, data hashes
   and `FINAL` (written last) in `output_dir`.

Progress: a bar with loss, tokens/s and ETA, and one JSON line per logged step
in `output_dir/metrics.jsonl` (see docs/ARCHITECTURE.md).
Exit codes: 0 finished, 1 failed or interrupted (rerun to resume), 2 crash loop.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tasks import ui

from tasks.train import checkpoints
from tasks.config import ROOT, load_config, project_path, resolve_run_name

ACCELERATE_DDP = ROOT / "configs" / "accelerate_ddp.yaml"
TAGS = {"h100": "TRAINING-H100", "m4": "TRAINING-M4", "cpu": "TRAINING"}
# Steps after each (re)start that the throughput and the ETA leave out: the first
# steps pay for allocator warm-up, kernel selection and caches.
ETA_WARMUP_STEPS = 3
# Set by `make train/resume FORCE=1` and `resume --force`: reaches the training through tmux and the M4 runner.
FORCE_ENV = "WEATHERMAN_FORCE_RESUME"


# ----------------------------------------------------------------- device, dtype, attention


@dataclasses.dataclass
class DeviceChoice:
    device: str  # cuda | mps | cpu
    dtype: str  # bf16 | fp16 | fp32
    attn_implementation: str  # flash_attention_2 | sdpa | eager
    padding_free: bool
    reason: str
    warnings: list[str] = dataclasses.field(default_factory=list)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _mps_available() -> bool:
    import torch

    return torch.backends.mps.is_available()


def _flash_attn_importable() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def _macos_major() -> int:
    release = platform.mac_ver()[0]
    return int(release.split(".")[0]) if release else 0


def choose_device(cfg: dict) -> DeviceChoice:
    """Device, dtype, attention kernel and batching for this profile on this machine, with the reason."""
    profile, model = cfg["profile"], cfg["model"]
    packing = cfg["data"]["packing"]
    warnings = []
    if profile == "h100":
        if not _cuda_available():
            raise ui.Fail("profile h100: no CUDA GPU is visible to torch (run `nvidia-smi`: a host driver older than 550.54.14 cannot run "
                          "this torch's CUDA 12.8 and no setup can change it, deploy a pod with RunPod's CUDA filter at 12.4+; "
                          "on a CPU use configs/training_config_cpu.yaml)")
        device, dtype = "cuda", "bf16" if model["dtype"] == "auto" else model["dtype"]
        why = "bf16 on CUDA: native tensor-core type, no loss scaling" if model["dtype"] == "auto" else f"{dtype} as configured"
        attn = model["attn_implementation"]
        if attn in ("auto", "flash_attention_2"):
            if _flash_attn_importable():
                attn = "flash_attention_2"
            else:
                attn = "sdpa"
                warnings.append("flash-attn is not installed: attention falls back to sdpa, still padding-free "
                                "(a slower attention kernel; `make setup-h100` installs flash-attn's prebuilt wheel)")
        # sdpa and eager keep packed conversations apart through the block-diagonal mask transformers
        # builds from the restarting position ids (use_cache is off in training; DESIGN.md section 7:
        # packed and separate forward passes agree to 3e-7), so packing stays on without flash-attn:
        # padded batches would spend about 31% of the processed tokens on padding.
        padding_free = packing and attn in ("flash_attention_2", "sdpa", "eager")
        if packing and not padding_free:
            warnings.append(f"padding-free batching is off with {attn} on CUDA: batches are padded to their longest conversation")
    elif profile == "m4":
        if not _mps_available():
            raise ui.Fail("profile m4: the MPS device is not available (needs Apple Silicon, macOS 12.3+ and an arm64 Python; run `make preflight-m4`)")
        device = "mps"
        if model["dtype"] == "auto":
            major = _macos_major()
            dtype = "bf16" if major >= 14 else "fp16"
            why = f"{dtype} on MPS: macOS {major} {'supports' if major >= 14 else 'lacks (needs 14+)'} bf16"
        else:
            dtype, why = model["dtype"], f"{model['dtype']} as configured"
        attn = "sdpa" if model["attn_implementation"] == "auto" else model["attn_implementation"]
        padding_free = packing
    else:
        device = "cpu"
        dtype = "fp32" if model["dtype"] == "auto" else model["dtype"]
        why = "fp32 on CPU: bf16/fp16 matmuls are slow or unsupported on most CPUs" if model["dtype"] == "auto" else f"{dtype} as configured"
        attn = "sdpa" if model["attn_implementation"] == "auto" else model["attn_implementation"]
        padding_free = packing
    if padding_free:
        why += f"; {attn} attention with padding-free batches (position ids restart per conversation)"
    else:
        why += f"; {attn} attention with padded batches"
    return DeviceChoice(device, dtype, attn, padding_free, f"{device}/{dtype}: {why}", warnings)


# ----------------------------------------------------------------- data


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_examples(path: str, tokenizer, max_length: int, limit: int | None = None) -> tuple[list[dict], dict]:
    """Tokenize a JSONL file with the chat template; (encoded examples, counts)."""
    from tasks.train import template

    p = Path(path)
    if not p.is_file():
        raise ui.Fail(f"{path}: data file not found (run `make data`, or pass --set data.train=... / data.validation=...)")
    out, stats = [], {"lines": 0, "truncated": 0, "shortened": 0, "dropped": 0, "no_trained_tokens": 0, "tokens": 0, "trained_tokens": 0}
    with open(p, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if limit is not None and len(out) >= limit:
                break
            stats["lines"] += 1
            try:
                example = json.loads(line)
                full = template.encode(example, tokenizer)
            except (ValueError, KeyError, TypeError) as exc:
                raise ui.Fail(f"{path}:{n}: cannot encode this line ({exc}); check it with `make validate-data DATA={path}`") from exc
            enc, cut = fit_to_length(full, max_length, tokenizer.eos_token_id)
            if cut:
                stats["truncated"] += 1
                stats[cut] += 1
                if cut == "dropped":
                    continue
            trained = sum(1 for t in enc["labels"] if t != -100)
            if trained == 0:
                # Nothing to learn from (an assistant span cut off by truncation): skip the line.
                stats["no_trained_tokens"] += 1
                continue
            stats["tokens"] += len(enc["input_ids"])
            stats["trained_tokens"] += trained
            out.append(enc)
    if not out:
        raise ui.Fail(f"{path}: no line has an assistant answer within {max_length} tokens (raise data.max_seq_length)")
    return out, stats


def fit_to_length(encoded: dict, max_length: int, eos_id: int) -> tuple[dict, str | None]:
    """The conversation within `max_length` tokens, never ending inside an answer.

    A longer one is cut after its last assistant turn that fits whole (its `</s>`
    included), so no tool call or answer is trained without its end; with no
    complete assistant turn within the limit it is dropped. Returns (encoded,
    None | "shortened" | "dropped").
    """
    ids, labels = encoded["input_ids"], encoded["labels"]
    if len(ids) <= max_length:
        return {"input_ids": ids, "labels": labels}, None
    end = 0
    for i in range(min(max_length, len(ids))):
        # the last token of an assistant span, which is the eos that closes the turn
        if labels[i] != -100 and ids[i] == eos_id and (i + 1 == len(ids) or labels[i + 1] == -100):
            end = i + 1
    if end == 0:
        return {"input_ids": [], "labels": []}, "dropped"
    return {"input_ids": ids[:end], "labels": labels[:end]}, "shortened"


class PaddingCollator:
    """Right-pads a batch to its longest conversation; padding is masked out of attention and loss."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), width), -100, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            labels[i, :n] = torch.tensor(f["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def make_collator(choice: DeviceChoice, tokenizer):
    if choice.padding_free:
        from transformers import DataCollatorWithFlattening

        # One row of concatenated conversations; position ids restart at 0 for each one, which the
        # attention (flash-attn varlen, or sdpa's block-diagonal mask) uses to keep them apart, and
        # the first label of each conversation is -100 so no loss crosses a boundary.
        # For flash-attn the batch also carries the boundaries (cu_seq_lens_q/k, max_length_q/k), computed
        # here on the CPU: without them transformers finds them from the position ids on the GPU in every
        # layer, a device sync each time (modeling_flash_attention_utils: _is_packed_sequence, nonzero).
        # sdpa and eager take their block mask from the position ids and ignore these keywords, so only
        # flash-attn gets them.
        return DataCollatorWithFlattening(return_position_ids=True, separator_id=-100,
                                          return_flash_attn_kwargs=choice.attn_implementation == "flash_attention_2")
    return PaddingCollator(tokenizer.pad_token_id)


# ----------------------------------------------------------------- model


def quiet_libraries() -> None:
    """The run's own lines say what matters: library progress bars and notices stay out of the way."""
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    # Except the Trainer's own warning that a resumed checkpoint was saved with other arguments.
    mismatch = transformers.logging.get_logger("transformers.trainer_utils")
    mismatch.setLevel(transformers.logging.WARNING)
    if not any(isinstance(f, _CheckpointMismatchOnly) for f in mismatch.filters):
        mismatch.addFilter(_CheckpointMismatchOnly())
    # PEFT still calls the old name; the rename is transformers' business, not the user's.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*deprecated", category=FutureWarning)


class _CheckpointMismatchOnly:
    """Lets through only the Trainer's "arguments do not match the ones in the `trainer_state.json`" warning."""

    def filter(self, record) -> bool:
        return "do not match the ones in the `trainer_state.json`" in record.getMessage()


def resolve_base(cfg: dict) -> str:
    """The folder or Hub id of the base model; the tiny CPU model and SmolLM2 (tasks.train.smol) are built here when missing."""
    if cfg["model"]["base"] == "tiny":
        from tasks.train import tiny_model

        return str(tiny_model.build(cfg["model"]["tiny"]))
    if cfg["model"]["base"] == "smollm2":
        from tasks.train import smol

        return str(smol.build())
    return cfg["model"]["base"]


def load_model(cfg: dict, choice: DeviceChoice, base: str):
    """The base model in the chosen dtype with the configured LoRA adapter on top."""
    import torch
    from transformers import AutoModelForCausalLM

    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    kwargs = {"dtype": dtypes[choice.dtype], "attn_implementation": choice.attn_implementation}
    from tasks.train import model_cache

    # setup-h100's completeness marker holds: load the snapshot folder on the volume, with the Hub off (no token
    # needed after a restart, none of PEFT's Hub lookups at a save).
    source = model_cache.load_source(base, cfg["model"].get("cache_dir"))
    if source == base and cfg["model"].get("cache_dir"):
        kwargs["cache_dir"] = cfg["model"]["cache_dir"]
    if choice.device == "cuda":
        # Each rank reads the weights straight onto its own GPU: without it every one of 8 ranks first builds
        # the whole 14.5 GB model in CPU memory (8 x 14.5 GB) and then copies it over.
        kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    if cfg["model"]["load_in_4bit"]:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtypes[choice.dtype],
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as exc:
        raise ui.Fail(f"model.base {base!r}: cannot load it ({str(exc).splitlines()[0]}); check the id or folder, `hf auth login` or HF_TOKEN for gated models (on a pod `make setup-h100` downloads it), and the network") from exc
    # adapter_config.json records the Hub id, not this pod's snapshot path: export and eval on a laptop read it.
    model.config._name_or_path = model.name_or_path = base
    # The cache is for generation. Without it transformers also reads packed sequences from the
    # position ids (with a cache it silently lets packed conversations attend to each other).
    model.config.use_cache = False
    if cfg["model"]["load_in_4bit"]:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg["training"]["gradient_checkpointing"])
    return add_lora(cfg, model)


def add_lora(cfg: dict, model):
    """`model` with the configured LoRA adapter on top (also used by `make gpu-check` on a randomly built base)."""
    from peft import get_peft_model

    return get_peft_model(model, lora_config(cfg))


def lora_config(cfg: dict):
    """The configured LoRA adapter (training, `make bench`'s model of the plan's shape and gpu-check share it)."""
    from peft import LoraConfig

    lora = cfg["lora"]
    return LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                      target_modules=list(lora["target_modules"]), bias="none", task_type="CAUSAL_LM")


# ----------------------------------------------------------------- W&B


def _wandb_key_configured() -> bool:
    """A W&B key in the environment or ~/.netrc. The key itself is never read into output."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    import netrc

    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def setup_wandb(cfg: dict, output_dir: Path, meta: dict, tag: str) -> tuple[str, bool]:
    """report_to for the Trainer, and whether W&B runs offline."""
    if cfg["reporting"]["report_to"] != "wandb" or os.environ.get("WANDB_MODE") == "disabled":
        return "none", False
    try:
        import wandb  # noqa: F401
    except ImportError:
        ui.warning("W&B: the wandb package is not installed; training continues without it (pip install wandb)")
        return "none", False
    os.environ.setdefault("WANDB_PROJECT", cfg["reporting"]["wandb_project"])
    os.environ.setdefault("WANDB_DIR", str(output_dir))
    # The same W&B run continues across resumes.
    os.environ.setdefault("WANDB_RUN_ID", meta["wandb_run_id"])
    os.environ.setdefault("WANDB_RESUME", "allow")
    offline = os.environ.get("WANDB_MODE") == "offline" or not _wandb_key_configured()
    if offline:
        os.environ["WANDB_MODE"] = "offline"
        ui.info(tag, f"W&B offline (no key in WANDB_API_KEY or ~/.netrc): logs go to {output_dir}/wandb/; upload them later with `wandb sync`")
    else:
        ui.info(tag, f"W&B online: project {os.environ['WANDB_PROJECT']}, run {meta['run_name']}")
    return "wandb", offline


# ----------------------------------------------------------------- stop requests


class StopRequest:
    """SIGTERM/SIGINT/SIGHUP set a flag; training checkpoints at the next step boundary and exits.

    A second Ctrl-C stops at once (KeyboardInterrupt) for a person who cannot wait.
    """

    def __init__(self):
        self.signum: int | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        if hasattr(signal, "SIGHUP"):  # not on Windows
            # `tmux kill-session` and a closed terminal send SIGHUP: checkpoint, as for SIGTERM.
            signal.signal(signal.SIGHUP, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def _any_rank(flag: bool, device) -> bool:
    """True when `flag` is true on any rank, so every rank stops at the same step."""
    dist = _dist()
    if dist is None:
        return flag
    import torch

    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


# ----------------------------------------------------------------- metrics and progress


class MetricsWriter:
    """Appends one JSON object per event to metrics.jsonl, flushed at once (rank 0 only)."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, event: str, **fields) -> None:
        if not self.enabled:
            return
        row = {"event": event, **fields, "timestamp": checkpoints.now_iso()}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"


def _plot(output_dir: str, say) -> None:
    """The run's curves as a PNG beside metrics.jsonl (tasks/train/curves.py); a failed drawing never stops training."""
    from tasks.train import curves

    try:
        # Whole lines only: this process wrote and flushed every line it reads back here.
        lines = (Path(output_dir) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        path = curves.write_plot(output_dir, [json.loads(line) for line in lines if line.strip()])
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        say(f"{ui.WARN_MARK} Training curves not drawn ({type(exc).__name__}: {exc}); `make plot` draws them later")
        return
    if path is not None:
        say(f"Training curves: {path}")


def _callbacks(ctx: dict):
    """The Trainer callbacks, built after transformers is imported."""
    from transformers import TrainerCallback

    class RunCallback(TrainerCallback):
        """Progress bar, metrics lines, COMPLETE markers, rotation and graceful stops."""

        def __init__(self):
            self.bar = None
            self.last_loss = None
            self.interrupted_at = None
            self.reached = False

        # throughput since this (re)start, after warm-up
        def on_train_begin(self, args, state, control, **kw):
            self.t0 = time.monotonic()
            self.start_step = state.global_step
            self.start_tokens = state.num_input_tokens_seen
            self.warm = None  # (time, tokens, step) once warm-up is over
            ctx["total_steps"] = state.max_steps
            ctx["writer"].write("start", pid=os.getpid(), step=state.global_step, total_steps=state.max_steps,
                                resumed_from=ctx["resumed_from"], log_file=ctx["log_file"], run_name=ctx["run_name"],
                                host=socket.gethostname(), world_size=args.world_size)
            if ctx["main"]:
                from tqdm.auto import tqdm

                tty = sys.stderr.isatty()
                self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=ctx["tag"], dynamic_ncols=True,
                                mininterval=0.5 if tty else 30, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")

        def rates(self, state) -> tuple[float | None, float | None]:
            """(tokens/s, ETA in s) measured since this (re)start, leaving out warm-up steps."""
            now = time.monotonic()
            done = state.global_step - self.start_step
            if self.warm is None and done >= min(ETA_WARMUP_STEPS, max(1, state.max_steps - self.start_step - 1)):
                self.warm = (now, state.num_input_tokens_seen, state.global_step)
            if self.warm is None or state.global_step == self.warm[2]:
                elapsed = now - self.t0
                tps = (state.num_input_tokens_seen - self.start_tokens) / elapsed if elapsed > 0 and done else None
                return tps, None
            dt_ = now - self.warm[0]
            tps = (state.num_input_tokens_seen - self.warm[1]) / dt_
            steps_per_s = (state.global_step - self.warm[2]) / dt_
            return tps, (state.max_steps - state.global_step) / steps_per_s

        def on_step_end(self, args, state, control, **kw):
            if ctx["main"] and not self.reached:
                # From here on, dying before the next checkpoint counts as a crash (see checkpoints.py).
                checkpoints.mark_step_reached(args.output_dir)
                self.reached = True
            if _any_rank(ctx["stop"].requested, args.device):
                # Checkpoint now, skip any evaluation due at this step (a spot pod has ~5 s), and stop.
                control.should_save = True
                control.should_evaluate = False
                control.should_training_stop = True
                self.interrupted_at = state.global_step
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)
                self.show(state)
            return control

        def show(self, state) -> None:
            tps, eta = self.rates(state)
            post = [f"loss {self.last_loss:.4f}"] if self.last_loss is not None else []
            if tps:
                post.append(f"{tps:,.0f} tok/s")
            post.append(f"ETA {_fmt_eta(eta)}")
            self.bar.set_postfix_str(", ".join(post), refresh=False)

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" in logs:
                self.last_loss = float(logs["loss"])
                tps, eta = self.rates(state)
                ctx["writer"].write("step", step=state.global_step, total_steps=state.max_steps, loss=self.last_loss,
                                    learning_rate=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"),
                                    tokens_per_s=round(tps, 1) if tps else None,
                                    elapsed_s=round(time.monotonic() - self.t0, 2),
                                    eta_s=round(eta, 1) if eta is not None else None,
                                    tokens_seen=state.num_input_tokens_seen, epoch=logs.get("epoch", state.epoch))
                ctx["losses"].append((state.global_step, self.last_loss))
                if self.bar is not None:
                    self.show(state)
            if "eval_examples" in logs:
                ctx["writer"].write("eval", step=state.global_step, eval_loss=logs.get("eval_loss"),
                                    eval_examples=logs["eval_examples"], eval_timed_out=logs["eval_timed_out"],
                                    eval_stopped=logs.get("eval_stopped"),
                                    eval_s=logs["eval_runtime"])
                if ctx["main"]:
                    _plot(args.output_dir, self.bar.write if self.bar else print)

        def on_save(self, args, state, control, **kw):
            dist = _dist()
            if dist is not None:
                dist.barrier()  # every rank has written its RNG state into the folder
            if ctx["main"]:
                path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                checkpoints.mark_complete(path, state.global_step)
                checkpoints.rotate_checkpoints(args.output_dir, ctx["keep"])
                msg = f"Checkpoint complete: {path} (step {state.global_step})"
                (self.bar.write if self.bar else print)(f"{ui.OK_MARK} {msg}")
            if dist is not None:
                dist.barrier()  # no rank runs ahead of a checkpoint that is not marked yet

        def on_train_end(self, args, state, control, **kw):
            if self.bar is not None:
                self.bar.close()
            if ctx["main"]:
                _plot(args.output_dir, print)

    return RunCallback()


def _bounded_trainer_class():
    import torch
    import transformers

    class BoundedEvalTrainer(transformers.Trainer):
        """Trainer whose evaluation stops at `eval_timeout_s`: it can never hang training."""

        eval_timeout_s: float = 600.0
        stop_request: StopRequest | None = None  # SIGTERM/SIGINT/SIGHUP during training: the evaluation stops too

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            dataloader = self.get_eval_dataloader(eval_dataset)
            model = self.model  # the unwrapped model: no DDP collectives inside a forward
            was_training = model.training
            saved_first = _save_before_evaluation(self) if was_training else False
            stopped = False
            model.eval()
            start = time.monotonic()
            loss_sum = torch.zeros((), dtype=torch.float64, device=self.args.device)
            counts = torch.zeros(2, dtype=torch.float64, device=self.args.device)  # tokens, examples
            timed_out = False
            try:
                for batch in dataloader:
                    # Every rank agrees to stop, so none waits for another at the next collective.
                    stop_here = self.stop_request is not None and self.stop_request.requested
                    if _any_rank(time.monotonic() - start > self.eval_timeout_s or stop_here, self.args.device):
                        stopped = _any_rank(stop_here, self.args.device)
                        timed_out = not stopped
                        break
                    batch = self._prepare_inputs(batch)
                    n_examples = (batch["position_ids"] == 0).sum() if "attention_mask" not in batch else batch["input_ids"].shape[0]
                    with torch.no_grad(), self.compute_loss_context_manager():
                        out = model(**batch)
                    n_tokens = (batch["labels"][..., 1:] != -100).sum()
                    loss_sum += out.loss.double() * n_tokens
                    counts += torch.stack([n_tokens.double(), torch.as_tensor(n_examples, device=counts.device).double()])
            finally:
                model.train(was_training)
            dist = _dist()
            if dist is not None:
                dist.all_reduce(loss_sum)
                dist.all_reduce(counts)
            tokens, examples = counts.tolist()
            metrics = {
                f"{metric_key_prefix}_loss": (loss_sum.item() / tokens) if tokens else None,
                f"{metric_key_prefix}_examples": int(examples),
                f"{metric_key_prefix}_timed_out": timed_out,
                f"{metric_key_prefix}_stopped": stopped,
                f"{metric_key_prefix}_runtime": round(time.monotonic() - start, 2),
            }
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            if stopped and was_training:
                # A stop request: training ends at this step, with its checkpoint (unless written before the evaluation).
                self.control.should_training_stop = True
                self.control.should_save = not saved_first
            return metrics

    return BoundedEvalTrainer


def _save_before_evaluation(trainer) -> bool:
    """When a checkpoint is due at this step, write it before the evaluation, not after.

    The Trainer evaluates first; an evaluation can take many minutes, and a spot pod's
    preemption gives seconds: with the checkpoint first, a stop during the evaluation
    loses nothing. Returns whether a checkpoint was written.
    """
    if not trainer.control.should_save or trainer.args.save_strategy == "no":
        return False
    trainer._save_checkpoint(trainer.model_wrapped, None)
    trainer.control = trainer.callback_handler.on_save(trainer.args, trainer.state, trainer.control)
    trainer.control.should_save = False  # the Trainer's save after the evaluation would write the same step again
    return True


def make_trainer(cfg: dict, choice: DeviceChoice, model, tokenizer, train_set, eval_set, output_dir: Path, run_name: str,
                 report_to: str = "none", distributed: bool = False, save: bool = True):
    """The Trainer for this config: one definition that training and `make bench` share."""
    import transformers

    t = cfg["training"]
    args = transformers.TrainingArguments(
        output_dir=str(output_dir), run_name=run_name,
        num_train_epochs=t["epochs"], max_steps=t["max_steps"] or -1,
        per_device_train_batch_size=t["per_device_batch_size"], per_device_eval_batch_size=t["per_device_batch_size"],
        gradient_accumulation_steps=t["gradient_accumulation_steps"],
        # A ratio (a float below 1: transformers' own convention) is the same share of the run on any number of GPUs,
        # where a fixed step count grows into a third of an 8-GPU run.
        learning_rate=t["learning_rate"], lr_scheduler_type=t["lr_scheduler"],
        warmup_steps=t["warmup_steps"] if t.get("warmup_ratio") is None else float(t["warmup_ratio"]),
        weight_decay=t["weight_decay"], max_grad_norm=t["max_grad_norm"],
        activation_checkpointing=t["gradient_checkpointing"], activation_checkpointing_kwargs={"use_reentrant": False},
        seed=t["seed"], data_seed=t["seed"],
        logging_strategy="steps", logging_steps=t["logging_steps"],
        # rotation is ours: it counts only COMPLETE checkpoints
        save_strategy="steps" if save else "no", save_steps=t["save_steps"], save_total_limit=None,
        eval_strategy="steps" if eval_set else "no", eval_steps=t["eval_steps"] if eval_set else None,
        report_to=report_to, disable_tqdm=True,
        bf16=choice.dtype == "bf16" and choice.device != "cpu", fp16=choice.dtype == "fp16",
        use_cpu=choice.device == "cpu",
        ddp_backend="gloo" if distributed and choice.device == "cpu" else None, ddp_find_unused_parameters=False,
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0, remove_unused_columns=False,
        # Liger (training.liger_kernel, h100 only): fused Triton kernels patched into the base model; the fused
        # linear cross-entropy never materialises the fp32 logits (plan counts 10 B per token and vocabulary entry).
        use_liger_kernel=t["liger_kernel"],
        liger_kernel_config={"rope": True, "rms_norm": True, "swiglu": True, "fused_linear_cross_entropy": True, "cross_entropy": False},
    )
    if t["liger_kernel"]:
        require_liger()
    trainer_cls = _bounded_trainer_class()
    trainer_cls.eval_timeout_s = float(t["eval_timeout_s"])
    trainer = trainer_cls(model=model, args=args, train_dataset=train_set, eval_dataset=eval_set,
                          data_collator=make_collator(choice, tokenizer), processing_class=tokenizer)
    for cb in (transformers.PrinterCallback, transformers.ProgressCallback):
        trainer.remove_callback(cb)
    return trainer


def require_liger() -> None:
    """training.liger_kernel needs liger-kernel (pinned in environment-remote.yml) and Triton on a CUDA GPU."""
    import importlib.util

    if importlib.util.find_spec("liger_kernel") is None:
        raise ui.Fail("training.liger_kernel: true, but liger-kernel is not installed (`make setup-h100` installs the version "
                      "environment-remote.yml pins; or set training.liger_kernel: false)")


# ----------------------------------------------------------------- final adapter


def save_final(trainer, output_dir: Path, cfg: dict, data_hashes: dict, step: int, run_name: str) -> None:
    """Adapter, tokenizer, chat template, resolved config, data hashes; `FINAL` last."""
    from tasks.train import template

    trainer.save_model(str(output_dir))  # the adapter and the tokenizer (processing_class)
    # eval, the demo and export read this copy: it must encode exactly as training did.
    template.saved_tokenizer_matches(output_dir, trainer.processing_class)
    write_final_files(output_dir, cfg, data_hashes, step, run_name)


def write_final_files(output_dir: Path, cfg: dict, data_hashes: dict, step: int, run_name: str) -> None:
    """Beside a saved adapter (either backend): resolved config, chat template, data hashes; `FINAL` last."""
    import yaml

    from tasks.train import curves, template

    resolved = {k: v for k, v in cfg.items() if not k.startswith("_")}
    ui.write_text_atomic(output_dir / "training_config.resolved.yaml",
                         f"# resolved from {cfg.get('_config_path')} for run {run_name}\n" + yaml.safe_dump(resolved, sort_keys=False))
    ui.write_text_atomic(output_dir / "chat_template.jinja", template.TEMPLATE)
    ui.write_json_atomic(output_dir / "data_hashes.json", data_hashes)
    files = {}
    for name in sorted(os.listdir(output_dir)):
        p = output_dir / name
        # metrics.jsonl and the curves drawn from it keep changing (`make plot`): not part of the adapter.
        if p.is_file() and name not in (checkpoints.FINAL, "metrics.jsonl", curves.PNG, checkpoints.METADATA, checkpoints.LOCK) and not name.startswith("."):
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
            files[name] = p.stat().st_size
    ui.write_json_atomic(output_dir / checkpoints.FINAL,
                         {"step": step, "run_name": run_name, "finished_at": checkpoints.now_iso(), "files": files})


# ----------------------------------------------------------------- the run


def _relaunch_distributed(args, gpus: int) -> int:
    """Run this same entry under `accelerate launch` with `gpus` processes (DDP); never a home-made launcher."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE_DDP),
           "--num_processes", str(gpus)]
    # The same launcher on a CPU machine: each process then joins a gloo group (PartialState(cpu=True)
    # in run()), which is how the multi-process test runs. accelerate's own --cpu would need mpirun.
    cfg = load_config(args.config, args.overrides)
    cmd += ["-m", "tasks.train.train", "--config", args.config]
    for o in args.overrides:
        cmd += ["--set", o]
    if args.log_file:
        cmd += ["--log-file", args.log_file]
    if args.force:
        cmd += ["--force"]
    ui.info(TAGS[cfg["profile"]], f"Starting {gpus} processes: accelerate launch --config_file {ACCELERATE_DDP.relative_to(ROOT)} --num_processes {gpus}")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=distributed_env())

    def forward(signum, frame):
        proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return proc.wait()


# torchrun's grace for its ranks after it passes on SIGTERM/SIGINT/SIGHUP, before SIGKILL: 30 s unless raised.
# A stop needs the rest of one optimizer step and one checkpoint (about 0.5 GB for the H100 profile; `make plan`
# prints the estimate). torch 2.12+ reads this variable; older ones (the pod's 2.8) keep 30 s, which the stop fits.
SHUTDOWN_GRACE_S = 120


def distributed_env() -> dict:
    """The environment of `accelerate launch`: a longer grace for the stop's checkpoint (a value already set is kept)."""
    env = dict(os.environ)
    env.setdefault("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", str(SHUTDOWN_GRACE_S))
    return env


def _rank0_decides(fn, is_main: bool):
    """Run `fn` on rank 0 and give every rank its result, or the same Fail, so no rank waits forever."""
    result, error = None, None
    if is_main:
        try:
            result = fn()
        except ui.Fail as exc:
            error = (type(exc).__name__, str(exc))
    dist = _dist()
    if dist is not None:
        box = [(result, error)]
        dist.broadcast_object_list(box, src=0)
        result, error = box[0]
    if error:
        raise (ui.CrashLoop if error[0] == "CrashLoop" else ui.Fail)(error[1])
    return result


def validate_data_files(cfg: dict) -> None:
    """The data pre-flight: both files against the data contract before any model loads (about 0.5 s for 16,000 lines)."""
    from tasks.data.validate import validate_file

    problems = []
    for key in ("train", "validation"):
        path = Path(cfg["data"][key])
        if not path.exists():
            if key == "validation":
                continue  # training runs without evaluation then, with a warning
            raise ui.Fail(f"{path}: data file not found (run `make data`, or pass --set data.train=... / data.validation=...)")
        problems += validate_file(path, max_errors=10)
    if problems:
        raise ui.Fail("data does not match the data contract (fix the lines, or `make data` to regenerate; "
                      "`make validate-data DATA=<file>` lists every problem):\n  " + "\n  ".join(problems))


def run(config: str, overrides: list[str] | None = None, log_file: str | None = None, force: bool = False) -> int:
    cfg = load_config(config, overrides)
    tag = TAGS[cfg["profile"]]
    output_dir = project_path(cfg["output_dir"])
    final = output_dir / checkpoints.FINAL
    if final.is_file():
        done = json.loads(final.read_text(encoding="utf-8"))
        ui.success(f"{output_dir}: already trained to step {done.get('step')} (FINAL present); nothing to do. "
                   f"To train again, pass another output_dir (--set output_dir=adapters/<new-run>).")
        return 0

    validate_data_files(cfg)

    stop = StopRequest()
    stop.install()

    from accelerate import PartialState

    # Joins the process group under `accelerate launch`; a no-op in a single process.
    state = PartialState(cpu=cfg["profile"] == "cpu")
    is_main = state.is_main_process
    run_name = resolve_run_name(cfg)

    def bookkeeping():
        checkpoints.acquire_lock(output_dir)
        try:
            # A resume with other settings than its run started with is refused before anything is written.
            record = checkpoints.run_record(cfg, state.num_processes)
            checkpoints.check_run_unchanged(output_dir, record, force)
            path, step, meta = checkpoints.prepare_resume(output_dir, run_name, {k: v for k, v in cfg.items() if not k.startswith("_")})
            checkpoints.settle_run_record(output_dir, record, force)
            if "wandb_run_id" not in meta:
                meta["wandb_run_id"] = hashlib.sha1(f"{meta['run_name']}:{output_dir}:{time.time()}".encode()).hexdigest()[:12]
                ui.write_json_atomic(output_dir / checkpoints.METADATA, meta)
        except BaseException:
            checkpoints.release_lock(output_dir)
            raise
        return (str(path) if path else None), step, meta

    resume_path, resume_step, meta = _rank0_decides(bookkeeping, is_main)
    run_name = meta["run_name"]
    writer = MetricsWriter(output_dir / "metrics.jsonl", is_main)
    status = "failed"
    ctx = {"tag": tag, "writer": writer, "stop": stop, "main": is_main, "resumed_from": resume_step if resume_path else None,
           "log_file": log_file, "run_name": run_name, "keep": cfg["training"]["save_total_limit"], "losses": []}
    try:
        if is_main:
            ui.info(tag, f"Run {run_name}: config {config}, output {output_dir}" + (f", log {log_file}" if log_file else ""))
            if resume_path:
                ui.warning(f"RESUME: Found checkpoint at step {resume_step}. Resuming training.")
            else:
                ui.info(tag, "No complete checkpoint: starting from step 0.")
        from tasks.train import mlx_backend  # Apple's MLX: the same run folder, metrics and adapter layout

        mlx_backend.require_backend(resume_path, cfg["training"]["backend"])
        status = (mlx_backend.train if cfg["training"]["backend"] == "mlx" else _train)(cfg, tag, output_dir, resume_path, state, ctx, meta)
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        writer.write("end", status=status, step=ctx.get("step", resume_step))
        if is_main:
            checkpoints.release_lock(output_dir)
    if status == "interrupted":
        ui.warning(f"Stopped at step {ctx['step']} on {signal.Signals(stop.signum).name}: checkpoint complete in {output_dir}. "
                   f"Run the same command again (or `make resume`) to continue from it.")
        return 1
    return 0


def _train(cfg: dict, tag: str, output_dir: Path, resume_path: str | None, state, ctx: dict, meta: dict) -> str:
    import torch

    from tasks.train import template

    quiet_libraries()
    is_main = state.is_main_process
    say = (lambda m: ui.info(tag, m)) if is_main else (lambda m: None)
    choice = choose_device(cfg)
    say(f"Device: {choice.reason}")
    for w in choice.warnings:
        if is_main:
            ui.warning(w)

    base = resolve_base(cfg)
    from tasks.train import model_cache

    tokenizer = template.load_tokenizer(None if cfg["model"]["base"] == "tiny" else model_cache.load_source(base, cfg["model"].get("cache_dir")))
    t = cfg["training"]
    data = cfg["data"]
    train_set, train_stats = load_examples(data["train"], tokenizer, data["max_seq_length"], data["max_train_examples"])
    val_path = Path(data["validation"])
    eval_set = None
    if t["eval_steps"] and val_path.is_file():
        eval_set, _ = load_examples(str(val_path), tokenizer, data["max_seq_length"], data["max_eval_examples"])
    elif t["eval_steps"]:
        ui.warning(f"{val_path}: validation file not found; training runs without evaluation")
    say(f"Data: {len(train_set)} conversations, {train_stats['tokens']:,} tokens ({train_stats['trained_tokens']:,} carry the loss); "
        f"longer than {data['max_seq_length']}: {train_stats['shortened']} shortened to their last complete answer, "
        f"{train_stats['dropped']} dropped (no complete answer fits); {train_stats['no_trained_tokens']} without an answer skipped"
        + (f"; evaluation on {len(eval_set)} validation conversations" if eval_set else ""))
    data_hashes = {"train": {"path": data["train"], "sha256": file_sha256(data["train"]), "conversations": len(train_set),
                             "max_seq_length": data["max_seq_length"], "shortened": train_stats["shortened"],
                             "dropped": train_stats["dropped"]}}
    ctx["writer"].write("data", conversations=len(train_set), max_seq_length=data["max_seq_length"],
                        shortened=train_stats["shortened"], dropped=train_stats["dropped"],
                        no_trained_tokens=train_stats["no_trained_tokens"])
    if val_path.is_file():
        data_hashes["validation"] = {"path": data["validation"], "sha256": file_sha256(val_path)}

    torch.manual_seed(t["seed"])  # the adapter's initial weights
    model = load_model(cfg, choice, base)
    trainable, total = model.get_nb_trainable_parameters()
    say(f"Model: {base} with LoRA r={cfg['lora']['r']} alpha={cfg['lora']['alpha']} on {', '.join(cfg['lora']['target_modules'])}: "
        f"{trainable:,} trainable of {total:,} parameters ({100 * trainable / total:.3f}%)")

    report_to, offline = setup_wandb(cfg, output_dir, meta, tag) if is_main else ("none", False)
    distributed = state.num_processes > 1
    trainer = make_trainer(cfg, choice, model, tokenizer, train_set, eval_set, output_dir, meta["run_name"], report_to, distributed)
    run_cb = _callbacks(ctx)
    trainer.add_callback(run_cb)
    trainer.stop_request = ctx["stop"]

    if ctx["stop"].requested:
        ctx["step"] = ctx["resumed_from"] or 0
        return "interrupted"
    try:
        trainer.train(resume_from_checkpoint=resume_path)
    except torch.OutOfMemoryError as exc:
        raise ui.Fail(f"out of memory on {choice.device} (lower training.per_device_batch_size or data.max_seq_length, "
                      f"or turn on training.gradient_checkpointing)") from exc
    step = trainer.state.global_step
    ctx["step"] = step
    if distributed:
        # One line per rank: DDP keeps the replicas identical, and this shows it.
        checksum = sum(p.detach().double().sum().item() for p in model.parameters() if p.requires_grad)
        ui.info(tag, f"rank {state.process_index}/{state.num_processes}: step {step}, adapter checksum {checksum:.10e}")
    if (run_cb.interrupted_at is not None or ctx["stop"].requested) and step < trainer.state.max_steps:
        return "interrupted"

    if is_main:
        save_final(trainer, output_dir, cfg, data_hashes, step, meta["run_name"])
        report_finished(tag, output_dir, step, ctx["losses"], offline)
    return "finished"


def report_finished(tag: str, output_dir: Path, step: int, losses: list, offline: bool, note: str = "") -> None:
    """The closing lines of a finished run (either backend): the loss travelled, the adapter, the W&B upload."""
    if losses:
        ui.info(tag, f"Loss: {losses[0][1]:.4f} at step {losses[0][0]} -> {losses[-1][1]:.4f} at step {losses[-1][0]}")
    ui.success(f"[{tag}-COMPLETE] Adapter saved to {output_dir} (step {step}{note}).")
    if offline:
        runs = sorted((output_dir / "wandb").glob("offline-run-*"))
        if runs:
            ui.info(tag, f"Upload the W&B logs: wandb sync {runs[-1]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="training config (configs/training_config_<h100|m4|cpu>.yaml)")
    parser.add_argument("--gpus", type=int, default=1, help="processes (GPUs) for DDP; >1 runs under accelerate launch")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. training.max_steps=20 (repeatable)")
    parser.add_argument("--log-file", default=None, help="where the launcher tees this run's output (recorded in metrics.jsonl)")
    parser.add_argument("--force", action="store_true", default=os.environ.get(FORCE_ENV) == "1",
                        help=f"resume even though settings changed since the run's first start (also {FORCE_ENV}=1)")
    args = parser.parse_args(argv)
    if args.gpus < 1:
        parser.error(f"--gpus {args.gpus}: expected 1 or more")
    if args.gpus > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return ui.main_guard(_relaunch_distributed, args, args.gpus)
    return ui.main_guard(run, args.config, args.overrides, args.log_file, args.force)


if __name__ == "__main__":
    raise SystemExit(main())

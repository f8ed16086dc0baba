"""Prove the CUDA training path on any lent GPU in minutes: `make gpu-check`.

    python -m tasks.train.gpu_check [--tiny] [--log logs/gpu_check.json] [--budget 460] [--only part,...] [--peak-tflops N] [--layers N]
    make gpu-check

With no download: a Mistral-7B-Instruct-v0.2-shaped model built from its config with random
weights (all 32 layers when the GPU's free memory holds the largest micro-batch `make plan`
sizes, else fewer, said and scaled), the H100 profile's LoRA and batching
(configs/training_config_h100.yaml), the project's template and collator on the tracked data
(data/synthetic/final_train.jsonl). Parts, each with its own time limit, each one JSON line
appended to the log (after an `env` line; a `summary` line closes the run), in tasks/train/gpu_check_parts.py:

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
On a bare machine: docs/TRAINING_H100.md, "Checking a GPU in minutes" (`--wheels`).
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
from tasks.train.gpu_check_parts import TAG, PartTimeout, SkipPart, part_attention, part_memory, part_padding, part_resume, part_throughput

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
# What the check needs beyond torch on a bare GPU machine, and their dependencies (`--wheels`); the
# torch family, numpy and flash-attn are the machine's (flash-attn's wheel is built for one torch).
TOP_LEVEL = ("transformers", "peft", "accelerate", "jsonschema", "pyyaml", "jinja2")  # jinja2: the chat template
MACHINE_OWN = ("torch", "triton", "numpy", "setuptools", "flash-attn")


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


def setup(s: Settings, workdir: Path, peak_tflops: float | None, max_layers: int | None = None) -> tuple[dict, dict]:
    """Data, the layer count, the random model with LoRA and its Trainer; the `env` line."""
    import torch

    from tasks.train import plan, template, train

    tok = template.load_tokenizer()
    data = head_of_data(workdir / "train.jsonl", s.conversations)
    probe = load_config(H100_CONFIG, overrides(s, workdir / "model", workdir / "throughput", data))
    choice = train.choose_device(probe)
    for w in choice.warnings:
        ui.warning(f"[{TAG}] {w}")
    batch = probe["training"]["per_device_batch_size"]
    longest = longest_examples(tok, probe["data"]["max_seq_length"], batch, 2000, workdir)
    full = plan.tiny_shape(load_config(CPU_CONFIG)["model"]["tiny"]) if s.tiny else plan.MISTRAL_7B
    cuda = choice.device == "cuda"
    layers, why = choose_layers(full, probe, choice, sum(len(e["input_ids"]) for e in longest), torch.cuda.mem_get_info()[0] if cuda else None)
    if max_layers and max_layers < layers:
        layers, why = max_layers, f"{max_layers} of {full.layers} layers (--layers {max_layers}): results scaled by FLOPs"
    shape = dataclasses.replace(full, layers=layers)
    dims = {"hidden_size": shape.hidden, "intermediate_size": shape.intermediate, "num_hidden_layers": layers,
            "num_attention_heads": shape.heads, "num_key_value_heads": shape.kv_heads}
    model_dir = write_model_folder(workdir / "model", dims, tok)
    sets = overrides(s, model_dir, workdir / "throughput", data) + [f"training.max_steps={s.warmup + s.steps}", "training.logging_steps=1000"]
    cfg = load_config(H100_CONFIG, sets + ([f"training.gradient_accumulation_steps={s.accumulation}"] if s.accumulation else []))
    train_set, _ = train.load_examples(str(data), tok, cfg["data"]["max_seq_length"])
    torch.manual_seed(cfg["training"]["seed"])
    model = random_load_model(cfg, choice, str(model_dir))
    trainer = train.make_trainer(cfg, choice, model, tok, train_set, None, workdir / "throughput", "gpu-check", save=False)
    gpu = torch.cuda.get_device_name() if cuda else "cpu"
    peak = (peak_tflops * 1e12, f"--peak-tflops {peak_tflops:g}") if peak_tflops else gpu_peak(gpu) if cuda else (None, "no peak for a CPU (pass --peak-tflops)")
    resume_data = head_of_data(workdir / "resume.jsonl", 2 * s.resume_steps * s.resume_accumulation * batch)
    resume_sets = overrides(s, model_dir, workdir / "resume", resume_data) + [
        f"training.max_steps={s.resume_steps}", f"training.gradient_accumulation_steps={s.resume_accumulation}",
        "training.logging_steps=1", "training.save_steps=1000", "training.warmup_steps=2"]
    spec = workdir / "child.json"
    spec.write_text(json.dumps({"config": str(H100_CONFIG), "overrides": resume_sets}), encoding="utf-8")
    versions = {m: getattr(sys.modules.get(m), "__version__", None) for m in ("torch", "transformers", "peft", "accelerate")}
    versions["flash_attn"] = getattr(sys.modules.get("flash_attn"), "__version__", None) if train._flash_attn_importable() else None
    trainable = model.get_nb_trainable_parameters()[0]
    env_row = {"status": "ok", "device": gpu, "dtype": choice.dtype, "attention": choice.attn_implementation,
               "padding_free": choice.padding_free, "layers": layers, "layers_full": full.layers, "layers_why": why,
               "params": shape.params(), "trainable": trainable, "versions": versions, "cuda": torch.version.cuda,
               "gpu_memory_gb": round(torch.cuda.get_device_properties(0).total_memory / 1e9, 1) if cuda else None,
               "conversations": len(train_set), "data": f"{FINAL_TRAIN.relative_to(ROOT)}, first {s.conversations} lines"}
    ui.info(TAG, f"{gpu}: {choice.reason}; model {why}, {shape.params():,} parameters, LoRA r={cfg['lora']['r']} on "
                 f"{len(cfg['lora']['target_modules'])} projections ({trainable:,} trainable); {len(train_set)} conversations")
    ctx = {"settings": s, "cfg": cfg, "choice": choice, "tok": tok, "trainer": trainer, "train_set": train_set, "shape": shape,
           "full_shape": full, "peak": peak, "longest": longest, "longest_pool": 2000, "workdir": workdir,
           "child_spec": spec, "resume_out": workdir / "resume"}
    return ctx, env_row


def run(tiny: bool, log_path: Path, budget: float, only: list[str], peak_tflops: float | None, max_layers: int | None = None) -> int:
    started = time.monotonic()
    s, log = (TINY if tiny else GPU), Log(log_path, "tiny" if tiny else "gpu")
    import gc

    import torch

    from tasks.train import train

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
    # Nothing is downloaded: with the Hub off, a machine with no network never waits on a lookup (the child inherits it).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        limit = min(s.limits["setup"], budget)
        try:
            with time_limit(limit):
                ctx, env_row = setup(s, workdir, peak_tflops, max_layers)
        except PartTimeout:
            raise ui.Fail(f"setup (data, the random model, the Trainer) took over {limit:.0f} s: nothing measured") from None
        log.write("env", {**env_row, "setup_s": round(time.monotonic() - started, 1)})
        ctx["only"] = only
        for name, fn in (("throughput", part_throughput), ("padding", part_padding), ("memory", part_memory),
                         ("attention", part_attention), ("resume", part_resume)):
            if name == "resume":  # the resume child needs the GPU memory this process holds
                ctx.pop("trainer")
                gc.collect()
                if ctx["choice"].device == "cuda":
                    torch.cuda.empty_cache()
                    ctx["main_process_gpu_gb"] = round(torch.cuda.memory_allocated() / 1e9, 2)
            run_part(ctx, log, name, fn, started + budget)
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


def wheels(folder: str) -> int:
    """Download, here (PyPI), the environment-remote.yml pins of TOP_LEVEL and their dependencies into `folder` (Python 3.11, 3.10, 3.12)."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "environment-remote.yml").read_text(encoding="utf-8").splitlines():
        item = line.strip().removeprefix("- ")
        if "==" in item:
            pins[canonicalize_name(item.split("==")[0])] = item.split("==")[1].strip()
    names, todo = [], list(TOP_LEVEL)
    while todo:  # the closure of TOP_LEVEL's requirements, as installed in this environment
        name = canonicalize_name(todo.pop())
        if name in names or name in MACHINE_OWN or name.startswith("nvidia-"):
            continue
        names.append(name)
        for r in metadata.requires(name) or []:
            req = Requirement(r)
            if req.marker is None or req.marker.evaluate({"extra": "", "python_version": "3.11", "sys_platform": "linux"}):
                todo.append(req.name)
    missing = sorted(n for n in names if n not in pins)
    if missing:
        raise ui.Fail(f"environment-remote.yml: no pin for {', '.join(missing)} (pin it there, as the pod installs it)")
    Path(folder).mkdir(parents=True, exist_ok=True)
    # Installed with --no-deps: exactly these versions, and pip never re-resolves the machine's own torch.
    (Path(folder) / "requirements.txt").write_text("".join(f"{n}=={pins[n]}\n" for n in sorted(names)), encoding="utf-8")
    done = []
    for py in ("3.11", "3.10", "3.12"):  # 3.11 is the pod's; the others for a machine with its own Python
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                            "--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
                            "--python-version", py, "-d", folder, *(f"{n}=={pins[n]}" for n in names)], capture_output=True, text=True)
        if r.returncode == 0:
            done.append(py)
        else:
            ui.warning(f"[{TAG}] no complete set for Python {py}: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    if not done:
        raise ui.Fail("pip download found no complete set of the pinned wheels for Python 3.10-3.12 (see the lines above)")
    size = sum(f.stat().st_size for f in Path(folder).iterdir()) / 2**20
    ui.success(f"[{TAG}] {len(names)} packages for Python {', '.join(done)} in {folder} ({size:.0f} MiB); on the GPU machine: "
               f"python -m pip install --no-index --no-deps --find-links {folder} -r {folder}/requirements.txt")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the same check on the CPU with the tiny shape (configs/training_config_cpu.yaml)")
    parser.add_argument("--log", default=str(LOG), help="JSON lines file the results are appended to")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds for the whole check (each part also has its own limit)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run, comma-separated ({', '.join(PARTS)})")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's dense bf16 peak, for a GPU not in the table")
    parser.add_argument("--layers", type=int, default=None, help="build at most this many decoder layers (results scaled by FLOPs)")
    parser.add_argument("--wheels", metavar="DIR", help="download the pinned wheels the check needs on a bare GPU machine into DIR (needs PyPI), then stop")
    parser.add_argument("--train-child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.layers is not None and args.layers < 1:
        parser.error(f"--layers {args.layers}: expected 1 or more")
    if args.train_child:
        return train_child(args.train_child)
    if args.wheels:
        return ui.main_guard(wheels, args.wheels)
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in only if p not in PARTS]
    if unknown:
        parser.error(f"--only {','.join(unknown)}: unknown part (expected {', '.join(PARTS)})")
    return ui.main_guard(run, args.tiny, Path(args.log), args.budget, only, args.peak_tflops, args.layers)


if __name__ == "__main__":
    raise SystemExit(main())

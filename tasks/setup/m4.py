"""Set up an Apple Silicon Mac: check the machine, build .venv-local, prove MPS works, validate, link data.

    make setup-m4 [PYTHON=python3.11] [RECREATE=1]   # every step through stamps in .stamps/
    python3 -m tasks.setup.m4                         # every step in order, without stamps
    python3 -m tasks.setup.m4 --step machine|venv|finish [--python python3.11] [--stamp PATH]
    .venv-local/bin/python -m tasks.setup.m4 --preflight --config configs/training_config_m4.yaml   # make preflight-m4

Steps: `machine` (an Apple M chip from `system_profiler SPHardwareDataType`, an
arm64 shell, macOS 14+, Python 3.10+ from `PYTHON --version`, unified memory
from `sysctl hw.memsize` as INSUFFICIENT < 16 GB, LIMITED 16-32 GB or SUFFICIENT
32 GB+ for the MLX footprint, 50 GB free); `venv` (.venv-local from requirements-local.txt, then from
inside it the pinned versions, MPS available and a real matmul on it); `finish`
(the memory fit, data links, W&B, this Mac's hours, the summary). The memory fit reads Metal's
budget (`sysctl iogpu.wired_limit_mb` when set, else two thirds of memory below 36 GB and three
quarters above) and says what `make train-m4` turns on to fit it (tasks/train/mlx_plan.choose);
the pre-flight fails a run that cannot fit. `--preflight` is the check-only part
that `make train-m4` runs first (MLX on the Metal GPU, or MPS with training.backend:
torch); there INSUFFICIENT memory fails. The machine and
venv steps use the standard library only: the system python3 runs them.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tasks import ui

from tasks.setup import probes, wandb_auth
from tasks.setup.probes import FAIL, OK, WARN, Check
from tasks.train import mlx_plan

TAG = "SETUP-M4"
ROOT = probes.ROOT
VENV = ROOT / ".venv-local"
REQUIREMENTS = ROOT / "requirements-local.txt"
DEFAULT_CONFIG = "configs/training_config_m4.yaml"
# torch 2.13 publishes Mac wheels for macOS 14+ only (macosx_14_0_arm64), and MPS bf16 needs 14 too.
MIN_MACOS = "14.0"
MIN_FREE_GB = 50
KEY_PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "mistral-common", "wandb")
# The MLX backend's peak as Metal runs it (tasks/train/mlx_plan.py; make plan CONFIG=configs/training_config_m4.yaml),
# at 2,048 tokens: 32.8 GB without gradient checkpointing (of which 8.7 GB the unfused attention's L^2 term), 8.0 GB
# with it. Metal lets a process use about two thirds of unified memory below 36 GB and three quarters from 36 GB.
MEMORY_MEANING = {
    "INSUFFICIENT": "even MLX's 4-bit 7B with gradient checkpointing needs about 8.0 GB of Metal's working set, so a 7B LoRA does not fit",
    "LIMITED": "MLX's 4-bit base fits with gradient checkpointing (about 8.0 GB, 1.5x the time; train-m4 turns it on); "
               "PyTorch/MPS's 14.5 GB of bf16 weights do not fit",
    "SUFFICIENT": "MLX's 4-bit base fits; without gradient checkpointing (32.8 GB at 2,048 tokens) from 48 GB, "
                  "with it below (train-m4 turns it on, 1.5x the time)",
}


# ----------------------------------------------------------------- machine checks


def check_chip() -> Check:
    proc = probes.run_command(["system_profiler", "SPHardwareDataType"])
    not_mac_fix = "train on the H100 instead (make setup-h100 on RunPod), or run make demo on the CPU"
    if proc is None:
        return Check("Chip", FAIL, "system_profiler not found: this is not a Mac", not_mac_fix)
    info = probes.parse_system_profiler(proc.stdout)
    chip = info.get("Chip", "")
    if chip.startswith("Apple M"):
        return Check("Chip", OK, f"{chip} ({info.get('Model Name', 'Mac')})")
    what = info.get("Processor Name") or chip or "no Apple M chip reported"
    return Check("Chip", FAIL, f"{what}: MPS training needs Apple Silicon (an Apple M chip)", not_mac_fix)


def check_arm64() -> Check:
    """A terminal under Rosetta runs x86_64 programs, whose torch has no MPS."""
    proc = probes.run_command(["uname", "-m"])
    machine = probes.first_line(proc.stdout) if proc else "uname not found"
    if machine != "arm64":
        return Check("Architecture", FAIL, f"{machine}: this shell runs under Rosetta or is not on Apple Silicon",
                     "open a native arm64 terminal (Terminal > Get Info > untick 'Open using Rosetta') and use an arm64 python3")
    return Check("Architecture", OK, machine)


def check_macos() -> Check:
    proc = probes.run_command(["sw_vers", "-productVersion"])
    version = probes.first_line(proc.stdout) if proc else ""
    if not version:
        return Check("macOS", FAIL, "sw_vers not found: this is not a Mac", "train on the H100 instead (make setup-h100)")
    if not probes.at_least(version, MIN_MACOS):
        return Check("macOS", FAIL, f"{version} is older than {MIN_MACOS}: torch 2.13 has no wheel for it and MPS bf16 needs 14",
                     "update macOS to 14 (Sonoma) or newer")
    return Check("macOS", OK, f"{version} (>= {MIN_MACOS})")


def memory() -> tuple[float | None, str]:
    proc = probes.run_command(["sysctl", "hw.memsize"])
    size = probes.parse_memsize(proc.stdout) if proc and proc.returncode == 0 else None
    if size is None:
        return None, "sysctl hw.memsize gave no size" if proc else "sysctl not found"
    return size / 2**30, ""


def wired_limit_mb() -> int | None:
    """`sysctl iogpu.wired_limit_mb`: the GPU memory limit someone set (0 or absent: macOS's default)."""
    proc = probes.run_command(["sysctl", "iogpu.wired_limit_mb"])
    if proc is None or proc.returncode != 0:
        return None
    key, _, value = proc.stdout.strip().partition(":")
    value = value.strip()
    return int(value) if key.strip() == "iogpu.wired_limit_mb" and value.isdigit() and int(value) > 0 else None


def metal_budget() -> tuple[int | None, str]:
    """(bytes Metal gives one process on this Mac, how it was found), or (None, the problem)."""
    gib, problem = memory()
    if gib is None:
        return None, problem
    return mlx_plan.metal_budget(round(gib * 2**30), wired_limit_mb())


def fit_overrides(cfg: dict) -> tuple[dict, str]:
    """The --set overrides that make an MLX config fit this Mac's Metal budget (train-m4 applies them), and why; ({}, '')
    when it fits as it is, when it is not an MLX run on a Mac, or when nothing fits (the pre-flight refuses it)."""
    if cfg["training"]["backend"] != "mlx" or cfg["profile"] != "m4":
        return {}, ""
    budget, how = metal_budget()
    if budget is None:
        return {}, ""
    choice = mlx_plan.choose(cfg, budget)
    if not choice["fits"] or not choice["overrides"]:
        return {}, ""
    return choice["overrides"], (f"this Mac's Metal budget is {budget / mlx_plan.GB:.1f} GB ({how}); the config needs "
                                 f"{choice['configured_need'] / mlx_plan.GB:.1f} GB at {cfg['data']['max_seq_length']} tokens, "
                                 f"more than {mlx_plan.usable(budget) / mlx_plan.GB:.1f} (the budget less {mlx_plan.MARGIN:.0%}): "
                                 f"training with {choice['why']}")


def check_fit(config: str) -> Check:
    """Does the config's run fit this Mac's Metal budget with the margin (after train-m4's own choice, for MLX)?"""
    from tasks.config import load_config

    name = "Memory fit"
    try:
        cfg = load_config(config)
    except ui.Fail:
        return Check(name, WARN, f"{config}: not checked (the Config check reports the problem)")
    budget, how = metal_budget()
    if budget is None:
        return Check(name, FAIL, how, "run on a Mac")
    limit = mlx_plan.usable(budget)
    gb = mlx_plan.GB
    seq = cfg["data"]["max_seq_length"]
    where = f"budget {budget / gb:.1f} GB ({how}) less {mlx_plan.MARGIN:.0%} = {limit / gb:.1f} GB"
    if cfg["training"]["backend"] != "mlx":
        from tasks.train import plan

        t, lora = cfg["training"], cfg["lora"]
        need = plan.memory(plan.MISTRAL_7B, lora["r"], list(lora["target_modules"]), seq * t["per_device_batch_size"],
                           t["gradient_checkpointing"], False, lora["dropout"] > 0, "sdpa", False)["total"]
        if need <= limit:
            return Check(name, OK, f"PyTorch/MPS needs {need / gb:.1f} GB at {seq} tokens; {where}")
        return Check(name, FAIL, f"PyTorch/MPS needs {need / gb:.1f} GB at {seq} tokens (bf16 weights 14.5 GB); {where}",
                     "set training.backend: mlx with model.load_in_4bit: true (configs/training_config_m4.yaml), "
                     "or training.gradient_checkpointing: true and a lower data.max_seq_length")
    choice = mlx_plan.choose(cfg, budget)
    if not choice["fits"]:
        return Check(name, FAIL, f"MLX needs {choice['configured_need'] / gb:.1f} GB at {seq} tokens and {choice['why']}; {where}",
                     "train on the H100 (make setup-h100 on RunPod), or close other apps and raise the limit "
                     "(sudo sysctl iogpu.wired_limit_mb=<MB>)")
    if not choice["overrides"]:
        return Check(name, OK, f"MLX needs {choice['need'] / gb:.1f} GB at {seq} tokens; {where}")
    sets = " ".join(f"--set {k}={str(v).lower()}" for k, v in choice["overrides"].items())
    return Check(name, WARN, f"MLX needs {choice['configured_need'] / gb:.1f} GB at {seq} tokens as configured; {where}; "
                             f"train-m4 trains with {choice['why']} ({sets})",
                 "close other apps; a Mac with more memory trains without checkpointing")


def this_mac() -> tuple[str, int, int] | None:
    """(chip key, unified memory GB, GPU cores) of this Mac when it is one of mlx_plan.MACS, else None."""
    proc = probes.run_command(["system_profiler", "SPHardwareDataType"])
    gib, _ = memory()
    if proc is None or gib is None:
        return None
    chip = probes.parse_system_profiler(proc.stdout).get("Chip", "")
    key = {"Apple M4": "m4", "Apple M4 Pro": "m4-pro", "Apple M4 Max": "m4-max"}.get(chip)
    return next(((c, ram, cores) for c, ram, cores in mlx_plan.MACS if c == key and ram == round(gib)), None)


def this_mac_hours(config: str) -> str:
    """The plan's hours for this config on this Mac (its chip, memory and the memory fit), as a phrase."""
    from tasks.config import load_config
    from tasks.train import plan

    fallback = f"`make plan CONFIG={config}` estimates the hours for each M4 Mac"
    mac = this_mac()
    try:
        cfg = load_config(config)
        lengths = plan.conversation_lengths(plan.data_path(cfg, None), cfg["data"]["max_seq_length"],
                                            cfg["data"]["max_train_examples"])
    except ui.Fail:
        return fallback
    if mac is None or cfg["training"]["backend"] != "mlx":
        return fallback
    p = plan.plan(cfg, lengths, m4_chip=mac[0], **plan.measured_m4_speed(cfg))
    row = next(r for r in p["mlx"]["macs"] if (r["chip"], r["ram_gb"]) == mac[:2])
    how = " with gradient checkpointing" if row["overrides"] else ""
    return (f"this {row['mac']} ({row['gpu_cores']} GPU cores) trains the profile's {p['total_tokens']:,} tokens{how} in about "
            f"{row['hours']} hours by `make plan CONFIG={config}`")


def check_memory(preflight: bool = False) -> Check:
    """Unified memory as INSUFFICIENT / LIMITED / SUFFICIENT; INSUFFICIENT fails only before training."""
    gib, problem = memory()
    if gib is None:
        return Check("Unified Memory", FAIL, problem, "run on a Mac")
    category = probes.memory_category(gib)
    value = f"{gib:.0f}GB {category}: {MEMORY_MEANING[category]}"
    if category == "SUFFICIENT":
        return Check("Unified Memory", OK, value)
    if category == "LIMITED":
        return Check("Unified Memory", WARN, value, "close other applications before training; the H100 path is faster")
    return Check("Unified Memory", FAIL if preflight else WARN, value,
                 "train on the H100 (make setup-h100 on RunPod); this Mac can still run make demo")


def python_fix(python: str) -> str:
    return f"brew install python@3.11, then make setup-m4 PYTHON=python3.11 (now: {python})"


def machine_checks(python: str) -> list[Check]:
    return [check_chip(), check_arm64(), check_macos(), probes.check_python(python, fix=python_fix(python)),
            check_memory(), probes.check_storage(ROOT, MIN_FREE_GB)]


# ----------------------------------------------------------------- the venv


def venv_python() -> str:
    return str(VENV / "bin" / "python")


def _run(args: list[str], what: str, fix: str) -> None:
    ui.info(TAG, "$ " + " ".join(str(a) for a in args))
    rc = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL, cwd=ROOT).returncode
    if rc != 0:
        raise ui.Fail(f"{what}: failed (exit {rc}) ({fix})")


def build_venv(python: str, recreate: bool) -> str:
    """.venv-local from `python`, then requirements-local.txt into it."""
    py = venv_python()
    if VENV.exists() and recreate:
        ui.info(TAG, "RECREATE=1: removing .venv-local and creating it again")
        shutil.rmtree(VENV)
    elif Path(py).exists():
        found = probes.python_version(py)
        if found is None or not probes.at_least(found, probes.MIN_PYTHON):
            ui.info(TAG, f".venv-local has Python {found or 'that does not run'}: removing it and creating it again with {python}")
            shutil.rmtree(VENV)
    if Path(py).exists():
        ui.info(TAG, ".venv-local exists: bringing it to requirements-local.txt (RECREATE=1 rebuilds it)")
    else:
        _run([python, "-m", "venv", VENV], "python -m venv .venv-local", f"check that {python} has the venv module")
        ui.success(f"Virtual environment created: .venv-local (Python {probes.python_version(py)})")
    pip_fix = "read pip's message above; rm -rf .venv-local and rerun make setup-m4 if it is broken"
    _run([py, "-m", "pip", "install", "--upgrade", "pip"], "pip install --upgrade pip", pip_fix)
    _run([py, "-m", "pip", "install", "-r", REQUIREMENTS], "pip install -r requirements-local.txt", pip_fix)
    return py


def venv_checks(python: str) -> list[Check]:
    """From inside the venv: pinned versions, MPS available and a 100x100 matmul on it."""
    env = probes.probe_env(python, KEY_PACKAGES, "mps")
    fix = "RECREATE=1 make setup-m4 rebuilds .venv-local from requirements-local.txt"
    checks = [probes.check_packages(env, probes.read_pins(REQUIREMENTS), KEY_PACKAGES, ".venv-local", fix)]
    checks.append(mps_check(env, fix))
    return checks


def mps_check(env: dict, fix: str) -> Check:
    if env.get("error"):
        return Check("MPS", FAIL, f"torch did not run: {env['error']}", fix)
    if not env.get("available"):
        built = "built with MPS" if env.get("built") else "built without MPS"
        return Check("MPS", FAIL, f"torch {env['versions'].get('torch')} ({built}) reports MPS unavailable",
                     "use an arm64 python on macOS 14+ (not under Rosetta), then RECREATE=1 make setup-m4")
    if not env.get("matmul"):
        return Check("MPS", FAIL, "a 100x100 matmul on mps gave a wrong result", "update macOS, then rerun")
    return Check("MPS", OK, f"MPS backend available: torch {env['versions'].get('torch')}, 100x100 matmul on mps ok")


# ----------------------------------------------------------------- steps


def step_machine(python: str) -> None:
    ui.info(TAG, "Starting Mac M4 local setup")
    probes.report_all(machine_checks(python), "machine checks")


def step_venv(python: str, recreate: bool = False, stamp: str | None = None) -> str:
    ui.info(TAG, "Virtual environment .venv-local from requirements-local.txt")
    py = build_venv(python, recreate)
    probes.report_all(venv_checks(py), "environment checks")
    ui.success("Packages installed")
    if stamp:
        ui.write_text_atomic(stamp, str(VENV))
    return py


def step_finish(config: str, wandb_cli: str | None = None) -> None:
    probes.report_all([check_fit(config)], "memory")
    probes.report_all([probes.check_data_links()], "data")
    ui.success("Data paths verified")
    wandb_auth.run(verify=True, tag=TAG, cli=wandb_cli)
    ui.warning(f"WARNING: M4 training takes many hours: {this_mac_hours(config)} "
               "(docs/TRAINING_M4.md has every M4 Mac); `make train-m4` measures this Mac's speed over its first 20 steps "
               "(make plan then uses it) and prints an ETA after 100")
    ui.warning("Close unnecessary applications to free unified memory")
    ui.info("SETUP-M4-COMPLETE", "Ready for local training")
    ui.info(TAG, "Next step: make train-m4")



def _backend(config: str) -> str:
    """training.backend of the config; an invalid config counts as torch here (the Config check reports it)."""
    from tasks.config import load_config

    try:
        return load_config(config)["training"]["backend"]
    except ui.Fail:
        return "torch"


def mlx_check() -> Check:
    """MLX importable and running on the Metal GPU (its CPU build would train, hours times slower)."""
    fix = "make setup-m4 (requirements-local.txt pins mlx, mlx-metal and mlx-lm), or set training.backend: torch"
    if importlib.util.find_spec("mlx") is None or importlib.util.find_spec("mlx_lm") is None:
        return Check("MLX", FAIL, "mlx or mlx-lm is not installed in this python", fix)
    import mlx.core as mx

    if mx.default_device() != mx.gpu:
        return Check("MLX", FAIL, f"MLX {mx.__version__} has no Metal GPU here (only the CPU)",
                     "use an arm64 python on Apple Silicon (not under Rosetta), then RECREATE=1 make setup-m4")
    return Check("MLX", OK, f"MLX {mx.__version__} on the Metal GPU")


def preflight(config: str) -> None:
    """train-m4's pre-flight, in .venv-local's python: changes nothing."""
    tag = "TRAINING-M4"
    ui.info(tag, "Pre-flight checks starting")
    checks = [check_chip(), check_memory(preflight=True), probes.check_storage(ROOT, MIN_FREE_GB)]
    if _backend(config) == "mlx":
        checks.append(mlx_check())
    elif importlib.util.find_spec("torch") is None:
        checks.append(Check("MPS", FAIL, "torch is not installed in this python", "make setup-m4"))
    else:
        checks.append(mps_check(probes.probe_env(sys.executable, ("torch",), "mps"), "make setup-m4"))
    checks += [probes.check_config(sys.executable, config), check_fit(config), probes.check_data_links(),
               probes.check_training_data(config)]
    probes.report_all(checks, "pre-flight")
    ui.success("Pre-flight checks passed")


def run(step: str | None = None, python: str = "python3", recreate: bool = False,
        config: str = DEFAULT_CONFIG, stamp: str | None = None) -> None:
    if step == "machine":
        step_machine(python)
    elif step == "venv":
        step_venv(python, recreate, stamp)
    elif step == "finish":
        step_finish(config)
    else:
        step_machine(python)
        py = step_venv(python, recreate)
        probes.report_all([probes.check_config(py, config)], "config validation")
        rc = subprocess.run([py, "-m", "tasks.data.links"], cwd=ROOT, stdin=subprocess.DEVNULL).returncode
        if rc != 0:
            raise ui.Fail(f"data links: python -m tasks.data.links failed (exit {rc}) (make data, then rerun)")
        step_finish(config, wandb_cli=str(VENV / "bin" / "wandb"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", choices=("machine", "venv", "finish"), help="run one step (default: all, in order)")
    parser.add_argument("--python", default=os.environ.get("PYTHON", "python3"),
                        help="Python 3.10+ that builds .venv-local (default: python3 on PATH)")
    parser.add_argument("--recreate", action="store_true", default=os.environ.get("RECREATE") == "1",
                        help="remove and recreate .venv-local (RECREATE=1)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="training config to validate")
    parser.add_argument("--stamp", help="file to write when the venv step succeeds (Make's stamp)")
    parser.add_argument("--preflight", action="store_true", help="train-m4's pre-flight checks only; changes nothing")
    args = parser.parse_args(argv)
    if args.preflight:
        return ui.main_guard(preflight, args.config)
    return ui.main_guard(run, args.step, args.python, args.recreate, args.config, args.stamp)


if __name__ == "__main__":
    raise SystemExit(main())

"""Set up an Apple Silicon Mac: check the machine, build .venv-local, prove MPS works, validate, link data.

    make setup-m4 [PYTHON=python3.11] [RECREATE=1]   # every step through stamps in .stamps/
    python3 -m tasks.setup.m4                         # every step in order, without stamps
    python3 -m tasks.setup.m4 --step machine|venv|finish [--python python3.11] [--stamp PATH]
    .venv-local/bin/python -m tasks.setup.m4 --preflight --config configs/training_config_m4.yaml   # make preflight-m4

Steps: `machine` (an Apple M chip from `system_profiler SPHardwareDataType`, an
arm64 shell, macOS 14+, Python 3.10+ from `PYTHON --version`, unified memory
from `sysctl hw.memsize` as INSUFFICIENT < 16 GB, LIMITED 16-32 GB or SUFFICIENT
32 GB+, 50 GB free); `venv` (.venv-local from requirements-local.txt, then from
inside it the pinned versions, MPS available and a real matmul on it); `finish`
(data links, W&B, the warnings, the summary). `--preflight` is the check-only part
that `make train-m4` runs first; there INSUFFICIENT memory fails. The machine and
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

TAG = "SETUP-M4"
ROOT = probes.ROOT
VENV = ROOT / ".venv-local"
REQUIREMENTS = ROOT / "requirements-local.txt"
DEFAULT_CONFIG = "configs/training_config_m4.yaml"
# torch 2.13 publishes Mac wheels for macOS 14+ only (macosx_14_0_arm64), and MPS bf16 needs 14 too.
MIN_MACOS = "14.0"
MIN_FREE_GB = 50
KEY_PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "mistral-common", "wandb")
MEMORY_MEANING = {
    "INSUFFICIENT": "the 7B model alone is 14.5 GB in bf16, so a 7B LoRA does not fit",
    "LIMITED": "the 14.5 GB of bf16 weights leave little room for activations: expect memory pressure and swapping "
               "(32 GB is the realistic floor for a 7B LoRA)",
    "SUFFICIENT": "room for the 14.5 GB of bf16 weights, the LoRA and activations at batch 1, sequence 2048",
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
    probes.report_all([probes.check_data_links()], "data")
    ui.success("Data paths verified")
    wandb_auth.run(verify=True, tag=TAG, cli=wandb_cli)
    ui.warning(f"WARNING: M4 training takes many hours (a Mac GPU has a small fraction of an H100's): `make plan CONFIG={config}` "
               "estimates them; `make train-m4` prints a measured ETA after 100 steps")
    ui.warning("Close unnecessary applications to free unified memory")
    ui.info("SETUP-M4-COMPLETE", "Ready for local training")
    ui.info(TAG, "Next step: make train-m4")



def preflight(config: str) -> None:
    """train-m4's pre-flight, in .venv-local's python: changes nothing."""
    tag = "TRAINING-M4"
    ui.info(tag, "Pre-flight checks starting")
    checks = [check_chip(), check_memory(preflight=True), probes.check_storage(ROOT, MIN_FREE_GB)]
    if importlib.util.find_spec("torch") is None:
        checks.append(Check("MPS", FAIL, "torch is not installed in this python", "make setup-m4"))
    else:
        checks.append(mps_check(probes.probe_env(sys.executable, ("torch",), "mps"), "make setup-m4"))
    checks += [probes.check_config(sys.executable, config), probes.check_data_links(), probes.check_training_data(config)]
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

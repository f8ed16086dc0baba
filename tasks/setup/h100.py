"""Set up a RunPod H100 pod: check the machine, build the conda env, flash-attn, validate, link data, W&B.

    make setup-h100 [RECREATE=1] [CONFIG=path]   # every step through stamps in .stamps/
    python3 -m tasks.setup.h100                  # every step in order, without stamps
    python3 -m tasks.setup.h100 --step machine|env|finish [--recreate] [--stamp PATH]
    python -m tasks.setup.h100 --preflight --config configs/training_config_h100.yaml   # train-h100 runs this
    python3 -m tasks.setup.h100 --print-python   # the env's python, for Make

Steps: `machine` (conda, x86_64, nvcc 12.1+, an 80 GB H100 or bigger Hopper, an
NVIDIA driver new enough for torch's CUDA 13.0, 50 GB free, tmux); `env` (the
`weatherman-lora` conda env from environment-remote.yml: created, or when it
exists recreated after a yes on a terminal / RECREATE=1 and otherwise updated;
then Flash Attention 2, whose failure is a warning because training falls back
to sdpa; then the env is checked from inside: pinned versions, torch on the GPU);
`finish` (data links present, W&B, the summary). Config validation and data
links are Make stamps in between. Nothing waits for a terminal: questions are
asked only on a TTY. The machine and env steps use the standard library only,
because the system python3 runs them before the env exists.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from tasks import ui

from tasks.setup import probes, wandb_auth
from tasks.setup.probes import FAIL, OK, WARN, Check

TAG = "SETUP-H100"
ROOT = probes.ROOT
ENV_NAME = "weatherman-lora"
ENV_FILE = ROOT / "environment-remote.yml"
DEFAULT_CONFIG = "configs/training_config_h100.yaml"
MIN_CUDA = "12.1"
# torch 2.13.0 from PyPI is built with CUDA 13.0 (it pulls nvidia-cuda-runtime 13.0.x; tests/test_requirements.py
# checks this against the resolved pins). CUDA 13.0 needs driver 580.65.06+ on Linux (NVIDIA's CUDA 13.0 release notes).
TORCH_CUDA = "13.0"
MIN_DRIVER = "580.65.06"
# An "80 GB" card reports 81559 MiB (H100 80GB HBM3 and PCIe); 80e9 bytes are 76,294 MiB. Below this is a 40/48 GB card.
MIN_GPU_MIB = 76_000
MIN_FREE_GB = 50
KEY_PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "mistral-common", "wandb")
MINIFORGE = ("curl -L -o /tmp/miniforge.sh https://github.com/conda-forge/miniforge/releases/latest/download/Miniforge3-Linux-x86_64.sh"
             " && bash /tmp/miniforge.sh -b -p /workspace/miniforge3 && source /workspace/miniforge3/bin/activate")
FLASH_ATTN_HELP = [
    "flash-attn troubleshooting:",
    f"  1. It downloads a prebuilt wheel only when one matches torch {TORCH_CUDA} CUDA / Python 3.11; otherwise it compiles (up to an hour)",
    f"     and the compile needs nvcc {TORCH_CUDA.split('.')[0]}.x (torch's CUDA major) and ninja: check `nvcc --version` and `ninja --version`",
    "  2. Out of memory while compiling: MAX_JOBS=4 conda run -n weatherman-lora pip install flash-attn --no-build-isolation",
    "  3. CUDA_HOME not found: export CUDA_HOME=/usr/local/cuda, then retry",
    "  4. Retry only this step later: rm .stamps/h100-env.stamp && make setup-h100 (the env is kept and updated, not rebuilt)",
    "  Training works without it: attention falls back to sdpa (slower) and padding-free batching is turned off.",
]


# ----------------------------------------------------------------- conda


def find_conda() -> str | None:
    return probes.which("conda")


def conda_base(conda: str) -> Path:
    """<base>/bin/conda or <base>/condabin/conda -> <base>, without running conda."""
    return Path(conda).resolve().parent.parent


def env_prefix(conda: str) -> Path | None:
    """The weatherman-lora env's folder from `conda env list --json`, or None."""
    proc = probes.run_command([conda, "env", "list", "--json"])
    if proc is None or proc.returncode != 0:
        said = probes.last_lines(proc.stderr if proc else "conda vanished from PATH")
        raise ui.Fail(f"conda env list: failed ({said}) (check the conda install: conda info)")
    for path in json.loads(proc.stdout).get("envs", []):
        if Path(path).name == ENV_NAME:
            return Path(path)
    return None


def env_python(prefix: Path) -> str:
    return str(prefix / "bin" / "python")


def check_conda() -> Check:
    conda = find_conda()
    if conda is None:
        return Check("Conda", FAIL, "conda not found on PATH",
                     f"install Miniforge on the persistent volume: {MINIFORGE}; then rerun make setup-h100")
    proc = probes.run_command([conda, "--version"])
    version = probes.first_line(proc.stdout or proc.stderr) if proc else "?"
    base = conda_base(conda)
    # The container disk is wiped when a pod stops; an env under /opt/conda goes with it.
    if Path("/workspace").is_dir() and not str(base).startswith("/workspace"):
        return Check("Conda", WARN, f"{version} at {base}, on the container disk: the env is lost when the pod stops",
                     f"install Miniforge under /workspace to keep it ({MINIFORGE}), or rerun make setup-h100 after each restart")
    return Check("Conda", OK, f"{version} at {base}")


def check_arch() -> Check:
    proc = probes.run_command(["uname", "-sm"])
    value = probes.first_line(proc.stdout) if proc else "uname not found"
    if value != "Linux x86_64":
        return Check("Platform", FAIL, f"{value}: environment-remote.yml is pinned for Linux x86_64",
                     "deploy an x86_64 RunPod pod (H100 SXM or PCIe)")
    return Check("Platform", OK, value)


def check_gpu() -> list[Check]:
    """An H100 with 80 GB (81559 MiB), or a bigger Hopper (H200) with a note; smaller cards fail."""
    gpus, problem = probes.probe_gpus()
    if not gpus:
        return [Check("GPU", FAIL, problem, "deploy a RunPod pod with an H100 80GB GPU")]
    gpu = gpus[0]
    desc = f"{len(gpus)} x {gpu.name}, {gpu.memory_mib} MiB ({gpu.memory_mib / 1024:.1f} GiB)"
    if gpu.memory_mib < MIN_GPU_MIB:
        gpu_check = Check("GPU", FAIL, f"{desc}: the H100 profile needs an 80 GB card (>= {MIN_GPU_MIB} MiB)",
                          "deploy an H100 80GB pod (smaller cards need model.load_in_4bit: true and a shorter data.max_seq_length)")
    elif "H100" in gpu.name:
        gpu_check = Check("GPU", OK, desc)
    elif "H200" in gpu.name:
        gpu_check = Check("GPU", OK, f"{desc}; note: an H200 has more memory than the H100 settings use, they run unchanged")
    else:
        gpu_check = Check("GPU", WARN, f"{desc}: not an H100; the settings fit its memory but the run is slower",
                          "expect a longer run than the H100 estimate (make plan)")
    checks = [gpu_check]
    try:
        new_enough = probes.at_least(gpu.driver, MIN_DRIVER)
    except ValueError:
        new_enough = False
    if new_enough:
        checks.append(Check("NVIDIA driver", OK, f"{gpu.driver} (>= {MIN_DRIVER} for torch's CUDA {TORCH_CUDA})"))
    else:
        checks.append(Check("NVIDIA driver", FAIL, f"{gpu.driver}: torch 2.13 is built with CUDA {TORCH_CUDA}, which needs {MIN_DRIVER} or newer",
                            "deploy a pod whose host runs CUDA 13 (RunPod's CUDA version filter: 13.0+)"))
    return checks


def check_nvcc_vs_torch() -> list[Check]:
    """A flash-attn source build refuses an nvcc whose major differs from torch's CUDA."""
    proc = probes.run_command(["nvcc", "--version"])
    found = probes.parse_nvcc(proc.stdout) if proc else None
    if found and found.split(".")[0] != TORCH_CUDA.split(".")[0]:
        return [Check("flash-attn build", WARN, f"nvcc {found} but torch uses CUDA {TORCH_CUDA}: only a prebuilt flash-attn wheel can install",
                      "if it fails, training uses sdpa; a CUDA 13 template can compile it")]
    return []


def machine_checks() -> list[Check]:
    return [check_conda(), check_arch(), probes.check_nvcc(MIN_CUDA), *check_gpu(), *check_nvcc_vs_torch(),
            probes.check_storage(ROOT, MIN_FREE_GB), probes.check_tmux()]


# ----------------------------------------------------------------- the environment


def _run_streamed(args: list[str], what: str, fix: str) -> None:
    """Run a long install with its output on the terminal; never reading from it."""
    ui.info(TAG, "$ " + " ".join(str(a) for a in args))
    rc = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL).returncode
    if rc != 0:
        raise ui.Fail(f"{what}: failed (exit {rc}) ({fix})")


def decide_recreate(prefix: Path, recreate: bool) -> bool:
    """Recreate an existing env? RECREATE=1 says yes; a terminal is asked (default no); otherwise no."""
    if recreate:
        ui.info(TAG, f"RECREATE=1: removing the conda env {ENV_NAME} ({prefix}) and creating it again")
        return True
    if ui.is_interactive():
        return ui.ask_yes_no(f"[{TAG}] Conda env {ENV_NAME} already exists ({prefix}). Remove it and create it again?", default=False)
    ui.info(TAG, f"Conda env {ENV_NAME} already exists ({prefix}); no terminal to ask, so it is kept and updated "
                 "from environment-remote.yml (RECREATE=1 rebuilds it from scratch)")
    return False


def build_env(conda: str, recreate: bool) -> Path:
    prefix = env_prefix(conda)
    if prefix is not None and decide_recreate(prefix, recreate):
        _run_streamed([conda, "env", "remove", "-n", ENV_NAME, "-y"], f"conda env remove -n {ENV_NAME}",
                      f"remove {prefix} by hand, then rerun")
        prefix = None
    tos = "if conda asks about Terms of Service, run `conda tos accept` or use Miniforge"
    if prefix is None:
        _run_streamed([conda, "env", "create", "-f", ENV_FILE], "conda env create -f environment-remote.yml",
                      f"read conda's message above; {tos}")
        done = "created"
    else:
        _run_streamed([conda, "env", "update", "-n", ENV_NAME, "-f", ENV_FILE, "--prune"],
                      "conda env update -f environment-remote.yml", f"RECREATE=1 make setup-h100 rebuilds it; {tos}")
        done = "updated"
    prefix = env_prefix(conda)
    if prefix is None:
        raise ui.Fail(f"conda env {ENV_NAME}: not listed after conda env create (check `conda env list`)")
    ui.success(f"Conda environment {done}: {ENV_NAME} ({prefix})")
    ui.info(TAG, f"Activate it with `conda activate {ENV_NAME}`; make finds it without activation")
    return prefix


def install_flash_attn(python: str) -> bool:
    """Flash Attention 2 into the env; a failure is a warning with the troubleshooting steps."""
    have = subprocess.run([python, "-c", "import flash_attn; print(flash_attn.__version__)"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if have.returncode == 0:
        ui.success(f"Flash Attention 2 installed (already present: flash-attn {have.stdout.strip()})")
        return True
    args = [python, "-m", "pip", "install", "flash-attn", "--no-build-isolation"]
    ui.info(TAG, "Installing Flash Attention 2 (a prebuilt wheel when one matches, else a source build of up to an hour)")
    ui.info(TAG, "$ " + " ".join(args))
    rc = subprocess.run(args, stdin=subprocess.DEVNULL).returncode
    if rc == 0:
        ui.success("Flash Attention 2 installed")
        return True
    ui.warning(f"Flash Attention 2 not installed (pip exit {rc}): training falls back to sdpa attention (slower)")
    for line in FLASH_ATTN_HELP:
        ui.info(TAG, line)
    return False


def env_checks(python: str) -> list[Check]:
    """From inside the env: pinned versions, torch on the GPU with a bf16 matmul, flash-attn."""
    env = probes.probe_env(python, KEY_PACKAGES, "cuda")
    fix = "RECREATE=1 make setup-h100 rebuilds the env from environment-remote.yml"
    checks = [probes.check_packages(env, probes.read_pins(ENV_FILE), KEY_PACKAGES, "conda env", fix)]
    if env.get("error"):
        checks.append(Check("torch CUDA", FAIL, f"torch did not run: {env['error']}", fix))
    elif not env.get("available"):
        checks.append(Check("torch CUDA", FAIL, f"torch {env['versions'].get('torch')} (CUDA {env.get('torch_cuda')}) sees no GPU",
                            f"nvidia-smi shows the driver; CUDA {TORCH_CUDA} needs {MIN_DRIVER}+ (a pod on a CUDA 13 host)"))
    elif not env.get("matmul"):
        checks.append(Check("torch CUDA", FAIL, f"a bf16 matmul on {env.get('device_name')} gave a wrong result",
                            "the GPU is faulty: deploy another pod"))
    else:
        checks.append(Check("torch CUDA", OK, f"torch {env['versions']['torch']} (CUDA {env.get('torch_cuda')}) on "
                                              f"{env.get('device_name')}: bf16 matmul ok"))
    if env.get("flash_attn"):
        checks.append(Check("Flash Attention 2", OK, f"flash-attn {env['flash_attn']} importable"))
    elif not env.get("error"):
        checks.append(Check("Flash Attention 2", WARN, f"not importable ({env.get('flash_attn_error', 'not installed')}): training uses sdpa",
                            "rm .stamps/h100-env.stamp && make setup-h100 retries it"))
    return checks


# ----------------------------------------------------------------- steps


def step_machine() -> None:
    ui.info(TAG, "Starting RunPod H100 environment setup")
    probes.report_all(machine_checks(), "machine checks")


def step_env(recreate: bool = False, stamp: str | None = None) -> str:
    conda = find_conda()
    if conda is None:
        raise ui.Fail(f"conda: not found on PATH (install Miniforge on the persistent volume: {MINIFORGE}; then rerun make setup-h100)")
    ui.info(TAG, f"Conda environment {ENV_NAME} from environment-remote.yml")
    prefix = build_env(conda, recreate)
    python = env_python(prefix)
    install_flash_attn(python)
    probes.report_all(env_checks(python), "environment checks")
    if stamp:
        # The stamp holds the env's folder, so Make can tell when the env itself has gone (a wiped container disk).
        ui.write_text_atomic(stamp, str(prefix))
    return python


def step_validate(python: str, config: str) -> None:
    probes.report_all([probes.check_config(python, config)], "config validation")


def step_links(python: str) -> None:
    rc = subprocess.run([python, "-m", "tasks.data.links"], cwd=ROOT, stdin=subprocess.DEVNULL).returncode
    if rc != 0:
        raise ui.Fail(f"data links: python -m tasks.data.links failed (exit {rc}) (make data, then rerun)")


def step_finish(config: str, wandb_cli: str | None = None) -> None:
    probes.report_all([probes.check_data_links()], "data")
    ui.success("Data paths verified")
    wandb_auth.run(verify=True, tag=TAG, cli=wandb_cli)
    complete(config)


def complete(config: str) -> None:
    ui.info("SETUP-H100-COMPLETE", "Ready for training")
    ui.info(TAG, f"Estimated training time: `make plan CONFIG={config}` computes it for this config. As a bound, DESIGN.md "
                 "section 6 puts 3 epochs at about 9.4e17 FLOP, 16 min at the H100's full bf16 peak, so roughly 0.5-1 hour "
                 "at the 25-50% of peak real runs reach (an estimate, not a measurement)")
    ui.info(TAG, "Next step: make train-h100")


def preflight(config: str) -> None:
    """train-h100's pre-flight: the cheap checks that can change between setup and a run."""
    tag = "TRAINING-H100"
    ui.info(tag, "Pre-flight checks starting")
    checks = [*check_gpu(), probes.check_storage(ROOT, MIN_FREE_GB), probes.check_config(sys.executable, config), probes.check_data_links(),
              probes.check_training_data(config),
              probes.check_tmux(), wandb_auth.check(verify=False)]
    if importlib.util.find_spec("flash_attn") is None:
        checks.append(Check("Flash Attention 2", WARN, "not installed in this python: training uses sdpa",
                            "rm .stamps/h100-env.stamp && make setup-h100 retries it"))
    probes.report_all(checks, "pre-flight")
    ui.success("Pre-flight checks passed")



def run(step: str | None = None, recreate: bool = False, config: str = DEFAULT_CONFIG, stamp: str | None = None) -> None:
    if step == "machine":
        step_machine()
    elif step == "env":
        step_env(recreate, stamp)
    elif step == "finish":
        step_finish(config)
    else:
        step_machine()
        python = step_env(recreate)
        step_validate(python, config)
        step_links(python)
        step_finish(config, wandb_cli=str(Path(python).parent / "wandb"))


def print_python() -> None:
    conda = find_conda()
    prefix = env_prefix(conda) if conda else None
    if prefix is None:
        raise ui.Fail(f"conda env {ENV_NAME}: not found (make setup-h100 builds it)")
    print(env_python(prefix))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", choices=("machine", "env", "finish"), help="run one step (default: all, in order)")
    parser.add_argument("--recreate", action="store_true", default=os.environ.get("RECREATE") == "1",
                        help="remove and recreate an existing conda env (RECREATE=1)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="training config to validate")
    parser.add_argument("--stamp", help="file to write when the env step succeeds (Make's stamp)")
    parser.add_argument("--preflight", action="store_true", help="train-h100's pre-flight checks only; changes nothing")
    parser.add_argument("--print-python", action="store_true", help="print the env's python and exit")
    args = parser.parse_args(argv)
    if args.print_python:
        return ui.main_guard(print_python)
    if args.preflight:
        return ui.main_guard(preflight, args.config)
    return ui.main_guard(run, args.step, args.recreate, args.config, args.stamp)


if __name__ == "__main__":
    raise SystemExit(main())

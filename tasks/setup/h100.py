"""Set up a RunPod H100 pod: check the machine, build the conda env, flash-attn, the model, data links, W&B.

    make setup-h100 [RECREATE=1] [CONFIG=path]   # every step through stamps in .stamps/
    python3 -m tasks.setup.h100                  # every step in order, without stamps
    python3 -m tasks.setup.h100 --step machine|env|finish|recheck [--recreate] [--stamp PATH]
    python -m tasks.setup.h100 --preflight --gpus 1 --config configs/training_config_h100.yaml   # train-h100 runs this
    python3 -m tasks.setup.h100 --print-python   # the env's python, for Make

Steps: `machine` (x86_64; an 80 GB H100 or bigger Hopper; an NVIDIA driver of
the CUDA 12 line from 550.54.14, which torch 2.8.0's CUDA 12.8 build needs; the
GPUs; free space against what is still to be written, per filesystem; tmux,
installed with apt-get when missing; one request to the Hub for the gated model
when it is not on the volume yet; nvcc is reported, never required); `env` (Miniforge
at /workspace/miniforge3 when no conda exists, then the `weatherman-lora` conda
env from environment-remote.yml: created, or when it exists recreated after a yes
on a terminal / RECREATE=1 and otherwise updated; then flash-attn from its
prebuilt release wheel, never compiled, at most FLASH_ATTN_TIMEOUT_S, whose
failure is a warning because training stays padding-free on sdpa; then the env is
checked from inside: pinned versions, torch on the GPU); `finish` (data links, the
base model downloaded to model.cache_dir on /workspace with a completeness marker,
W&B, the summary); `recheck` (the no-op path of `make setup-h100`: what a pod
restart wipes - tmux, ~/.netrc, the HF token - checked and restored). Config
validation and data links are Make stamps in between. Nothing waits for a
terminal: questions are asked only on a TTY. The machine and env steps use the
standard library only, because the system python3 runs them before the env exists.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tasks import ui

from tasks.setup import hf_auth, probes, wandb_auth
from tasks.setup.probes import FAIL, OK, WARN, Check

TAG = "SETUP-H100"
ROOT = probes.ROOT
ENV_NAME = "weatherman-lora"
ENV_FILE = ROOT / "environment-remote.yml"
DEFAULT_CONFIG = "configs/training_config_h100.yaml"
# The pod's torch: 2.8.0 from PyPI is the CUDA 12.8 build (nvidia-cuda-runtime-cu12 12.8.x; tests/setup/
# test_requirements.py checks this against the resolved pins). CI and the Mac run torch 2.13 (CUDA 13.0 on
# Linux, which needs driver 580.65.06+); on the pod a CUDA 12 build keeps most RunPod hosts usable.
TORCH_VERSION = "2.8.0"
TORCH_CUDA = "12.8"
# The driver rule. A CUDA 12.x build runs on any CUDA 12 driver through minor-version compatibility
# (NVIDIA's CUDA compatibility guide); torch 2.8.0+cu128 was shown running on 550.127.05 by PyTorch's release
# manager (pytorch/pytorch#155141). 550.54.14 is CUDA 12.4's Linux driver (CUDA 12.4 release notes, table 3),
# so RunPod's pod filter "CUDA version 12.4" or newer picks hosts that pass. Drivers 580+ (CUDA 13) also work.
MIN_DRIVER = "550.54.14"
RUNPOD_CUDA_FILTER = "12.4"
# An "80 GB" card reports 81559 MiB (H100 80GB HBM3 and PCIe); 80e9 bytes are 76,294 MiB. Below this is a 40/48 GB card.
MIN_GPU_MIB = 76_000
KEY_PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "mistral-common", "wandb", "gguf")
MINIFORGE_URL = "https://github.com/conda-forge/miniforge/releases/latest/download/Miniforge3-Linux-x86_64.sh"
MINIFORGE = (f"curl -L -o /tmp/miniforge.sh {MINIFORGE_URL}"
             " && bash /tmp/miniforge.sh -b -p /workspace/miniforge3 && source /workspace/miniforge3/bin/activate")
# Where a conda may be when a fresh SSH shell has no CONDA_EXE and no conda on PATH (the Miniforge install
# above, RunPod's /opt/conda images, a home install); the first that exists is used.
CONDA_CANDIDATES = ("{ws}/miniforge3/bin/conda", "{ws}/miniconda3/bin/conda", "/opt/conda/bin/conda",
                    "~/miniforge3/bin/conda", "~/miniconda3/bin/conda")
# flash-attn is installed from its release wheel by URL, so pip never compiles it. The v2.8.3 publish
# workflow builds cu12 wheels for torch 2.4-2.8, Python 3.9-3.13 and both C++ ABIs (torch 2.8's PyPI
# wheel uses the C++11 ABI), and its setup.py names them exactly as flash_attn_wheel_url does.
FLASH_ATTN_VERSION = "2.8.3"
FLASH_ATTN_RELEASES = "https://github.com/Dao-AILab/flash-attention/releases/download"
# No setup step may build for longer than this; the wheel download takes seconds.
FLASH_ATTN_TIMEOUT_S = 600
# Disk the setup will still write, in GB (decimal). The env: torch 2.8.0 and its CUDA 12.8 wheels are
# 3.9 GB compressed on PyPI (torch 0.89, cuDNN 0.71, cuBLAS 0.59, NCCL 0.32, ...), about twice that
# unpacked, plus the other 85 packages: 10 GB, an upper estimate; pip's cache is off during the install.
ENV_GB = 10.0
MINIFORGE_GB = 0.6
# A checkpoint: LoRA weights in fp32 plus AdamW's two moments (12 bytes x 41.9 M parameters) and small
# state files; save_total_limit of them, plus one being written, plus the final adapter, logs and W&B files.
CHECKPOINT_GB = 0.52
RUN_EXTRA_GB = 0.5
# Room left on every filesystem after all of the above (logs, a merged export, apt, the shell).
RESERVE_GB = 2.0
FLASH_ATTN_HELP = [
    "flash-attn troubleshooting:",
    f"  1. Setup installs the prebuilt wheel flash-attn {FLASH_ATTN_VERSION} publishes for this torch; it needs torch {TORCH_VERSION}",
    "     with CUDA 12 and GitHub reachable from the pod (curl -I https://github.com)",
    "  2. Retry only this step: rm .stamps/h100-env.stamp && make setup-h100 (the env is kept and updated, not rebuilt)",
    "  3. Training works without it: attention uses sdpa, still padding-free (the same tokens, a slower attention kernel)",
]


def workspace() -> Path:
    return hf_auth.workspace()


# ----------------------------------------------------------------- the config, read without PyYAML


def config_value(config: str | os.PathLike, section: str, key: str, default: str | None = None) -> str | None:
    """One scalar of a training config (`section:` then an indented `key: value  # comment`).

    The machine step runs with the system python3, which has no PyYAML; the project's configs are
    flat two-level YAML, and the env's python validates them fully right after this step.
    """
    try:
        lines = Path(ROOT / config if not Path(config).is_absolute() else config).read_text(encoding="utf-8").splitlines()
    except OSError:
        return default
    current = None
    for line in lines:
        if re.match(r"^[A-Za-z_]\w*:", line):
            current = line.split(":", 1)[0]
        elif current == section:
            m = re.match(rf"^\s+{re.escape(key)}:\s*(.*?)\s*(?:#.*)?$", line)
            if m and m.group(1):
                return m.group(1).strip("'\"")
    return default


def run_paths(config: str) -> dict:
    """The base model, its cache folder and the output folder of a config; paths as training resolves them."""
    output = _top_value(config, "output_dir") or "adapters"
    return {"base": config_value(config, "model", "base", "mistralai/Mistral-7B-Instruct-v0.2"),
            "cache_dir": config_value(config, "model", "cache_dir"),
            "output_dir": str(ROOT / output) if not Path(output).is_absolute() else output,
            "save_total_limit": int(config_value(config, "training", "save_total_limit", "3"))}


def _top_value(config: str, key: str) -> str | None:
    try:
        text = Path(ROOT / config if not Path(config).is_absolute() else config).read_text(encoding="utf-8")
    except OSError:
        return None
    m = re.search(rf"^{re.escape(key)}:\s*(.*?)\s*(?:#.*)?$", text, flags=re.M)
    return m.group(1).strip("'\"") if m else None


# ----------------------------------------------------------------- conda


def find_conda() -> str | None:
    """conda on PATH, else CONDA_EXE, else a known install (a fresh SSH shell has neither PATH nor CONDA_EXE set)."""
    found = probes.which("conda")
    if found:
        return found
    candidates = [os.environ.get("CONDA_EXE", "")]
    candidates += [c.format(ws=workspace()) for c in CONDA_CANDIDATES]
    for candidate in candidates:
        path = Path(candidate).expanduser() if candidate else None
        if path and path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


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
        if workspace().is_dir():
            return Check("Conda", OK, f"not installed: the env step installs Miniforge at {workspace()}/miniforge3 (about 1 minute)")
        return Check("Conda", FAIL, "conda not found on PATH",
                     f"install Miniforge on the persistent volume: {MINIFORGE}; then rerun make setup-h100")
    proc = probes.run_command([conda, "--version"])
    version = probes.first_line(proc.stdout or proc.stderr) if proc else "?"
    base = conda_base(conda)
    # The container disk is wiped when a pod stops; an env under /opt/conda goes with it.
    if workspace().is_dir() and not str(base).startswith(str(workspace())):
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


def visible_gpu_count(listed: int) -> int:
    """GPUs a CUDA process can use: nvidia-smi's list, narrowed by CUDA_VISIBLE_DEVICES when set."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return listed
    ids = [v for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    return min(listed, len(ids))


def check_gpu(gpus_wanted: int | None = None) -> list[Check]:
    """An H100 with 80 GB (81559 MiB), or a bigger Hopper (H200) with a note; smaller cards fail; GPUS=n <= visible."""
    gpus, problem = probes.probe_gpus()
    if not gpus:
        return [Check("GPU", FAIL, problem, "deploy a RunPod pod with an H100 80GB GPU; if this pod has one, its driver is not "
                                            "reachable: restart the pod from the RunPod console, else deploy another")]
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
        checks.append(Check("NVIDIA driver", OK, f"{gpu.driver} (>= {MIN_DRIVER} for torch {TORCH_VERSION}'s CUDA {TORCH_CUDA})"))
    else:
        checks.append(Check("NVIDIA driver", FAIL, f"{gpu.driver}: torch {TORCH_VERSION} is built with CUDA {TORCH_CUDA}, "
                                                   f"which needs {MIN_DRIVER} or newer",
                            f"the driver is the host's and no setup can change it: deploy another pod with RunPod's "
                            f"CUDA version filter at {RUNPOD_CUDA_FILTER} or newer"))
    if gpus_wanted is not None:
        visible = visible_gpu_count(len(gpus))
        if gpus_wanted > visible:
            checks.append(Check("GPU count", FAIL, f"GPUS={gpus_wanted} but {visible} GPU(s) visible",
                                f"make train-h100 GPUS={visible}, or deploy a pod with {gpus_wanted} GPUs"))
        else:
            checks.append(Check("GPU count", OK, f"GPUS={gpus_wanted} of {visible} visible"))
    return checks


def check_cuda_toolkit() -> Check:
    """nvcc is informational: torch brings its own CUDA runtime and flash-attn comes as a prebuilt wheel."""
    proc = probes.run_command(["nvcc", "--version"])
    if proc is None:
        return Check("CUDA toolkit", OK, "no nvcc: not needed (torch brings its CUDA runtime; flash-attn is a prebuilt wheel)")
    version = probes.parse_nvcc(proc.stdout)
    return Check("CUDA toolkit", OK, f"nvcc {version or '?'} (not needed: nothing is compiled)")


# ----------------------------------------------------------------- disk


def existing_parent(path: Path) -> Path:
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_space(path: Path) -> tuple[float, str] | None:
    """(free GB, mount point) of the filesystem that holds `path` (or its nearest existing parent), from `df -Pk`."""
    proc = probes.run_command(["df", "-Pk", str(existing_parent(path))])
    parsed = probes.parse_df(proc.stdout) if proc and proc.returncode == 0 else None
    if parsed is None:
        return None
    kib, mount = parsed
    return kib * 1024 / 1e9, mount or str(path)


def disk_needs(config: str, env_missing: bool, conda_missing: bool, model_missing: bool) -> list[tuple[str, Path, float]]:
    """(what, where, GB) still to be written; each is measured on its own filesystem."""
    paths = run_paths(config)
    conda = find_conda()
    env_home = workspace() / "miniforge3" if conda is None else conda_base(conda)
    needs = []
    if conda_missing:
        needs.append(("Miniforge", env_home, MINIFORGE_GB))
    if env_missing:
        needs.append(("conda env", env_home, ENV_GB))
    if model_missing:
        cache = Path(paths["cache_dir"]) if paths["cache_dir"] else hf_auth.hf_home() / "hub"
        needs.append(("base model", cache, hf_auth.MODEL_GB))
    ckpt = (paths["save_total_limit"] + 1) * CHECKPOINT_GB + RUN_EXTRA_GB
    needs.append(("checkpoints", Path(paths["output_dir"]), round(ckpt, 2)))
    return needs


def check_disk(needs: list[tuple[str, Path, float]]) -> list[Check]:
    """Free space against what is still to be written, per filesystem, plus RESERVE_GB on each."""
    by_mount: dict[str, dict] = {}
    for what, where, gb in needs:
        measured = free_space(where)
        if measured is None:
            return [Check("Storage", FAIL, f"could not read `df -Pk {existing_parent(where)}`", "check that the folder exists and is readable")]
        free, mount = measured
        entry = by_mount.setdefault(mount, {"free": free, "parts": []})
        entry["parts"].append((what, gb))
    checks = []
    for mount, entry in by_mount.items():
        need = sum(gb for _, gb in entry["parts"]) + RESERVE_GB
        parts = " + ".join(f"{what} {gb:g}" for what, gb in entry["parts"])
        value = f"{entry['free']:.1f} GB free on {mount}; needs {need:.1f} GB = {parts} + reserve {RESERVE_GB:g}"
        if entry["free"] < need:
            checks.append(Check("Storage", FAIL, value,
                                f"free {need - entry['free']:.1f} GB on {mount} (old adapters/ checkpoints, ~/.cache) or give the pod "
                                "a bigger volume (docs/TRAINING_H100.md: 50 GB)"))
        else:
            checks.append(Check("Storage", OK, value))
    return checks


# ----------------------------------------------------------------- tmux


def is_root() -> bool:
    return os.geteuid() == 0


def ensure_tmux() -> Check:
    """tmux from the system, installed with apt-get when missing (a pod restart wipes apt packages)."""
    check = probes.check_tmux()
    if check.status == OK:
        return check
    if probes.which("apt-get") is None:
        return Check("tmux", FAIL, f"{check.value}; no apt-get to install it", "install tmux with this image's package manager, then rerun")
    if not is_root():
        return Check("tmux", FAIL, f"{check.value}; installing it needs root", "sudo apt-get update && sudo apt-get install -y tmux")
    ui.info(TAG, "Installing tmux: apt-get update && apt-get install -y tmux (about 20 s)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "tmux"]):
        try:
            proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, env=env)
        except subprocess.TimeoutExpired:
            return Check("tmux", FAIL, f"`{' '.join(args)}` did not finish within 300 s", "check the pod's network, then rerun")
        if proc.returncode != 0:
            said = probes.last_lines(proc.stderr or proc.stdout, 1)
            return Check("tmux", FAIL, f"not installed: `{' '.join(args)}` failed (exit {proc.returncode})" + (f": {said}" if said else ""),
                         "run apt-get install -y tmux by hand to see why, then rerun")
    after = probes.check_tmux()
    if after.status != OK:
        return Check("tmux", FAIL, f"still not usable after apt-get install: {after.value}", after.fix)
    return Check("tmux", OK, f"{after.value}, installed now")


def check_tmux_for_training() -> Check:
    """train-h100 runs in tmux: a missing one is a failure there, with the command that installs it."""
    check = probes.check_tmux()
    if check.status == OK:
        return check
    return Check("tmux", FAIL, f"{check.value} (a pod restart removes apt-installed packages)",
                 "make setup-h100 installs it (seconds), or apt-get install -y tmux")


def machine_checks(config: str = DEFAULT_CONFIG, gpus: int | None = None) -> list[Check]:
    """Every machine check; changes nothing (doctor runs these)."""
    conda = find_conda()
    prefix = env_prefix(conda) if conda else None
    model_ok = hf_auth.model_state(run_paths(config)["base"], run_paths(config)["cache_dir"])[0]
    needs = disk_needs(config, env_missing=prefix is None, conda_missing=conda is None, model_missing=not model_ok)
    return [check_conda(), check_arch(), check_cuda_toolkit(), *check_gpu(gpus), *check_disk(needs), check_tmux_for_training()]


# ----------------------------------------------------------------- the environment


def _run_streamed(args: list[str], what: str, fix: str) -> None:
    """Run a long install with its output on the terminal; never reading from it."""
    ui.info(TAG, "$ " + " ".join(str(a) for a in args))
    # No pip cache: it would put another 4 GB of wheels on the container disk.
    rc = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL, env={**os.environ, "PIP_NO_CACHE_DIR": "1"}).returncode
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


TORCH_FACTS = ("# weatherman-torch-facts\nimport json, sys, torch\n"
               "print(json.dumps({'torch': torch.__version__, 'cuda': torch.version.cuda, "
               "'cxx11abi': bool(torch._C._GLIBCXX_USE_CXX11_ABI), 'python': '%d%d' % sys.version_info[:2]}))")


def flash_attn_wheel_url(facts: dict, version: str = FLASH_ATTN_VERSION) -> str | None:
    """The release wheel flash-attn's own setup.py would look for, or None when it publishes none for this torch.

    Its setup.py (get_wheel_url) names wheels flash_attn-<v>+cu<CUDA major>torch<major.minor>cxx11abi<TRUE|FALSE>-
    cp<py>-cp<py>-linux_x86_64.whl under releases/download/v<v>/; v2.8.3 built CUDA 12 wheels for torch 2.4-2.8.
    """
    torch_version, cuda = facts.get("torch") or "", facts.get("cuda") or ""
    m = re.match(r"(\d+)\.(\d+)", torch_version)
    if not m or not cuda.startswith("12."):
        return None
    if not (4 <= int(m.group(2)) <= 8 and m.group(1) == "2"):
        return None
    abi = "TRUE" if facts.get("cxx11abi") else "FALSE"
    py = f"cp{facts['python']}"
    name = f"flash_attn-{version}+cu12torch{m.group(1)}.{m.group(2)}cxx11abi{abi}-{py}-{py}-linux_x86_64.whl"
    return f"{FLASH_ATTN_RELEASES}/v{version}/{name}"


def run_with_timeout(args: list[str], timeout: float) -> int | None:
    """Run with output on the terminal; exit code, or None when it ran past `timeout` (then it and its children are stopped)."""
    proc = subprocess.Popen([str(a) for a in args], stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PIP_NO_CACHE_DIR": "1"})
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        return None


def flash_attn_timeout() -> float:
    return float(os.environ.get("WEATHERMAN_FLASH_ATTN_TIMEOUT_S") or FLASH_ATTN_TIMEOUT_S)


def install_flash_attn(python: str) -> bool:
    """Flash Attention 2 from its prebuilt release wheel (seconds, never a compile); a failure is a warning."""
    have = subprocess.run([python, "-c", "import flash_attn; print(flash_attn.__version__)"],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if have.returncode == 0:
        ui.success(f"Flash Attention 2 installed (already present: flash-attn {have.stdout.strip()})")
        return True
    facts_proc = subprocess.run([python, "-c", TORCH_FACTS], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    try:
        facts = json.loads(facts_proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        facts = {}
    url = flash_attn_wheel_url(facts)
    fallback = "training uses sdpa attention, still padding-free (the same tokens, a slower attention kernel)"
    if url is None:
        ui.warning(f"Flash Attention 2: flash-attn {FLASH_ATTN_VERSION} publishes no wheel for torch {facts.get('torch', '?')} "
                   f"(CUDA {facts.get('cuda', '?')}) and setup never compiles it: {fallback}")
        return False
    timeout = flash_attn_timeout()
    args = [python, "-m", "pip", "install", "--no-deps", url]
    ui.info(TAG, f"Installing Flash Attention 2 from its prebuilt wheel (seconds; stopped after {timeout:.0f} s)")
    ui.info(TAG, "$ " + " ".join(args))
    rc = run_with_timeout(args, timeout)
    if rc == 0:
        ui.success(f"Flash Attention 2 installed (flash-attn {FLASH_ATTN_VERSION}, prebuilt)")
        return True
    why = f"stopped after {timeout:.0f} s" if rc is None else f"pip exit {rc}"
    ui.warning(f"Flash Attention 2 not installed ({why}): {fallback}")
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
                            f"torch's CUDA {TORCH_CUDA} needs driver {MIN_DRIVER}+ (nvidia-smi shows the host's); a rebuilt env cannot "
                            f"change the driver: deploy a pod with RunPod's CUDA filter at {RUNPOD_CUDA_FILTER}+"))
    elif not env.get("matmul"):
        checks.append(Check("torch CUDA", FAIL, f"a bf16 matmul on {env.get('device_name')} gave a wrong result",
                            "the GPU is faulty: deploy another pod"))
    else:
        checks.append(Check("torch CUDA", OK, f"torch {env['versions']['torch']} (CUDA {env.get('torch_cuda')}) on "
                                              f"{env.get('device_name')}: bf16 matmul ok"))
    if env.get("flash_attn"):
        checks.append(Check("Flash Attention 2", OK, f"flash-attn {env['flash_attn']} importable"))
    elif not env.get("error"):
        checks.append(Check("Flash Attention 2", WARN, f"not importable ({env.get('flash_attn_error', 'not installed')}): "
                                                        "training uses sdpa, still padding-free",
                            "rm .stamps/h100-env.stamp && make setup-h100 retries it"))
    return checks


# ----------------------------------------------------------------- steps


def step_machine(config: str = DEFAULT_CONFIG) -> None:
    ui.info(TAG, "Starting RunPod H100 environment setup")
    tmux = ensure_tmux()
    checks = [c for c in machine_checks(config) if c.name != "tmux"] + [tmux]
    paths = run_paths(config)
    if not hf_auth.is_local(paths["base"]) and not hf_auth.model_state(paths["base"], paths["cache_dir"])[0]:
        # One request to the Hub now, so a missing token or licence stops the setup in seconds, not after the env build.
        checks.append(hf_auth.check_access(paths["base"]))
    probes.report_all(checks, "machine checks")


def install_miniforge() -> str:
    """Miniforge on the persistent volume, unattended (-b); the conda it installed."""
    prefix = workspace() / "miniforge3"
    ui.info(TAG, f"conda not found: installing Miniforge at {prefix} (about 1 minute; it survives pod restarts)")
    installer = workspace() / ".miniforge-installer.sh"
    _run_streamed(["curl", "-fsSL", "-o", installer, MINIFORGE_URL], "Miniforge download",
                  "check the pod's internet access (curl -I https://github.com), then rerun")
    _run_streamed(["bash", installer, "-b", "-p", prefix], "Miniforge install", f"remove {prefix} and rerun make setup-h100")
    installer.unlink(missing_ok=True)
    conda = find_conda()
    if conda is None:
        raise ui.Fail(f"Miniforge: {prefix}/bin/conda missing after the install (remove {prefix} and rerun make setup-h100)")
    ui.success(f"Miniforge installed: {conda}")
    return conda


def step_env(recreate: bool = False, stamp: str | None = None) -> str:
    conda = find_conda()
    if conda is None:
        if not workspace().is_dir():
            raise ui.Fail(f"conda: not found on PATH (install Miniforge on the persistent volume: {MINIFORGE}; then rerun make setup-h100)")
        conda = install_miniforge()
    ui.info(TAG, f"Conda environment {ENV_NAME} from environment-remote.yml (about 5-10 minutes: 90 packages, 4 GB of wheels)")
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


def step_model(config: str) -> None:
    """The gated base model onto the volume (the env's python: huggingface_hub), with its completeness marker."""
    paths = run_paths(config)
    base, cache_dir = paths["base"], paths["cache_dir"]
    if hf_auth.is_local(base) or hf_auth.model_state(base, cache_dir)[0]:
        probes.report_all([hf_auth.check_model(base, cache_dir)], "base model")
        return
    probes.report_all([hf_auth.check_access(base)], "Hugging Face access")
    source, token = hf_auth.token_source()
    kept = hf_auth.keep_token(token, source)
    if kept:
        ui.info(TAG, f"Hugging Face token from {source} copied to {kept} (mode 600) so a pod restart keeps it; delete it to forget")
    hf_auth.download(base, cache_dir)


def step_finish(config: str, wandb_cli: str | None = None) -> None:
    probes.report_all([probes.check_data_links()], "data")
    ui.success("Data paths verified")
    step_model(config)
    result = wandb_auth.run(verify=True, tag=TAG, cli=wandb_cli)
    if result.status == OK:
        kept = wandb_auth.persist_netrc(workspace())
        if kept:
            ui.info(TAG, f"W&B login copied to {kept} (mode 600): after a pod restart make setup-h100 puts it back in ~/.netrc")
    complete(config)


def complete(config: str) -> None:
    ui.info("SETUP-H100-COMPLETE", "Ready for training")
    ui.info(TAG, f"Estimated training time and cost: `make plan CONFIG={config}` (an estimate until `make bench` or the first "
                 "minutes of training measure the real tokens/s)")
    ui.info(TAG, "Next step: make train-h100")


def step_recheck(config: str = DEFAULT_CONFIG) -> None:
    """The no-op path of setup-h100: what a pod restart wipes (apt packages, ~/.netrc, ~/.cache), checked again."""
    paths = run_paths(config)
    model = hf_auth.check_model(paths["base"], paths["cache_dir"])
    if model.failed:
        model = Check("Base model", FAIL, model.value, "rm .stamps/setup-h100.stamp && make setup-h100 downloads it again")
    restored = wandb_auth.restore_netrc(workspace())
    if restored:
        ui.info(TAG, f"W&B login restored to ~/.netrc from {restored} (a restart had wiped it)")
    checks = [ensure_tmux(), model, wandb_auth.check(verify=False)]
    source, _ = hf_auth.token_source()
    if source:
        checks.append(Check("HF token", OK, f"from {source} (not shown)"))
    elif not model.failed:
        checks.append(Check("HF token", WARN, "none (a restart wipes ~/.cache/huggingface): not needed while the model is complete "
                                              "on the volume, training loads it offline",
                            "export HF_TOKEN=<token> before a setup that must download the model again"))
    else:
        checks.append(Check("HF token", WARN, "none: the model must be downloaded again and needs one",
                            "export HF_TOKEN=<token> (or `hf auth login` in the env), then the fix above"))
    probes.report_all(checks, "restart checks")


def preflight(config: str, gpus: int = 1) -> None:
    """train-h100's pre-flight: the cheap checks that can change between setup and a run; seconds, before tmux."""
    tag = "TRAINING-H100"
    ui.info(tag, "Pre-flight checks starting")
    paths = run_paths(config)
    model = hf_auth.check_model(paths["base"], paths["cache_dir"])
    needs = [n for n in disk_needs(config, env_missing=False, conda_missing=False, model_missing=model.failed) if n[0] != "base model"]
    checks = [*check_gpu(gpus), model, *check_disk(needs), probes.check_config(sys.executable, config), probes.check_data_links(),
              probes.check_training_data(config), check_tmux_for_training(), wandb_auth.check(verify=False)]
    if importlib.util.find_spec("flash_attn") is None:
        checks.append(Check("Flash Attention 2", WARN, "not installed in this python: training uses sdpa, still padding-free",
                            "rm .stamps/h100-env.stamp && make setup-h100 retries it"))
    probes.report_all(checks, "pre-flight")
    ui.success("Pre-flight checks passed")


def run(step: str | None = None, recreate: bool = False, config: str = DEFAULT_CONFIG, stamp: str | None = None) -> None:
    if step == "machine":
        step_machine(config)
    elif step == "env":
        step_env(recreate, stamp)
    elif step == "finish":
        step_finish(config)
    elif step == "recheck":
        step_recheck(config)
    else:
        step_machine(config)
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
    parser.add_argument("--step", choices=("machine", "env", "finish", "recheck"),
                        help="run one step (default: all, in order); recheck is what a pod restart wipes")
    parser.add_argument("--recreate", action="store_true", default=os.environ.get("RECREATE") == "1",
                        help="remove and recreate an existing conda env (RECREATE=1)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="training config to validate")
    parser.add_argument("--stamp", help="file to write when the env step succeeds (Make's stamp)")
    parser.add_argument("--preflight", action="store_true", help="train-h100's pre-flight checks only; changes nothing")
    parser.add_argument("--print-python", action="store_true", help="print the env's python and exit")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs the run will use (GPUS=n), compared with the visible ones")
    args = parser.parse_args(argv)
    if args.print_python:
        return ui.main_guard(print_python)
    if args.preflight:
        return ui.main_guard(preflight, args.config, args.gpus)
    return ui.main_guard(run, args.step, args.recreate, args.config, args.stamp)


if __name__ == "__main__":
    raise SystemExit(main())

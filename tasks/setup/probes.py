"""Probes of the machine and the checks built on them, shared by setup-h100, setup-m4 and doctor.

Every probe is a command found on PATH (`nvidia-smi`, `nvcc`, `system_profiler`,
`sysctl`, `sw_vers`, `df`, `conda`, `tmux`, `uname`, `python3`), so tests put
recorded outputs of real machines in their place (tests/recordings/). Each check
returns a `Check`: a status (ok, warn, fail), the measured value, and for a
warning or failure the fix. Versions are compared whole (`packaging.version`),
never as `minor >= N`: CUDA 13 and transformers 5 broke such checks before.

Standard library only: setup runs this with the system python3 before any
environment exists. Not run directly; imported by the setup and doctor tasks.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tasks import ui

ROOT = Path(__file__).resolve().parents[2]
DATA_LINKS = ("data/processed/train.jsonl", "data/processed/val.jsonl")
MIN_PYTHON = "3.10"

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    """One check: what was looked at, what was measured, and the fix when it is not ok."""

    name: str
    status: str
    value: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def text(self) -> str:
        line = f"{self.name}: {self.value}"
        return f"{line} (fix: {self.fix})" if self.fix and self.status != OK else line


def report(check: Check) -> Check:
    """Print one ✅/⚠️/❌ line for a check and return it."""
    {OK: ui.success, WARN: ui.warning, FAIL: ui.error}[check.status](check.text())
    return check


def report_all(checks, what: str) -> list[Check]:
    """Print every check, then fail once naming all failures (so one run shows every problem)."""
    done = [report(c) for c in checks]
    failed = [c for c in done if c.failed]
    if failed:
        names = ", ".join(c.name for c in failed)
        raise ui.Fail(f"{what}: {len(failed)} check(s) failed ({names}); fix them as shown above, then rerun")
    return done


# ----------------------------------------------------------------- versions


_RELEASE_RE = re.compile(r"^\d+(\.\d+)*$")


@functools.total_ordering
class _Release:
    """Whole-version comparison for plain releases (12.1, 580.65.06) when `packaging` is absent.

    The system python3 that runs setup may lack `packaging`; the versions compared
    before the environment exists (nvcc, driver, Python) are plain releases. Anything
    else is refused rather than compared wrongly.
    """

    def __init__(self, text: str):
        if not _RELEASE_RE.match(text):
            raise ValueError(f"not a plain release version: {text!r}")
        parts = [int(p) for p in text.split(".")]
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()  # 13.0 == 13, as in packaging
        self.release = tuple(parts)
        self.text = text

    def __eq__(self, other):
        return self.release == other.release

    def __lt__(self, other):
        return self.release < other.release

    def __hash__(self):
        return hash(self.release)

    def __str__(self):
        return self.text


def parse_version(text: str):
    """A comparable version (local labels such as +cu130 dropped)."""
    text = text.strip().split("+")[0]
    try:
        from packaging.version import Version
    except ImportError:
        return _Release(text)
    return Version(text)


def at_least(found: str, minimum: str) -> bool:
    return parse_version(found) >= parse_version(minimum)


# ----------------------------------------------------------------- commands


def which(name: str) -> str | None:
    return shutil.which(name)


def run_command(args: list[str], timeout: float = 60, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess | None:
    """Run a probe found on PATH; None when the command is not installed.

    stdin is closed so that no probe can wait for a terminal; a hung probe (a
    wedged driver makes nvidia-smi hang) comes back as exit 124.
    """
    exe = which(args[0])
    if exe is None:
        return None
    try:
        return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=cwd)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"{args[0]} did not answer within {timeout:.0f} s")


def first_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


def last_lines(text: str, n: int = 3) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return " | ".join(lines[-n:])


# ----------------------------------------------------------------- NVIDIA


NVIDIA_SMI_QUERY = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]


@dataclass
class Gpu:
    name: str
    memory_mib: int
    driver: str


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """Parse `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit():
            gpus.append(Gpu(parts[0], int(parts[1]), parts[2]))
    return gpus


def probe_gpus() -> tuple[list[Gpu], str]:
    """(GPUs, problem): an empty list comes with the reason nvidia-smi gave."""
    proc = run_command(NVIDIA_SMI_QUERY, timeout=30)
    if proc is None:
        return [], "nvidia-smi not found on PATH (no NVIDIA driver on this machine)"
    gpus = parse_nvidia_smi(proc.stdout)
    if proc.returncode != 0 or not gpus:
        said = first_line(proc.stdout) or first_line(proc.stderr) or f"exit {proc.returncode}"
        return [], f"nvidia-smi found no usable GPU: {said}"
    return gpus, ""


_NVCC_RE = re.compile(r"release (\d+(?:\.\d+)+)")


def parse_nvcc(text: str) -> str | None:
    """'Cuda compilation tools, release 12.4, V12.4.131' -> '12.4'."""
    m = _NVCC_RE.search(text)
    return m.group(1) if m else None


def check_nvcc(minimum: str) -> Check:
    proc = run_command(["nvcc", "--version"])
    if proc is None:
        return Check("CUDA toolkit", FAIL, "nvcc not found on PATH",
                     f"use a RunPod image with the CUDA {minimum}+ toolkit (a -devel template), or `export PATH=/usr/local/cuda/bin:$PATH`")
    version = parse_nvcc(proc.stdout)
    if proc.returncode != 0 or version is None:
        return Check("CUDA toolkit", FAIL, f"`nvcc --version` gave no release: {first_line(proc.stdout + proc.stderr)}",
                     "reinstall the CUDA toolkit or use another RunPod template")
    if not at_least(version, minimum):
        return Check("CUDA toolkit", FAIL, f"nvcc {version} is older than {minimum}",
                     f"use a RunPod template with CUDA {minimum} or newer (12.4 and 13.x work)")
    return Check("CUDA toolkit", OK, f"nvcc {version} (>= {minimum})")


# ----------------------------------------------------------------- Mac


def parse_system_profiler(text: str) -> dict:
    """Key: value pairs of `system_profiler SPHardwareDataType` ('Chip', 'Memory', 'Model Name', ...)."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and value.strip():
            out.setdefault(key.strip(), value.strip())
    return out


def parse_memsize(text: str) -> int | None:
    """`sysctl hw.memsize` ('hw.memsize: 25769803776') or `sysctl -n hw.memsize` -> bytes."""
    m = re.search(r"(\d{6,})", text)
    return int(m.group(1)) if m else None


def memory_category(gib: float) -> str:
    if gib < 16:
        return "INSUFFICIENT"
    if gib < 32:
        return "LIMITED"
    return "SUFFICIENT"


# ----------------------------------------------------------------- generic checks


def parse_df(text: str) -> tuple[int, str] | None:
    """`df -Pk PATH` -> (available KiB, mount point); POSIX output, one line per filesystem."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    fields = lines[-1].split()
    # The capacity column ends in %; counting from it survives spaces in the filesystem name.
    for i, field in enumerate(fields):
        if field.endswith("%") and i >= 3 and fields[i - 1].isdigit():
            return int(fields[i - 1]), " ".join(fields[i + 1:])
    return None


def check_storage(path: str | os.PathLike = ROOT, min_free_gb: float = 50) -> Check:
    """Free space on the filesystem that holds `path` (the project), from `df -Pk`."""
    proc = run_command(["df", "-Pk", str(path)])
    if proc is None:
        return Check("Storage", FAIL, "df not found on PATH", "install coreutils")
    parsed = parse_df(proc.stdout) if proc.returncode == 0 else None
    if parsed is None:
        return Check("Storage", FAIL, f"could not read `df -Pk {path}`: {first_line(proc.stderr or proc.stdout)}",
                     "check that the project folder exists and is readable")
    kib, mount = parsed
    free_gb = kib * 1024 / 1e9
    value = f"{free_gb:.1f} GB free on {mount or path} (needs {min_free_gb:.0f} GB)"
    if free_gb < min_free_gb:
        return Check("Storage", FAIL, value,
                     f"free {min_free_gb - free_gb:.1f} GB more (old adapters/, ~/.cache/huggingface) or move the project to a bigger volume")
    return Check("Storage", OK, value)


_PY_RE = re.compile(r"Python (\d+\.\d+(?:\.\d+)?)")


def python_version(python: str) -> str | None:
    proc = run_command([python, "--version"])
    if proc is None or proc.returncode != 0:
        return None
    m = _PY_RE.search(proc.stdout + proc.stderr)
    return m.group(1) if m else None


def check_python(python: str, minimum: str = MIN_PYTHON, fix: str = "") -> Check:
    version = python_version(python)
    if version is None:
        return Check("Python", FAIL, f"`{python} --version` did not run", fix or f"install Python {minimum}+")
    if not at_least(version, minimum):
        return Check("Python", FAIL, f"{python} is Python {version}, older than {minimum}", fix or f"install Python {minimum}+")
    return Check("Python", OK, f"{python} is Python {version} (>= {minimum})")


def tmux_from_conda(path: str) -> bool:
    parts = {p.lower() for p in Path(path).parts}
    return bool(parts & {"conda", "miniconda3", "anaconda3", "miniforge3", "mambaforge", "envs"})


def check_tmux() -> Check:
    """`make train-h100` runs in tmux; it must be the system's, not a conda one (broken ncurses on RunPod)."""
    proc = run_command(["tmux", "-V"])
    if proc is None:
        return Check("tmux", WARN, "not installed", "apt-get update && apt-get install -y tmux (not from conda)")
    path = which("tmux")
    version = first_line(proc.stdout) or first_line(proc.stderr)
    if tmux_from_conda(path):
        return Check("tmux", WARN, f"{version} from a conda environment ({path})",
                     "use the system tmux: conda remove tmux; apt-get install -y tmux")
    if proc.returncode != 0:
        return Check("tmux", WARN, f"`tmux -V` failed: {version}", "apt-get install --reinstall -y tmux")
    return Check("tmux", OK, f"{version} ({path})")


def check_data_links(root: Path = ROOT) -> Check:
    """data/processed/{train,val}.jsonl exist and lead to files."""
    found, missing = [], []
    for rel in DATA_LINKS:
        path = root / rel
        if path.is_file():
            target = os.path.relpath(path.resolve(), root) if path.is_symlink() else rel
            found.append(f"{rel} -> {target}" if path.is_symlink() else rel)
        else:
            missing.append(rel)
    if missing:
        return Check("Data", FAIL, "missing: " + ", ".join(missing),
                     "make data (or git pull the final files), then rerun the setup to link them")
    return Check("Data", OK, "; ".join(found))


def check_config(python: str, config: str) -> Check:
    """Validate a training config with the environment's python (the validator needs PyYAML and jsonschema)."""
    proc = run_command([python, "-m", "tasks.config", "--config", str(config)], cwd=ROOT)
    if proc is None:
        return Check("Config", FAIL, f"{python} not found", "build the environment first (make setup-h100 / make setup-m4)")
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip().replace(ui.ERR_MARK, "").strip()
        return Check("Config", FAIL, said.splitlines()[0] if said else f"exit {proc.returncode}",
                     f"make validate CONFIG={config} lists every error" if "\n" in said else f"edit {config}")
    return Check("Config", OK, first_line(proc.stdout).replace(ui.OK_MARK, "").strip())


def check_training_data(config: str) -> Check:
    """The data pre-flight: the config's train and validation files against the data contract.

    Runs in the environment's python (it imports the config loader and the validator); about 0.5 s for 16,000 lines.
    """
    from tasks.config import load_config
    from tasks.data.validate import validate_file

    try:
        data = load_config(config)["data"]
    except ui.Fail:
        return Check("Training data", FAIL, f"{config} is not valid, so its data files are unknown", f"make validate CONFIG={config}")
    problems = []
    for path in (data["train"], data["validation"]):
        problems += validate_file(path, max_errors=3)
    if problems:
        return Check("Training data", FAIL, f"{len(problems)} problem(s), first: {problems[0]}",
                     "make data regenerates the dataset; make validate-data DATA=<file> lists every problem")
    return Check("Training data", OK, f"{data['train']} and {data['validation']} match the data contract")


# ----------------------------------------------------------------- inside an environment

# Run with an environment's python: versions of the packages that matter, and the device.
# The marker line lets tests recognise this probe.
ENV_PROBE = r'''# weatherman-env-probe
import importlib.metadata as md, json, sys
out = {"python": sys.version.split()[0], "versions": {}, "error": None}
for name in sys.argv[1].split(","):
    try:
        out["versions"][name] = md.version(name)
    except md.PackageNotFoundError:
        out["versions"][name] = None
device = sys.argv[2]
try:
    import torch
    out["torch_cuda"] = torch.version.cuda
    if device == "cuda":
        out["available"] = torch.cuda.is_available()
        if out["available"]:
            out["device_name"] = torch.cuda.get_device_name(0)
            a = torch.randn(256, 256, device="cuda", dtype=torch.bfloat16)
            out["matmul"] = float((a @ a).float().abs().sum()) > 0
    elif device == "mps":
        out["available"] = torch.backends.mps.is_available()
        out["built"] = torch.backends.mps.is_built()
        if out["available"]:
            t = torch.randn(100, 100, device="mps")
            out["matmul"] = bool(torch.isfinite(torch.matmul(t, t)).all().item())
    else:
        out["available"] = True
        out["matmul"] = bool(torch.isfinite(torch.randn(64, 64) @ torch.randn(64, 64)).all())
except Exception as exc:  # reported to the caller, which names the fix
    out["error"] = f"{type(exc).__name__}: {exc}"
try:
    import flash_attn
    out["flash_attn"] = flash_attn.__version__
except Exception as exc:
    out["flash_attn"] = None
    out["flash_attn_error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(out))
'''


def probe_env(python: str, packages, device: str, timeout: float = 300) -> dict:
    """Versions and device facts from inside an environment; {'error': ...} when it cannot run."""
    proc = run_command([python, "-c", ENV_PROBE, ",".join(packages), device], timeout=timeout)
    if proc is None:
        return {"error": f"{python} not found", "versions": {}}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": last_lines(proc.stderr or proc.stdout) or f"exit {proc.returncode}", "versions": {}}
    return json.loads(lines[-1])


def read_pins(path: Path) -> dict[str, str]:
    """`name==version` pins of a requirements file or of the pip section of a conda environment file."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        if m:
            pins[normalize_name(m.group(1))] = m.group(2)
    return pins


def normalize_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_packages(env: dict, pins: dict[str, str], packages, where: str, fix: str) -> Check:
    """Installed versions of the key packages equal their pins (whole versions)."""
    if env.get("error") and not env.get("versions"):
        return Check("Packages", FAIL, f"could not run the {where} python: {env['error']}", fix)
    wrong, shown = [], []
    for name in packages:
        got = env["versions"].get(name)
        want = pins.get(normalize_name(name))
        if got is None:
            wrong.append(f"{name} missing")
        elif want and parse_version(got) != parse_version(want):
            wrong.append(f"{name} {got} (pinned {want})")
        else:
            shown.append(f"{name} {got}")
    if wrong:
        return Check("Packages", FAIL, ", ".join(wrong), fix)
    return Check("Packages", OK, ", ".join(shown))

"""The pinned sets resolve for their platforms (the Mac from Linux, the pod's pip part) and agree with each other.

uv resolves for a target platform with that platform's markers (pip's --platform does not: it pulls torch's
Linux-only nvidia-* wheels into a Mac resolution). Needs PyPI; skipped, with the reason, only when the
index is unreachable.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tasks.setup import h100, probes

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "requirements-local.txt"
REMOTE = ROOT / "environment-remote.yml"
CI = ROOT / "requirements-ci.txt"
TRAINING = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "mistral-common", "sentencepiece",
            "protobuf", "safetensors", "pyyaml", "jsonschema", "jinja2", "tqdm", "wandb", "packaging")


def _uv() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (pip install uv; it is pinned in requirements-ci.txt)")
    return uv


def _compile(requirements: Path, platform: str, extra_env=None) -> dict[str, str]:
    env = {**__import__("os").environ, **(extra_env or {})}
    proc = subprocess.run([_uv(), "pip", "compile", "--python-platform", platform, "--python-version", "3.11",
                           "--only-binary", ":all:", "--no-header", "--no-annotate", str(requirements)],
                          capture_output=True, text=True, timeout=300, env=env)
    if proc.returncode != 0 and re.search(r"(?i)(failed to fetch|dns error|connect|network|timed out)", proc.stderr):
        pytest.skip(f"PyPI unreachable: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    return {probes.normalize_name(n): v for n, v in re.findall(r"^([A-Za-z0-9._-]+)==(\S+)$", proc.stdout, flags=re.M)}


def _remote_pip(tmp_path: Path) -> Path:
    spec = yaml.safe_load(REMOTE.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    out = tmp_path / "remote-pip.txt"
    out.write_text("\n".join(pip) + "\n")
    return out


def test_the_mac_file_resolves_for_macos_arm64_and_is_a_closed_set():
    # torch 2.13.0 ships only macosx_14_0_arm64 wheels; uv's default macOS target is 13.0.
    resolved = _compile(LOCAL, "aarch64-apple-darwin", {"MACOSX_DEPLOYMENT_TARGET": "14.0"})
    pins = probes.read_pins(LOCAL)
    assert resolved == pins, "requirements-local.txt is not the set it resolves to: " + str(set(resolved.items()) ^ set(pins.items()))
    for name in TRAINING:
        assert name in pins, f"requirements-local.txt lacks {name}"
    assert "bitsandbytes" not in pins and "flash-attn" not in pins
    for name in ("mlx", "mlx-lm", "mlx-metal"):  # the MLX backend of train-m4 (mlx-metal: its Metal kernels)
        assert name in pins, f"requirements-local.txt lacks {name}"


def test_a_mac_requirement_without_a_mac_wheel_is_caught(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(LOCAL.read_text() + "nvidia-cuda-runtime==13.0.96\n")
    proc = subprocess.run([_uv(), "pip", "compile", "--python-platform", "aarch64-apple-darwin", "--python-version", "3.11",
                           "--only-binary", ":all:", str(bad)], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "MACOSX_DEPLOYMENT_TARGET": "14.0"})
    if re.search(r"(?i)(failed to fetch|dns error|network)", proc.stderr):
        pytest.skip("PyPI unreachable")
    assert proc.returncode != 0 and "nvidia-cuda-runtime" in proc.stderr


def test_the_pod_pip_section_resolves_for_linux_x86_64(tmp_path):
    resolved = _compile(_remote_pip(tmp_path), "x86_64-manylinux_2_28")
    pins = probes.read_pins(REMOTE)
    assert resolved == pins, "environment-remote.yml's pip list is not the set it resolves to: " + str(set(resolved.items()) ^ set(pins.items()))
    for name in (*TRAINING, "bitsandbytes", "gguf", "einops"):
        assert name in pins, f"environment-remote.yml lacks {name}"
    # setup-h100 checks the driver against the CUDA this torch is built with: the resolved CUDA runtime wheel
    # (nvidia-cuda-runtime-cu12 for a CUDA 12 build, nvidia-cuda-runtime for CUDA 13) must be that CUDA.
    assert resolved["torch"] == h100.TORCH_VERSION
    runtime = next(v for n, v in resolved.items() if n.startswith("nvidia-cuda-runtime"))
    assert ".".join(runtime.split(".")[:2]) == h100.TORCH_CUDA, (runtime, h100.TORCH_CUDA)
    # The driver rule: a CUDA 12 build and a minimum driver of the CUDA 12 line (550.54.14 is CUDA 12.4's).
    assert h100.TORCH_CUDA.startswith("12.") and probes.at_least(h100.MIN_DRIVER, "525.60.13")
    assert not probes.at_least(h100.MIN_DRIVER, "580.65.06")  # no CUDA 13 driver demanded


def _torch_family(name: str) -> bool:
    """torch and what its CUDA build brings: the pod's CUDA 12 torch differs from CI's CPU/CUDA 13 torch in these only."""
    return name in ("torch", "triton") or name.startswith(("nvidia-", "cuda-"))


def test_the_three_pinned_sets_agree_and_name_the_required_versions():
    ci, local, remote = probes.read_pins(CI), probes.read_pins(LOCAL), probes.read_pins(REMOTE)
    for name, version in {"transformers": "5.24.0", "peft": "0.21.2", "trl": "1.16.0", "accelerate": "1.15.0", "gguf": "0.19.0"}.items():
        assert local[name] == remote[name] == ci[name] == version
    # torch: CI and the Mac run 2.13.0; the pod runs h100.TORCH_VERSION, a CUDA 12 build its drivers can run
    # (transformers 5.24 needs torch >= 2.6).
    assert local["torch"] == ci["torch"] == "2.13.0"
    assert remote["torch"] == h100.TORCH_VERSION and probes.at_least(remote["torch"], "2.6")
    for other, label in ((local, "requirements-local.txt"), (remote, "environment-remote.yml")):
        differ = {n: (v, ci[n]) for n, v in other.items() if n in ci and ci[n] != v and not _torch_family(n)}
        assert not differ, f"{label} disagrees with requirements-ci.txt: {differ}"
    spec = yaml.safe_load(REMOTE.read_text())
    assert spec["name"] == "weatherman-lora" and "python=3.11" in spec["dependencies"]
    assert not any(isinstance(d, str) and d.startswith("tmux") for d in spec["dependencies"])

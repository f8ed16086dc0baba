"""Fake machines for the setup and doctor tests.

Small bash scripts named like the probe commands print files from tests/recordings/; conda,
pip and the environment's python are fakes that log every call to a file and never install
anything. PATH is the fake bin folder, then /usr/bin and /bin only (no /usr/local/bin, where
a real nvcc may live), so nothing of the real machine answers for a probe.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REC = Path(__file__).resolve().parent / "recordings"

# The fake environment python: pip and venv are logged, the env probe answers from a recording,
# everything else (python -m tasks.config, tasks.data.links, ...) runs in the real test python.
ENV_PYTHON = r"""#!/bin/bash
echo "python $*" >> "$FAKE_LOG"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then exit "$(cat "$FAKE_DIR/pip_rc" 2>/dev/null || echo 0)"; fi
if [ "$1" = "--version" ]; then echo "Python 3.11.9"; exit 0; fi
if [ "$1" = "-c" ]; then
  case "$2" in
    *weatherman-env-probe*) cat "$FAKE_DIR/env_probe.json"; exit 0;;
    *"import flash_attn"*) if [ -f "$FAKE_DIR/flash_present" ]; then echo 2.8.3; exit 0; fi; exit 1;;
  esac
fi
exec "$REAL_PYTHON" "$@"
"""

CONDA = r"""#!/bin/bash
echo "conda $*" >> "$FAKE_LOG"
root="$FAKE_CONDA_ROOT"
prefix="$root/envs/weatherman-lora"
case "$1 $2" in
  "--version "*) cat "$FAKE_DIR/conda_version.txt";;
  "env list")
    if [ -d "$prefix" ]; then echo "{\"envs\": [\"$root\", \"$prefix\"]}"; else echo "{\"envs\": [\"$root\"]}"; fi;;
  "env create") mkdir -p "$prefix/bin" && cp "$FAKE_DIR/envpython" "$prefix/bin/python" && echo "conda: env created";;
  "env remove") rm -rf "$prefix";;
  "env update") echo "conda: env updated";;
esac
"""

# A python3 for the Mac: reports a recorded version, and `-m venv DIR` makes a venv whose python is the fake.
MAC_PYTHON3 = r"""#!/bin/bash
echo "python3 $*" >> "$FAKE_LOG"
if [ "$1" = "--version" ]; then cat "$FAKE_DIR/python3_version.txt"; exit 0; fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "$FAKE_DIR/envpython" "$3/bin/python"; exit 0; fi
exec "$REAL_PYTHON" "$@"
"""


class FakeMachine:
    def __init__(self, tmp_path: Path):
        self.dir = tmp_path / "machine"
        self.bin = self.dir / "bin"
        self.bin.mkdir(parents=True)
        self.home = self.dir / "home"
        self.home.mkdir()
        self.log = self.dir / "calls.log"
        self.log.touch()
        self.conda_root = self.dir / "miniforge3"
        (self.dir / "envpython").write_text(ENV_PYTHON)
        (self.dir / "envpython").chmod(0o755)

    # ------------------------------------------------------------ commands
    def command(self, name: str, recording: str | None = None, rc: int = 0) -> None:
        """`name` prints tests/recordings/<recording> and exits with rc."""
        body = f'cat "{REC / recording}"\n' if recording else ""
        script = self.bin / name
        script.write_text(f'#!/bin/bash\necho "{name} $*" >> "$FAKE_LOG"\n{body}exit {rc}\n')
        script.chmod(0o755)

    def script(self, name: str, text: str) -> None:
        (self.bin / name).write_text(text)
        (self.bin / name).chmod(0o755)

    def remove(self, name: str) -> None:
        (self.bin / name).unlink(missing_ok=True)

    def uname(self, recording: str, system: str) -> None:
        """`uname -m` prints the recording, `uname -s` the system (what the Makefile reads to pick the profile)."""
        self.script("uname", f'#!/bin/bash\necho "uname $*" >> "$FAKE_LOG"\n'
                             f'if [ "$1" = "-s" ]; then echo {system}; else cat "{REC / recording}"; fi\n')

    def env_probe(self, recording: str) -> None:
        shutil.copy(REC / "env_probe" / recording, self.dir / "env_probe.json")

    def pip_rc(self, rc: int) -> None:
        (self.dir / "pip_rc").write_text(str(rc))

    def flash_present(self) -> None:
        (self.dir / "flash_present").touch()

    def conda_env_exists(self) -> None:
        (self.conda_root / "envs" / "weatherman-lora" / "bin").mkdir(parents=True)
        shutil.copy(self.dir / "envpython", self.conda_root / "envs" / "weatherman-lora" / "bin" / "python")

    # ------------------------------------------------------------ whole machines
    def pod(self, gpu="h100_80gb_hbm3", nvcc="13.0", df="runpod_workspace", conda=True, env_probe="h100_ok.json"):
        if gpu is None:
            self.remove("nvidia-smi")
        else:
            # nvidia-smi exits 9 when it cannot reach the driver and 6 when it finds no device.
            self.command("nvidia-smi", f"nvidia-smi/{gpu}.txt", rc={"no_driver": 9, "no_devices": 6}.get(gpu, 0))
        self.command("nvcc", f"nvcc/{nvcc}.txt")
        self.command("df", f"df/{df}.txt")
        self.uname("uname/linux_x86_64.txt", "Linux")
        self.command("tmux", "tmux/3.3a.txt")
        if conda:
            shutil.copy(REC / "conda" / "version.txt", self.dir / "conda_version.txt")
            self.conda_root.mkdir(exist_ok=True)
            (self.conda_root / "bin").mkdir(exist_ok=True)
            self.script("conda", CONDA)
        self.env_probe(env_probe)
        return self

    def mac(self, chip="m4_max_64gb", memsize="64gb", macos="15.1", python="3.11.9", uname="darwin_arm64", df="mac_data"):
        self.command("system_profiler", f"system_profiler/{chip}.txt")
        self.command("sysctl", f"sysctl/{memsize}.txt")
        self.command("sw_vers", f"sw_vers/{macos}.txt")
        self.uname(f"uname/{uname}.txt", "Darwin")
        self.command("df", f"df/{df}.txt")
        shutil.copy(REC / "python3" / f"{python}.txt", self.dir / "python3_version.txt")
        self.script("python3", MAC_PYTHON3)
        self.env_probe("mps_ok.json")
        return self

    # ------------------------------------------------------------ running
    def environ(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WANDB_", "CONDA", "MAKE", "MFLAGS", "NETRC")) and k not in ("RECREATE", "CI", "PYTHON")}
        env.update(PATH=f"{self.bin}:/usr/bin:/bin", HOME=str(self.home), NO_COLOR="1", FAKE_LOG=str(self.log),
                   FAKE_DIR=str(self.dir), FAKE_CONDA_ROOT=str(self.conda_root), REAL_PYTHON=sys.executable)
        env.update(extra)
        return env

    def apply(self, monkeypatch, **extra) -> None:
        """Make this process see the fake machine (for in-process calls of run())."""
        for key in list(os.environ):
            if key.startswith(("WANDB_", "CONDA", "NETRC")) or key in ("RECREATE", "CI", "PYTHON"):
                monkeypatch.delenv(key, raising=False)
        for key, value in self.environ(**extra).items():
            monkeypatch.setenv(key, value)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


def copy_project(dest: Path) -> Path:
    """What `make setup-*` needs, in a temporary tree so stamps and links land there."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("Makefile", "tasks", "configs", "environment-remote.yml", "requirements-local.txt", "requirements-ci.txt"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest

"""Fake machines for the setup and doctor tests.

Small bash scripts named like the probe commands print files from tests/recordings/; conda,
pip and the environment's python are fakes that log every call to a file and never install
anything. PATH is the fake bin folder, then /usr/bin and /bin only (no /usr/local/bin, where
a real nvcc may live), so nothing of the real machine answers for a probe; a command a test
removes that also exists in /usr/bin (tmux) is hidden behind a filtered symlink copy of it.
FakeHub serves recorded Hub answers on localhost (HF_ENDPOINT); seed_model lays out a small
stand-in of the model in huggingface_hub's cache layout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REC = Path(__file__).resolve().parent / "recordings"

# The fake environment python: pip and venv are logged, the env probe answers from a recording,
# everything else (python -m tasks.config, tasks.data.links, ...) runs in the real test python.
ENV_PYTHON = r"""#!/bin/bash
echo "python $*" >> "$FAKE_LOG"
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  if [ -f "$FAKE_DIR/pip_sleep" ]; then sleep "$(cat "$FAKE_DIR/pip_sleep")"; fi
  exit "$(cat "$FAKE_DIR/pip_rc" 2>/dev/null || echo 0)"
fi
if [ "$1" = "--version" ]; then echo "Python 3.11.9"; exit 0; fi
if [ "$1" = "-c" ]; then
  case "$2" in
    *weatherman-env-probe*) cat "$FAKE_DIR/env_probe.json"; exit 0;;
    *weatherman-torch-facts*) cat "$FAKE_DIR/torch_facts.json"; exit 0;;
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


# apt-get as on an Ubuntu pod run as root: `install ... tmux` puts a system tmux on PATH.
APT_GET = r"""#!/bin/bash
echo "apt-get $*" >> "$FAKE_LOG"
if [ "$1" = "install" ]; then
  printf '#!/bin/bash\necho "tmux $*" >> "$FAKE_LOG"\necho "tmux 3.2a"\n' > "$FAKE_BIN/tmux" && chmod +x "$FAKE_BIN/tmux"
fi
exit "$(cat "$FAKE_DIR/apt_rc" 2>/dev/null || echo 0)"
"""

# df that answers per filesystem: paths under the fake /workspace are on the volume, the rest on the container disk.
DF = r"""#!/bin/bash
echo "df $*" >> "$FAKE_LOG"
case "$2" in
  "$WEATHERMAN_WORKSPACE"*) cat "$FAKE_DIR/df_workspace.txt";;
  *) cat "$FAKE_DIR/df_container.txt";;
esac
"""

HF_REPO = "mistralai/Mistral-7B-Instruct-v0.2"
HF_TOKENS = {"hf_test_valid": "ok", "hf_test_noaccess": "gated_no_access"}


class FakeHub:
    """The Hub's auth-check endpoint on localhost, answering with recorded responses by the token it is sent.

    No token: the gated answer for anonymous users; hf_test_valid: 200; hf_test_noaccess: gated, licence not
    accepted; any other token: invalid credentials. It records each request's path and whether a token came,
    never the token itself.
    """

    def __init__(self):
        import http.server
        import json
        import threading

        requests = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ").strip()
                name = "gated_anonymous" if not token else HF_TOKENS.get(token, "invalid_token")
                if not self.path.startswith(f"/api/models/{HF_REPO}/"):
                    name = "repo_not_found"
                requests.append((self.path, bool(token)))
                rec = json.loads((REC / "hf" / f"auth_check_{name}.json").read_text())
                body = rec["body"].encode()
                self.send_response(rec["status"])
                for key, value in rec["headers"].items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def seed_model(cache_dir: Path, repo: str = HF_REPO, complete: bool = True) -> Path:
    """A small stand-in of the model in huggingface_hub's cache layout; with the completeness marker when complete."""
    import json

    from tasks.train import model_cache

    folder = model_cache.repo_folder(cache_dir, repo)
    snapshot = folder / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    snapshot.mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(snapshot.name)
    shards = [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    (snapshot / "config.json").write_text('{"model_type": "mistral"}')
    (snapshot / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {f"w{i}": s for i, s in enumerate(shards)}}))
    for shard in shards:
        (snapshot / shard).write_bytes(b"\0" * 1000)
    (snapshot / "tokenizer.model").write_bytes(b"\0" * 10)
    if complete:
        model_cache.write_marker(Path(cache_dir), repo, snapshot)
    return snapshot


def python_view() -> str:
    """This venv's python seen from a folder that holds no console scripts (wandb, hf, ...).

    The tasks look for CLIs beside the running python before PATH, as on a real pod, where they sit in the
    conda env's bin/. A fake machine must see its own fakes instead, whatever this venv happens to have
    installed: a pyvenv.cfg and the venv's lib/ beside a python link make the same environment without them.
    """
    view = Path(tempfile.gettempdir()) / f"weatherman-python-view-{os.getuid()}-{hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]}"
    python = view / "bin" / "python"
    if not python.exists():
        staging = Path(tempfile.mkdtemp(dir=tempfile.gettempdir()))
        (staging / "bin").mkdir()
        shutil.copy(Path(sys.prefix) / "pyvenv.cfg", staging / "pyvenv.cfg")
        (staging / "lib").symlink_to(Path(sys.prefix) / "lib")
        (staging / "bin" / "python").symlink_to(sys.executable)
        try:
            staging.rename(view)
        except OSError:  # another test process made it first
            shutil.rmtree(staging)
    return str(python)


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
        # The pod's persistent volume; it exists only once a test asks for it (pod(workspace=True)).
        self.workspace = self.dir / "workspace"
        self.hidden: set[str] = set()
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
        """No `name` on PATH: the fake goes, and a real one in /usr/bin is hidden behind a filtered copy of it."""
        (self.bin / name).unlink(missing_ok=True)
        if (Path("/usr/bin") / name).exists():
            self.hidden.add(name)

    def _system_path(self) -> str:
        if not self.hidden:
            return "/usr/bin:/bin"
        farm = self.dir / "usr-bin"
        shutil.rmtree(farm, ignore_errors=True)
        farm.mkdir()
        for entry in os.scandir("/usr/bin"):
            if entry.name not in self.hidden:
                os.symlink(entry.path, farm / entry.name)
        return str(farm)

    def uname(self, recording: str, system: str) -> None:
        """`uname -m` prints the recording, `uname -s` the system (what the Makefile reads to pick the profile)."""
        self.script("uname", f'#!/bin/bash\necho "uname $*" >> "$FAKE_LOG"\n'
                             f'if [ "$1" = "-s" ]; then echo {system}; else cat "{REC / recording}"; fi\n')

    def env_probe(self, recording: str) -> None:
        shutil.copy(REC / "env_probe" / recording, self.dir / "env_probe.json")

    def pip_rc(self, rc: int) -> None:
        (self.dir / "pip_rc").write_text(str(rc))

    def pip_sleep(self, seconds: float) -> None:
        (self.dir / "pip_sleep").write_text(str(seconds))

    def torch_facts(self, recording: str = "torch280_cu128.json") -> None:
        shutil.copy(REC / "torch_facts" / recording, self.dir / "torch_facts.json")

    def df_split(self, workspace: str, container: str) -> None:
        """df answers per filesystem: the volume for paths under the fake /workspace, the container disk otherwise."""
        shutil.copy(REC / "df" / f"{workspace}.txt", self.dir / "df_workspace.txt")
        shutil.copy(REC / "df" / f"{container}.txt", self.dir / "df_container.txt")
        self.script("df", DF)

    def flash_present(self) -> None:
        (self.dir / "flash_present").touch()

    def conda_env_exists(self) -> None:
        (self.conda_root / "envs" / "weatherman-lora" / "bin").mkdir(parents=True)
        shutil.copy(self.dir / "envpython", self.conda_root / "envs" / "weatherman-lora" / "bin" / "python")

    # ------------------------------------------------------------ whole machines
    def pod(self, gpu="h100_80gb_hbm3", nvcc="13.0", df="runpod_workspace", conda=True, env_probe="h100_ok.json",
            tmux=True, workspace=False):
        if gpu is None:
            self.remove("nvidia-smi")
        else:
            # nvidia-smi exits 9 when it cannot reach the driver and 6 when it finds no device.
            self.command("nvidia-smi", f"nvidia-smi/{gpu}.txt", rc={"no_driver": 9, "no_devices": 6}.get(gpu, 0))
        if nvcc is None:
            self.remove("nvcc")
        else:
            self.command("nvcc", f"nvcc/{nvcc}.txt")
        self.command("df", f"df/{df}.txt")
        self.uname("uname/linux_x86_64.txt", "Linux")
        if tmux:
            self.hidden.discard("tmux")
            self.command("tmux", "tmux/3.3a.txt")
        else:
            self.remove("tmux")
        self.script("apt-get", APT_GET)
        self.torch_facts()
        if workspace:
            self.workspace.mkdir(exist_ok=True)
        if conda:
            shutil.copy(REC / "conda" / "version.txt", self.dir / "conda_version.txt")
            self.conda_root.mkdir(exist_ok=True)
            (self.conda_root / "bin").mkdir(exist_ok=True)
            self.script("conda", CONDA)
        self.env_probe(env_probe)
        return self

    def mac(self, chip="m4_max_64gb", memsize="64gb", macos="15.1", python="3.11.9", uname="darwin_arm64", df="mac_data",
            wired_limit="iogpu_wired_limit_default"):
        self.command("system_profiler", f"system_profiler/{chip}.txt")
        # sysctl answers per key: hw.memsize (unified memory) and iogpu.wired_limit_mb (Metal's limit; 0 = macOS's default).
        self.script("sysctl", f'#!/bin/bash\necho "sysctl $*" >> "$FAKE_LOG"\ncase "$1" in\n'
                              f'  iogpu.wired_limit_mb) cat "{REC / "sysctl" / (wired_limit + ".txt")}";;\n'
                              f'  *) cat "{REC / "sysctl" / (memsize + ".txt")}";;\nesac\n')
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
               if not k.startswith(("WANDB_", "CONDA", "MAKE", "MFLAGS", "NETRC", "HF_", "HUGGING", "XDG_", "CUDA_VISIBLE"))
               and k not in ("RECREATE", "CI", "PYTHON")}
        env.update(PATH=f"{self.bin}:{self._system_path()}", HOME=str(self.home), NO_COLOR="1", FAKE_LOG=str(self.log),
                   FAKE_DIR=str(self.dir), FAKE_BIN=str(self.bin), FAKE_CONDA_ROOT=str(self.conda_root), REAL_PYTHON=python_view(),
                   WEATHERMAN_WORKSPACE=str(self.workspace), HF_ENDPOINT="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
        env.update(extra)
        return env

    def apply(self, monkeypatch, **extra) -> None:
        """Make this process see the fake machine (for in-process calls of run())."""
        for key in list(os.environ):
            if key.startswith(("WANDB_", "CONDA", "NETRC", "HF_", "HUGGING", "XDG_", "CUDA_VISIBLE")) or key in ("RECREATE", "CI", "PYTHON"):
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

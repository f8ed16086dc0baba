"""The base model in huggingface_hub's cache, and the completeness marker that says every file is there.

Not run directly. `tasks.setup.hf_auth` downloads the model and writes the marker last;
`tasks.train.train` loads with local_files_only once the marker holds (no Hub request, no
token, never a half download); the pre-flight and `make doctor` read it. Standard library
only: the setup's system python3 reads it before any environment exists.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tasks import ui

MARKER = "weatherman-complete.json"
# The files training, the tokenizer and the MLX loader read: setup-h100's download (tasks.setup.hf_auth) and the MLX
# backend's (tasks.train.mlx_backend) use this one list. The repo also holds pytorch_model-*.bin copies of the same
# 14.5 GB and consolidated.safetensors (Mistral's own format, another 14.5 GB), which no loader here reads.
ALLOW_PATTERNS = ["config.json", "generation_config.json", "model.safetensors.index.json", "model-*.safetensors",
                  "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
# 7,241,732,096 bf16 parameters (DESIGN.md section 4): the three safetensors shards.
MODEL_GB = 14.5


def repo_folder(cache_dir: Path, repo: str) -> Path:
    """huggingface_hub's cache layout: <cache_dir>/models--<org>--<name>."""
    return Path(cache_dir) / ("models--" + repo.replace("/", "--"))


def marker_path(cache_dir: Path, repo: str) -> Path:
    return repo_folder(cache_dir, repo) / MARKER


def is_local(base: str) -> bool:
    return Path(base).is_dir()


def model_state(base: str, cache_dir: str | os.PathLike | None) -> tuple[bool, str]:
    """(complete, what was found): every file the marker lists, at its recorded size; or a local folder with weights."""
    if is_local(base):
        folder = Path(base)
        weights = list(folder.glob("*.safetensors")) + list(folder.glob("*.bin")) + list(folder.glob("*.gguf"))
        if (folder / "config.json").is_file() and weights:
            return True, f"local folder {folder} ({len(weights)} weight file(s))"
        return False, f"local folder {folder} has no config.json and weight files"
    if not cache_dir:
        return False, "model.cache_dir is not set, so the model would go to the container disk"
    marker = marker_path(Path(cache_dir), base)
    if not marker.is_file():
        partial = repo_folder(Path(cache_dir), base)
        if partial.is_dir():
            return False, f"{base}: download not finished in {cache_dir} (no completeness marker)"
        return False, f"{base}: not downloaded to {cache_dir}"
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
        snapshot = Path(info["snapshot"])
        files = info["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False, f"{marker}: unreadable completeness marker"
    for name, size in files.items():
        path = snapshot / name
        try:
            real = path.stat().st_size
        except OSError:
            return False, f"{base}: {name} is missing from {snapshot}"
        if real != size:
            return False, f"{base}: {name} is {real} bytes, {size} expected"
    total = sum(files.values()) / 1e9
    return True, f"{base}: complete in {cache_dir} ({len(files)} files, {total:.1f} GB, revision {info.get('revision', '?')[:12]})"


def load_source(base: str, cache_dir: str | os.PathLike | None) -> str:
    """What to load `base` from: its snapshot folder on the volume once the marker holds, else `base` itself.

    With a complete download this also turns the Hub off for the process (HF_HUB_OFFLINE=1): a pod restart
    wipes ~/.cache and the exported HF_TOKEN, and neither the tokenizer, the model nor PEFT's check of the
    base at every adapter save (peft's save_and_load asks the Hub for config.json) may then need the gated
    repo, or the Hub being up."""
    if is_local(base) or not cache_dir:
        return base
    complete, _ = model_state(base, cache_dir)
    if not complete:
        return base
    info = json.loads(marker_path(Path(cache_dir), base).read_text(encoding="utf-8"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    return str(info["snapshot"])


def write_marker(cache_dir: Path, repo: str, snapshot: Path) -> Path:
    """Record every file of a finished snapshot with its size; refused when a shard the index names is missing."""
    files = {}
    for path in sorted(snapshot.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(snapshot))] = path.stat().st_size
    index = snapshot / "model.safetensors.index.json"
    if index.is_file():
        shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        missing = sorted(shards - set(files))
        if missing:
            raise ui.Fail(f"{snapshot}: the download lacks {', '.join(missing)} (rerun make setup-h100; it resumes)")
    marker = marker_path(cache_dir, repo)
    ui.write_json_atomic(marker, {"repo": repo, "revision": snapshot.name, "snapshot": str(snapshot), "files": files})
    return marker

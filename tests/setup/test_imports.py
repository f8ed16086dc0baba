"""Every third-party import under tasks/ is installed by each environment file that runs it (pod, Mac, CI).

`make export` once imported gguf, which only requirements-ci.txt listed: on a pod and a Mac it died with
ModuleNotFoundError after a whole training run. This test parses every tasks/**/*.py (ast, nothing is
imported), maps each import name to its distribution, and checks the pins of each environment file.
An import guarded by `try: ... except ImportError` is optional (the code has a fallback) and is not
required. A module that only runs on some platforms is listed in PLATFORM_ONLY with the reason.
About 0.3 s.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

from tasks.setup import probes

ROOT = Path(__file__).resolve().parents[2]
ENV_FILES = {"pod": ROOT / "environment-remote.yml", "Mac": ROOT / "requirements-local.txt", "CI": ROOT / "requirements-ci.txt"}

# Import names whose distribution has another name, for packages that may not be installed in the CI venv
# (the installed ones are found through importlib.metadata.packages_distributions()).
IMPORT_TO_DIST = {
    "yaml": "pyyaml", "mistral_common": "mistral-common", "huggingface_hub": "huggingface-hub", "flash_attn": "flash-attn",
    "llama_cpp": "llama-cpp-python", "mlx_lm": "mlx-lm", "mlx": "mlx", "matplotlib": "matplotlib", "PIL": "pillow",
    "sklearn": "scikit-learn", "google": "protobuf",
}

# Distributions that an environment file does not carry on purpose: {distribution: {env: reason}}.
PLATFORM_ONLY = {
    "bitsandbytes": {"Mac": "CUDA-only 4-bit path (model.load_in_4bit); the Mac profile never loads it"},
    "mlx": {"pod": "Apple Silicon training backend (training.backend: mlx, m4/cpu profiles only); the pod trains with PyTorch on CUDA"},
    "mlx-lm": {"pod": "the MLX backend's LoRA layers and 4-bit conversion; the pod never runs the MLX backend"},
    "llama-cpp-python": {env: "built from source on demand by `make .venv/.llama-cpp` (the merged GGUF's quantizer, "
                              "MERGED=1), not part of the environment file" for env in ("pod", "Mac", "CI")},
}


def third_party_imports(root: Path = ROOT / "tasks") -> dict[str, set[str]]:
    """{top-level import name: {files}} of required (unguarded) imports that are neither stdlib nor the project."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        guarded = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                for inner in node.body:
                    guarded.update(id(n) for n in ast.walk(inner))
        for node in ast.walk(tree):
            if id(node) in guarded:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "tasks":
                    found.setdefault(top, set()).add(str(path.relative_to(root.parent)))
    return found


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(t, ast.Name) and t.id in ("ImportError", "ModuleNotFoundError") for t in types)


def distribution(name: str) -> str | None:
    # The table first: an import name can belong to several installed distributions (mlx: mlx and mlx-cpu).
    if name in IMPORT_TO_DIST:
        return probes.normalize_name(IMPORT_TO_DIST[name])
    installed = importlib.metadata.packages_distributions().get(name)
    return probes.normalize_name(installed[0]) if installed else None


def test_every_import_under_tasks_is_pinned_in_every_environment_file_that_runs_it():
    pins = {env: probes.read_pins(path) for env, path in ENV_FILES.items()}
    problems = []
    for name, files in sorted(third_party_imports().items()):
        dist = distribution(name)
        if dist is None:
            problems.append(f"import {name} ({', '.join(sorted(files))}): unknown distribution; add it to IMPORT_TO_DIST in {Path(__file__).name}")
            continue
        for env, path in ENV_FILES.items():
            if dist not in pins[env] and env not in PLATFORM_ONLY.get(dist, {}):
                problems.append(f"import {name} ({', '.join(sorted(files))}): {dist} is not pinned in {path.name} ({env}); "
                                f"pin it there, or list it in PLATFORM_ONLY with the reason")
    assert not problems, "\n".join(problems)


def test_the_scan_finds_known_imports_and_skips_guarded_ones():
    found = third_party_imports()
    assert "tasks/serve/gguf_lora.py" in found["gguf"] and "tasks/config.py" in found["yaml"]
    assert "flash_attn" not in found  # train.py imports it inside try/except ImportError: optional
    assert "packaging" not in found or "tasks/setup/probes.py" not in found["packaging"]  # the stdlib fallback guards it


def test_a_missing_pin_names_module_file_and_environment_file(tmp_path, monkeypatch):
    pkg = tmp_path / "tasks"
    (pkg / "serve").mkdir(parents=True)
    (pkg / "serve" / "plot.py").write_text("import os\nimport sklearn.linear_model\nfrom tasks import ui\n"
                                           "try:\n    import flash_attn\nexcept ImportError:\n    flash_attn = None\n")
    found = third_party_imports(pkg)
    assert found == {"sklearn": {"tasks/serve/plot.py"}}  # os is stdlib, tasks is the project, flash_attn is guarded
    monkeypatch.setattr(sys.modules[__name__], "third_party_imports", lambda: {"sklearn": {"tasks/serve/plot.py"}})
    try:
        test_every_import_under_tasks_is_pinned_in_every_environment_file_that_runs_it()
    except AssertionError as exc:
        message = str(exc)
    else:
        raise AssertionError("a missing pin was not reported")
    assert ("import sklearn (tasks/serve/plot.py): scikit-learn is not pinned in environment-remote.yml (pod); "
            "pin it there, or list it in PLATFORM_ONLY with the reason") in message
    assert "requirements-local.txt (Mac)" in message and "requirements-ci.txt (CI)" in message

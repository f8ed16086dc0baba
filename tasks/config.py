"""Load and validate a training config; report every error at once.

    python -m tasks.config --config configs/training_config_h100.yaml
    make validate CONFIG=configs/training_config_h100.yaml

Validation is the JSON Schema in configs/training_config.schema.json plus a few
rules a schema cannot say (4-bit only on CUDA, flash-attn only on CUDA, ...).
Each error reads `key.path: problem (got X; expected Y)`; an unknown key gets the
nearest valid name. Numbers written like `2e-4` are accepted (PyYAML reads them
as strings). Imports no torch: it runs in well under a second.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import difflib
import json
import platform
import re
from pathlib import Path

import jsonschema
import yaml

from tasks import ui

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "configs" / "training_config.schema.json"
PROFILE_CONFIGS = {p: ROOT / "configs" / f"training_config_{p}.yaml" for p in ("h100", "m4", "cpu")}

_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def project_path(path: str | Path) -> Path:
    """A config path as the tasks use it: relative paths are taken from the project root."""
    p = Path(path)
    return p if p.is_absolute() else ROOT / p


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def default_profile() -> str:
    """The profile for this machine: m4 on Apple Silicon, h100 with an NVIDIA GPU, else cpu."""
    import shutil

    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "m4"
    if shutil.which("nvidia-smi"):
        return "h100"
    return "cpu"


def _types_of(schema: dict) -> set[str]:
    t = schema.get("type", [])
    return {t} if isinstance(t, str) else set(t)


def _coerce_numbers(value, schema: dict):
    """Turn strings like '2e-4' into numbers where the schema wants a number."""
    if isinstance(value, dict) and "properties" in schema:
        return {k: _coerce_numbers(v, schema["properties"].get(k, {})) for k, v in value.items()}
    if isinstance(value, list) and "items" in schema:
        return [_coerce_numbers(v, schema["items"]) for v in value]
    types = _types_of(schema)
    if isinstance(value, str) and _FLOAT_RE.match(value.strip()):
        if "number" in types:
            return float(value)
        if "integer" in types and float(value).is_integer():
            return int(float(value))
    return value


def _apply_defaults(value: dict, schema: dict) -> dict:
    """Fill omitted keys from the schema's `default`s (nested objects included)."""
    out = dict(value)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" and "properties" in sub:
            if key in out and isinstance(out[key], dict):
                out[key] = _apply_defaults(out[key], sub)
            elif key not in out and key != "tiny":
                out[key] = _apply_defaults({}, sub)
    return out


def _path(error_path) -> str:
    return ".".join(str(p) for p in error_path) or "(top level)"


def _schema_at(schema: dict, path) -> dict:
    for part in path:
        schema = schema.get("properties", {}).get(part, schema.get("items", {})) if isinstance(part, str) else schema.get("items", {})
    return schema


def _describe_expected(schema: dict) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"])
    parts = []
    types = _types_of(schema)
    if types:
        parts.append(" or ".join(sorted(types)))
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in schema:
            parts.append(f"{word} {schema[key]}")
    return " ".join(parts) or "a valid value"


def _format_schema_error(err: jsonschema.ValidationError, schema: dict) -> list[str]:
    path = list(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        lines = []
        for key in extra:
            where = _path(path + [key])
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean '{near[0]}'?" if near else "valid keys: " + ", ".join(allowed)
            lines.append(f"{where}: unknown key ({hint})")
        return lines
    if err.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", err.message)
        key = missing[0] if missing else err.message
        sub = err.schema.get("properties", {}).get(key, {})
        return [f"{_path(path + [key])}: missing required key (expected {_describe_expected(sub)})"]
    if err.validator in ("enum", "type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "pattern", "uniqueItems", "minItems"):
        problem = {
            "enum": "not an allowed value",
            "type": "wrong type",
            "minLength": "must not be empty",
            "pattern": "has characters that are not allowed",
            "uniqueItems": "has duplicates",
            "minItems": "must not be empty",
        }.get(err.validator, "out of range")
        expected = _describe_expected(err.schema) if err.validator not in ("pattern",) else f"match {err.schema['pattern']}"
        return [f"{_path(path)}: {problem} (got {err.instance!r}; expected {expected})"]
    return [f"{_path(path)}: {err.message}"]


def _semantic_errors(cfg: dict) -> list[str]:
    """Rules across keys that the schema cannot express."""
    errors = []
    profile = cfg.get("profile")
    model = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    if profile not in PROFILE_CONFIGS:
        model = {}  # an unknown profile is already reported; rules that depend on it would only add noise
    training = cfg.get("training") if isinstance(cfg.get("training"), dict) else {}
    mlx = training.get("backend") == "mlx"
    if mlx and profile not in ("m4", "cpu"):
        errors.append(f"training.backend: mlx runs on Apple Silicon, and on a Linux CPU for tests (got 'mlx' with profile {profile!r}; "
                      "expected 'torch', or profile m4 or cpu)")
    if model.get("load_in_4bit") and profile != "h100" and not mlx:
        errors.append(
            f"model.load_in_4bit: 4-bit QLoRA needs bitsandbytes on a CUDA GPU (got true with profile {profile!r}; "
            "expected false: set model.load_in_4bit: false, or training.backend: mlx for MLX's own 4-bit base)"
        )
    if model.get("attn_implementation") == "flash_attention_2" and profile != "h100":
        errors.append(
            f"model.attn_implementation: flash_attention_2 needs CUDA (got 'flash_attention_2' with profile {profile!r}; "
            "expected 'sdpa' or 'auto')"
        )
    if model.get("base") == "tiny" and profile != "cpu":
        errors.append(f"model.base: the tiny model is for the cpu profile (got 'tiny' with profile {profile!r}; expected a Hub id or folder)")
    if training.get("liger_kernel") and profile != "h100":
        errors.append(f"training.liger_kernel: Liger's kernels are Triton kernels for CUDA GPUs (got true with profile {profile!r}; "
                      "expected false, or profile h100)")
    if mlx and training.get("warmup_ratio") is not None:
        errors.append(f"training.warmup_ratio: the mlx backend counts its warm-up in steps (got {training['warmup_ratio']!r}; "
                      "expected null, with training.warmup_steps)")
    limit = training.get("save_total_limit")
    if isinstance(limit, int) and limit < 2:
        errors.append(
            f"training.save_total_limit: keep at least 2 checkpoints so resume can fall back past an incomplete one (got {limit}; expected >= 2)"
        )
    return errors


def validate(raw, schema: dict | None = None) -> tuple[dict, list[str]]:
    """Return (resolved config, errors). The config has numbers coerced and defaults filled."""
    schema = schema or load_schema()
    if raw is None:
        return {}, ["(top level): the file is empty (expected a mapping of config keys; copy configs/training_config_cpu.yaml)"]
    if not isinstance(raw, dict):
        return {}, [f"(top level): wrong type (got {type(raw).__name__}; expected a mapping of config keys)"]
    cfg = _coerce_numbers(raw, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = []
    for err in sorted(validator.iter_errors(cfg), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        errors.extend(_format_schema_error(err, schema))
    # Defaults and cross-key rules run even after schema errors, so that every
    # problem is reported in one pass.
    cfg = _apply_defaults(cfg, schema)
    model = cfg.get("model")
    if isinstance(model, dict) and model.get("base") == "tiny" and isinstance(model.get("tiny", {}), dict):
        model["tiny"] = _apply_defaults(model.get("tiny", {}), schema["properties"]["model"]["properties"]["tiny"])
    errors.extend(_semantic_errors(cfg))
    return cfg, errors


def read_yaml(path: str | Path):
    """Parse a YAML file; a syntax error names the file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise ui.Fail(f"{path}: config file not found (pass CONFIG=configs/training_config_<h100|m4|cpu>.yaml)")
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ui.Fail(f"{where}: YAML syntax error: {problem} (fix the line, then rerun)") from exc


def apply_overrides(raw, overrides: list[str] | None):
    """Apply `key.path=value` overrides (command line beats YAML). Values are YAML scalars."""
    if not overrides:
        return raw
    raw = copy.deepcopy(raw) if isinstance(raw, dict) else {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ui.Fail(f"--set {item!r}: expected key.path=value (for example training.max_steps=20)")
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ui.Fail(f"--set {item!r}: {part} is not a section")
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict:
    """Read, validate and resolve a config; raise `ui.Fail` listing every error.

    `overrides` are `key.path=value` strings applied over the YAML before validation.
    """
    cfg, errors = validate(apply_overrides(read_yaml(path), overrides))
    if errors:
        raise ui.Fail(f"{path}: {len(errors)} config error(s):\n  " + "\n  ".join(errors))
    cfg["_config_path"] = str(path)
    return cfg


def resolve_run_name(cfg: dict, now: dt.datetime | None = None) -> str:
    """Fill `{date}` in the run name; done when a run starts, not in YAML."""
    now = now or dt.datetime.now()
    return cfg["run_name"].replace("{date}", now.strftime("%Y%m%d"))


def run(config: str, overrides: list[str] | None = None) -> None:
    cfg = load_config(config, overrides)
    t = cfg["training"]
    effective = t["per_device_batch_size"] * t["gradient_accumulation_steps"]
    ui.success(
        f"{config}: valid (profile {cfg['profile']}, base {cfg['model']['base']}, "
        f"sequence {cfg['data']['max_seq_length']}, effective batch {effective}, save every {t['save_steps']} steps)"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="config file (default: this machine's profile)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. training.max_steps=20 (repeatable)")
    args = parser.parse_args(argv)
    config = args.config or str(PROFILE_CONFIGS[default_profile()].relative_to(ROOT))
    return ui.main_guard(run, config, args.overrides)


if __name__ == "__main__":
    raise SystemExit(main())

"""Config validation: every shipped config is valid, every kind of bad config exits 1 naming the key or line."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from tasks import config, ui

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "configs").glob("training_config_*.yaml"))


def test_three_profiles_are_shipped():
    # ... and SmolLM2 on the cpu profile (make demo).
    assert {p.name for p in SHIPPED} == {f"training_config_{p}.yaml" for p in ("h100", "m4", "cpu", "smol")}


def test_schema_is_itself_valid():
    jsonschema.Draft202012Validator.check_schema(config.load_schema())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_config_validates(path):
    cfg = config.load_config(path)
    assert cfg["lora"]["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    # No LoRA dropout on the Mac (mlx-lm's default; 2.2 GB of masks less, make plan) and the H100 (issue 23: the
    # same held-out loss in a CPU run, 15% of the activations less); 0.05 elsewhere.
    assert cfg["lora"]["dropout"] == (0.0 if path.name in ("training_config_m4.yaml", "training_config_h100.yaml") else 0.05)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_key_is_commented(path):
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not stripped.endswith(":"):
            assert "#" in line, f"{path.name}:{number} has no comment: {line!r}"


def test_profile_requirements_from_the_plan():
    h100 = config.load_config(ROOT / "configs/training_config_h100.yaml")
    m4 = config.load_config(ROOT / "configs/training_config_m4.yaml")
    assert h100["data"]["max_seq_length"] == 4096
    # about 15 minutes of estimated training between checkpoints (issue 23; tests/train/test_plan.py checks it against make plan)
    assert h100["training"]["save_steps"] == 740
    assert h100["reporting"]["report_to"] == "wandb"
    assert "{date}" in h100["run_name"]
    t = h100["training"]
    assert t["per_device_batch_size"] * t["gradient_accumulation_steps"] == 16
    assert (t["learning_rate"], t["lr_scheduler"], t["warmup_ratio"], t["epochs"]) == (2.0e-4, "cosine", 0.04, 3)
    assert (h100["lora"]["r"], h100["lora"]["alpha"]) == (16, 32)
    assert m4["training"]["per_device_batch_size"] == 1
    assert m4["training"]["gradient_accumulation_steps"] == 8
    assert m4["training"]["save_steps"] == 250
    assert m4["data"]["max_seq_length"] == 2048


def test_run_name_date_is_filled_at_start():
    import datetime as dt

    cfg = config.load_config(ROOT / "configs/training_config_h100.yaml")
    assert config.resolve_run_name(cfg, dt.datetime(2026, 11, 29, 3, 4, 5)) == "weatherman-lora-h100-20261129"


def _base() -> dict:
    return yaml.safe_load((ROOT / "configs/training_config_cpu.yaml").read_text())


def _errors(raw) -> list[str]:
    return config.validate(raw)[1]


def test_float_strings_are_numbers():
    raw = _base()
    raw["training"]["learning_rate"] = "2e-4"  # what PyYAML gives for 2e-4
    cfg, errors = config.validate(raw)
    assert errors == []
    assert cfg["training"]["learning_rate"] == pytest.approx(2e-4)
    assert isinstance(cfg["training"]["learning_rate"], float)


def test_wrong_type():
    raw = _base()
    raw["training"]["per_device_batch_size"] = "four"
    assert _errors(raw) == ["training.per_device_batch_size: wrong type (got 'four'; expected integer >= 1 <= 512)"]


def test_out_of_range():
    raw = _base()
    raw["lora"]["dropout"] = 1.5
    assert _errors(raw) == ["lora.dropout: out of range (got 1.5; expected number >= 0 <= 0.9)"]


def test_bad_enum():
    raw = _base()
    raw["profile"] = "a100"
    errors = _errors(raw)
    assert len(errors) == 1 and errors[0].startswith("profile: not an allowed value (got 'a100'; expected one of 'h100', 'm4', 'cpu')")


def test_misspelt_key_suggests_the_nearest():
    raw = _base()
    raw["training"]["learnig_rate"] = raw["training"].pop("learning_rate")
    errors = _errors(raw)
    assert "training.learnig_rate: unknown key (did you mean 'learning_rate'?)" in errors
    assert any(e.startswith("training.learning_rate: missing required key") for e in errors)


def test_unknown_key_without_a_near_name_lists_the_valid_ones():
    raw = _base()
    raw["lora"]["zzz"] = 1
    (error,) = _errors(raw)
    assert error.startswith("lora.zzz: unknown key (valid keys: alpha, dropout, r, target_modules)")


def test_missing_required_key():
    raw = _base()
    del raw["data"]["max_seq_length"]
    assert _errors(raw) == ["data.max_seq_length: missing required key (expected integer >= 64 <= 32768)"]


def test_every_error_reported_at_once():
    raw = _base()
    raw["lora"]["r"] = 0
    raw["training"]["save_steps"] = -1
    raw["model"]["load_in_4bit"] = True
    errors = _errors(raw)
    assert len(errors) == 3
    assert any(e.startswith("lora.r:") for e in errors)
    assert any(e.startswith("training.save_steps:") for e in errors)
    assert any(e.startswith("model.load_in_4bit: 4-bit QLoRA needs bitsandbytes on a CUDA GPU") for e in errors)


def test_flash_attention_refused_off_cuda():
    raw = _base()
    raw["model"]["attn_implementation"] = "flash_attention_2"
    (error,) = _errors(raw)
    assert error.startswith("model.attn_implementation: flash_attention_2 needs CUDA")


def test_overrides_beat_yaml_and_are_validated():
    cfg = config.load_config(ROOT / "configs/training_config_cpu.yaml", ["training.max_steps=7", "data.packing=false"])
    assert cfg["training"]["max_steps"] == 7 and cfg["data"]["packing"] is False
    with pytest.raises(ui.Fail, match=r"training.max_step: unknown key \(did you mean 'max_steps'\?\)"):
        config.load_config(ROOT / "configs/training_config_cpu.yaml", ["training.max_step=7"])


def _cli(tmp_path: Path, text: str | None, name="c.yaml"):
    path = tmp_path / name
    if text is not None:
        path.write_text(textwrap.dedent(text))
    proc = subprocess.run(
        [sys.executable, "-m", "tasks.config", "--config", str(path)],
        cwd=ROOT, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_cli_valid_exits_0(tmp_path):
    code, out = _cli(tmp_path, (ROOT / "configs/training_config_cpu.yaml").read_text())
    assert code == 0 and "✅" in out and "valid" in out


def test_cli_yaml_syntax_error_names_the_line(tmp_path):
    code, out = _cli(tmp_path, "profile: cpu\nmodel:\n  base: [tiny\nlora: {}\n")
    assert code == 1
    assert "c.yaml:4:" in out and "YAML syntax error" in out


def test_cli_empty_file(tmp_path):
    code, out = _cli(tmp_path, "")
    assert code == 1 and "the file is empty" in out


def test_cli_missing_file(tmp_path):
    code, out = _cli(tmp_path, None, name="absent.yaml")
    assert code == 1 and "absent.yaml: config file not found" in out


def test_cli_bad_config_lists_key_paths(tmp_path):
    raw = _base()
    raw["training"]["epochs"] = 0
    raw["data"]["max_seq_length"] = 10
    code, out = _cli(tmp_path, json.dumps(raw))  # JSON is YAML
    assert code == 1
    assert "2 config error(s)" in out
    assert "training.epochs: out of range (got 0; expected number > 0 <= 100)" in out
    assert "data.max_seq_length: out of range (got 10; expected integer >= 64 <= 32768)" in out


def test_validate_imports_no_torch():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from tasks import config; config.main(['--config', 'configs/training_config_h100.yaml']); print('torch' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.stdout.strip().splitlines()[-1] == "False"


def test_config_paths_are_taken_from_the_project_root(tmp_path):
    assert config.project_path("adapters/x") == ROOT / "adapters/x"
    assert config.project_path(tmp_path / "y") == tmp_path / "y"

"""make pack / make unpack: one checked archive off the pod, unpacked only when every file matches."""

import json
import subprocess
import sys
import tarfile

import pytest

from tasks.serve import pack
from tasks import ui
from tests.helpers_after_training import ROOT


def _run(tmp_path):
    adapter = tmp_path / "pod" / "adapters" / "weatherman-lora-h100"
    (adapter / "checkpoint-500").mkdir(parents=True)
    (adapter / "checkpoint-500" / "optimizer.pt").write_bytes(b"x" * 1000)
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA"}')
    (adapter / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 40)
    (adapter / "FINAL").write_text("{}")
    export = tmp_path / "pod" / "exports" / "weatherman-lora-h100"
    export.mkdir(parents=True)
    (export / "Modelfile").write_text("FROM mistral:7b-instruct-v0.2-q4_K_M\n")
    (export / "weatherman-lora.gguf").write_bytes(b"GGUF" + bytes(5000))
    return adapter, export


def test_pack_then_unpack_gives_the_same_files_without_checkpoints(tmp_path):
    adapter, export = _run(tmp_path)
    archive = tmp_path / "run.weatherman.tar"
    manifest = pack.pack(adapter, export, archive)
    assert not any("checkpoint-" in name for name in manifest["files"])
    laptop = tmp_path / "laptop"
    result = pack.unpack(archive, laptop)
    assert result == {"folders": ["adapters/weatherman-lora-h100", "exports/weatherman-lora-h100"], "files": 5}
    for src, top in ((adapter, "adapters"), (export, "exports")):
        for path in src.iterdir():
            if path.is_file():
                assert (laptop / top / src.name / path.name).read_bytes() == path.read_bytes()
    assert not (laptop / "adapters" / "weatherman-lora-h100" / "checkpoint-500").exists()
    assert sorted(p.name for p in (laptop / "adapters").iterdir()) == ["weatherman-lora-h100"]  # no staging left


def test_a_damaged_or_truncated_copy_unpacks_nothing(tmp_path):
    adapter, export = _run(tmp_path)
    archive = tmp_path / "run.weatherman.tar"
    pack.pack(adapter, export, archive)
    data = bytearray(archive.read_bytes())
    at = data.find(b"GGUF")
    data[at + 100] ^= 0xFF  # one flipped byte inside the GGUF
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ui.Fail, match="weatherman-lora.gguf does not match its checksum"):
        pack.unpack(damaged, tmp_path / "laptop")
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(bytes(archive.read_bytes()[: at + 2000]))
    with pytest.raises(ui.Fail, match="truncated"):
        pack.unpack(truncated, tmp_path / "laptop")
    assert not any(p.is_file() for p in (tmp_path / "laptop").rglob("*"))  # nothing half-written


def test_an_archive_not_made_by_pack_or_escaping_its_folders_is_refused(tmp_path):
    evil = tmp_path / "evil.tar"
    payload = tmp_path / "x"
    payload.write_text("boom")
    with tarfile.open(evil, "w") as tar:
        manifest = tmp_path / "MANIFEST.json"
        manifest.write_text(json.dumps({"files": {"../outside": {"size": 4, "sha256": pack.sha256(payload)}}}))
        tar.add(manifest, arcname="MANIFEST.json")
        tar.add(payload, arcname="../outside")
    with pytest.raises(ui.Fail, match="refuses to write '../outside'"):
        pack.unpack(evil, tmp_path / "laptop")
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(payload, arcname="x")
    with pytest.raises(ui.Fail, match="not written by `make pack`"):
        pack.unpack(plain, tmp_path / "laptop")


def test_unpack_of_a_missing_file_is_one_line_and_exit_1(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tasks.serve.pack", "unpack", str(tmp_path / "nope.tar")], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_pack_refuses_an_unfinished_adapter(tmp_path):
    adapter, export = _run(tmp_path)
    (adapter / "FINAL").unlink()
    with pytest.raises(ui.Fail, match="no FINAL marker"):
        pack.pack(adapter, export, tmp_path / "a.tar")
    assert not (tmp_path / "a.tar").exists()

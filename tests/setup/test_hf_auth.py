"""Hugging Face access on recorded Hub answers: token lookup, the gated-model check, the download and its marker.

The Hub is FakeHub (tests/helpers_setup.py): the recorded auth-check answers of tests/recordings/hf/ served on
localhost by the token sent. The download uses a fake snapshot_download that writes a small stand-in of the
model in huggingface_hub's cache layout. No network, no huggingface_hub download.
"""

import os
import subprocess
import sys
import time

import pytest
from tests.helpers_setup import HF_REPO, FakeHub, FakeMachine, seed_model

from tasks import ui

from tasks.setup import h100, hf_auth, probes

TOKENS = ("hf_test_valid", "hf_test_noaccess", "hf_test_revoked")


@pytest.fixture
def hub():
    server = FakeHub()
    yield server
    server.close()


@pytest.fixture
def pod(tmp_path, monkeypatch, hub):
    machine = FakeMachine(tmp_path).pod(workspace=True)
    machine.apply(monkeypatch, HF_ENDPOINT=hub.url)
    return machine


def _no_token_shown(*texts):
    joined = "".join(texts)
    assert not any(t in joined for t in TOKENS)


# ----------------------------------------------------------------- the token


def test_token_lookup_order_env_then_token_file_then_the_volume(pod, monkeypatch):
    assert hf_auth.token_source() == (None, None)
    kept = hf_auth.persistent_token_path()
    kept.parent.mkdir(parents=True)
    kept.write_text("hf_test_noaccess\n")
    assert hf_auth.token_source() == (str(kept), "hf_test_noaccess")
    login = pod.home / ".cache" / "huggingface" / "token"  # where `hf auth login` writes with the default HF_HOME
    login.parent.mkdir(parents=True)
    login.write_text("hf_test_revoked")
    assert hf_auth.token_source() == (str(login), "hf_test_revoked")
    monkeypatch.setenv("HF_TOKEN", "hf_test_valid")
    assert hf_auth.token_source() == ("HF_TOKEN", "hf_test_valid")


def test_a_token_on_the_container_disk_is_kept_on_the_volume_mode_600(pod, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_valid")
    dest = hf_auth.keep_token("hf_test_valid", "HF_TOKEN")
    assert dest == str(pod.workspace / ".cache" / "huggingface" / "token")
    assert oct(os.stat(dest).st_mode & 0o777) == "0o600" and open(dest).read().strip() == "hf_test_valid"
    assert hf_auth.keep_token("hf_test_valid", "HF_TOKEN") is None  # already there: nothing written


# ----------------------------------------------------------------- access on recorded answers


@pytest.mark.parametrize("token, status, value, fix", [
    (None, probes.FAIL, "is gated and no Hugging Face token is set", "accept the licence at https://huggingface.co/mistralai/Mistral-7B-Instruct-v0.2"),
    ("hf_test_noaccess", probes.FAIL, "has not accepted its licence (HTTP 403)", "accept the licence"),
    ("hf_test_revoked", probes.FAIL, "the Hub rejected the token from HF_TOKEN: invalid, expired or revoked (HTTP 401)", "settings/tokens"),
    ("hf_test_valid", probes.OK, "licence accepted, token from HF_TOKEN (not shown)", ""),
])
def test_access_to_the_gated_model_on_recorded_answers(pod, monkeypatch, hub, token, status, value, fix):
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    check = hf_auth.check_access(HF_REPO)
    assert check.status == status, check.text()
    assert value in check.value and fix in check.fix
    assert hub.requests == [(f"/api/models/{HF_REPO}/auth-check", token is not None)]
    _no_token_shown(check.text())


def test_no_token_fix_names_hf_auth_login_and_hf_token(pod):
    check = hf_auth.check_access(HF_REPO)
    assert "`hf auth login`" in check.fix and "HF_TOKEN" in check.fix and "huggingface-cli" not in check.fix


def test_a_repo_the_hub_does_not_know(pod, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_valid")
    check = hf_auth.check_access("mistralai/No-Such-Model")
    assert check.status == probes.FAIL and "not found for the token from HF_TOKEN (HTTP 401)" in check.value


def test_an_unreachable_hub_fails_in_seconds(pod, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    start = time.monotonic()
    check = hf_auth.check_access(HF_REPO)
    assert check.status == probes.FAIL and "unreachable" in check.value and time.monotonic() - start < 5


# ----------------------------------------------------------------- the model on the volume


def _fake_snapshot_download(calls, fail_after=None):
    def snapshot_download(repo, cache_dir, token, allow_patterns):
        calls.append({"repo": repo, "token": token, "allow_patterns": allow_patterns})
        snapshot = seed_model(cache_dir, repo, complete=False)
        if fail_after is not None:
            (snapshot / "model-00003-of-00003.safetensors").unlink()
            raise OSError(f"Connection reset while downloading model-00003-of-00003.safetensors (token {token})")
        return str(snapshot)
    return snapshot_download


def test_download_writes_the_marker_last_and_a_second_run_downloads_nothing(pod, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_test_valid")
    cache = pod.workspace / "hf-cache"
    calls = []
    hf_auth.download(HF_REPO, str(cache), snapshot_download=_fake_snapshot_download(calls))
    assert calls == [{"repo": HF_REPO, "token": "hf_test_valid", "allow_patterns": hf_auth.ALLOW_PATTERNS}]
    assert "*.bin" not in " ".join(hf_auth.ALLOW_PATTERNS)  # the repo's pytorch_model-*.bin copies are not downloaded
    complete, found = hf_auth.model_state(HF_REPO, str(cache))
    assert complete and "complete in" in found and "6 files" in found
    out = capsys.readouterr().out
    assert "Downloading mistralai/Mistral-7B-Instruct-v0.2 (weights, config, tokenizer: about 14.5 GB)" in out and "progress bars below" in out
    hf_auth.download(HF_REPO, str(cache), snapshot_download=_fake_snapshot_download(calls))
    assert len(calls) == 1 and "already on the volume" in capsys.readouterr().out


def test_an_interrupted_download_leaves_no_marker_and_fails_with_one_line(pod, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_test_valid")
    cache = pod.workspace / "hf-cache"
    with pytest.raises(ui.Fail) as exc:
        hf_auth.download(HF_REPO, str(cache), snapshot_download=_fake_snapshot_download([], fail_after=2))
    assert "download of mistralai/Mistral-7B-Instruct-v0.2 failed (OSError: Connection reset" in str(exc.value)
    assert "rerun make setup-h100, it resumes" in str(exc.value)
    _no_token_shown(str(exc.value), capsys.readouterr().out)
    assert not hf_auth.marker_path(cache, HF_REPO).exists()
    assert hf_auth.model_state(HF_REPO, str(cache)) == (False, f"{HF_REPO}: download not finished in {cache} (no completeness marker)")


def test_a_shard_missing_from_the_index_is_never_marked_complete(tmp_path):
    snapshot = seed_model(tmp_path, complete=False)
    (snapshot / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(ui.Fail, match="lacks model-00002-of-00003.safetensors"):
        hf_auth.write_marker(tmp_path, HF_REPO, snapshot)


def test_a_file_changed_after_the_marker_makes_the_model_incomplete(tmp_path):
    snapshot = seed_model(tmp_path)
    assert hf_auth.model_state(HF_REPO, str(tmp_path))[0]
    (snapshot / "model-00001-of-00003.safetensors").write_bytes(b"\0" * 10)
    complete, found = hf_auth.model_state(HF_REPO, str(tmp_path))
    assert not complete and found == f"{HF_REPO}: model-00001-of-00003.safetensors is 10 bytes, 1000 expected"


def test_the_model_on_the_volume_needs_no_token(pod, monkeypatch):
    seed_model(pod.workspace / "hf-cache")
    checks = hf_auth.checks(HF_REPO, str(pod.workspace / "hf-cache"), network=True)
    assert [c.status for c in checks] == [probes.OK, probes.WARN]
    assert "not needed now: the model is complete on the volume" in checks[1].value


def test_training_loads_a_complete_model_with_local_files_only(pod, monkeypatch):
    from tasks.train import train

    snapshot = seed_model(pod.workspace / "hf-cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # restored after the test; load_source turns the Hub off itself
    seen = {}

    def from_pretrained(base, **kwargs):
        seen.update(kwargs, base=base)
        raise OSError("stop here")

    import transformers
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    cfg = {"model": {"base": HF_REPO, "cache_dir": str(pod.workspace / "hf-cache"), "load_in_4bit": False}}
    choice = train.DeviceChoice("cpu", "fp32", "sdpa", True, "test")
    with pytest.raises(ui.Fail, match="hf auth login"):
        train.load_model(cfg, choice, HF_REPO)
    # The snapshot folder on the volume itself, with the Hub off for the process: no token, no Hub request.
    assert seen["base"] == str(snapshot) and os.environ["HF_HUB_OFFLINE"] == "1"
    seen.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    cfg["model"]["cache_dir"] = str(pod.workspace / "empty-cache")
    with pytest.raises(ui.Fail):
        train.load_model(cfg, choice, HF_REPO)
    # not downloaded yet: the Hub is asked, into the volume's cache
    assert seen["base"] == HF_REPO and seen["cache_dir"] == str(pod.workspace / "empty-cache") and os.environ["HF_HUB_OFFLINE"] == "0"


# ----------------------------------------------------------------- pre-flight


def _preflight_env(monkeypatch):
    ok = probes.Check("stub", probes.OK, "checked in its own tests")
    for name in ("check_config", "check_data_links", "check_training_data"):
        monkeypatch.setattr(probes, name, lambda *a, **k: ok)


def _config_with_cache(tmp_path, cache):
    text = (h100.ROOT / h100.DEFAULT_CONFIG).read_text().replace("cache_dir: /workspace/hf-cache", f"cache_dir: {cache}")
    path = tmp_path / "h100.yaml"
    path.write_text(text)
    return str(path)


def test_preflight_fails_in_seconds_when_the_model_is_not_on_the_volume(pod, monkeypatch, tmp_path, capsys):
    _preflight_env(monkeypatch)
    config = _config_with_cache(tmp_path, pod.workspace / "hf-cache")
    start = time.monotonic()
    with pytest.raises(ui.Fail, match=r"pre-flight: 1 check\(s\) failed \(Base model\)"):
        h100.preflight(config)
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert f"❌ Base model: {HF_REPO}: not downloaded to {pod.workspace / 'hf-cache'} (fix: make setup-h100 downloads it" in err


def test_preflight_passes_with_the_model_and_counts_only_checkpoints(pod, monkeypatch, tmp_path, capsys):
    _preflight_env(monkeypatch)
    seed_model(pod.workspace / "hf-cache")
    pod.df_split("runpod_volume_50gb_used", "runpod_container_20gb")
    config = _config_with_cache(tmp_path, pod.workspace / "hf-cache")
    h100.preflight(config)
    out = capsys.readouterr().out
    # The project is not under the fake /workspace here, so the checkpoints land on the container disk's df.
    assert "✅ Storage: 20.6 GB free on /; needs 4.6 GB = checkpoints 2.58 + reserve 2" in out
    assert "✅ Base model:" in out and "✅ Pre-flight checks passed" in out


def test_preflight_refuses_more_gpus_than_the_pod_has(pod, monkeypatch, tmp_path, capsys):
    _preflight_env(monkeypatch)
    seed_model(pod.workspace / "hf-cache")
    config = _config_with_cache(tmp_path, pod.workspace / "hf-cache")
    with pytest.raises(ui.Fail, match="GPU count"):
        h100.preflight(config, gpus=2)
    assert "❌ GPU count: GPUS=2 but 1 GPU(s) visible (fix: make train-h100 GPUS=1" in capsys.readouterr().err


def test_preflight_without_tmux_fails_and_says_setup_installs_it(pod, monkeypatch, tmp_path, capsys):
    _preflight_env(monkeypatch)
    seed_model(pod.workspace / "hf-cache")
    pod.remove("tmux")
    pod.apply(monkeypatch, HF_ENDPOINT="http://127.0.0.1:9")
    config = _config_with_cache(tmp_path, pod.workspace / "hf-cache")
    with pytest.raises(ui.Fail, match=r"\(tmux\)"):
        h100.preflight(config)
    assert "❌ tmux: not installed (a pod restart removes apt-installed packages) (fix: make setup-h100 installs it" in capsys.readouterr().err


# ----------------------------------------------------------------- the verb


def test_the_module_reports_without_printing_the_token(pod, hub):
    env = pod.environ(HF_ENDPOINT=hub.url, HF_TOKEN="hf_test_noaccess")
    proc = subprocess.run([sys.executable, "-m", "tasks.setup.hf_auth", "--config", h100.DEFAULT_CONFIG], cwd=h100.ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "❌ HF access: mistralai/Mistral-7B-Instruct-v0.2 is gated and the account of the token from HF_TOKEN has not accepted" in proc.stderr
    _no_token_shown(proc.stdout, proc.stderr)

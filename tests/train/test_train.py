"""The training entry on the tiny model: device choice, padding-free batches, the LoRA contract, refusals."""

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers_train import CPU_CONFIG, ROOT, env, events, overrides, run_train, train_cmd
from tasks import ui
from tasks.train import checkpoints, train
from tasks.config import load_config


@pytest.fixture(scope="module")
def cpu_cfg():
    return load_config(CPU_CONFIG)


# ----------------------------------------------------------------- device choice


def _profile(cfg, profile, **model):
    cfg = json.loads(json.dumps(cfg))
    cfg["profile"] = profile
    cfg["model"].update(model)
    return cfg


def test_cpu_is_fp32_sdpa_padding_free(cpu_cfg):
    c = train.choose_device(cpu_cfg)
    assert (c.device, c.dtype, c.attn_implementation, c.padding_free) == ("cpu", "fp32", "sdpa", True)
    assert c.reason.startswith("cpu/fp32: fp32 on CPU")


def test_cuda_without_flash_attn_falls_back_to_sdpa_and_stays_padding_free(cpu_cfg, monkeypatch):
    monkeypatch.setattr(train, "_cuda_available", lambda: True)
    monkeypatch.setattr(train, "_flash_attn_importable", lambda: False)
    c = train.choose_device(_profile(cpu_cfg, "h100", attn_implementation="auto"))
    assert (c.device, c.dtype, c.attn_implementation, c.padding_free) == ("cuda", "bf16", "sdpa", True)
    assert any("flash-attn is not installed" in w and "still padding-free" in w for w in c.warnings)
    assert not any("padding-free batching is off" in w for w in c.warnings)
    assert not isinstance(train.make_collator(c, type("T", (), {"pad_token_id": 0})()), train.PaddingCollator)
    # asked for flash-attn explicitly: still no crash, the same fallback
    c = train.choose_device(_profile(cpu_cfg, "h100", attn_implementation="flash_attention_2"))
    assert c.attn_implementation == "sdpa"


def test_cuda_with_flash_attn(cpu_cfg, monkeypatch):
    monkeypatch.setattr(train, "_cuda_available", lambda: True)
    monkeypatch.setattr(train, "_flash_attn_importable", lambda: True)
    c = train.choose_device(_profile(cpu_cfg, "h100", attn_implementation="auto"))
    assert (c.attn_implementation, c.padding_free, c.warnings) == ("flash_attention_2", True, [])


def test_h100_profile_without_a_gpu_is_a_clear_failure(cpu_cfg, monkeypatch):
    monkeypatch.setattr(train, "_cuda_available", lambda: False)
    with pytest.raises(ui.Fail, match="no CUDA GPU"):
        train.choose_device(_profile(cpu_cfg, "h100"))


@pytest.mark.parametrize("macos,dtype", [(13, "fp16"), (14, "bf16"), (15, "bf16")])
def test_mps_dtype_follows_macos(cpu_cfg, monkeypatch, macos, dtype):
    monkeypatch.setattr(train, "_mps_available", lambda: True)
    monkeypatch.setattr(train, "_macos_major", lambda: macos)
    c = train.choose_device(_profile(cpu_cfg, "m4"))
    assert (c.device, c.dtype, c.padding_free) == ("mps", dtype, True)
    assert f"macOS {macos}" in c.reason


# ----------------------------------------------------------------- padding-free batches


def test_packed_batch_gives_the_same_logits_as_separate_forwards(cpu_cfg):
    import torch
    from transformers import AutoModelForCausalLM

    import random

    from tests.helpers_train import conversation
    from tasks.train import template, tiny_model

    tok = template.load_tokenizer()
    base = str(tiny_model.build(cpu_cfg["model"]["tiny"]))
    model = AutoModelForCausalLM.from_pretrained(base, attn_implementation="sdpa").eval()
    # transformers finds packed sequences only when no KV cache is in play: training turns the cache off
    assert train.load_model(cpu_cfg, train.choose_device(cpu_cfg), base).config.use_cache is False
    model.config.use_cache = False
    rng = random.Random(1)
    examples = [template.encode(conversation(i, rng), tok) for i in range(3)]
    collator = train.make_collator(train.choose_device(cpu_cfg), tok)
    batch = collator(examples)
    assert batch["input_ids"].shape[0] == 1 and "attention_mask" not in batch
    assert batch["position_ids"][0].tolist() == [i for e in examples for i in range(len(e["input_ids"]))]
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        glued = model(input_ids=batch["input_ids"]).logits[0]  # no position ids: one long sequence
        start = 0
        for e in examples:
            n = len(e["input_ids"])
            alone = model(input_ids=torch.tensor([e["input_ids"]])).logits[0]
            assert torch.allclose(packed[start:start + n], alone, atol=1e-4), "conversations leaked into each other"
            if start:
                assert not torch.allclose(glued[start:start + n], alone, atol=1e-4)
            start += n
        # the loss of the packed batch is the token-weighted mean of the separate losses
        loss_packed = model(**batch).loss
        sums, count = 0.0, 0
        for e in examples:
            ids = torch.tensor([e["input_ids"]])
            labels = torch.tensor([e["labels"]])
            k = int((labels[0, 1:] != -100).sum())
            sums += model(input_ids=ids, labels=labels).loss * k
            count += k
    assert torch.allclose(loss_packed, sums / count, atol=1e-5)


def _varlen_reference(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """flash_attn_varlen_func's contract on the CPU: the boundaries come only from cu_seq_lens_q/k and max_length_q/k."""
    import torch
    import torch.nn.functional as F

    assert attention_mask is None, "a varlen kernel gets no mask: it must not need one"
    cu_q, cu_k = kwargs.get("cu_seq_lens_q"), kwargs.get("cu_seq_lens_k")
    if cu_q is None or kwargs.get("max_length_q") is None:
        raise AssertionError("no precomputed boundaries reached the attention layer")
    assert isinstance(kwargs["max_length_q"], int) and torch.equal(cu_q, cu_k)
    out = torch.empty_like(query)
    for s, e in zip(cu_q[:-1].tolist(), cu_q[1:].tolist(), strict=True):
        assert e - s <= kwargs["max_length_q"]
        out[:, :, s:e] = F.scaled_dot_product_attention(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e],
                                                        is_causal=True, scale=scaling, enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


def test_flash_attn_batches_carry_their_boundaries_and_the_packed_loss_is_unchanged(cpu_cfg):
    """flash-attn batches carry cu_seq_lens/max_length (no per-layer search on the GPU); sdpa never gets them."""
    import random

    import torch
    from transformers import AttentionInterface, AutoModelForCausalLM

    from tests.helpers_train import conversation
    from tasks.train import template, tiny_model

    tok = template.load_tokenizer()
    base = str(tiny_model.build(cpu_cfg["model"]["tiny"]))
    rng = random.Random(2)
    examples = [template.encode(conversation(i, rng), tok) for i in range(3)]
    sdpa_choice = train.choose_device(cpu_cfg)
    flash_choice = train.DeviceChoice("cuda", "bf16", "flash_attention_2", True, "test")
    plain = train.make_collator(sdpa_choice, tok)(examples)
    flash = train.make_collator(flash_choice, tok)(examples)
    assert set(plain) == {"input_ids", "labels", "position_ids"}  # sdpa: its block mask comes from the position ids
    lengths = [len(e["input_ids"]) for e in examples]
    bounds = [0] + [sum(lengths[:i + 1]) for i in range(len(lengths))]
    assert flash["cu_seq_lens_q"].tolist() == flash["cu_seq_lens_k"].tolist() == bounds
    assert flash["cu_seq_lens_q"].dtype == torch.int32 and flash["max_length_q"] == flash["max_length_k"] == max(lengths)
    assert all(torch.equal(flash[k], plain[k]) for k in plain)

    AttentionInterface.register("varlen_reference", _varlen_reference)
    model = AutoModelForCausalLM.from_pretrained(base, attn_implementation="sdpa").eval()
    model.config.use_cache = False
    with torch.no_grad():
        loss_sdpa = model(**plain).loss
        loss_sdpa_given_kwargs = model(**flash).loss  # the keywords reach sdpa too, which ignores them
        model.set_attn_implementation("varlen_reference")
        loss_varlen = model(**flash).loss
        with pytest.raises(AssertionError, match="no precomputed boundaries"):
            model(**plain)
    assert torch.allclose(loss_sdpa_given_kwargs, loss_sdpa, atol=1e-6)
    assert torch.allclose(loss_varlen, loss_sdpa, atol=1e-5), (loss_varlen, loss_sdpa)


def test_the_warmup_ratio_is_the_same_share_of_the_run_on_any_number_of_gpus(cpu_cfg, tmp_path):
    import math

    from tasks.train import template, tiny_model

    cfg = json.loads(json.dumps(cpu_cfg))
    choice = train.choose_device(cfg)
    tok = template.load_tokenizer()
    model = train.load_model(cfg, choice, str(tiny_model.build(cfg["model"]["tiny"])))
    steps_only = train.make_trainer(cfg, choice, model, tok, [], None, tmp_path, "w", save=False)
    assert steps_only.args.get_warmup_steps(2700) == steps_only.args.get_warmup_steps(338) == cfg["training"]["warmup_steps"]
    cfg["training"]["warmup_ratio"] = 0.04
    ratio = train.make_trainer(cfg, choice, model, tok, [], None, tmp_path, "w", save=False)
    # one GPU: 2,700 steps; eight: 338 (each step holds eight times the conversations)
    assert [ratio.args.get_warmup_steps(n) for n in (2700, 338)] == [math.ceil(0.04 * 2700), math.ceil(0.04 * 338)] == [108, 14]
    h100 = load_config(CPU_CONFIG.parent / "training_config_h100.yaml")
    assert h100["training"]["warmup_ratio"] == 0.04


def test_several_gpus_get_a_longer_grace_for_the_stop_checkpoint_and_load_straight_to_their_gpu(cpu_cfg, monkeypatch):
    monkeypatch.delenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", raising=False)
    assert train.distributed_env()["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] == "120"
    monkeypatch.setenv("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "300")
    assert train.distributed_env()["TORCH_ELASTIC_SHUTDOWN_TIMEOUT"] == "300"  # the renter's own value stays
    # On CUDA each rank's from_pretrained gets device_map={'': LOCAL_RANK}: the weights go straight to its GPU.
    seen = {}

    class Loaded(Exception):
        pass

    def fake_from_pretrained(source, **kwargs):
        seen.update(kwargs)
        raise Loaded

    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    monkeypatch.setenv("LOCAL_RANK", "3")
    cuda = train.DeviceChoice("cuda", "bf16", "sdpa", True, "test")
    with pytest.raises(Loaded):
        train.load_model(_profile(cpu_cfg, "h100", base="some/model"), cuda, "some/model")
    assert seen["device_map"] == {"": 3}
    seen.clear()
    with pytest.raises(Loaded):
        train.load_model(cpu_cfg, train.choose_device(cpu_cfg), "some/model")
    assert "device_map" not in seen


def test_liger_kernels_are_an_h100_option_off_by_default(cpu_cfg, monkeypatch):
    import importlib.util

    from tasks import config

    h100 = load_config(CPU_CONFIG.parent / "training_config_h100.yaml")
    assert h100["training"]["liger_kernel"] is False  # Triton needs a GPU: not proven equal in loss on a CPU
    cfg = json.loads(json.dumps(cpu_cfg))
    cfg["training"]["liger_kernel"] = True
    assert any(e.startswith("training.liger_kernel: Liger's kernels are Triton kernels") for e in config._semantic_errors(cfg))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "liger_kernel" else real_find_spec(name, *a))
    with pytest.raises(ui.Fail, match="liger-kernel is not installed.*environment-remote.yml"):
        train.require_liger()


# ----------------------------------------------------------------- real runs (subprocesses)


def test_lora_contract_and_bounded_eval(tmp_path, cpu_cfg):
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from tasks.train import tiny_model

    base_dir = tiny_model.build(cpu_cfg["model"]["tiny"])
    base_hash = hashlib.sha256((base_dir / "model.safetensors").read_bytes()).hexdigest()
    out = tmp_path / "out"
    r = run_train(overrides(tmp_path, out, **{"training.max_steps": 8, "training.eval_steps": 4,
                                              "training.eval_timeout_s": 1e-6}))
    assert r.returncode == 0, r.stdout + r.stderr
    # hidden 64, MLP 128, 4 heads of 16, 2 KV heads, r 8, 2 layers: r * (in + out) summed over the 7 projections
    expected = 2 * 8 * ((64 + 64) + (64 + 32) + (64 + 32) + (64 + 64) + 3 * (64 + 128))
    assert f"{expected:,} trainable of" in r.stdout
    assert "Device: cpu/fp32" in r.stdout and "padding-free" in r.stdout

    # the final adapter and everything beside it; FINAL lists them
    final = json.loads((out / "FINAL").read_text())
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja",
                 "training_config.resolved.yaml", "data_hashes.json"):
        assert (out / name).is_file() and name in final["files"], name
    assert final["step"] == 8
    from tasks.train import template

    assert (out / "chat_template.jinja").read_text() == template.TEMPLATE
    hashes = json.loads((out / "data_hashes.json").read_text())
    assert hashes["train"]["sha256"] == hashlib.sha256(Path(hashes["train"]["path"]).read_bytes()).hexdigest()
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert (adapter_cfg["r"], adapter_cfg["lora_alpha"]) == (8, 16)
    assert set(adapter_cfg["target_modules"]) == set(cpu_cfg["lora"]["target_modules"])

    # base weights untouched; adapter weights moved away from their initial values
    assert hashlib.sha256((base_dir / "model.safetensors").read_bytes()).hexdigest() == base_hash
    trained = load_file(out / "adapter_model.safetensors")
    assert sum(t.numel() for t in trained.values()) == expected
    torch.manual_seed(cpu_cfg["training"]["seed"])
    init = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir), LoraConfig(
        r=8, lora_alpha=16, target_modules=list(cpu_cfg["lora"]["target_modules"]), task_type="CAUSAL_LM"))
    init_sd = {k: v for k, v in init.state_dict().items() if "lora_" in k}
    for key, value in trained.items():
        match = [v for k, v in init_sd.items() if k.replace(".default", "") == key]
        assert len(match) == 1, key
        assert not torch.equal(match[0], value), f"{key} did not train"
        if "lora_B" in key:
            assert torch.count_nonzero(match[0]) == 0 and torch.count_nonzero(value) > 0

    # metrics: one step line per logged step with the contract's keys; the evaluation stopped at its timeout
    steps = events(out, "step")
    assert [s["step"] for s in steps] == list(range(1, 9))
    assert {"step", "total_steps", "loss", "learning_rate", "tokens_per_s", "elapsed_s", "eta_s", "timestamp"} <= set(steps[-1])
    assert steps[-1]["eta_s"] is not None and steps[-1]["tokens_per_s"] > 0
    evals = events(out, "eval")
    assert evals and all(e["eval_timed_out"] and e["eval_examples"] == 0 for e in evals)
    assert events(out, "end")[-1]["status"] == "finished"
    assert not (out / "train.lock").exists()

    # a second start on the finished run does nothing
    r = run_train(overrides(tmp_path, out, **{"training.max_steps": 8}))
    assert r.returncode == 0 and "already trained to step 8" in r.stdout


def test_second_concurrent_run_is_refused_and_the_first_is_unharmed(tmp_path):
    out = tmp_path / "out"
    sets = overrides(tmp_path, out, **{"training.max_steps": 60, "training.save_steps": 30})
    first = subprocess.Popen(train_cmd(sets), cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while not events(out, "step") and time.time() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert events(out, "step"), "the first run never started training"
        second = run_train(sets)
        assert second.returncode == 1
        assert "another training is running there" in second.stderr and f"pid {first.pid}" in second.stderr
        assert json.loads((out / "train.lock").read_text())["pid"] == first.pid
    finally:
        first_out = first.communicate(timeout=180)[0]
    assert first.returncode == 0, first_out
    assert json.loads((out / "FINAL").read_text())["step"] == 60
    assert [e["status"] for e in events(out, "end")] == ["finished"]


def test_crash_loop_exits_2_before_training(tmp_path):
    out = tmp_path / "out"
    ck = out / "checkpoint-4"
    ck.mkdir(parents=True)
    (ck / "trainer_state.json").write_text("{}")
    checkpoints.mark_complete(ck, 4)
    meta = {"last_step": 4, "resume_count": 2, "last_resume_at": "2026-01-01T00:00:00+00:00", "run_name": "x", "config": {}}
    (out / "resume_metadata.json").write_text(json.dumps(meta))
    r = run_train(overrides(tmp_path, out))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "❌ ERROR: Crash loop detected" in r.stderr
    assert json.loads((out / "resume_metadata.json").read_text()) == meta
    assert not events(out, "start") and not (out / "train.lock").exists()


def test_incomplete_checkpoint_is_skipped_on_resume(tmp_path):
    out = tmp_path / "out"
    sets = overrides(tmp_path, out, **{"training.max_steps": 8})
    assert run_train(sets).returncode == 0
    # simulate a kill while checkpoint-8 was being written: no COMPLETE marker, and no FINAL
    (out / "checkpoint-8" / "COMPLETE").unlink()
    (out / "FINAL").unlink()
    r = run_train(sets)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Skipping checkpoint" in r.stdout and "checkpoint-8" in r.stdout
    assert "⚠️ RESUME: Found checkpoint at step 4. Resuming training." in r.stdout
    assert events(out, "start")[-1]["resumed_from"] == 4
    assert [s["step"] for s in events(out, "step")][-4:] == [5, 6, 7, 8]
    assert checkpoints.checkpoint_problem(out / "checkpoint-8") is None  # rewritten complete


def test_bad_data_stops_the_run_before_any_model_loads(tmp_path):
    """The data pre-flight: a line off the contract is named with its file and line, exit 1, nothing written."""
    out = tmp_path / "out"
    sets = overrides(tmp_path, out)
    train = Path(next(s for s in sets if s.startswith("data.train=")).split("=", 1)[1])
    lines = train.read_text().splitlines()
    bad = json.loads(lines[2])
    bad["messages"][2]["tool_calls"][0]["function"]["name"] = "get_wether"
    lines[2] = json.dumps(bad)
    train.write_text("\n".join(lines) + "\n")
    proc = run_train(sets)
    assert proc.returncode == 1
    assert f"{train}:3: " in proc.stderr and "get_wether" in proc.stderr
    assert "data does not match the data contract" in proc.stderr
    assert not out.exists() or not any(out.iterdir())


# ----------------------------------------------------------------- sequence length


def _label_spans(labels: list[int]) -> list[tuple[int, int]]:
    spans, i = [], 0
    while i < len(labels):
        if labels[i] != -100:
            j = i
            while j + 1 < len(labels) and labels[j + 1] != -100:
                j += 1
            spans.append((i, j))
            i = j + 1
        else:
            i += 1
    return spans


def test_long_conversations_are_cut_after_their_last_complete_answer(tmp_path):
    """No label span without its </s>: cut after the last whole assistant turn, or drop the conversation."""
    import random

    from tests.helpers_train import conversation
    from tasks.train import template

    tok = template.load_tokenizer()
    conv = conversation(0, random.Random(0))
    # a second question and answer: three assistant turns (tool call, answer, answer)
    conv["messages"] += [{"role": "user", "content": "And will it stay like that all week, do you think?"},
                         {"role": "assistant", "content": "Nobody can promise a week of anything, least of all the sky."}]
    full = template.encode(conv, tok)
    spans = _label_spans(full["labels"])
    assert len(spans) == 3 and all(full["input_ids"][end] == tok.eos_token_id for _, end in spans)
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps(conv) + "\n")

    # the limit falls inside the last answer: the conversation ends after the second answer's </s>
    limit = spans[2][0] + 5
    (enc,), stats = train.load_examples(str(data), tok, limit)
    assert len(enc["input_ids"]) == spans[1][1] + 1 and enc["input_ids"] == full["input_ids"][:spans[1][1] + 1]
    assert (stats["shortened"], stats["dropped"], stats["truncated"]) == (1, 0, 1)
    # the limit falls inside the first turn (the tool call): nothing complete fits, the line is dropped, and a file
    # of only such lines fails clearly
    with pytest.raises(ui.Fail, match="no line has an assistant answer within"):
        train.load_examples(str(data), tok, spans[0][1])
    # every cut in between ends on a whole turn: each label span of the result ends with </s>
    for limit in range(spans[0][1] + 1, len(full["input_ids"]) + 1, 7):
        (enc,), stats = train.load_examples(str(data), tok, limit)
        assert len(enc["input_ids"]) <= limit
        for _, end in _label_spans(enc["labels"]):
            assert enc["input_ids"][end] == tok.eos_token_id, limit
    # a conversation that fits is left alone
    (enc,), stats = train.load_examples(str(data), tok, len(full["input_ids"]))
    assert enc == full and stats["truncated"] == stats["shortened"] == 0


def test_the_run_reports_shortened_and_dropped_conversations(tmp_path):
    """make train prints the counts and writes them to metrics.jsonl and data_hashes.json."""
    import random

    from tests.helpers_train import conversation, write_data

    train_file, val_file = write_data(tmp_path / "mine", n_train=12)
    long = conversation(99, random.Random(5))
    long["messages"] += [{"role": "user", "content": "Tell me more. " * 40},
                         {"role": "assistant", "content": "There is little more to tell. " * 40}]
    with open(train_file, "a") as fh:
        fh.write(json.dumps(long) + "\n")
    out = tmp_path / "out"
    sets = overrides(tmp_path, out, **{"training.max_steps": 2, "data.max_seq_length": 300})
    sets = [s for s in sets if not s.startswith(("data.train=", "data.validation="))]
    r = run_train(sets + [f"data.train={train_file}", f"data.validation={val_file}"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "longer than 300: 1 shortened to their last complete answer, 0 dropped" in r.stdout
    data_event = events(out, "data")[-1]
    assert (data_event["shortened"], data_event["dropped"], data_event["conversations"]) == (1, 0, 13)
    hashes = json.loads((out / "data_hashes.json").read_text())
    assert (hashes["train"]["shortened"], hashes["train"]["max_seq_length"]) == (1, 300)

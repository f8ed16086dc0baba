"""The log monitor: real failures are caught and shown, lines that merely say "error" are not failures.

Synthetic logs and run folders only (no training): milliseconds each. The real
detached run with a planted failure is in test_launch.py.
"""

import json
import threading
import time

import pytest

from tasks.run import monitor

BENIGN = """\
[TRAINING] Run weatherman-lora-cpu-20250101: config configs/training_config_cpu.yaml
[TRAINING] Data: 14,400 conversations; sample: {"role": "user", "content": "Is there an error in the forecast for Oslo?"}
{'eval_loss': 1.234, 'eval_error_rate': 0.12, 'epoch': 0.5}
wandb: ERROR Dropped streaming file chunk (see wandb/debug-internal.log)
wandb: WARNING Network error (ConnectionError), entering retry loop.
error_count=0 errors=0 ErrorHandler installed
The assistant said: "Sorry, there was an error fetching the weather; let me try again."
TRAINING:  40%|████      | 40/100 [00:20, loss 2.1, 4,700 tok/s, ETA 0m20s]\rTRAINING:  50%|█████     | 50/100 [00:25]
✅ Checkpoint complete: adapters/x/checkpoint-50 (step 50)
"""

TRACEBACK = """\
[TRAINING] Device: cuda/bf16
Traceback (most recent call last):
  File "/work/tasks/train/train.py", line 10, in <module>
    main()
  File "/work/tasks/train/train.py", line 5, in main
    model(**batch)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB
❌ out of memory on cuda (lower training.per_device_batch_size)
"""


def test_benign_error_words_are_not_failures(tmp_path, capsys):
    lines = monitor.split_lines(BENIGN)
    assert monitor.find_failures(lines) == []
    log = tmp_path / "training_20250101_000000.log"
    log.write_text(BENIGN * 50)
    assert monitor.main(["--log", str(log)]) == 0
    assert "no failure" in capsys.readouterr().out


def test_traceback_is_shown_whole_through_its_exception(tmp_path, capsys):
    lines = monitor.split_lines(BENIGN + TRACEBACK)
    failures = monitor.find_failures(lines)
    assert [f.kind for f in failures][:1] == ["traceback"]
    shown = monitor.excerpt(lines, failures)
    assert shown[0] == "Traceback (most recent call last):"
    assert "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" in shown
    assert shown[-1].startswith("❌ out of memory")  # the summary line after the traceback
    assert not any("eval_error_rate" in s for s in shown)
    log = tmp_path / "training_20250101_000000.log"
    log.write_text(BENIGN + TRACEBACK)
    assert monitor.main(["--log", str(log)]) == 1
    err = capsys.readouterr().err
    assert "failure line(s)" in err and "CUDA out of memory" in err


@pytest.mark.parametrize("line,kind", [
    ("RuntimeError: NCCL communicator was aborted", "RuntimeError"),
    ("[rank1]: RuntimeError: expected scalar type BFloat16", "RuntimeError"),
    ("[rank0]: Traceback (most recent call last):", "traceback"),
    ("torch.cuda.OutOfMemoryError: CUDA out of memory.", "out of memory"),
    ("❌ data/processed/train.jsonl: data file not found (run `make data`)", "failure"),
    ("Fatal Python error: Segmentation fault", "fatal"),
])
def test_each_real_failure_kind(line, kind):
    failures = monitor.find_failures(["ok line", line])
    assert [(f.index, f.kind) for f in failures] == [(1, kind)]


def test_nonzero_exit_code_alone_is_a_failure(tmp_path, capsys):
    log = tmp_path / "training_20250101_000000.log"
    log.write_text(BENIGN)
    monitor.exit_file_for(log).write_text("137\n")
    assert monitor.main(["--log", str(log)]) == 1
    err = capsys.readouterr().err
    assert "exit code 137 (killed by SIGKILL)" in err
    assert "Checkpoint complete" in err  # the last lines are shown when no line is a failure


# ----------------------------------------------------------------- watch()


def _write_events(out, events):
    with open(out / "metrics.jsonl", "a") as fh:
        for e in events:
            fh.write(json.dumps(e) + "\n")


def _steps(a, b, total=100):
    return [{"event": "step", "step": s, "total_steps": total, "loss": 2.0, "elapsed_s": s * 0.1,
             "tokens_per_s": 1000.0, "timestamp": "2025-01-01T00:00:00+00:00"} for s in range(a, b + 1)]


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # An earlier run's events: they must not count towards this start's window.
    _write_events(out, [{"event": "start", "step": 0, "total_steps": 100, "timestamp": "2024-12-31T00:00:00+00:00"}]
                  + _steps(1, 90))
    return tmp_path / "training_20250101_000000.log", out


def test_watch_passes_after_the_step_window_despite_error_words(run_dir):
    log, out = run_dir
    offset = (out / "metrics.jsonl").stat().st_size
    log.write_text(BENIGN)
    _write_events(out, [{"event": "start", "step": 40, "resumed_from": 40, "total_steps": 100,
                         "timestamp": "2025-01-01T00:00:00+00:00"}] + _steps(41, 45))
    result = monitor.watch(log, out, metrics_offset=offset, alive=lambda: True, window_s=30, window_steps=5, poll_s=0.05)
    assert result.ok and result.start_step == 40 and result.step == 45
    assert "5 steps done" in result.reason


def test_watch_catches_a_traceback_written_while_watching(run_dir):
    log, out = run_dir
    log.write_text(BENIGN)

    def fail_later():
        time.sleep(0.3)
        with open(log, "a") as fh:
            fh.write(TRACEBACK[:60])  # half a traceback first, the rest a moment later
            fh.flush()
            time.sleep(0.2)
            fh.write(TRACEBACK[60:])

    threading.Thread(target=fail_later).start()
    t0 = time.monotonic()
    result = monitor.watch(log, out, metrics_offset=(out / "metrics.jsonl").stat().st_size, alive=lambda: True,
                           window_s=30, window_steps=100, poll_s=0.05, settle_s=0.5)
    assert not result.ok and time.monotonic() - t0 < 5
    assert result.reason == "the log shows a failure"
    assert "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" in result.lines


def test_watch_exit_codes_and_a_vanished_session(run_dir):
    log, out = run_dir
    offset = (out / "metrics.jsonl").stat().st_size
    log.write_text(BENIGN)
    monitor.exit_file_for(log).write_text("0\n")
    done = monitor.watch(log, out, metrics_offset=offset, alive=lambda: False, window_s=30, poll_s=0.05)
    assert done.ok and done.finished

    monitor.exit_file_for(log).write_text("1\n")
    failed = monitor.watch(log, out, metrics_offset=offset, alive=lambda: False, window_s=30, poll_s=0.05)
    assert not failed.ok and "exit code 1" in failed.reason
    assert failed.lines[-1].startswith("✅ Checkpoint complete")  # no failure line: the last lines

    monitor.exit_file_for(log).unlink()
    gone = monitor.watch(log, out, metrics_offset=offset, alive=lambda: False, window_s=30, poll_s=0.05, settle_s=0.2)
    assert not gone.ok and "without recording an exit code" in gone.reason


def test_watch_ends_at_the_time_window_without_steps(run_dir):
    log, out = run_dir
    log.write_text("[TRAINING] Loading the model\n")
    t0 = time.monotonic()
    result = monitor.watch(log, out, metrics_offset=(out / "metrics.jsonl").stat().st_size, alive=lambda: True,
                           window_s=0.3, window_steps=100, poll_s=0.05)
    assert result.ok and "no step logged yet" in result.reason and time.monotonic() - t0 < 3

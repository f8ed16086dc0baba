"""make plot and the loss sparkline: curves from metrics.jsonl (resumes, evaluations, warm-up gaps), a real PNG whose
pixels show the series, the training hook that draws it at each evaluation and at the end, and `make status`'s line."""

import json
import struct
from pathlib import Path

import pytest

from tasks.run import plot, status
from tasks.train import curves
from tests import helpers_train as ht

CPU = str(ht.CPU_CONFIG)


def _events(resume: bool = True, evals: bool = True) -> list[dict]:
    """A run of 60 steps, logged every 5, evaluated every 20; killed after step 40 and resumed from checkpoint 30."""
    rows = [{"event": "start", "pid": 1, "step": 0, "total_steps": 60, "resumed_from": None, "timestamp": "2026-12-01T10:00:00+00:00"}]

    def step(s, loss):
        return {"event": "step", "step": s, "total_steps": 60, "loss": loss, "learning_rate": 2e-4 * (1 - s / 60),
                "tokens_per_s": None if s <= 5 else 1200.0 + s, "elapsed_s": s, "eta_s": None, "timestamp": "t", "grad_norm": 1.0,
                "tokens_seen": 1000 * s, "epoch": s / 60}

    for s in range(5, 45, 5):
        rows.append(step(s, 3.0 - s / 30))
        if evals and s % 20 == 0:
            rows.append({"event": "eval", "step": s, "eval_loss": 2.9 - s / 30, "eval_examples": 32})
    if resume:
        rows.append({"event": "start", "pid": 2, "step": 30, "total_steps": 60, "resumed_from": "checkpoint-30", "timestamp": "t"})
        rows.append(step(35, 1.5))  # step 35 again after the resume: the new value wins
    for s in range(40 if resume else 45, 65, 5):
        rows.append(step(s, 3.0 - s / 30))
        if evals and s % 20 == 0:
            rows.append({"event": "eval", "step": s, "eval_loss": 2.9 - s / 30, "eval_examples": 32})
    return rows


def test_series_keeps_the_latest_value_of_a_step_logged_again_after_a_resume():
    data = curves.series(_events())
    steps = [s for s, _ in data["loss"]]
    assert steps == list(range(5, 65, 5))  # each step once, in order
    assert dict(data["loss"])[35] == 1.5
    assert data["eval_loss"] == [(20, pytest.approx(2.9 - 20 / 30)), (40, pytest.approx(2.9 - 40 / 30)), (60, pytest.approx(0.9))]
    assert data["resumes"] == [30] and data["total_steps"] == 60
    assert [s for s, _ in data["tokens_per_s"]][0] == 10  # warm-up steps have no throughput and are left out


def test_sparkline():
    assert curves.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert curves.sparkline([3.0, 3.0, 3.0]) == "▅▅▅"
    assert curves.sparkline([]) == ""
    falling = curves.sparkline([10 - i / 10 for i in range(100)], width=20)
    assert len(falling) == 20 and falling[0] == "█" and falling[-1] == "▁"
    assert list(falling) == sorted(falling, reverse=True)


def test_loss_line():
    line = curves.loss_line(_events())
    assert line.startswith("Loss █") and "2.833 -> 1.000 (steps 5-60, 12 logged)" in line
    assert curves.loss_line(_events()[:2]) is None  # one step: no curve yet


def _png_size(path: Path) -> tuple[int, int]:
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


def _has_colour(path: Path, hex_colour: str) -> bool:
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(str(path))[..., :3]
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool((np.abs(img - rgb).max(axis=-1) < 0.02).sum() > 50)


def test_write_plot_draws_every_series(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in _events()), encoding="utf-8")
    path = curves.write_plot(out, _events())
    assert path == out / curves.PNG and _png_size(path) == (900, 850)
    for colour in ("#1f77b4", "#d62728", "#2ca02c", "#9467bd"):  # loss, eval loss, learning rate, tokens/s
        assert _has_colour(path, colour), colour
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl", curves.PNG]  # no temporary file left

    bare = tmp_path / "bare.png"
    curves.write_plot(out, _events(evals=False), out=bare)
    assert not _has_colour(bare, "#d62728")  # no evaluation, no red points


def test_nothing_to_draw_is_a_clear_failure(tmp_path, capsys):
    out = tmp_path / "run"
    assert curves.write_plot(out, []) is None
    code = plot.main(["--config", CPU, "--set", f"output_dir={out}", "--logs-dir", str(tmp_path / "logs")])
    assert code == 1 and "no training step logged yet" in capsys.readouterr().err
    assert not (out / curves.PNG).exists()


def test_plot_verb_and_status_line(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in _events()), encoding="utf-8")
    args = ["--config", CPU, "--set", f"output_dir={out}", "--logs-dir", str(tmp_path / "logs")]
    status.main(args)
    before = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("[STATUS] Loss "))
    assert before.startswith("[STATUS] Loss █") and before.endswith("; `make plot` draws the curves")
    assert plot.main(args) == 0
    text = capsys.readouterr().out
    assert f"Wrote {out / curves.PNG}" in text and (out / curves.PNG).is_file()
    status.main(args)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("[STATUS] Loss "))
    assert "2.833 -> 1.000" in line and f"curves in {out / curves.PNG}" in line


def test_training_draws_the_curves_at_each_evaluation_and_at_the_end(tmp_path):
    out = tmp_path / "out"
    proc = ht.run_train(ht.overrides(tmp_path, out, **{"training.max_steps": 4, "training.eval_steps": 2}))
    assert proc.returncode == 0, proc.stderr[-2000:]
    evals = ht.events(out, "eval")
    assert [e["step"] for e in evals] == [2, 4]
    assert (proc.stdout + proc.stderr).count(f"Training curves: {out / curves.PNG}") == len(evals) + 1
    assert _png_size(out / curves.PNG) == (900, 850) and _has_colour(out / curves.PNG, "#d62728")
    # The picture is redrawn later (`make plot`): it is no part of the adapter that FINAL vouches for.
    assert curves.PNG not in json.loads((out / "FINAL").read_text(encoding="utf-8"))["files"]

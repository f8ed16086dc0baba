"""Training curves from metrics.jsonl events: a PNG (matplotlib, Agg) and a one-line unicode sparkline.

Not run directly: training draws `<output_dir>/training_curves.png` at each evaluation and at the end
(tasks/train/train.py), `make plot` draws it on demand (tasks/run/plot.py), and `make status` prints
`loss_line()` (tasks/run/status.py).

The PNG has three panels sharing the step axis, which runs to the planned last step: loss (a moving
average over the faint raw curve once there are many steps) with the evaluation loss as points,
learning rate, tokens/s; dotted lines where the run was resumed. It is written atomically.
"""

from __future__ import annotations

from pathlib import Path

from tasks import ui

PNG = "training_curves.png"
BLOCKS = "▁▂▃▄▅▆▇█"
SMOOTH_FROM = 100  # logged steps from which the loss panel adds a moving average


def series(events: list[dict]) -> dict:
    """Per-step values from metrics events; a step logged again after a resume keeps its latest value."""
    steps: dict[int, dict] = {}
    evals: dict[int, float] = {}
    resumes = []
    for e in events:
        kind = e.get("event")
        if kind == "step" and isinstance(e.get("step"), int):
            steps[e["step"]] = e
        elif kind == "eval" and isinstance(e.get("eval_loss"), (int, float)):
            evals[e["step"]] = float(e["eval_loss"])
        elif kind == "start" and e.get("resumed_from"):
            resumes.append(e.get("step"))
    order = sorted(steps)

    def column(key):
        return [(s, float(steps[s][key])) for s in order if isinstance(steps[s].get(key), (int, float))]

    return {"loss": column("loss"), "learning_rate": column("learning_rate"), "tokens_per_s": column("tokens_per_s"),
            "eval_loss": sorted(evals.items()), "resumes": [s for s in resumes if isinstance(s, int)],
            "total_steps": next((steps[s].get("total_steps") for s in reversed(order) if steps[s].get("total_steps")), None)}


def _xy(pairs: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    return [s for s, _ in pairs], [v for _, v in pairs]


def moving_average(values: list[float], window: int) -> list[float]:
    """Mean of the last `window` values at each point (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def sparkline(values: list[float], width: int = 40) -> str:
    """The values as one line of unicode blocks, averaged into at most `width` buckets, low to high."""
    if not values:
        return ""
    if len(values) > width:
        size = len(values) / width
        values = [sum(chunk) / len(chunk) for chunk in (values[int(i * size): int((i + 1) * size)] for i in range(width)) if chunk]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        return BLOCKS[len(BLOCKS) // 2] * len(values)
    return "".join(BLOCKS[min(len(BLOCKS) - 1, int((v - lo) / (hi - lo) * len(BLOCKS)))] for v in values)


def loss_line(events: list[dict], width: int = 40) -> str | None:
    """`loss ▇▅▃▂▂▁ 2.31 -> 0.42 (steps 10-300)` for `make status`, or None before two logged steps."""
    loss = series(events)["loss"]
    if len(loss) < 2:
        return None
    return (f"Loss {sparkline([v for _, v in loss], width)} {loss[0][1]:.3f} -> {loss[-1][1]:.3f} "
            f"(steps {loss[0][0]}-{loss[-1][0]}, {len(loss)} logged)")


def write_plot(output_dir: str | Path, events: list[dict], out: str | Path | None = None) -> Path | None:
    """Draw the run's curves into `out` (default `<output_dir>/training_curves.png`); None when no step was logged yet."""
    output_dir = Path(output_dir)
    data = series(events)
    if not data["loss"] and not data["learning_rate"]:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a pod, no window on a Mac
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_lr, ax_tps) = plt.subplots(3, 1, figsize=(9, 8.5), sharex=True, gridspec_kw={"height_ratios": [2.2, 1, 1]})
    try:
        last = data["loss"][-1] if data["loss"] else None
        title = f"{output_dir.name}: step {last[0] if last else '?'}" + (f"/{data['total_steps']}" if data["total_steps"] else "")
        if last:
            title += f", loss {last[1]:.4f}"
        if data["eval_loss"]:
            title += f", eval loss {data['eval_loss'][-1][1]:.4f}"
        fig.suptitle(title, fontsize=11)
        if len(data["loss"]) >= SMOOTH_FROM:
            # Thousands of noisy steps: the raw loss faint, its moving average on top.
            steps, values = _xy(data["loss"])
            ax_loss.plot(steps, values, color="#1f77b4", linewidth=0.8, alpha=0.3)
            ax_loss.plot(steps, moving_average(values, max(2, len(values) // 50)), color="#1f77b4", linewidth=1.4,
                         label="training loss (moving average)")
        elif data["loss"]:
            ax_loss.plot(*_xy(data["loss"]), color="#1f77b4", linewidth=1.2, label="training loss")
        if data["eval_loss"]:
            ax_loss.plot(*_xy(data["eval_loss"]), "o-", color="#d62728", markersize=5, linewidth=1, label="evaluation loss")
        ax_loss.set_ylabel("loss")
        ax_loss.legend(loc="best", frameon=False)
        if data["learning_rate"]:
            ax_lr.plot(*_xy(data["learning_rate"]), color="#2ca02c", linewidth=1.2)
            ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax_lr.set_ylabel("learning rate")
        if data["tokens_per_s"]:
            ax_tps.plot(*_xy(data["tokens_per_s"]), color="#9467bd", linewidth=1.2)
        else:
            ax_tps.text(0.5, 0.5, "no throughput yet (warm-up)", ha="center", va="center", transform=ax_tps.transAxes, color="grey")
        ax_tps.set_ylabel("tokens/s")
        ax_tps.set_xlabel("step")
        if data["total_steps"]:
            ax_tps.set_xlim(0, data["total_steps"] * 1.01)  # the axis runs to the planned end: progress at a glance
        for ax in (ax_loss, ax_lr, ax_tps):
            ax.grid(True, alpha=0.3)
            for step in data["resumes"]:
                ax.axvline(step, color="grey", linestyle=":", linewidth=1)
        if data["resumes"]:
            ax_loss.annotate("resumed", xy=(data["resumes"][-1], 1), xycoords=("data", "axes fraction"), xytext=(3, -3),
                             textcoords="offset points", fontsize=8, color="grey", ha="left", va="top")
        fig.tight_layout()
        target = Path(out) if out else output_dir / PNG
        with ui.atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
    return target

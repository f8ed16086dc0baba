"""Run: start a training run, watch it, resume it, and report where it is.

Verbs: `make train-h100` and `make train DETACH=1` (tmux), `make train-m4` (foreground),
`make resume`, `make status`, `make eta`, `make plot`.

- `launch`: starts the run in tmux with a teed log; `monitor`: watches the first minutes for real failures
- `train_m4`: the Mac's foreground run with its ETA after 100 steps
- `status`, `eta`: read metrics.jsonl and the run records; `resume`: restarts the latest run the way it was started
- `plot`: the run's loss, learning rate and tokens/s as a PNG in its run folder (tasks/train/curves.py draws it)
"""

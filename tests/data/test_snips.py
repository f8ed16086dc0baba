"""The SNIPS split: fixed by the text alone, disjoint, and the sizes the docs state."""

import json

from tasks.data import snips


def test_split_is_disjoint_complete_and_a_fifth():
    rows = snips.load()
    held, pool = snips.heldout(), snips.phrasing()
    assert len(rows) == 1798 and len(held) == 342 and len(pool) == 1456
    held_texts = {r["text"] for r in held}
    assert not held_texts & {r["text"] for r in pool}


def test_heldout_depends_on_the_text_only(tmp_path):
    rows = snips.load()
    shuffled = tmp_path / "s.jsonl"
    shuffled.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    assert {r["text"] for r in snips.heldout(shuffled)} == {r["text"] for r in snips.heldout()}
    # case and spacing do not move a question across the split
    text = snips.heldout()[0]["text"]
    assert snips.is_heldout("  " + text.upper() + " ")


def test_bad_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "slots": []}\nnot json\n')
    import pytest

    from tasks import ui
    with pytest.raises(ui.Fail, match=r"bad.jsonl:2: not JSON"):
        snips.load(bad)

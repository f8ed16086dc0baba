"""The chat's system prompt is one the training data contains: the persona's prompt with today's date."""

import datetime as dt

from tasks.data.personas import system_prompt
from tasks.serve import chat


def test_chat_prompt_is_the_dated_training_prompt():
    day = dt.date(2026, 3, 5)
    assert chat.conversation("twain", day) == [{"role": "system", "content": system_prompt("twain", day)}]
    assert chat.conversation("onion")[0]["content"].endswith(f"Today is {dt.date.today():%A}, {dt.date.today().day} {dt.date.today():%B %Y}.")

"""Pure parts of the OpenAI-compatible API: the conversation split and Open WebUI's helper prompts."""

from __future__ import annotations

import json

import pytest

from service.routes.openai_compat import NoQuestion, is_task, split_conversation, task_reply
from service.schemas import OpenAIMessage


def _m(role: str, content: object) -> OpenAIMessage:
    return OpenAIMessage(role=role, content=content)  # type: ignore[arg-type]


def test_last_user_message_is_the_question_and_earlier_turns_are_history() -> None:
    question, turns = split_conversation(
        [
            _m("system", "Sei nett."),
            _m("user", "Wann beginnt der Rollout?"),
            _m("assistant", "Im April 2027. [2]\n\nQuellen:\n[2] Positionspapier, S. 4 – 4.2 Rollout 2027"),
            _m("user", [{"type": "text", "text": "Und bis wann?"}]),
        ]
    )
    assert question == "Und bis wann?"
    assert [(t.question, t.answer) for t in turns] == [("Wann beginnt der Rollout?", "Im April 2027.")]


def test_a_conversation_not_ending_with_a_user_message_is_rejected() -> None:
    with pytest.raises(NoQuestion):
        split_conversation([_m("user", "Frage?"), _m("assistant", "Antwort.")])
    with pytest.raises(NoQuestion):
        split_conversation([_m("system", "nur System")])


def _task(kind: str) -> str:
    return (
        f"### Task:\n{kind}\n### Chat History:\n<chat_history>\nUSER: Wie viele GPUs braucht der Cluster?\n"
        "ASSISTANT: Mindestens 16 GPUs. [1]\nUSER: Und wo stehen sie?\n</chat_history>"
    )


def test_open_webui_helper_prompts_get_the_json_they_ask_for() -> None:
    assert is_task(_task("x")) and not is_task("Wie viele GPUs?")
    assert json.loads(task_reply(_task("Generate a concise, 3-5 word title"))) == {
        "title": "Wie viele GPUs braucht der Cluster"
    }
    assert json.loads(task_reply(_task("Generate 1-3 broad tags"))) == {"tags": []}
    assert json.loads(task_reply(_task("Suggest 3-5 relevant follow-up questions"))) == {"follow_ups": []}
    assert json.loads(task_reply(_task("Analyze the chat history to determine search queries"))) == {
        "queries": ["Und wo stehen sie?"]
    }

"""LLM bridge without a network: conversation history, the echo model, the factory."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from voicectl.orchestrator.llm import (
    ChatMessage,
    Conversation,
    EchoLLM,
    LLMBridge,
    OpenAICompatibleLLM,
    build_llm,
)


async def collect(llm: LLMBridge, messages: Sequence[ChatMessage]) -> list[str]:
    return [delta async for delta in llm.stream(messages)]


def test_conversation_keeps_order_and_system_prompt() -> None:
    conversation = Conversation(system_prompt="Be brief.")
    conversation.add_user("Hello there")
    conversation.add_assistant("Hi!")
    conversation.add_user("  What time is it?  ")
    assert conversation.messages() == [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Hello there"),
        ChatMessage("assistant", "Hi!"),
        ChatMessage("user", "What time is it?"),
    ]
    assert len(conversation) == 3
    conversation.clear()
    assert conversation.messages() == [ChatMessage("system", "Be brief.")]


def test_conversation_trims_to_max_turns() -> None:
    conversation = Conversation(max_turns=2)
    for turn in range(5):
        conversation.add_user(f"question {turn}")
        conversation.add_assistant(f"answer {turn}")
    assert [m.content for m in conversation.messages()] == [
        "question 3",
        "answer 3",
        "question 4",
        "answer 4",
    ]


def test_conversation_merges_repeated_roles_and_skips_empty_text() -> None:
    conversation = Conversation()
    conversation.add_user("Book a table")
    conversation.add_assistant("   ")  # a reply cut off before any text was spoken
    conversation.add_user("for two people")
    assert conversation.messages() == [ChatMessage("user", "Book a table for two people")]


def test_a_carried_on_turn_replaces_the_turn_and_its_cut_reply() -> None:
    conversation = Conversation()
    conversation.add_user("Hello")
    conversation.add_assistant("Hi there.")
    conversation.add_user("That's one small step for man.")
    conversation.add_assistant("You said")  # cut off when the user carried on
    conversation.retract_user("That's one small step for man.")
    conversation.add_user("That's one small step for man. One giant leap for mankind.")
    assert conversation.messages() == [
        ChatMessage("user", "Hello"),
        ChatMessage("assistant", "Hi there."),
        ChatMessage("user", "That's one small step for man. One giant leap for mankind."),
    ]


def test_retracting_keeps_an_earlier_turn_merged_into_the_same_message() -> None:
    conversation = Conversation()
    conversation.add_user("Book a table")
    conversation.add_assistant("")  # cut before any text: the next turn merges
    conversation.add_user("for two")
    conversation.retract_user("for two")
    assert conversation.messages() == [ChatMessage("user", "Book a table")]
    conversation.retract_user("not what was said")  # nothing to take back
    assert conversation.messages() == [ChatMessage("user", "Book a table")]


def test_retracting_a_turn_that_never_reached_the_history_keeps_the_last_reply() -> None:
    conversation = Conversation()
    conversation.add_user("Hello")
    conversation.add_assistant("Hi there.")
    conversation.retract_user("That's one small step")  # cut before its reply started
    assert conversation.messages() == [
        ChatMessage("user", "Hello"),
        ChatMessage("assistant", "Hi there."),
    ]


def test_conversation_validates_max_turns() -> None:
    with pytest.raises(ValueError, match="max_turns"):
        Conversation(max_turns=0)


async def test_echo_streams_the_last_user_turn_word_by_word() -> None:
    llm = EchoLLM()
    conversation = Conversation(system_prompt="ignored")
    conversation.add_user("What is the weather?")
    conversation.add_assistant("You said: What is the weather.")
    conversation.add_user("Turn on the lights!")
    deltas = await collect(llm, conversation.messages())
    assert deltas == ["You", " said:", " Turn", " on", " the", " lights."]
    assert deltas == await collect(llm, conversation.messages())  # deterministic
    await llm.aclose()


async def test_echo_has_a_fixed_reply_for_empty_input() -> None:
    llm = EchoLLM()
    assert "".join(await collect(llm, [])) == EchoLLM.EMPTY_REPLY
    empty = [ChatMessage("user", "  ...  ")]
    assert "".join(await collect(llm, empty)) == EchoLLM.EMPTY_REPLY


async def test_echo_delay_and_prefix_are_options() -> None:
    llm = EchoLLM(delay_ms=1, prefix="Echo:")
    assert "".join(await collect(llm, [ChatMessage("user", "hi")])) == "Echo: hi."
    with pytest.raises(ValueError, match="delay_ms"):
        EchoLLM(delay_ms=-1)


async def test_build_llm_from_config() -> None:
    assert isinstance(build_llm("echo"), EchoLLM)
    llm = build_llm("openai", base_url="http://127.0.0.1:1/v1/", model="m", api_key="k")
    assert isinstance(llm, OpenAICompatibleLLM)
    assert llm.url == "http://127.0.0.1:1/v1/chat/completions"
    await llm.aclose()
    with pytest.raises(ValueError, match="echo, openai"):
        build_llm("gpt")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_url": "127.0.0.1:8080/v1"}, "http://"),
        ({"model": ""}, "model"),
        ({"timeout_s": 0}, "timeouts"),
        ({"first_token_timeout_s": -1}, "timeouts"),
    ],
)
def test_openai_options_are_validated(kwargs: dict[str, object], match: str) -> None:
    options: dict[str, object] = {"base_url": "http://127.0.0.1:1/v1", "model": "m", **kwargs}
    with pytest.raises(ValueError, match=match):
        OpenAICompatibleLLM(**options)  # type: ignore[arg-type]

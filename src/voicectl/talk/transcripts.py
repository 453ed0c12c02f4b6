"""The user's turns as the client sees them, from the orchestrator's events (pure).

A ``transcript.final`` with ``"continues": true`` is the user carrying on the turn the
previous final ended too early: it holds the whole turn and replaces that final.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def add_final(turns: list[str], event: dict[str, Any]) -> None:
    """Fold one ``transcript.final`` event into ``turns`` (empty finals are not turns)."""
    text = str(event.get("text", ""))
    if event.get("continues") and turns:
        turns[-1] = text
    elif text.strip():
        turns.append(text)


def user_turns(events: Iterable[dict[str, Any]]) -> list[str]:
    """One transcript per user turn, in order."""
    turns: list[str] = []
    for event in events:
        if event.get("type") == "transcript.final":
            add_final(turns, event)
    return turns


def continuations(events: Iterable[dict[str, Any]]) -> int:
    """How many finals carried on an earlier turn (turn ends taken back)."""
    return sum(1 for e in events if e.get("type") == "transcript.final" and e.get("continues"))


def turn_open(events: Iterable[dict[str, Any]]) -> bool:
    """A partial came after the last final: the user's turn has not ended yet. Every turn
    that sent a partial ends in a final, and a long pause can outlast any idle time."""
    last_partial = last_final = -1
    for index, event in enumerate(events):
        kind = event.get("type")
        if kind == "transcript.partial":
            last_partial = index
        elif kind == "transcript.final":
            last_final = index
    return last_partial > last_final

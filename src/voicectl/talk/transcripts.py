"""The user's turns as the client sees them, from the orchestrator's events (pure).

A ``transcript.final`` with ``"continues": true`` is the user carrying on the turn the
previous final ended too early: it holds the whole turn and replaces that final.
"""

from __future__ import annotations

from collections.abc import Iterable

from voicectl.orchestrator import events as ev


def add_final(turns: list[str], event: ev.TranscriptFinal) -> None:
    """Fold one ``transcript.final`` into ``turns`` (empty finals are not turns)."""
    if event.continues and turns:
        turns[-1] = event.text
    elif event.text.strip():
        turns.append(event.text)


def user_turns(events: Iterable[ev.ServerEvent]) -> list[str]:
    """One transcript per user turn, in order."""
    turns: list[str] = []
    for event in events:
        if isinstance(event, ev.TranscriptFinal):
            add_final(turns, event)
    return turns


def continuations(events: Iterable[ev.ServerEvent]) -> int:
    """How many finals carried on an earlier turn (turn ends taken back)."""
    return sum(1 for e in events if isinstance(e, ev.TranscriptFinal) and e.continues)


def turn_open(events: Iterable[ev.ServerEvent]) -> bool:
    """A partial came after the last final: the user's turn has not ended yet. Every turn
    that sent a partial ends in a final, and a long pause can outlast any idle time."""
    last_partial = last_final = -1
    for index, event in enumerate(events):
        if isinstance(event, ev.TranscriptPartial):
            last_partial = index
        elif isinstance(event, ev.TranscriptFinal):
            last_final = index
    return last_partial > last_final

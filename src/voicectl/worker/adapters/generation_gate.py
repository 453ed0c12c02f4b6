"""Who may run on a shared model now: generations with one LoRA selection together.

A model with LoRA adapters has one active selection at a time (peft's ``set_adapter`` is
model-wide). Generations that want the same selection (the base, or one adapter) can run
at once; one that wants another selection waits until those finish. Changing the model
itself (loading or deleting an adapter) waits for every generation and runs alone.
Tickets are served in arrival order, so a waiting selection is never starved by a stream
of others: once it queues, later arrivals queue behind it.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

EXCLUSIVE = object()  # the selection of a change to the model: runs alone


@dataclass(frozen=True)
class _Ticket:
    number: int
    selection: object


class GenerationGate:
    """Admission to a shared model, by selection (see the module docstring)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: deque[_Ticket] = deque()
        self._numbers = itertools.count()
        self._running = 0
        self._selection: object = None

    @contextmanager
    def generating(self, selection: str | None) -> Iterator[None]:
        """Hold the model for one generation with ``selection`` (a LoRA name or None)."""
        with self._admitted(selection):
            yield

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the model alone, to load or delete an adapter."""
        with self._admitted(EXCLUSIVE):
            yield

    @property
    def running(self) -> int:
        return self._running

    @contextmanager
    def _admitted(self, selection: object) -> Iterator[None]:
        ticket = _Ticket(next(self._numbers), selection)
        with self._changed:
            self._queue.append(ticket)
            self._changed.wait_for(lambda: self._may_enter(ticket))
            self._queue.popleft()
            self._running += 1
            self._selection = selection
            self._changed.notify_all()  # the next in line may share this selection
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def _may_enter(self, ticket: _Ticket) -> bool:
        if self._queue[0] is not ticket:
            return False
        if self._running == 0:
            return True
        return ticket.selection is not EXCLUSIVE and ticket.selection == self._selection

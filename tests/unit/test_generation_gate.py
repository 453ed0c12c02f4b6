"""GenerationGate: one LoRA selection at a time on a shared model, served in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from voicectl.worker.adapters.generation_gate import GenerationGate


class Holder:
    """A thread that enters the gate and stays until released; records when it got in."""

    def __init__(self, enter: Callable[[], AbstractContextManager[None]], log: list[str],
                 name: str) -> None:  # fmt: skip
        self.inside = threading.Event()
        self.release = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(enter, log, name), daemon=True)
        self._thread.start()

    def _run(self, enter: Callable[[], AbstractContextManager[None]], log: list[str],
             name: str) -> None:  # fmt: skip
        with enter():
            log.append(name)
            self.inside.set()
            self.release.wait(10)

    def done(self) -> None:
        self.release.set()
        self._thread.join(10)


def settle() -> None:
    time.sleep(0.05)  # long enough for a thread that could enter to have entered


def test_one_selection_runs_together() -> None:
    gate, log = GenerationGate(), []
    a = Holder(lambda: gate.generating("calm"), log, "a")
    b = Holder(lambda: gate.generating("calm"), log, "b")
    assert a.inside.wait(5)
    assert b.inside.wait(5)
    assert gate.running == 2
    a.done()
    b.done()
    assert gate.running == 0


def test_another_selection_waits_and_is_not_starved() -> None:
    gate, log = GenerationGate(), []
    a = Holder(lambda: gate.generating("calm"), log, "a")
    assert a.inside.wait(5)
    b = Holder(lambda: gate.generating(None), log, "b")  # the base: adapters off
    settle()
    c = Holder(lambda: gate.generating("calm"), log, "c")  # same as a, but after b
    settle()
    assert log == ["a"], "b waits for a; c queues behind b"
    a.done()
    assert b.inside.wait(5)
    settle()
    assert log == ["a", "b"]
    b.done()
    assert c.inside.wait(5)
    c.done()
    assert log == ["a", "b", "c"]


def test_a_change_to_the_model_runs_alone() -> None:
    gate, log = GenerationGate(), []
    a = Holder(lambda: gate.generating("calm"), log, "a")
    assert a.inside.wait(5)
    change = Holder(gate.changing, log, "change")
    settle()
    b = Holder(lambda: gate.generating("calm"), log, "b")
    settle()
    assert log == ["a"]
    a.done()
    assert change.inside.wait(5)
    settle()
    assert log == ["a", "change"], "nothing runs beside a change"
    change.done()
    assert b.inside.wait(5)
    b.done()

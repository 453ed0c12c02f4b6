"""End of turn: when a pause in the user's speech ends the turn, in pure code.

A VAD offset only says the user paused. People pause inside sentences ("ask not ...
what your country can do") for up to a second or more, and a turn ended there splits
the sentence and makes the rest barge in on the reply. So the orchestrator waits an
adaptive delay after the pause starts, decided by what was heard:

- the words so far, from the speculative final transcript: a turn that ends on a
  word that cannot end an English sentence ("not", "the", "and", "to"), a comma,
  a dash or an ellipsis waits ``max_delay_ms``; a turn that reads as finished
  waits ``min_delay_ms`` (the finished question is still answered fast);
- the speaker's own pauses: once the user has resumed after a pause of P ms in
  this turn, later pauses in it wait at least P + ``resume_margin_ms`` (up to
  ``max_delay_ms``), because this speaker pauses that long mid-sentence;
- until the words are known, the wait is ``max_delay_ms``: a turn never ends on a
  guess.

No rule on words and silence is always right ("That's one small step for man." is
complete until "one giant leap" follows). So an ended turn can be taken back: speech
that starts within ``continuation_ms`` of the turn's end, while the reply is still
being prepared or playing, continues that turn (``continues_turn``). The reply
stops as a barge-in would, and the words are heard as one turn with the first part.

Times are seconds on any monotonic clock, passed in, so tests drive it with a fake one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words after which an English statement cannot be complete: articles, possessive
# determiners, conjunctions, prepositions that are never particles, negation, subject
# pronouns, contractions and fillers. Words that can close a sentence ("that", "so",
# "on", "you", "can", "why": "I think so", "turn it on", "yes I can") are left out:
# a wrong "unfinished" costs max_delay_ms, a wrong "finished" splits the turn.
CONTINUATION_WORDS = frozenset(
    """
    a an the my your our their its and or but nor because if unless although whereas
    than whether until till of to from with into onto at between among toward towards
    via during for not very just like i we they it's i'm i'd i'll i've we're you're
    they're we've um uh er erm
    """.split()  # noqa: SIM905
)
_WORD = re.compile(r"[a-z']+")
_OPEN_ENDINGS = (",", ";", ":", "-", "\u2014", "\u2013", "...", "\u2026")


def looks_unfinished(text: str) -> bool:
    """True when ``text`` cannot be the end of what the speaker means to say."""
    stripped = text.strip()
    if not stripped:
        return False  # nothing intelligible was said: no reason to wait
    if stripped.endswith(_OPEN_ENDINGS):
        return True
    if stripped.endswith(("?", "!")):
        return False
    words = _WORD.findall(stripped.lower().replace("\u2019", "'"))
    return bool(words) and words[-1] in CONTINUATION_WORDS


@dataclass(frozen=True, kw_only=True)
class EndpointingConfig:
    """Silence, counted from the start of a pause, that ends the user's turn."""

    min_delay_ms: int = 240  # the words read as finished
    max_delay_ms: int = 1600  # the words read as unfinished, or are not known yet
    resume_margin_ms: int = 300  # added to the longest pause the user resumed after
    continuation_ms: int = 1200  # speech this soon after the turn ended continues it

    def __post_init__(self) -> None:
        if not 0 <= self.min_delay_ms <= self.max_delay_ms:
            raise ValueError(
                f"turns: need 0 <= min_delay_ms <= max_delay_ms, got "
                f"{self.min_delay_ms} and {self.max_delay_ms}"
            )
        for name in ("resume_margin_ms", "continuation_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"turns.{name} must be >= 0, got {getattr(self, name)}")


def continues_turn(
    *, turn_ended_at: float | None, onset_at: float, config: EndpointingConfig
) -> bool:
    """Whether speech with its onset at ``onset_at`` continues the turn that ended at
    ``turn_ended_at`` (None: no turn to continue). Counted from the end, not from the last
    word, so a turn ended after a long pause (max_delay_ms) can be continued too."""
    if turn_ended_at is None or config.continuation_ms == 0:
        return False
    return 0 <= onset_at - turn_ended_at <= config.continuation_ms / 1000


class Endpointer:
    """One user turn's pauses: ``deadline()`` is when the turn ends if nothing changes."""

    def __init__(self, config: EndpointingConfig) -> None:
        self.config = config
        self._pause_started: float | None = None
        self._text: str | None = None
        self._longest_resumed_s = 0.0

    @property
    def pausing(self) -> bool:
        return self._pause_started is not None

    @property
    def pause_started(self) -> float | None:
        """When the current pause began: the user's last word so far."""
        return self._pause_started

    def reset(self) -> None:
        """A new turn: forget this speaker's pauses."""
        self._pause_started = None
        self._text = None
        self._longest_resumed_s = 0.0

    def pause(self, *, started_at: float) -> None:
        """The VAD heard the user stop at ``started_at`` (the first silent frame)."""
        self._pause_started = started_at
        self._text = None

    def heard(self, text: str) -> None:
        """The transcript of the turn up to this pause."""
        if self._pause_started is not None:
            self._text = text

    def resume(self, *, at: float) -> None:
        """The user spoke again: the pause was inside the turn."""
        if self._pause_started is not None:
            self._longest_resumed_s = max(self._longest_resumed_s, at - self._pause_started)
        self._pause_started = None
        self._text = None

    @property
    def longest_resumed_s(self) -> float:
        """The longest pause in this turn the user resumed after."""
        return self._longest_resumed_s

    def carry_on(self, *, paused_s: float) -> None:
        """The turn goes on after a pause of ``paused_s`` that had ended it too early (a
        continuation): later pauses wait at least that long, as after any resume."""
        self._longest_resumed_s = max(self._longest_resumed_s, paused_s)

    def delay_s(self) -> float:
        """The silence this pause needs before the turn ends."""
        config = self.config
        if self._text is None or looks_unfinished(self._text):
            return config.max_delay_ms / 1000
        floor = 0.0
        if self._longest_resumed_s > 0:
            floor = self._longest_resumed_s + config.resume_margin_ms / 1000
        return min(config.max_delay_ms / 1000, max(config.min_delay_ms / 1000, floor))

    def deadline(self) -> float | None:
        """When the turn ends (None while the user speaks)."""
        if self._pause_started is None:
            return None
        return self._pause_started + self.delay_s()

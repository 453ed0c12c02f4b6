"""Drive one `voicectl talk` conversation from files or synthesized turns (no audio device).

The user's side is a PCM timeline (a WAV file, or text spoken with espeak-ng, or
Piper when espeak-ng is absent) streamed in real time; the agent's side lands in
a virtual speaker that honours ``clear``, so ``--output`` records what a person
would have heard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from voicectl.audio.frames import Int16Audio
from voicectl.orchestrator import events as ev
from voicectl.talk.client import Received
from voicectl.talk.clients import Client
from voicectl.talk.transcripts import turn_open, user_turns
from voicectl.talk.user_audio import stream_audio

SILENCE_TAIL_S = 1.2
IDLE_S = 1.5


@dataclass
class TalkResult:
    transcripts: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)
    barge_ins: int = 0
    seconds: float = 0.0
    output_samples: bytes = b""


def _add_silence(audio: Int16Audio, sample_rate: int) -> Int16Audio:
    return np.concatenate([audio, np.zeros(int(SILENCE_TAIL_S * sample_rate), np.int16)])


async def _ticker(talk: Client) -> None:
    while True:
        talk.playback.tick()
        await asyncio.sleep(0.005)


class TalkError(RuntimeError):
    """The orchestrator reported an error instead of replying."""


async def _wait_for_reply_or_error(talk: Client, timeout: float) -> None:
    reply = asyncio.ensure_future(talk.wait_for(ev.ReplyStarted, timeout=timeout))
    error = asyncio.ensure_future(talk.wait_for(ev.Error, timeout=timeout))
    done, pending = await asyncio.wait({reply, error}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    if error in done and error.exception() is None and reply not in done:
        event = error.result().event
        raise TalkError(f"{event.code}: {event.message}")
    next(iter(done)).result()  # re-raise a timeout or a closed connection


async def _wait_idle(talk: Client, timeout: float) -> None:
    """Until nothing has happened for a while, no reply is playing and no turn is open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        last = talk.events[-1].at if talk.events else 0.0
        ended = talk.count(ev.ReplyDone) + talk.count(ev.ReplyStopped)
        playing = talk.count(ev.ReplyStarted) > ended
        quiet = time.perf_counter() - last > IDLE_S and not talk.playback.queue
        if quiet and not playing and not turn_open(talk.server_events()):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the conversation did not settle within {timeout:g} s")


async def run_talk(
    talk: Client,
    *,
    user_audio: Int16Audio | None,
    text: str | None,
    interrupt_audio: Int16Audio | None = None,
    interrupt_after_s: float = 1.0,
    timeout_s: float = 120.0,
    on_event: Callable[[Received[ev.ServerEvent]], None] | None = None,
) -> TalkResult:
    """Play the user's side into ``talk`` and collect what the agent said and did."""
    talk.on_event = on_event
    rate = talk.input_sample_rate
    started = time.perf_counter()
    ticker = asyncio.create_task(_ticker(talk))
    try:
        if text is not None:
            await talk.send_text(text)
        if user_audio is not None:
            await stream_audio(_add_silence(user_audio, rate), rate, talk.send_audio)
        if interrupt_audio is not None:
            await talk.wait_for(ev.ReplyStarted, timeout=timeout_s)
            await asyncio.sleep(interrupt_after_s)
            await stream_audio(_add_silence(interrupt_audio, rate), rate, talk.send_audio)
        await _wait_for_reply_or_error(talk, timeout_s)
        await _wait_idle(talk, timeout_s)
    finally:
        ticker.cancel()
    ended = time.perf_counter()
    result = TalkResult(seconds=round(ended - started, 3))
    events = talk.server_events()
    for event in events:
        result.events[event.type] = result.events.get(event.type, 0) + 1
    result.transcripts = user_turns(events)
    reply: list[str] = []
    for event in events:
        if isinstance(event, ev.ReplyText):
            reply.append(event.text)
        elif isinstance(event, ev.ReplyDone | ev.ReplyStopped) and reply:
            result.replies.append("".join(reply))
            reply = []
    result.barge_ins = result.events.get("reply.paused", 0)
    result.output_samples = talk.playback.render(start=started, end=ended)
    return result

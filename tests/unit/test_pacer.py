"""The pacer: real-time sends on absolute deadlines, take-back on pause, playout end."""

from __future__ import annotations

import asyncio

from voicectl.orchestrator.pacer import Pacer

FRAMES = [bytes([i]) * 4 for i in range(10)]


async def test_sends_everything_in_order_and_finishes_after_playout() -> None:
    sent: list[bytes] = []
    pacer = Pacer(send=sent.append, lookahead_frames=3)
    for frame in FRAMES:
        pacer.push(frame)
    pacer.end_of_input()
    loop = asyncio.get_running_loop()
    started = loop.time()
    pacer.start()
    await asyncio.wait_for(pacer.finished.wait(), 5)
    assert sent == FRAMES
    # 10 frames of 20 ms play for 200 ms; finished waits for the last one to play.
    assert loop.time() - started >= 0.19
    assert pacer.stats.frames_sent == 10


async def test_pause_takes_back_unplayed_frames_and_resume_resends_them() -> None:
    sent: list[bytes] = []
    pacer = Pacer(send=sent.append, lookahead_frames=3)
    for frame in FRAMES:
        pacer.push(frame)
    pacer.end_of_input()
    pacer.start()
    await asyncio.sleep(0.07)
    taken = pacer.pause()
    assert taken >= 1
    delivered = pacer.delivered_frames
    await asyncio.sleep(0.1)
    assert len(sent) == delivered + taken  # nothing went out while paused
    pacer.resume()
    await asyncio.wait_for(pacer.finished.wait(), 5)
    heard = sent[:delivered] + sent[delivered + taken :]
    assert heard == FRAMES  # what the client keeps after the clear: no loss, no repeat


async def test_barge_in_during_the_last_frames_still_resends_them() -> None:
    """A pause while the pacer waits for playout must not end the reply early."""
    sent: list[bytes] = []
    pacer = Pacer(send=sent.append, lookahead_frames=3)
    for frame in FRAMES[:4]:
        pacer.push(frame)
    pacer.end_of_input()
    pacer.start()
    while len(sent) < 4:  # noqa: ASYNC110 - all sent; the pacer now waits for playout
        await asyncio.sleep(0.005)
    taken = pacer.pause()
    assert taken >= 1
    await asyncio.sleep(0.1)
    assert not pacer.finished.is_set()
    pacer.resume()
    await asyncio.wait_for(pacer.finished.wait(), 5)
    delivered = 4 - taken
    assert sent[:delivered] + sent[4:] == FRAMES[:4]


async def test_stop_drops_everything() -> None:
    sent: list[bytes] = []
    pacer = Pacer(send=sent.append, lookahead_frames=0)
    for frame in FRAMES:
        pacer.push(frame)
    pacer.start()
    await asyncio.sleep(0.03)
    await pacer.stop()
    count = len(sent)
    await asyncio.sleep(0.05)
    assert len(sent) == count < len(FRAMES)
    assert pacer.finished.is_set()

"""Fuzzed text on the real Piper voice: any printable text is spoken or ends cleanly.

The mock voice never looks inside the text; Piper phonemizes it (espeak-ng), which is
where odd input used to break (a NUL raised "embedded null character": INTERNAL, and the
router failed every session over). Here short texts from scripts, symbols, format and
private-use characters, unassigned code points and marks with nothing to combine with,
at random speeds, must each complete with well-formed frames: never INTERNAL.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import WorkerFactory
from tests.fuzz.budget import Drive, fuzz
from tests.fuzz.synth_cases import OK, StreamCase, f32
from tests.fuzz.test_worker_fuzz import check_frames, open_client
from voicectl.rpc.client import SynthesisRequest
from voicectl.worker.catalog import PIPER_JOE, Catalog

pytestmark = pytest.mark.slow

# Letters of other scripts, marks, symbols, digits, punctuation, format characters
# (zero-width space, BOM, bidi overrides), private use and unassigned code points.
odd = st.characters(
    categories=("Lo", "Lm", "Mn", "Me", "So", "Sm", "Sk", "Nd", "No", "Pd", "Ps", "Pe", "Po",
                "Zs", "Cf", "Co", "Cn"),
)  # fmt: skip
texts = st.text(odd | st.sampled_from("aeiou st"), min_size=1, max_size=12).filter(
    lambda t: not t.isspace()
)


def test_fuzzed_text_on_piper(drive: Drive, make_worker: WorkerFactory) -> None:
    worker = drive(make_worker(Catalog([PIPER_JOE]), default_model=PIPER_JOE.model_id))
    client = drive(open_client(worker.address))

    async def speak(text: str, speed: float) -> None:
        frames = [frame async for frame in client.synthesize(text, SynthesisRequest(speed=speed))]
        check_frames(StreamCase("piper", (), frozenset({OK}), rate=PIPER_JOE.sample_rate), frames)

    @fuzz(examples=10)
    @given(text=texts, speed=st.one_of(st.just(0.0), f32(min_value=0.5, max_value=2.0)))
    def example(text: str, speed: float) -> None:
        drive(speak(text, speed))

    example()
    assert len(worker.sessions) == 0
    assert [e.refcount for e in worker.manager.entries()] == [0]
    drive(client.close())

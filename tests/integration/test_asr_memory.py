"""Decoding utterances of ever new lengths does not grow memory: oneDNN's primitive
cache (one entry per input shape) is bounded when the ASR loads (asr/whisper.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from voicectl.asr.whisper import PRIMITIVE_CACHE_ENV

JFK = Path(__file__).parents[3] / "shared" / "audio" / "jfk.flac"
PROBE = """
import gc, json, sys
import numpy as np, psutil
from pathlib import Path
from voicectl.audio.decode import decode_audio_file
from voicectl.asr.whisper import WhisperASR
audio = np.tile(decode_audio_file(Path(sys.argv[1]), sample_rate=16000), 2)  # ~22 s
asr = WhisperASR.load()
# 10..20 s in 10 ms steps, each a new encoder shape; the longest first, so the decodes'
# own working memory has reached its high-water mark before the first sample.
lengths = np.random.default_rng(7).permutation(np.arange(1000, 2000))[:69] * 160
rss = []
for i, n in enumerate([320000, *lengths]):
    asr.transcribe_detailed(audio[:n], 16000, fallback=False)
    if i in (10, 69):
        gc.collect()
        rss.append(psutil.Process().memory_info().rss / 2**20)
print(json.dumps(rss))
"""


def test_memory_stays_flat_over_decodes_of_new_lengths() -> None:
    env = {k: v for k, v in os.environ.items() if k != PRIMITIVE_CACHE_ENV}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(JFK)],
        capture_output=True, text=True, timeout=300, env=env, check=True,
    )  # fmt: skip
    after_warmup, at_end = json.loads(probe.stdout)
    # Unbounded, the cache grew by ~2 MiB a decode of these lengths: 273 MiB over 129.
    assert at_end - after_warmup < 12, (after_warmup, at_end)

"""A tiny random-weight XTTS-v2 checkpoint, saved as coqui-tts saves one, for tests and benches.

XTTS-v2's real weights cannot be fetched here. This builds the same architecture from
coqui-tts's own classes (``XttsConfig``/``XttsArgs`` with a one-layer, 32-wide GPT, a BPE
vocabulary with XTTS's special tokens) and saves ``config.json``, ``vocab.json`` and
``model.pth`` the way the real checkpoint ships them, so the adapter loads it through
``Xtts.load_checkpoint`` like the real one. Its HiFi-GAN decoder and speaker encoder keep
their real size (about 22 M parameters, 90 MB): coqui-tts fixes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPECIAL_TOKENS = ("[STOP]", "[UNK]", "[SPACE]", "[START]", "[en]")
CORPUS = [
    "hello there, how can i help you today?",
    "the quick brown fox jumps over the lazy dog.",
    "sure. i set a timer for fifteen minutes, and then we can talk about the weather.",
]


@dataclass(frozen=True)
class TinyXtts:
    folder: Path
    voicepacks: Path
    model_id: str = "xtts:tiny"


def save_checkpoint(folder: Path, *, seed: int = 0) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig
    from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer
    from TTS.tts.models.xtts import Xtts

    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=200, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    bpe.train_from_iterator([f"[en]{line.replace(' ', '[SPACE]')}" for line in CORPUS] * 8,
                            trainer)  # fmt: skip
    bpe.save(str(folder / "vocab.json"))
    args = XttsArgs(
        gpt_layers=1, gpt_n_model_channels=32, gpt_n_heads=2, gpt_num_audio_tokens=66,
        gpt_start_audio_token=64, gpt_stop_audio_token=65, gpt_use_perceiver_resampler=True,
        decoder_input_dim=32, gpt_max_audio_tokens=30, gpt_max_text_tokens=100,
        gpt_max_prompt_tokens=70,
    )  # fmt: skip
    config = XttsConfig(model_args=args, languages=["en"])
    config.save_json(str(folder / "config.json"))
    torch.manual_seed(seed)
    model = Xtts.init_from_config(config)
    model.tokenizer = VoiceBpeTokenizer(vocab_file=str(folder / "vocab.json"))
    model.init_models()
    torch.save({"model": model.state_dict()}, folder / "model.pth")


def voicepack_yaml(params: str) -> str:
    return f"""id: xtts:tiny
adapter: xtts
description: A tiny random-weight XTTS-v2 built by voicectl's tests (it speaks noise).
files:
  config: config.json
  model: model.pth
  vocab: vocab.json
sample_rate: 24000
languages: [en]
license: Apache-2.0
params: {params}
"""


def build(root: Path, *, params: str) -> TinyXtts:
    """The checkpoint and a voicepack for it (no voices yet: they are cloned)."""
    voicepacks = root / "voicepacks"
    folder = voicepacks / "tiny-xtts"
    folder.mkdir(parents=True)
    save_checkpoint(folder)
    (folder / "voicepack.yaml").write_text(voicepack_yaml(params))
    return TinyXtts(folder=folder, voicepacks=voicepacks)

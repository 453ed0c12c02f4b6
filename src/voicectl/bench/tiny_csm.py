"""A tiny random-weight Sesame CSM, saved as a real checkpoint folder, with peft LoRAs.

For the tests and ``voicectl bench gpu``, where real weights cannot be had: a model of
the same architecture (``CsmConfig`` with a Mimi codec config, a BPE tokenizer with CSM's
special tokens, a chat template in CSM's prompt format, an ``EncodecFeatureExtractor``)
small enough to generate on a CPU in milliseconds per frame, saved with
``save_pretrained``: the adapter then loads it through the same ``from_pretrained`` code
as the real checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPECIAL_TOKENS = ("<|begin_of_text|>", "<|end_of_text|>", "<|AUDIO|>", "<|audio_eos|>")
# CSM's prompt: "[speaker]text" between begin and end of text; reference audio after it.
CHAT_TEMPLATE = (
    "{%- for m in messages -%}{{ bos_token }}[{{ m['role'] }}]"
    "{%- for c in m['content'] -%}{%- if c['type'] == 'text' -%}{{ c['text'] }}{%- endif -%}"
    "{%- endfor -%}{{ eos_token }}"
    "{%- for c in m['content'] -%}{%- if c['type'] == 'audio' -%}<|AUDIO|><|audio_eos|>"
    "{%- endif -%}{%- endfor -%}{%- endfor -%}"
)
CORPUS = [
    "Hello there, how can I help you today?",
    "The quick brown fox jumps over the lazy dog.",
    "Sure. I set a timer for fifteen minutes, and then we can talk about the weather.",
]
NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 64


@dataclass(frozen=True)
class TinyCsm:
    folder: Path  # the checkpoint
    voicepacks: Path  # voicepacks/<tiny-csm>/voicepack.yaml pointing at it
    loras: Path  # loras/<name>/adapter_config.json ...
    model_id: str = "csm:tiny"


def save_checkpoint(folder: Path, *, seed: int = 0) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        CsmConfig,
        CsmForConditionalGeneration,
        CsmProcessor,
        EncodecFeatureExtractor,
        MimiConfig,
        PreTrainedTokenizerFast,
    )
    from transformers.models.csm.configuration_csm import CsmDepthDecoderConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)
    bpe = Tokenizer(models.BPE(unk_token=None))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS * 8, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<|AUDIO|>",
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    vocab = CODEBOOK_SIZE + 3  # the codes, then room for ids Mimi cannot decode (as CSM 1B)
    # 24 kHz at 12.5 frames a second: 8*6*5*4 = 960 samples a step, x2 latent stride.
    codec = MimiConfig(
        hidden_size=32, num_filters=4, upsampling_ratios=[8, 6, 5, 4], num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, head_dim=16, intermediate_size=64,
        codebook_size=CODEBOOK_SIZE, codebook_dim=16, num_quantizers=NUM_CODEBOOKS,
        num_semantic_quantizers=1, sliding_window=32, vector_quantization_hidden_dimension=16,
        upsample_groups=32,
    )  # fmt: skip
    depth = CsmDepthDecoderConfig(
        num_codebooks=NUM_CODEBOOKS, backbone_hidden_size=32, vocab_size=vocab, hidden_size=32,
        intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
        max_position_embeddings=NUM_CODEBOOKS + 1,
    )  # fmt: skip
    config = CsmConfig(
        num_codebooks=NUM_CODEBOOKS, vocab_size=vocab, text_vocab_size=len(tokenizer),
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=512, codebook_pad_token_id=vocab - 1,
        codebook_eos_token_id=0, bos_token_id=ids["<|begin_of_text|>"],
        pad_token_id=ids["<|AUDIO|>"], audio_token_id=ids["<|AUDIO|>"],
        audio_eos_token_id=ids["<|audio_eos|>"], depth_decoder_config=depth.to_dict(),
        codec_config=codec.to_dict(),
    )  # fmt: skip
    model = CsmForConditionalGeneration(config).eval()
    # Mimi starts with all-zero codebooks (a trained checkpoint fills them): random ones,
    # so that the audio depends on the codes, as with the real model.
    for module in model.codec_model.modules():
        if type(module).__name__ == "MimiEuclideanCodebook":
            module.embed_sum.normal_()
    model.generation_config._from_model_config = False  # else save_pretrained refuses it
    processor = CsmProcessor(
        EncodecFeatureExtractor(sampling_rate=24000), tokenizer, chat_template=CHAT_TEMPLATE
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


BACKBONE_ATTENTION = r"backbone_model\.layers\.\d+\.self_attn\.(q_proj|v_proj)"


def save_lora(
    checkpoint: Path,
    folder: Path,
    *,
    seed: int,
    target_modules: str | list[str] = BACKBONE_ATTENTION,
) -> None:
    """A peft LoRA (by default on the backbone's attention) with random (not zero)
    weights, so it changes what the model says."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import CsmForConditionalGeneration

    base = CsmForConditionalGeneration.from_pretrained(checkpoint)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=target_modules,
        init_lora_weights=False,
    )
    get_peft_model(base, config).save_pretrained(folder)


def voicepack_yaml(folder: Path, params: str) -> str:
    files = "\n".join(f"  {p.stem.replace('.', '_')}: {p.name}" for p in sorted(folder.iterdir()))
    return f"""id: csm:tiny
adapter: csm
description: A tiny random-weight CSM built by the tests (it speaks noise).
files:
{files}
sample_rate: 24000
languages: [en]
license: Apache-2.0
voices: [default, second]
params: {params}
"""


def build(root: Path, *, params: str) -> TinyCsm:
    """The checkpoint, a voicepack for it (with ``params``) and two LoRAs under ``root``."""
    voicepacks = root / "voicepacks"
    folder = voicepacks / "tiny-csm"
    folder.mkdir(parents=True)
    save_checkpoint(folder)
    loras = root / "loras"
    for seed, name in enumerate(("calm", "bright"), start=1):
        save_lora(folder, loras / name, seed=seed)
    (folder / "voicepack.yaml").write_text(voicepack_yaml(folder, params))
    return TinyCsm(folder=folder, voicepacks=voicepacks, loras=loras)


if __name__ == "__main__":  # python -m voicectl.bench.tiny_csm DIR: the same, for benches
    import sys

    root = Path(sys.argv[1])
    made = build(root, params="{device: cpu, do_sample: false, max_segment_seconds: 1.5}")
    print(f"{made.model_id}: --voicepacks {made.voicepacks} --lora-path {made.loras}")

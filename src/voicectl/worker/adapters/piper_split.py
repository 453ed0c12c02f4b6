"""Piper's VITS graph cut at the decoder's input, so audio can be decoded in windows.

A Piper voice is one ONNX graph: text encoder, duration predictor and flow produce a
latent sequence (192 channels, one frame per ``hop`` samples), and the HiFi-GAN
decoder turns it into audio. The decoder is most of the work and grows with the
sentence, so the whole graph makes first audio wait for the whole sentence. Two
graphs are made from it here:

- the *head*: the whole graph, but its decoder reads only the first ``head_frames``
  latent frames (an extra input), and the latent is a second output. One call gives
  the sentence's latent and its first audio (all of it, if the sentence is that short).
  One graph, not front then decoder: two sessions' spinning thread pools would slow
  each other down on the first call.
- the *decoder*: latent in, audio out, for the later windows.

The decoder is convolutional with a bounded receptive field, so a window decoded with
``CONTEXT_FRAMES`` of latent on each side matches the whole-sentence output to float
precision (tests/integration/test_piper_windows.py checks it against stock ``PiperVoice``).
Only graphs whose decoder takes the latent alone are cut (single-speaker voices: a
multi-speaker decoder also takes the speaker embedding); others return None and run
whole, as before. The graphs are cached on disk by the model file's hash.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DECODER_WEIGHT = "dec.conv_pre.weight"  # the decoder's first convolution, in every Piper export
GRAPH_INPUTS = ("input", "input_lengths", "scales")
CACHE_VERSION = "3"
HEAD_SLICE = "voicectl_head_latent"
HEAD_FRAMES_INPUT = "voicectl_head_frames"  # int64 [1]: latent frames the head decodes


@dataclass(frozen=True, kw_only=True)
class SplitGraph:
    """Paths of the head and decoder graphs, and the name of the latent between them."""

    head: Path
    decoder: Path
    latent: str


def cache_dir() -> Path:
    """``$VOICECTL_CACHE_DIR``, else ``$XDG_CACHE_HOME/voicectl``, else ``~/.cache/voicectl``."""
    explicit = os.environ.get("VOICECTL_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voicectl"


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()[:24]


def split_graph(model_path: Path, *, cache: Path | None = None) -> SplitGraph | None:
    """The voice's graph cut at the decoder input (cached), or None if it cannot be cut."""
    folder = (cache or cache_dir()) / "piper-split" / f"{_digest(model_path)}-v{CACHE_VERSION}"
    head, decoder, latent_file = folder / "head.onnx", folder / "decoder.onnx", folder / "latent"
    if latent_file.is_file():
        latent = latent_file.read_text(encoding="utf-8").strip()
        if not latent:  # cut before and found not cuttable
            return None
        if head.is_file() and decoder.is_file():
            return SplitGraph(head=head, decoder=decoder, latent=latent)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        cut = _cut(model_path, head, decoder)
    except Exception:  # not an ONNX file at all: the load fails, and leaves no trace here
        with contextlib.suppress(OSError):
            folder.rmdir()
        raise
    latent_file.write_text(cut or "", encoding="utf-8")
    if cut is None:
        return None
    return SplitGraph(head=head, decoder=decoder, latent=cut)


def _cut(model_path: Path, head: Path, decoder: Path) -> str | None:
    """Write both graphs; return the latent's name (None: not cuttable)."""
    import onnx
    from onnx import helper, numpy_helper
    from onnx.utils import Extractor

    model = onnx.load(str(model_path))
    graph = model.graph
    consumers = [node for node in graph.node if DECODER_WEIGHT in node.input[1:]]
    inputs = [i.name for i in graph.input]
    if len(consumers) != 1 or inputs != list(GRAPH_INPUTS) or len(graph.output) != 1:
        log.info("%s: no single-input decoder to cut at; decoding whole sentences", model_path)
        return None
    latent = consumers[0].input[0]
    decoder_model = Extractor(model).extract_model([latent], [graph.output[0].name])
    outside = {i.name for i in decoder_model.graph.input} - {latent}
    if outside or sum(latent in node.input for node in graph.node) != 1:
        log.info("%s: the decoder needs more than the latent; decoding whole sentences", model_path)
        return None
    # The head: the decoder's first convolution reads latent[:, :, :head_frames].
    consumers[0].input[0] = HEAD_SLICE
    graph.input.append(
        helper.make_tensor_value_info(HEAD_FRAMES_INPUT, onnx.TensorProto.INT64, [1])
    )
    graph.initializer.extend(
        numpy_helper.from_array(np.array([value], np.int64), f"{HEAD_SLICE}_{name}")
        for name, value in (("starts", 0), ("axes", 2))
    )
    slice_node = helper.make_node(
        "Slice",
        [latent, f"{HEAD_SLICE}_starts", HEAD_FRAMES_INPUT, f"{HEAD_SLICE}_axes"],
        [HEAD_SLICE],
        name=HEAD_SLICE,
    )
    nodes = list(graph.node)
    nodes.insert(nodes.index(consumers[0]), slice_node)  # graphs are topologically sorted
    del graph.node[:]
    graph.node.extend(nodes)
    graph.output.append(helper.make_tensor_value_info(latent, onnx.TensorProto.FLOAT, None))
    for target, part in ((head, model), (decoder, decoder_model)):
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        onnx.save(part, str(partial))
        partial.replace(target)  # atomic: a concurrent load sees a whole file or none
    return latent

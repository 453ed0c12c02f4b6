"""Loading a Piper voice into onnxruntime: our session options, one or two graphs, warm-up.

``PiperVoice.load`` has no session options. Here each graph (the whole voice, or its
front and decoder halves, see ``piper_split``) gets two sessions, chosen per run by
how busy the inference pool is (``AdaptiveSession``), created at inference priority
and warmed before the first stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from voicectl.worker.adapters.piper_split import SplitGraph
from voicectl.worker.adapters.piper_windows import WindowedVoice
from voicectl.worker.scheduler import at_inference_priority, inferences_in_flight


def _session_options(threads: int, *, spin: bool) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    # Spinning pool threads answer faster but burn cores other streams' inferences need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    # ...and keep spinning after a run returns, where they slow the next run of another
    # session (the decoder right after the head: 22 ms instead of 13 for "Sure.").
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


class AdaptiveSession:
    """Two onnxruntime sessions of one model, chosen per ``run`` by how busy the pool is.

    Stands in for ``PiperVoice.session`` (only ``run`` is used). The cost is a second copy
    of the weights in memory.
    """

    def __init__(self, alone: Any, shared: Any) -> None:
        self.alone = alone  # all cores
        self.shared = shared  # one core
        self.runs_alone = 0
        self.runs_shared = 0
        self._lock = threading.Lock()
        self._pinned: Any = None

    def run(self, output_names: Any, inputs: Any) -> Any:
        session = self._pinned
        if session is None:
            session = self.alone if inferences_in_flight() <= 1 else self.shared
        with self._lock:
            if session is self.alone:
                self.runs_alone += 1
            else:
                self.runs_shared += 1
        return session.run(output_names, inputs)

    @contextmanager
    def pinned_shared(self) -> Iterator[None]:
        """Every run on the one-core session meanwhile (at load, to warm it: the manager's
        warmup runs alone, and the first overlap should not pay a first run)."""
        self._pinned = self.shared
        try:
            yield
        finally:
            self._pinned = None


@dataclass(frozen=True, kw_only=True)
class LoadedVoice:
    """A PiperVoice (phonemes, config, the stock path) and, for a voice whose graph could
    be cut, the windowed decoder that runs on the same sessions."""

    voice: Any
    windowed: WindowedVoice | None


def load_voice(
    model_path: Path, config_path: Path, *, cuda: bool, threads: int, split: SplitGraph | None
) -> LoadedVoice:
    """PiperVoice with our own onnxruntime session options (PiperVoice.load has none)."""
    import onnxruntime

    with config_path.open(encoding="utf-8") as file:
        config = PiperConfig.from_dict(json.load(file))
    providers: list[Any] = (
        [("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"})]
        if cuda
        else ["CPUExecutionProvider"]
    )

    def session(path: Path, threads: int, *, spin: bool = False) -> Any:
        options = _session_options(threads, spin=spin)
        # onnxruntime's pool threads start here and inherit the inference priority.
        return at_inference_priority(
            lambda: onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=providers
            )
        )

    def sessions(path: Path) -> Any:
        if threads or cuda:
            return session(path, threads)
        return AdaptiveSession(alone=session(path, 0, spin=True), shared=session(path, 1))

    windowed: WindowedVoice | None = None
    if split is None:
        graph = sessions(model_path)
        voice = PiperVoice(config=config, session=graph)
        adaptive = [graph]
    else:
        head, decoder = sessions(split.head), sessions(split.decoder)
        windowed = WindowedVoice(head=head, decoder=decoder, latent=split.latent)
        voice = PiperVoice(config=config, session=windowed)
        windowed.calibrate_hop(_inputs(voice, "Hello.", SynthesisConfig()))
        adaptive = [head, decoder]
    shared = [graph for graph in adaptive if isinstance(graph, AdaptiveSession)]
    with ExitStack() as pins:
        for graph in shared:
            pins.enter_context(graph.pinned_shared())
        if shared:
            list(voice.synthesize("Hello."))
    return LoadedVoice(voice=voice, windowed=windowed)


def _inputs(voice: Any, text: str, syn_config: Any) -> dict[str, Any]:
    """The graph's inputs for the first sentence of ``text``, as ``PiperVoice`` builds them."""
    phonemes = voice.phonemize(text)[0]
    return ids_inputs(voice, voice.phonemes_to_ids(phonemes), syn_config)


def ids_inputs(voice: Any, phoneme_ids: list[int], syn_config: Any) -> dict[str, Any]:
    """``PiperVoice.phoneme_ids_to_audio``'s inputs (single-speaker graphs: no ``sid``)."""
    config = voice.config
    scales = [
        config.noise_scale if syn_config.noise_scale is None else syn_config.noise_scale,
        config.length_scale if syn_config.length_scale is None else syn_config.length_scale,
        config.noise_w_scale if syn_config.noise_w_scale is None else syn_config.noise_w_scale,
    ]
    return {
        "input": np.array([phoneme_ids], dtype=np.int64),
        "input_lengths": np.array([len(phoneme_ids)], dtype=np.int64),
        "scales": np.array(scales, dtype=np.float32),
    }

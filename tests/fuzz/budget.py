"""The fuzz suite's budget: one hypothesis profile, and how long an example may take.

CI runs a fixed, derandomized set of examples (the same on every run, nothing stored
between runs). ``VOICECTL_FUZZ_EXAMPLES=N`` runs N examples per property instead;
``VOICECTL_FUZZ_SEED=S`` explores at random from seed S (a failure prints its seed and a
``@reproduce_failure`` blob). docs/security.md, "Fuzz suite".
"""

from __future__ import annotations

import asyncio
import os
import urllib.request
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from hypothesis import HealthCheck, seed, settings
from prometheus_client.parser import text_string_to_metric_families

T = TypeVar("T")

EXAMPLES_ENV = "VOICECTL_FUZZ_EXAMPLES"
SEED_ENV = "VOICECTL_FUZZ_SEED"
HANG_S = 20.0  # one example that has not finished by then has hung a server
PROFILE = "voicectl-fuzz"

settings.register_profile(
    PROFILE,
    derandomize=SEED_ENV not in os.environ,  # CI: the same examples on every run
    database=None,  # nothing learnt between runs, nothing written to .hypothesis/
    deadline=timedelta(seconds=10),  # generous: an example takes well under a second
    print_blob=True,
    report_multiple_bugs=False,  # shrink the first failure only: a failing example is slow
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# CI's fixed run: the tests then also check that it reaches every kind of input they
# name (a seeded or longer exploration may draw others).
FIXED_RUN = SEED_ENV not in os.environ and EXAMPLES_ENV not in os.environ

# Runs one coroutine to completion on the session loop, bounded by HANG_S (conftest.drive).
Drive = Callable[[Coroutine[Any, Any, T]], T]


def fuzz(examples: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The profile with ``examples`` (CI's budget) unless VOICECTL_FUZZ_EXAMPLES says more."""
    count = int(os.environ.get(EXAMPLES_ENV, examples))

    def decorate(test: Callable[..., None]) -> Callable[..., None]:
        test = settings(settings.get_profile(PROFILE), max_examples=count)(test)
        if SEED_ENV in os.environ:
            test = seed(int(os.environ[SEED_ENV]))(test)
        return test

    return decorate


async def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics samples by name and label set, parsed with prometheus-client's parser."""
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read())
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples

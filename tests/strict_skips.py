"""``--no-skips`` (or VOICECTL_NO_SKIPS=1): every skipped test fails instead.

On a fresh machine a test that needs an optional extra (torch, the audio extra) skips
and names the install command, so the README's test command passes there. CI installs
everything, sets VOICECTL_NO_SKIPS=1 and so still runs every test: a skip in CI means
something is missing, and it fails. tests/conftest.py imports these hooks.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

ENV = "VOICECTL_NO_SKIPS"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-skips",
        action="store_true",
        default=os.environ.get(ENV, "") not in ("", "0"),
        help=f"fail every skipped test (CI runs everything); also {ENV}=1",
    )


def _reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail(report: pytest.CollectReport | pytest.TestReport) -> None:
    report.outcome = "failed"
    report.longrepr = f"skipped, and --no-skips is set (CI runs every test): {_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and item.config.getoption("no_skips"):
        _fail(report)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if report.skipped and collector.config.getoption("no_skips"):
        _fail(report)  # a module-level importorskip

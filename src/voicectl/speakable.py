"""Text a voice can be given: no control characters, no lone surrogates (pure).

A NUL inside a text used to reach Piper's phonemizer, which raised "embedded null
character"; the worker answered INTERNAL, the router took that for a broken worker and
failed every session over. Such characters are never speech: a client that sends them
gets INVALID_ARGUMENT / a ``bad_field`` error naming where, and text the agent itself
produced (an LLM) has them removed before it is spoken.
"""

from __future__ import annotations

import re

# C0 and C1 controls except tab, newline and carriage return; DEL; UTF-16 surrogates.
_UNSPEAKABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def unspeakable(text: str) -> str | None:
    """Why ``text`` cannot be spoken ("control character U+0000 at offset 1"), or None."""
    found = _UNSPEAKABLE.search(text)
    if found is None:
        return None
    code = ord(found.group())
    kind = "lone surrogate" if 0xD800 <= code <= 0xDFFF else "control character"
    return f"{kind} U+{code:04X} at offset {found.start()}"


def speakable(text: str) -> str:
    """``text`` without the characters ``unspeakable`` names."""
    return _UNSPEAKABLE.sub("", text)

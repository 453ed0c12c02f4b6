"""The environment variables that carry credentials, as both sides name them
(docs/security.md). Servers read their own keys from configuration; voicectl's
clients send these."""

from __future__ import annotations

TOKEN_ENV = "VOICECTL_TOKEN"  # every worker RPC but health, when the worker sets a token
ADMIN_TOKEN_ENV = "VOICECTL_ADMIN_TOKEN"  # LoadModel / UnloadModel, when the worker sets one
ORCHESTRATOR_TOKEN_ENV = "VOICECTL_ORCHESTRATOR_TOKEN"  # the WebSocket handshake

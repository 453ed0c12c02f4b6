"""The worker's bearer tokens as both sides name them (docs/security.md)."""

from __future__ import annotations

TOKEN_ENV = "VOICECTL_TOKEN"  # every RPC but health, when the worker sets a token
ADMIN_TOKEN_ENV = "VOICECTL_ADMIN_TOKEN"  # LoadModel / UnloadModel, when the worker sets one

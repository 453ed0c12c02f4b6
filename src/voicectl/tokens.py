"""The environment variables that carry credentials, as both sides name them
(docs/security.md). Servers read their own keys from configuration; voicectl's
clients send these."""

from __future__ import annotations

TOKEN_ENV = "VOICECTL_TOKEN"  # every worker RPC but health, when the worker sets a token
ADMIN_TOKEN_ENV = "VOICECTL_ADMIN_TOKEN"  # LoadModel / UnloadModel, when the worker sets one
ORCHESTRATOR_TOKEN_ENV = "VOICECTL_ORCHESTRATOR_TOKEN"  # the WebSocket handshake
# TLS to workers (docs/security.md): a client turns TLS on by naming the CA that signed the
# worker's certificate, and shows its own certificate when the worker asks (mutual TLS).
WORKER_CA_ENV = "VOICECTL_WORKER_CA"  # PEM file: verify workers against this CA; TLS on
CLIENT_CERT_ENV = "VOICECTL_CLIENT_CERT"  # PEM file: this client's certificate (mTLS)
CLIENT_KEY_ENV = "VOICECTL_CLIENT_KEY"  # PEM file: its private key
WORKER_TLS_NAME_ENV = "VOICECTL_WORKER_TLS_NAME"  # the name to expect in workers' certificates
# TLS to orchestrators (wss://, https://): the CA that signed an orchestrator's certificate,
# where it is not one the system trusts (a private CA, a self-signed certificate).
ORCHESTRATOR_CA_ENV = "VOICECTL_ORCHESTRATOR_CA"  # PEM file

"""``voicectl token``: an access token to join a LiveKit room, signed with its API key,
or (``--orchestrator``) a signed short-lived token for an orchestrator's own ports."""

from __future__ import annotations

import datetime
import os

import typer

from voicectl.cli.common import Exit, fail, print_json
from voicectl.livekit_tokens import DEFAULT_TTL, URL_ENV, LiveKitConfigError, LiveKitCredentials
from voicectl.session_tokens import SECRET_ENV, mint

HELP = f"""Print a token that joins a LiveKit room as a user (publish, subscribe, data).

Key and secret: --api-key / --api-secret, else LIVEKIT_API_KEY / LIVEKIT_API_SECRET.
--json prints the connection details LiveKit's agent-starter-react expects.

--orchestrator: a signed token (JWT) that opens an orchestrator whose auth.token_secret
is the same secret (--secret, else {SECRET_ENV}), for --ttl seconds; its quotas count
per --identity. Clients send it as VOICECTL_ORCHESTRATOR_TOKEN or ?token=.

Example: voicectl token --room demo --identity alice --url ws://127.0.0.1:7880
Example: voicectl token --orchestrator --identity alice --ttl 600
"""


def token_command(
    room: str = typer.Option("", help="The room to join (LiveKit)."),
    identity: str = typer.Option(..., help="Who joins (unique in the room)."),
    name: str = typer.Option("", help="Display name (default: the identity)."),
    url: str = typer.Option(
        "", help="The LiveKit server (ws://HOST:PORT) for --json (default: LIVEKIT_URL)."
    ),
    api_key: str = typer.Option("", help="API key (default: LIVEKIT_API_KEY)."),
    api_secret: str = typer.Option("", help="API secret (default: LIVEKIT_API_SECRET)."),
    ttl: int = typer.Option(
        int(DEFAULT_TTL.total_seconds()), help="Seconds the token is valid for (10..86400)."
    ),
    agent_name: str = typer.Option(
        "", help="Ask the server to dispatch this named agent into the room."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print connection details as JSON."),
    orchestrator: bool = typer.Option(
        False, "--orchestrator", help="A signed token for an orchestrator, not a LiveKit room."
    ),
    secret: str = typer.Option(
        "", help=f"The orchestrator's auth.token_secret (default: {SECRET_ENV})."
    ),
) -> None:
    if orchestrator:
        _orchestrator_token(identity, secret or os.environ.get(SECRET_ENV, ""), ttl, json_out)
        return
    if not room:
        fail("--room is required for a LiveKit token (or give --orchestrator)", Exit.USAGE)
    if not json_out:  # the token itself does not name the server
        url = url or os.environ.get(URL_ENV, "") or "ws://server.invalid"
    try:
        credentials = LiveKitCredentials.resolve(url, api_key, api_secret)
        token = credentials.user_token(
            room, identity, name=name, ttl=datetime.timedelta(seconds=ttl), agent_name=agent_name
        )
    except LiveKitConfigError as exc:
        fail(str(exc), Exit.USAGE)
    if not json_out:
        typer.echo(token)
        return
    print_json({"serverUrl": credentials.url, "roomName": room,
                "participantName": name or identity, "participantToken": token})  # fmt: skip


def _orchestrator_token(identity: str, secret: str, ttl: int, json_out: bool) -> None:
    if not secret:
        fail(f"--orchestrator needs the orchestrator's secret: --secret or {SECRET_ENV}",
             Exit.USAGE)  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    try:
        token = mint(secret, identity, ttl_s=ttl, now=now.timestamp())
    except ValueError as exc:
        fail(str(exc), Exit.USAGE)
    if not json_out:
        typer.echo(token)
        return
    expires = (now + datetime.timedelta(seconds=ttl)).isoformat(timespec="seconds")
    print_json({"token": token, "identity": identity, "expires_at": expires})

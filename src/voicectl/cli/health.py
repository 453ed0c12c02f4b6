"""``voicectl health worker|orchestrator``: is a service up and serving?

Made for container health checks and scripts: one probe, a one-line answer, and an
exit code (0 serving, 1 up but not serving, 3 unreachable). Both probes need no
credential, like the endpoints they ask (gRPC health, ``GET /healthz``).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

import grpc
import typer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from voicectl.cli.common import Exit, check_ws_url, console, fail, parse_host_port, print_json
from voicectl.rpc.tls import sync_channel
from voicectl.web_tls import WebTLSError, client_context

SERVICE_NAME = "voicectl.v1.TTS"  # what the worker reports SERVING for, once its models load
HEALTH_PATH = "/healthz"  # the orchestrator's probe path on its WebSocket port

app = typer.Typer(
    help="Probe a service: exit 0 when it serves, 1 when it is up but not serving, 3 when "
    "unreachable.\n\nExample: voicectl health worker --worker 127.0.0.1:50051",
    no_args_is_help=True,
    add_completion=False,
)

TIMEOUT_HELP = "Seconds to wait for an answer."


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        fail(f"--timeout must be > 0 seconds, got {timeout:g}", Exit.USAGE)


def _report(service: str, target: str, status: str, as_json: bool) -> None:
    serving = status == "SERVING"
    if as_json:
        print_json({"service": service, "target": target, "status": status, "serving": serving})
    else:
        style = "green" if serving else "yellow"
        console.print(f"{service} {target}: [{style}]{status}[/]")
    if not serving:
        raise typer.Exit(int(Exit.FAILURE))


@app.command("worker")
def worker_health(
    worker: str = typer.Option("127.0.0.1:50051", "--worker", help="HOST:PORT of the worker."),
    timeout: float = typer.Option(3.0, "--timeout", help=TIMEOUT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a line."),
) -> None:
    """Ask the worker's gRPC health service; SERVING once its default model is loaded.

    Example: voicectl health worker --worker 127.0.0.1:50051 --timeout 3
    """
    _check_timeout(timeout)
    host, port = parse_host_port(worker, "--worker")
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = health_pb2.HealthCheckRequest(service=SERVICE_NAME)
    with sync_channel(target) as channel:  # TLS when VOICECTL_WORKER_CA is set
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                fail(f"worker {worker} is unreachable ({code.name})", Exit.UNAVAILABLE)
            fail(f"worker {worker} health check failed: {code.name}", Exit.FAILURE)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    _report("worker", worker, status, as_json)


@app.command("orchestrator")
def orchestrator_health(
    url: str = typer.Option(
        "ws://127.0.0.1:8765", "--url", help="The orchestrator's ws:// (or wss://) URL."
    ),
    timeout: float = typer.Option(3.0, "--timeout", help=TIMEOUT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a line."),
) -> None:
    """GET /healthz on the orchestrator's WebSocket port; 200 means it accepts sessions.

    Example: voicectl health orchestrator --url ws://127.0.0.1:8765
    """
    _check_timeout(timeout)
    check_ws_url(url)
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    probe = urlunsplit((scheme, parts.netloc, HEALTH_PATH, "", ""))
    try:  # urllib, not httpx: a probe that runs every few seconds should start fast
        tls = client_context() if scheme == "https" else None  # VOICECTL_ORCHESTRATOR_CA
        with urllib.request.urlopen(probe, timeout=timeout, context=tls) as response:
            code = int(response.status)
    except urllib.error.HTTPError as exc:
        code = exc.code
    except WebTLSError as exc:
        fail(str(exc), Exit.USAGE)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        fail(f"orchestrator {url} is unreachable: {reason}", Exit.UNAVAILABLE)
    status = "SERVING" if code == 200 else f"HTTP {code}"
    _report("orchestrator", url, status, as_json)

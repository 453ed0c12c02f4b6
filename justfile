# voicectl task runner (https://just.systems; `pip install rust-just`).

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Install the project and dev tools into .venv from uv.lock.
sync:
    uv sync --frozen --extra audio --extra peer --extra livekit --extra csm --extra xtts
    npm ci --prefix src/voicectl/orchestrator/web_page --no-audit --no-fund --loglevel=error

# ruff lint + format check.
lint:
    uv run --frozen ruff check src tests scripts
    uv run --frozen ruff format --check src tests scripts

# mypy --strict over src (settings in pyproject.toml).
typecheck:
    uv run --frozen mypy

# The test suite (README's test command).
test *ARGS:
    uv run --frozen pytest {{ARGS}}

# Everything CI runs.
ci: lint typecheck test

# Regenerate src/voicectl/rpc/v1 from proto/ (commit the result).
gen-proto:
    uv run --frozen python -m voicectl.rpc.codegen

# Run a worker on the default Piper voice.
run-worker *ARGS:
    uv run --frozen voicectl worker --config configs/worker.yaml {{ARGS}}

# Run the orchestrator placeholder against a local worker.
run-orchestrator *ARGS:
    uv run --frozen voicectl orchestrator --worker 127.0.0.1:50051 {{ARGS}}

# py-spy flamegraph of an embedded `voicectl say`, or e.g. `--pid 4242 --duration 10` (ptrace: docs/profiling.md).
profile-pyspy *ARGS="--bench say --model mock:sine --out flame.svg":
    uv run --frozen voicectl profile pyspy {{ARGS}}

# torch.profiler chrome trace of one synthesis (torch installed with pip: docs/profiling.md).
profile-torch *ARGS="--model mock:sine --out trace.json":
    uv run --frozen voicectl profile torch {{ARGS}}

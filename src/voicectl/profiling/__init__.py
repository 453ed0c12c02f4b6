"""Profiling behind ``voicectl profile``: py-spy flamegraphs and torch.profiler traces.

``pyspy`` samples Python stacks from outside the process (needs ptrace);
``torch_trace`` runs one synthesis through an embedded worker under
``torch.profiler`` (torch is optional and imported lazily). See docs/profiling.md.
"""

from __future__ import annotations

from typing import ClassVar


class ProfileError(Exception):
    """A profile could not be taken; ``exit_code`` is what ``voicectl profile`` exits with."""

    exit_code: ClassVar[int] = 1


class UsageError(ProfileError):
    """Bad flags or config values."""

    exit_code = 2


class TargetNotFound(ProfileError):
    """No such process or model."""

    exit_code = 4


class ToolMissing(ProfileError):
    """py-spy or torch is not installed."""

    exit_code = 6


class PtraceDenied(ProfileError):
    """The kernel or container refused py-spy's ptrace access to the target."""

    exit_code = 7

"""Memory readings for the model manager's budget: process RSS, or CUDA allocator bytes."""

from __future__ import annotations

import sys

import psutil


def process_rss() -> int:
    """Bytes of memory the model manager budgets against.

    On CPU this is the process RSS. When torch is already imported and CUDA is
    available, the CUDA caching allocator's reserved bytes are added, since GPU
    models live there.
    """
    rss = int(psutil.Process().memory_info().rss)
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                rss += int(torch.cuda.memory_reserved())
        except Exception:  # a broken CUDA runtime must not break the CPU path
            return rss
    return rss


def parse_size(text: str) -> int:
    """Parse '4GiB', '512MiB', '2G', '1500000' into bytes."""
    units = {
        "": 1, "b": 1,
        "k": 10**3, "kb": 10**3, "kib": 2**10,
        "m": 10**6, "mb": 10**6, "mib": 2**20,
        "g": 10**9, "gb": 10**9, "gib": 2**30,
        "t": 10**12, "tb": 10**12, "tib": 2**40,
    }  # fmt: skip
    cleaned = text.strip().lower().replace(" ", "")
    number = cleaned.rstrip("kmgtib")
    unit = cleaned[len(number) :]
    if unit not in units or not number:
        raise ValueError(f"{text!r} is not a size; use e.g. 4GiB, 512MiB or a byte count")
    try:
        value = float(number)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a size; use e.g. 4GiB, 512MiB or a byte count") from exc
    if value <= 0:
        raise ValueError(f"{text!r} must be a positive size")
    return int(value * units[unit])

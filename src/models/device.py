"""``DEVICE`` (auto | cpu | cuda | cuda:N) -> the ``torch.device`` a model runs on.

One pure function, so training, batch scoring and serving agree on what each value means and
fail the same way.  Asking for CUDA where there is none is a configuration error, not a silent
fall-back to CPU: an operator who set ``DEVICE=cuda`` on a GPU node expects GPU timings, and a
worker that quietly runs on CPU would look like a slow GPU.  ``auto`` is the value that falls
back.

It does not log: the entry points (a training stage, the API's startup, the CLI, a batch
scoring task) log the device they resolved, once.
"""

from __future__ import annotations

import torch

from config.settings import check_device_name
from src.exceptions import ConfigurationError

CPU = torch.device("cpu")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA if this PyTorch sees a GPU, else CPU; ``cpu``; ``cuda``/``cuda:N``.

    Raises ``ConfigurationError`` for a name that is not one of those, and for CUDA when this
    PyTorch build or machine has no CUDA device (or no device N).
    """
    try:
        name = check_device_name(name)
    except ValueError as exc:
        raise ConfigurationError(f"{exc}, got {name!r}") from None
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else CPU
    if name == "cpu":
        return CPU
    if not torch.cuda.is_available():
        why = (
            "this PyTorch build has no CUDA support (a CPU-only wheel)"
            if torch.version.cuda is None
            else "no CUDA device is visible on this machine"
        )
        raise ConfigurationError(
            f"DEVICE={name} was asked for, but CUDA is not available: {why}; "
            "use DEVICE=auto (CUDA when present, else CPU) or DEVICE=cpu"
        )
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigurationError(
            f"DEVICE={name} was asked for, but this machine has {count} CUDA device(s) "
            f"(cuda:0 to cuda:{count - 1}); use DEVICE=cuda, DEVICE=auto or DEVICE=cpu"
        )
    return device


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s weights are: inputs are sent there, so callers need not track it."""
    return next(model.parameters()).device

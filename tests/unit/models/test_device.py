"""``DEVICE`` -> ``torch.device`` (``src.models.device``) and its resolution from the settings.

This project's CI has no GPU: the CUDA-unavailable branch is the one that runs here, on real
``torch.cuda`` (never mocked).  ``cuda:99`` is refused on every machine (no CUDA, or no 100th
device), so the tests that use it check the same thing wherever they run.
"""

from __future__ import annotations

import logging

import pytest
import torch

from config.settings import get_settings
from src.exceptions import ConfigurationError
from src.models.device import CPU, model_device, resolve_device
from src.pipeline.serving import configured_device

NO_CUDA = not torch.cuda.is_available()


@pytest.fixture
def device_setting(monkeypatch: pytest.MonkeyPatch):
    """Set DEVICE for ``get_settings`` (cache cleared before and after)."""

    def set_to(value: str) -> None:
        monkeypatch.setenv("DEVICE", value)
        get_settings.cache_clear()

    yield set_to
    get_settings.cache_clear()


@pytest.mark.parametrize("name", ["cpu", "CPU", " cpu "])
def test_cpu_is_cpu(name: str) -> None:
    assert resolve_device(name) == torch.device("cpu") == CPU


def test_auto_is_cuda_when_present_else_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if NO_CUDA:  # this project's CI: auto must fall back, never raise
        assert resolve_device("auto") == CPU


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_says_what_to_use_instead(name: str) -> None:
    if not NO_CUDA:  # a GPU machine: the same names resolve instead of raising
        assert resolve_device(name).type == "cuda"
        return
    with pytest.raises(ConfigurationError) as caught:
        resolve_device(name)
    message = str(caught.value)
    assert f"DEVICE={name} was asked for" in message
    assert "CUDA is not available" in message
    assert "DEVICE=auto" in message and "DEVICE=cpu" in message
    if torch.version.cuda is None:  # the CPU-only wheel this project installs
        assert "this PyTorch build has no CUDA support" in message


def test_a_missing_cuda_index_is_refused_on_every_machine() -> None:
    with pytest.raises(ConfigurationError, match=r"DEVICE=cuda:99 was asked for, but"):
        resolve_device("cuda:99")


@pytest.mark.parametrize("name", ["gpu", "mps", "cuda:", "cuda:x", ""])
def test_unknown_names_list_the_accepted_values(name: str) -> None:
    with pytest.raises(ConfigurationError, match="DEVICE must be one of auto, cpu, cuda, cuda:N"):
        resolve_device(name)


def test_model_device_is_where_the_weights_are() -> None:
    assert model_device(torch.nn.Linear(2, 1)) == CPU


def test_configured_device_reads_the_setting_and_logs_only_for_an_entry_point(
    device_setting, caplog: pytest.LogCaptureFixture
) -> None:
    device_setting("cpu")
    with caplog.at_level(logging.INFO, logger="src.pipeline.serving"):
        assert configured_device() == CPU
        assert not caplog.records
        assert configured_device(purpose="batch run x") == CPU
    assert [r.getMessage() for r in caplog.records] == ["batch run x on device cpu (DEVICE=cpu)"]


def test_configured_device_refuses_missing_cuda(device_setting) -> None:
    device_setting("cuda:99")
    with pytest.raises(ConfigurationError, match="DEVICE=cuda:99 was asked for"):
        configured_device(purpose="serving")

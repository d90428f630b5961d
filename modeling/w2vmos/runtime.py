"""Where and how a w2vMOS run computes: device and precision resolution (refused before
any work when a GPU is asked for and absent), autocast, the one seed of a run, and the
random-number-generator states a checkpoint needs for an exact resume."""

from __future__ import annotations

import contextlib
import multiprocessing
import platform
import random
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import transformers

from modeling.w2vmos.errors import W2VMOSError

ResolvedPrecision = Literal["fp32", "bf16", "fp16"]


def loader_context(num_workers: int) -> multiprocessing.context.BaseContext | None:
    """How data-loading workers start: from a clean fork server, never by forking the
    caller. A Celery worker (or any process with open sockets and threads) forked as is
    hands its broker connections and locks to the children, which then hang closing them."""
    if num_workers <= 0:
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["modeling.w2vmos.data"])
    return context


def resolve_device(requested: str) -> torch.device:
    """ "auto" picks the GPU when there is one; "cuda" without a usable GPU is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            build = torch.version.cuda or "none (CPU-only build of torch)"
            raise W2VMOSError(
                f"device {requested!r} was asked for but no CUDA GPU is available "
                f"(torch {torch.__version__}, CUDA {build}); use device 'cpu' or 'auto'"
            )
        device = torch.device(requested)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise W2VMOSError(f"{requested!r}: only {torch.cuda.device_count()} GPU(s) visible")
        return device
    if requested == "cpu":
        return torch.device("cpu")
    raise W2VMOSError(f"unknown device {requested!r}")


def resolve_precision(requested: str, device: torch.device) -> ResolvedPrecision:
    """ "auto" is bf16 on GPUs that support it, fp16 (with a GradScaler) on older GPUs,
    and fp32 on CPU."""
    if requested == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if requested == "fp16" and device.type != "cuda":
        raise W2VMOSError("fp16 autocast needs a CUDA GPU; use 'bf16' or 'fp32' on CPU")
    if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise W2VMOSError("this GPU has no bf16 support; use 'fp16' or 'fp32'")
    if requested not in ("fp32", "bf16", "fp16"):
        raise W2VMOSError(f"unknown precision {requested!r}")
    return requested  # type: ignore[return-value]


def autocast(
    device: torch.device, precision: ResolvedPrecision
) -> contextlib.AbstractContextManager[Any]:
    """Mixed-precision context for the forward pass; a no-op for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """The one seed of a run: Python, numpy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """All global RNG states, in types `torch.load(weights_only=True)` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(np.asarray(keys).copy()), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save through a temporary file, so a kill never leaves a torn checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise W2VMOSError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise W2VMOSError(f"{path} is not a w2vMOS checkpoint")
    return data


def environment(device: torch.device, precision: ResolvedPrecision) -> dict[str, str]:
    """What computed a run, for its run folder."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "device": str(device),
        "device_name": name or platform.machine(),
        "precision": precision,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }

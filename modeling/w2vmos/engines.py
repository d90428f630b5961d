"""How a CPU worker runs a model on one clip: the inference engines, and the per-machine
choice among them.

On a CPU, batching brings nothing (one 10 s clip already fills the matrix products; see
`score`), so CPU scoring is one clip per forward pass, unpadded, and the engines differ
in how that pass is computed:

- `torch-fp32`: the model as trained, eager PyTorch (the reference);
- `torch-int8`: PyTorch dynamic quantisation of every `nn.Linear` (weights int8, the
  activations quantised per batch at run time);
- `torch-bf16`: w2vMOS with its weights in bfloat16 and the output layer in fp32; the
  convolutions of its CNN front end are computed as matrix products on time-major frames
  (`_MatmulConvLayer`), which CPUs with bf16 matrix units (Intel AMX) run several times
  as fast as fp32, where their bf16 convolution gains little. CPUs without native bf16
  run it slower than fp32, so it is only chosen where it measures faster;
- `torch-compile`: `torch.compile` of the fp32 model (dynamic shapes: clips differ in
  length);
- `onnx-fp32`: the model exported to ONNX and run by ONNX Runtime;
- `onnx-int8`: that graph's matrix products (MatMul: the Transformer's linear layers)
  dynamically quantised by ONNX Runtime, weights int8 in 7 bits (`reduce_range`, which
  avoids the saturation of u8s8 products on CPUs without VNNI, such as AVX2-only ones);
  the convolutions stay fp32 (ONNX Runtime's ConvInteger is slower than its fp32 Conv).

The int8 and bf16 engines are approximations: `engine_agreement` measures them against
`torch-fp32` on real clips and `choose_engine` keeps one only when the mean absolute MOS
difference is within `MAX_MEAN_ABS_DIFF`. Which engine is fastest depends on the CPU
(vector width, VNNI, cores), so it is measured on the machine and the choice cached
(`EngineChoice`), keyed by the CPU, the thread count, the library versions and the
model's architecture.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from modeling.w2vmos.errors import W2VMOSError
from modeling.w2vmos.quality_model import QualityModel

REFERENCE = "torch-fp32"
ENGINES = ("torch-fp32", "torch-int8", "torch-bf16", "torch-compile", "onnx-fp32", "onnx-int8")
# What a worker tries at start; torch-compile is left to the benchmark (minutes of
# compilation on a small CPU, recompiled for new clip lengths).
CANDIDATES = ("torch-fp32", "torch-int8", "torch-bf16", "onnx-fp32", "onnx-int8")
MAX_MEAN_ABS_DIFF = 0.02  # MOS; an approximate engine further from fp32 is refused

ClipScorer = Callable[[NDArray[np.float32]], float]


@dataclass(frozen=True)
class Engine:
    """A model ready to score one clip (the front end's output, unbatched)."""

    name: str
    score: ClipScorer


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ones_mask(values: torch.Tensor) -> torch.Tensor:
    return torch.ones(values.shape[:2], dtype=torch.long, device=values.device)


class _OneClip(nn.Module):
    """forward(values (1, T, ...)) -> MOS (1,): the mask of an unpadded clip is implied.
    w2vMOS is given none (all frames real, the plain GroupNorm path, a smaller graph).
    The clip is cast to `dtype`, the dtype of the model's weights."""

    def __init__(self, model: QualityModel, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.model = model
        self.dtype = dtype
        from modeling.w2vmos.model import W2VMOS

        self.maskless = isinstance(model, W2VMOS)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        mask = None if self.maskless else _ones_mask(values)
        out: torch.Tensor = self.model(values.to(self.dtype), mask)
        return out


class _MatmulConv(nn.Module):
    """A Conv1d without padding, dilation or groups, computed by matrix products on
    time-major frames: (B, T, C) -> (B, T', C'), the same sums in another order.

    With many input channels, one product per kernel tap: tap j multiplies every
    `stride`-th frame from j by that tap's weights (a strided view, no copy) and the
    taps' products are summed in place. With few input channels (the first layer, on the
    waveform), one product over the sliding windows, copied out (they are small)."""

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        if conv.padding != (0,) or conv.dilation != (1,) or conv.groups != 1:
            raise W2VMOSError("only unpadded, undilated, ungrouped convolutions are rewritten")
        self.kernel, self.stride = conv.kernel_size[0], conv.stride[0]
        self.by_taps = conv.in_channels >= 64
        with torch.no_grad():
            if self.by_taps:  # (out, in, k) -> (k, in, out): tap j's (in, out) matrix
                weight = conv.weight.permute(2, 1, 0)
            else:  # (out, in, k) -> (in * k, out): a window's values in (in, k) order
                weight = conv.weight.reshape(conv.out_channels, -1).t()
            self.weight = nn.Parameter(weight.contiguous(), requires_grad=False)
            bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
            self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        steps = (frames.shape[1] - self.kernel) // self.stride + 1
        if not self.by_taps:
            windows = frames.unfold(1, self.kernel, self.stride).flatten(2)  # (B, T', C * k)
            out = torch.addmm(self.bias, windows.flatten(0, 1), self.weight)
            return out.view(frames.shape[0], steps, -1)
        span = self.stride * (steps - 1) + 1
        outputs = []
        for clip in frames.contiguous():  # (T, C)
            out = torch.addmm(self.bias, clip[0 : span : self.stride], self.weight[0])
            for tap in range(1, self.kernel):
                out.addmm_(clip[tap : tap + span : self.stride], self.weight[tap])
            outputs.append(out)
        return outputs[0][None] if len(outputs) == 1 else torch.stack(outputs)


class _MatmulConvLayer(nn.Module):
    """One layer of wav2vec 2.0's CNN front end (conv, its norm if any, activation) kept
    time-major throughout, so no layer transposes its output for the next: forward takes
    and returns (B, C, T) views of (B, T, C) memory, as `W2VMOS._cnn_features` passes them."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        conv, activation = layer.get_submodule("conv"), layer.get_submodule("activation")
        if not isinstance(conv, nn.Conv1d):
            raise W2VMOSError("a front-end layer without a Conv1d can't be rewritten")
        self.conv = _MatmulConv(conv)
        self.norm: nn.Module | None = getattr(layer, "layer_norm", None)
        self.activation = activation
        if isinstance(self.norm, nn.GroupNorm) and self.norm.num_groups != self.norm.num_channels:
            raise W2VMOSError("only a GroupNorm of one group per channel is rewritten")

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.conv(hidden.transpose(1, 2))  # (B, T', C')
        if isinstance(self.norm, nn.GroupNorm):  # one channel's statistics over time, fp32
            # E[x^2] - E[x]^2: two plain sums over time, where var_mean's running update is
            # many times slower on (T, C) memory.
            wide = out.float()
            mean = wide.mean(1, keepdim=True)
            var = ((wide * wide).mean(1, keepdim=True) - mean * mean).clamp(min=0.0)
            scale = self.norm.weight.float() * torch.rsqrt(var + self.norm.eps)
            shift = self.norm.bias.float() - mean * scale
            out = torch.addcmul(shift.to(out.dtype), out, scale.to(out.dtype))
        elif self.norm is not None:  # LayerNorm over the channels of each frame
            out = self.norm(out)
        result: torch.Tensor = self.activation(out).transpose(1, 2)
        return result


def _bf16_model(model: QualityModel) -> tuple[QualityModel, bool]:
    """A bf16 copy of w2vMOS for `torch-bf16`, and whether its waveform is normalised
    first (in fp32, before the cast: a mean and variance over 160,000 samples)."""
    import copy

    from modeling.w2vmos.model import W2VMOS

    if not isinstance(model, W2VMOS):
        raise W2VMOSError("the torch-bf16 engine runs w2vMOS models only")
    copied = copy.deepcopy(model)
    layers = copied.backbone.feature_extractor.conv_layers
    for i, layer in enumerate(layers):
        layers[i] = _MatmulConvLayer(layer)
    normalize, copied.normalize_waveform = copied.normalize_waveform, False
    copied.backbone.bfloat16()  # the head stays fp32: MOS keeps its precision
    return copied, normalize


class _Bf16Clip(_OneClip):
    """`_OneClip` of the bf16 copy, the waveform normalised first in fp32 if it asks."""

    def __init__(self, model: QualityModel) -> None:
        copied, normalize = _bf16_model(model)
        super().__init__(copied, torch.bfloat16)
        self.normalize = normalize

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            from modeling.w2vmos.model import normalized_waveform

            values = normalized_waveform(values, None)
        return super().forward(values)


def _torch_scorer(module: Callable[[torch.Tensor], torch.Tensor]) -> ClipScorer:
    def score(values: NDArray[np.float32]) -> float:
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(values))[None]
            return float(module(x).float().item())

    return score


def model_signature(model: QualityModel) -> str:
    """The architecture (class and parameter shapes), not the weights: what decides speed."""
    digest = hashlib.sha256(type(model).__qualname__.encode())
    for name, p in model.state_dict().items():
        digest.update(f"{name}:{tuple(p.shape)};".encode())
    return digest.hexdigest()[:16]


def _example(model: QualityModel, seconds: float = 2.0) -> torch.Tensor:
    """An input of the model's kind for tracing: noise through its own front end's rate."""
    from modeling.w2vmos.model import W2VMOS

    if isinstance(model, W2VMOS):
        return torch.randn(1, int(seconds * 16000)) * 0.1
    from modeling.baselines.nets import MelModel

    assert isinstance(model, MelModel)
    return torch.randn(1, 40, model.mel.n_mels, model.mel.seg_length)


def export_onnx(model: QualityModel, path: Path) -> Path:
    """The model as an ONNX graph taking one clip of any length."""
    wrapper = _OneClip(model).eval()
    example = _example(model)
    dynamic = {0: "batch", 1: "time"}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # The tracer warns of shape-dependent Python branches in transformers' attention;
    # every engine is checked against fp32 on clips of other lengths before it scores.
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (example,),
            str(tmp),
            input_names=["values"],
            output_names=["mos"],
            dynamic_axes={"values": dynamic, "mos": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tmp.replace(path)
    return path


def quantize_onnx(source: Path, path: Path) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_name(path.name + ".tmp.onnx")
    quantize_dynamic(
        str(source),
        str(tmp),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        reduce_range=True,
    )
    tmp.replace(path)
    return path


def _onnx_scorer(path: Path, threads: int) -> ClipScorer:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def score(values: NDArray[np.float32]) -> float:
        x = np.ascontiguousarray(values, dtype=np.float32)[None]
        (out,) = session.run(["mos"], {"values": x})
        return float(np.asarray(out).reshape(-1)[0])

    return score


def weights_key(model: QualityModel) -> str:
    """A key of the model's weights (every value of every tensor)."""
    digest = hashlib.sha256()
    for name, p in model.state_dict().items():
        digest.update(name.encode())
        digest.update(p.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _onnx_paths(model: QualityModel, workdir: Path) -> tuple[Path, Path]:
    """Where a model's graphs go: keyed by its weights, so another model never reuses them."""
    key = weights_key(model)
    return workdir / f"{key}.fp32.onnx", workdir / f"{key}.int8.onnx"


def build_engine(
    model: QualityModel, name: str, *, threads: int | None = None, workdir: Path | None = None
) -> Engine:
    """`model` (fp32, eval) ready to score by engine `name`. ONNX graphs are written
    under `workdir` (a temporary folder by default) and reused when already there."""
    threads = threads or torch.get_num_threads()
    model = model.eval()
    if name == "torch-fp32":
        return Engine(name, _torch_scorer(_OneClip(model)))
    if name == "torch-int8":
        import copy

        from torch.ao.quantization import quantize_dynamic

        # Every linear layer but the MOS head (one 768 -> 1 product: nothing to gain).
        linears = {
            name
            for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and module is not model.head
        }
        quantized = quantize_dynamic(  # type: ignore[no-untyped-call]
            copy.deepcopy(model), linears, dtype=torch.qint8
        )
        return Engine(name, _torch_scorer(_OneClip(quantized)))
    if name == "torch-bf16":
        return Engine(name, _torch_scorer(_Bf16Clip(model)))
    if name == "torch-compile":
        compiled = torch.compile(_OneClip(model), dynamic=True)
        return Engine(name, _torch_scorer(compiled))
    if name in ("onnx-fp32", "onnx-int8"):
        folder = workdir or Path(tempfile.mkdtemp(prefix="crowdtest-onnx-"))
        fp32, int8 = _onnx_paths(model, folder)
        if not fp32.is_file():
            export_onnx(model, fp32)
        if name == "onnx-int8" and not int8.is_file():
            quantize_onnx(fp32, int8)
        return Engine(name, _onnx_scorer(fp32 if name == "onnx-fp32" else int8, threads))
    raise W2VMOSError(f"unknown inference engine {name!r}; one of {', '.join(ENGINES)}")


# --- Agreement and speed ---------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    """An engine's MOS against the fp32 reference's on the same clips."""

    max_abs: float
    mean_abs: float
    pcc: float | None  # None with fewer than 2 clips or a constant side

    @property
    def acceptable(self) -> bool:
        return self.mean_abs <= MAX_MEAN_ABS_DIFF


def agreement(reference: Sequence[float], other: Sequence[float]) -> Agreement:
    a, b = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    diff = np.abs(a - b)
    pcc = None
    if a.size >= 2 and a.std() > 0 and b.std() > 0:
        pcc = float(np.corrcoef(a, b)[0, 1])
    return Agreement(float(diff.max(initial=0.0)), float(diff.mean()) if a.size else 0.0, pcc)


def time_engine(engine: Engine, clips: Sequence[NDArray[np.float32]]) -> tuple[list[float], float]:
    """MOS of every clip and the seconds it took, after one untimed warm-up pass."""
    engine.score(clips[0])
    started = time.perf_counter()
    scores = [engine.score(clip) for clip in clips]
    return scores, time.perf_counter() - started


@dataclass(frozen=True)
class EngineChoice:
    """The engine a machine scores with, and what it was chosen on."""

    engine: str
    seconds_per_clip: dict[str, float]
    agreement: dict[str, dict[str, float | None]]
    key: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def machine_key(model: QualityModel, threads: int) -> str:
    import onnxruntime

    parts = [
        cpu_name(),
        str(os.cpu_count()),
        f"threads={threads}",
        f"torch={torch.__version__}",
        f"ort={onnxruntime.__version__}",
        model_signature(model),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def choose_engine(
    model: QualityModel,
    clips: Sequence[NDArray[np.float32]],
    *,
    cache: Path | None = None,
    candidates: Sequence[str] = CANDIDATES,
    threads: int | None = None,
    workdir: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> EngineChoice:
    """The fastest candidate whose MOS agrees with fp32 on `clips` (mean absolute
    difference within MAX_MEAN_ABS_DIFF), measured here, or read from `cache` (a JSON
    file of choices by machine key) when this machine already chose for this kind of model.
    A candidate that fails to build (an export the graph does not support) is skipped."""
    threads = threads or torch.get_num_threads()
    key = machine_key(model, threads)
    cached = _read_cache(cache).get(key) if cache else None
    if cached is not None:
        return EngineChoice(**cached)
    times: dict[str, float] = {}
    agreements: dict[str, dict[str, float | None]] = {}
    reference: list[float] = []
    for name in [REFERENCE, *(c for c in candidates if c != REFERENCE)]:
        try:
            engine = build_engine(model, name, threads=threads, workdir=workdir)
            scores, wall = time_engine(engine, clips)
        except Exception as exc:  # an engine this graph or machine can't run is no choice
            if name == REFERENCE:
                raise
            if log:
                log(f"{name}: unavailable ({exc})")
            continue
        if name == REFERENCE:
            reference = scores
        agree = agreement(reference, scores)
        times[name] = wall / len(clips)
        agreements[name] = {"max_abs": agree.max_abs, "mean_abs": agree.mean_abs, "pcc": agree.pcc}
        if log:
            log(f"{name}: {times[name]:.3f} s/clip, mean |dMOS| {agree.mean_abs:.4f}")
    usable = [n for n in times if float(agreements[n]["mean_abs"] or 0.0) <= MAX_MEAN_ABS_DIFF]
    best = min(usable, key=lambda n: times[n])
    choice = EngineChoice(best, times, agreements, key)
    if cache:
        _write_cache(cache, key, choice)
    return choice


def pick_engine(
    seconds_per_clip: dict[str, float], agreements: dict[str, dict[str, float | None]]
) -> str:
    """The fastest engine whose mean absolute MOS difference from fp32 is within
    MAX_MEAN_ABS_DIFF (the reference always is)."""
    usable = [
        name
        for name in seconds_per_clip
        if float(agreements[name]["mean_abs"] or 0.0) <= MAX_MEAN_ABS_DIFF
    ]
    return min(usable, key=lambda name: seconds_per_clip[name], default=REFERENCE)


def _read_cache(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def engine_agrees(
    model: QualityModel,
    name: str,
    clips: Sequence[NDArray[np.float32]],
    *,
    cache: Path | None = None,
    threads: int | None = None,
    workdir: Path | None = None,
) -> bool:
    """Whether engine `name` scores `clips` with THIS model's weights within
    MAX_MEAN_ABS_DIFF of fp32. An engine is chosen once per machine and architecture, but
    how far int8 strays depends on the weights: each model (each fold of a run) is checked
    before an approximate engine scores with it, once per machine, weights and engine
    (the answer is kept in `cache`). The reference always agrees."""
    if name == REFERENCE:
        return True
    threads = threads or torch.get_num_threads()
    key = f"{machine_key(model, threads)}:{weights_key(model)}:{name}"
    known = _read_cache(cache).get(key) if cache else None
    if known is not None:
        return bool(known.get("agrees"))
    reference, _ = time_engine(build_engine(model, REFERENCE, threads=threads), clips)
    scores, _ = time_engine(build_engine(model, name, threads=threads, workdir=workdir), clips)
    mean_abs = agreement(reference, scores).mean_abs
    agrees = mean_abs <= MAX_MEAN_ABS_DIFF
    if cache:
        _write_entry(cache, key, {"agrees": agrees, "mean_abs": mean_abs})
    return agrees


def _write_cache(path: Path, key: str, choice: EngineChoice) -> None:
    _write_entry(path, key, choice.to_json())


def _write_entry(path: Path, key: str, entry: dict[str, Any]) -> None:
    data = _read_cache(path)
    data[key] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)

"""Self-supervised wav2vec 2.0 pre-training on a user's own unlabeled music (paper §3:
MusicNet cut into 20 s segments with a 10 s hop, 16 kHz, fairseq).

HF transformers' `Wav2Vec2ForPreTraining` computes the objective of Baevski et al.
(NeurIPS 2020, eq. 2-4): the contrastive loss L_m over masked time steps, each
predicted context vector against its quantised target and K sampled distractors, plus
alpha·L_d, the codebook diversity loss. Masks come from transformers'
`_compute_mask_indices` (mask_prob 0.65, span 10, as in fairseq's base recipe) and
distractors from `_sample_negative_indices` (both in
`transformers.models.wav2vec2.modeling_wav2vec2`); they draw from numpy's global RNG,
which the run's one seed fixes. The Gumbel temperature decays from 2 to 0.5 (factor
0.999995 per step); the learning rate warms up linearly, then decays linearly.

The output folder holds `backbone/`, an HF-format `Wav2Vec2ForPreTraining` checkpoint
that `build_model(ModelConfig(backbone=...))` fine-tunes and `pretrain` can continue
from, plus `config.json` and `checkpoint.pt` (resume at step granularity).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch.utils.data import DataLoader
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining
from transformers.models.wav2vec2.modeling_wav2vec2 import (
    _compute_mask_indices,
    _sample_negative_indices,
)

from modeling import provenance
from modeling.w2vmos.config import ModelConfig, PretrainConfig, read_json, write_json
from modeling.w2vmos.data import SAMPLE_RATE, ClipDataset, audio_duration, collate_clips
from modeling.w2vmos.errors import AudioReadError, W2VMOSError
from modeling.w2vmos.listing import AUDIO_SUFFIXES
from modeling.w2vmos.model import checkpoint_model_type
from modeling.w2vmos.runtime import (
    autocast,
    environment,
    load_checkpoint,
    loader_context,
    resolve_device,
    resolve_precision,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)


@dataclass(frozen=True)
class Segment:
    path: Path
    start_seconds: float
    seconds: float


@dataclass(frozen=True)
class PretrainProgress:
    step: int
    max_steps: int
    loss: float
    contrastive_loss: float
    diversity_loss: float
    gumbel_temperature: float
    lr: float


@dataclass(frozen=True)
class PretrainResult:
    backbone_dir: Path | None  # None when cancelled
    steps: int
    segments: int
    skipped: list[tuple[str, str]]
    cancelled: bool


def segment_starts(seconds: float, *, window: float, hop: float, minimum: float) -> list[float]:
    """Start times of full `window`-second windows every `hop` seconds; a file shorter
    than one window is one segment if it lasts at least `minimum` seconds."""
    if seconds < window:
        return [0.0] if seconds >= minimum else []
    count = int((seconds - window) // hop) + 1
    return [i * hop for i in range(count)]


def find_audio_files(folder: Path | str) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise W2VMOSError(f"{root} is not a folder")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def segment_collection(
    paths: Sequence[Path | str], config: PretrainConfig
) -> tuple[list[Segment], list[tuple[str, str]]]:
    """All windows of all files, and the (file, reason) of files that gave none."""
    segments: list[Segment] = []
    skipped: list[tuple[str, str]] = []
    for path in map(Path, paths):
        try:
            seconds = audio_duration(path)
        except AudioReadError as exc:
            skipped.append((str(path), str(exc)))
            continue
        starts = segment_starts(
            seconds,
            window=config.window_seconds,
            hop=config.hop_seconds,
            minimum=config.min_seconds,
        )
        if not starts:
            skipped.append((str(path), f"shorter than {config.min_seconds:g} s"))
        segments.extend(Segment(path, s, min(seconds, config.window_seconds)) for s in starts)
    return segments, skipped


def _build(init: ModelConfig) -> Wav2Vec2ForPreTraining:
    if init.tiny_config is not None:
        return Wav2Vec2ForPreTraining(Wav2Vec2Config(**init.tiny_config))
    assert init.backbone is not None
    if checkpoint_model_type(init.backbone) != "wav2vec2":
        raise W2VMOSError(f"{init.backbone!r} is not a wav2vec 2.0 checkpoint")
    return Wav2Vec2ForPreTraining.from_pretrained(init.backbone, dtype=torch.float32)


def _scalar(value: torch.Tensor | None) -> float:
    return 0.0 if value is None else float(value.detach())


def _lr_factor(step: int, config: PretrainConfig) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    remaining = config.max_steps - config.warmup_steps
    return max(0.0, (config.max_steps - step) / max(remaining, 1))


def _masks(
    model: Wav2Vec2ForPreTraining, attention_mask: torch.Tensor, config: PretrainConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    batch, raw = attention_mask.shape
    frames = int(model._get_feat_extract_output_lengths(raw))
    frame_mask = model._get_feature_vector_attention_mask(
        frames, cast(torch.LongTensor, attention_mask)
    )
    mask = _compute_mask_indices(
        (batch, frames),
        mask_prob=config.mask_time_prob,
        mask_length=config.mask_time_length,
        attention_mask=frame_mask,
        min_masks=2,
    )
    negatives = _sample_negative_indices(
        (batch, frames), model.config.num_negatives, mask_time_indices=mask
    )
    return torch.from_numpy(mask).bool(), torch.from_numpy(negatives).long()


def pretrain(
    paths: Sequence[Path | str],
    *,
    init: ModelConfig,
    config: PretrainConfig,
    out_dir: Path | str,
    progress: Callable[[PretrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PretrainResult:
    """Pre-train (or continue pre-training) a wav2vec 2.0 on unlabeled audio files.

    `init` is a random initialisation (`tiny_config`, e.g. `Wav2Vec2Config()` defaults
    for a base-sized model) or an HF checkpoint to continue from."""
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    segments, skipped = segment_collection(paths, config)
    if not segments:
        raise W2VMOSError("no audio to pre-train on (every file was unreadable or too short)")
    if (out / "config.json").exists():
        stored = read_json(out / "config.json")
        if stored.get("pretrain") != config.to_dict() or stored.get("init") != init.to_dict():
            raise W2VMOSError(f"{out} holds another pre-training run; use a new folder")
    else:
        write_json(
            out / "config.json",
            {
                "pretrain": config.to_dict(),
                "init": init.to_dict(),
                "segments": len(segments),
                "code_version": provenance.code_version(),
                "resolved": environment(device, precision),
            },
        )

    seed_everything(config.seed)
    model = _build(init)
    model.config.apply_spec_augment = True  # the masks ARE the pre-training task
    torch.nn.Module.to(model, device)
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.lr,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_eps,
        weight_decay=config.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, config))
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    step = 0
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        state = load_checkpoint(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
        set_rng_state(state["rng"])

    def save(step: int) -> None:
        save_checkpoint(
            checkpoint,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "step": step,
                "rng": rng_state(),
            },
        )

    dataset = ClipDataset(
        [s.path for s in segments],
        max_seconds=config.window_seconds,
        start_seconds=[s.start_seconds for s in segments],
        min_samples=int(config.min_seconds * SAMPLE_RATE),
        errors="keep",
    )
    per_epoch = -(-len(segments) // config.batch_size)
    while step < config.max_steps:
        epoch, offset = divmod(step, per_epoch)
        order = torch.randperm(
            len(segments), generator=torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        ).tolist()
        batches = [
            order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)
        ]
        loader: DataLoader[Any] = DataLoader(
            dataset,
            batch_sampler=batches[offset:],
            collate_fn=collate_clips,
            num_workers=config.num_workers,
            multiprocessing_context=loader_context(config.num_workers),
        )
        for batch in loader:
            if should_stop is not None and should_stop():
                save(step)  # a cancelled or handed-over run resumes from here
                return PretrainResult(None, step, len(segments), skipped, cancelled=True)
            if batch.indices:
                mask, negatives = _masks(model, batch.attention_mask, config)
                temperature = max(
                    config.max_gumbel_temperature * config.gumbel_temperature_decay**step,
                    config.min_gumbel_temperature,
                )
                model.set_gumbel_temperature(temperature)  # type: ignore[arg-type]
                with autocast(device, precision):
                    output = model(
                        batch.input_values.to(device),
                        attention_mask=batch.attention_mask.to(device),
                        mask_time_indices=mask.to(device),
                        sampled_negative_indices=negatives.to(device),
                    )
                assert output.loss is not None
                # Sum-reduced loss over masked steps -> per-step mean (HF example).
                masked = max(int(mask.sum()), 1)
                loss = output.loss / masked
                if not torch.isfinite(loss):
                    raise W2VMOSError(f"pre-training diverged at step {step} (loss {loss})")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                if progress is not None:
                    progress(
                        PretrainProgress(
                            step + 1,
                            config.max_steps,
                            float(loss.detach()),
                            _scalar(output.contrastive_loss) / masked,
                            _scalar(output.diversity_loss) / masked,
                            temperature,
                            float(scheduler.get_last_lr()[0]),
                        )
                    )
            step += 1
            if step % config.save_every == 0 or step >= config.max_steps:
                save(step)
            if step >= config.max_steps:
                break

    model.save_pretrained(out / "backbone")
    return PretrainResult(out / "backbone", step, len(segments), skipped, cancelled=False)

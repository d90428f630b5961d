"""w2vMOS: a fine-tuned wav2vec 2.0 that predicts the MOS of music recordings
(Ragano, Benetos & Hines, ICASSP 2023). Plain Python and torch, no Django.

Modules (import them directly; this package only re-exports the light-weight settings so
that importing it does not load torch):
- `config`   typed settings (ModelConfig, TrainConfig, CVConfig, PretrainConfig), JSON I/O
- `data`     manifest, label checks, 16 kHz mono decoding, Dataset and padding collate
- `model`    the W2VMOS module, build_model, save_model, load_model
- `quality_model` what training and scoring need of any model kind (w2vMOS or a baseline)
- `kinds`    build, save and load a run's model by kind (`ModelConfig.name`)
- `train`    training loop (every model kind) with early stopping, per-epoch checkpoints and resume
- `crossval` the paper's stratified 3-fold protocol and its results JSON
- `listing`  an archive's files from a manifest or a folder, listed as they are found
- `pretrain` self-supervised wav2vec 2.0 pre-training on unlabeled music
- `score`    batched archive scoring, and the one-file-at-a-time baseline
- `runtime`  device/precision resolution, autocast, seeding, RNG states
"""

from modeling.w2vmos.config import CVConfig, ModelConfig, PretrainConfig, TrainConfig
from modeling.w2vmos.errors import AudioReadError, W2VMOSError

__all__ = [
    "AudioReadError",
    "CVConfig",
    "ModelConfig",
    "PretrainConfig",
    "TrainConfig",
    "W2VMOSError",
]

"""What a CNN pre-training leaves for the fine-tuning (`modeling.baselines.pretrain`): a
folder `cnn/` inside the pre-training's output folder with `pretrained.json` (format,
method, log-mel settings, embedding size, clusters, code version, the run's settings)
and `weights.pt` (the CNN, and for DCEC its bottleneck and cluster centres).

Reading the description needs no torch, so the web side checks a product before it
queues anything: that it exists, is finished, and suits the model asked for."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeling.w2vmos.config import PRETRAINED_FROM, TABLE_NAMES
from modeling.w2vmos.errors import W2VMOSError

FORMAT = 1
FOLDER = "cnn"
META_FILE = "pretrained.json"
WEIGHTS_FILE = "weights.pt"
METHODS: tuple[str, ...] = ("autoencoder", "degradation", "dcec")
#: Each method as the messages name it, with its article.
METHOD_NAMES = {
    "autoencoder": "an autoencoder",
    "degradation": "a degradation classifier",
    "dcec": "a DCEC",
}


@dataclass(frozen=True)
class Product:
    folder: Path
    method: str
    mel: dict[str, Any]
    embed_dim: int
    clusters: int
    meta: dict[str, Any]

    @property
    def weights(self) -> Path:
        return self.folder / WEIGHTS_FILE


def product_folder(path: Path | str) -> Path:
    """A pre-training's output folder or its `cnn/` folder, as the `cnn/` folder."""
    root = Path(path).expanduser()
    return root / FOLDER if (root / FOLDER / META_FILE).is_file() else root


def read_product(path: Path | str) -> Product:
    folder = product_folder(path)
    if not Path(path).expanduser().is_dir():
        raise W2VMOSError(f"{path}: no such folder; give the output folder of pretrain_cnn")
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except OSError:
        raise W2VMOSError(
            f"{path} is not a finished CNN pre-training (no {FOLDER}/{META_FILE}); "
            "pretrain_cnn writes one when it ends"
        ) from None
    except ValueError as exc:
        raise W2VMOSError(f"{folder / META_FILE} is damaged: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise W2VMOSError(f"{folder}: unsupported pre-training format")
    if meta.get("method") not in METHODS or not (folder / WEIGHTS_FILE).is_file():
        raise W2VMOSError(f"{folder}: not a CNN pre-training product (method or weights missing)")
    return Product(
        folder.resolve(),
        str(meta["method"]),
        dict(meta.get("mel") or {}),
        int(meta.get("embed_dim") or 0),
        int(meta.get("clusters") or 0),
        meta,
    )


def product_for(model: str, path: Path | str) -> Product:
    """The product at `path`, refused unless it is the pre-training `model` starts from."""
    wanted = PRETRAINED_FROM.get(model)
    if wanted is None:
        raise W2VMOSError(f"{TABLE_NAMES.get(model, model)} takes no pre-trained CNN")
    product = read_product(path)
    if product.method != wanted:
        users = [TABLE_NAMES[n] for n, m in PRETRAINED_FROM.items() if m == product.method]
        raise W2VMOSError(
            f"{path} is {METHOD_NAMES[product.method]} pre-training; "
            f"{TABLE_NAMES[model]} starts from {METHOD_NAMES[wanted]} one "
            f"(this product is for {' and '.join(users)})"
        )
    return product

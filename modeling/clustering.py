"""Clustering excerpts on their features, and equalising clusters for stratified sessions.

The paper (Ragano et al., ICASSP 2023, §2): K-Means (k = 5) on the 253 standardised
features of 1,078 excerpts; HDBSCAN, used for speech in the authors' earlier work, gave
worse clusters on vinyl, and is offered here for comparison. Sessions draw the same number
of stimuli from every cluster, so clusters are cut down to the size of the smallest one
(1,078 -> 5 x 124 = 620 in the paper), by a seeded random draw.

Cluster quality is reported as the silhouette coefficient (Rousseeuw 1987; -1..1, higher is
better) and the Davies-Bouldin index (Davies & Bouldin 1979; >= 0, lower is better), both
on the standardised features and, for HDBSCAN, on the points it did not call noise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import davies_bouldin_score, silhouette_score
from sklearn.preprocessing import StandardScaler

NOISE = -1
Algorithm = Literal["kmeans", "hdbscan"]


@dataclass
class ClusteringResult:
    """Cluster labels of n excerpts (`NOISE` = -1 for HDBSCAN's outliers) and their quality."""

    labels: np.ndarray
    n_clusters: int
    sizes: dict[int, int]  # cluster label -> excerpts in it, noise excluded
    n_noise: int
    silhouette: float
    davies_bouldin: float
    projection: np.ndarray = field(repr=False)  # (n, 2) PCA of the standardised features
    explained_variance: tuple[float, float]
    algorithm: str
    params: dict[str, Any]


def cluster_features(
    features: np.ndarray,
    *,
    algorithm: Algorithm = "kmeans",
    k: int = 5,
    seed: int = 0,
    min_cluster_size: int | None = None,
) -> ClusteringResult:
    """Standardise `features` (n, d), cluster them, and measure the clusters.

    K-Means: `k` clusters, 10 seeded initialisations. HDBSCAN: `min_cluster_size` defaults to
    max(5, n // 50); noise points keep the label -1. Raises `ValueError` with what to change
    when the input cannot give at least two clusters."""
    data = _validated(features)
    n = len(data)
    scaled = StandardScaler().fit_transform(data)
    params: dict[str, Any]
    if algorithm == "kmeans":
        if k < 2:
            raise ValueError(f"k must be at least 2, not {k}")
        if n <= k:
            raise ValueError(f"cannot form {k} clusters from {n} excerpts; need more than k")
        model = KMeans(n_clusters=k, n_init=10, random_state=seed)
        with warnings.catch_warnings():
            # duplicate excerpts make sklearn warn; the check below says it in our words
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = model.fit_predict(scaled)
        params = {"k": k, "n_init": 10, "seed": seed}
    elif algorithm == "hdbscan":
        size = min_cluster_size if min_cluster_size is not None else max(5, n // 50)
        if size < 2:
            raise ValueError(f"min_cluster_size must be at least 2, not {size}")
        labels = HDBSCAN(min_cluster_size=size, copy=True).fit_predict(scaled)
        params = {"min_cluster_size": size}
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}; use 'kmeans' or 'hdbscan'")
    labels = np.asarray(labels, dtype=np.int64)
    clustered = labels != NOISE
    found = np.unique(labels[clustered])
    if len(found) < 2:
        raise ValueError(
            f"{algorithm} found {len(found)} cluster(s) and {int(np.sum(~clustered))} noise "
            f"points among {n} excerpts; "
            + (
                "lower min_cluster_size or use K-Means"
                if algorithm == "hdbscan"
                else "the excerpts are (nearly) identical"
            )
        )
    if algorithm == "kmeans" and len(found) < k:
        raise ValueError(
            f"K-Means found only {len(found)} distinct clusters for k={k}: "
            "too many identical excerpts"
        )
    if int(np.sum(clustered)) <= len(found):
        raise ValueError("every cluster holds a single excerpt; quality cannot be measured")
    pca = PCA(n_components=2, random_state=seed).fit(scaled)
    variance = pca.explained_variance_ratio_
    return ClusteringResult(
        labels=labels,
        n_clusters=len(found),
        sizes={int(label): int(np.sum(labels == label)) for label in found},
        n_noise=int(np.sum(~clustered)),
        silhouette=float(silhouette_score(scaled[clustered], labels[clustered])),
        davies_bouldin=float(davies_bouldin_score(scaled[clustered], labels[clustered])),
        projection=pca.transform(scaled),
        explained_variance=(float(variance[0]), float(variance[1])),
        algorithm=algorithm,
        params=params,
    )


def _validated(features: np.ndarray) -> np.ndarray:
    data = np.asarray(features, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"features must be an (excerpts, features) matrix, got {data.shape}")
    bad_rows = np.flatnonzero(~np.all(np.isfinite(data), axis=1))
    if len(bad_rows):
        shown = ", ".join(str(row) for row in bad_rows[:10])
        raise ValueError(
            f"features contain NaN or infinite values in {len(bad_rows)} row(s) ({shown}"
            f"{', ...' if len(bad_rows) > 10 else ''}); recompute those excerpts' features"
        )
    return data


def equalise_clusters(labels: np.ndarray, *, seed: int) -> np.ndarray:
    """Boolean mask keeping, in every cluster (noise -1 ignored), a seeded random subset of
    the size of the smallest cluster; the same labels and seed give the same subset."""
    labels = np.asarray(labels)
    clusters = np.unique(labels[labels != NOISE])
    if len(clusters) == 0:
        raise ValueError("no clusters to equalise: every label is noise (-1)")
    members = [np.flatnonzero(labels == cluster) for cluster in clusters]
    smallest = min(len(indices) for indices in members)
    rng = np.random.default_rng(seed)
    selected = np.zeros(len(labels), dtype=bool)
    for indices in members:
        selected[rng.choice(indices, size=smallest, replace=False)] = True
    return selected


def plot_clusters(result: ClusteringResult, selected: np.ndarray, path: Path) -> Path:
    """A PNG with the 2-D PCA projection coloured by cluster (excerpts left out by the
    equalisation hollow, noise grey) and the cluster sizes before and after equalisation."""
    selected = np.asarray(selected, dtype=bool)
    if selected.shape != result.labels.shape:
        raise ValueError("selected must hold one flag per excerpt")
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    scatter, bars = figure.subplots(1, 2, width_ratios=(3, 2))
    palette = [f"C{index % 10}" for index in range(max(result.sizes, default=0) + 1)]
    x, y = result.projection[:, 0], result.projection[:, 1]
    noise = result.labels == NOISE
    if np.any(noise):
        scatter.scatter(x[noise], y[noise], s=12, c="0.75", marker="x", label="noise")
    for label in result.sizes:
        kept = (result.labels == label) & selected
        dropped = (result.labels == label) & ~selected
        scatter.scatter(x[kept], y[kept], s=18, color=palette[label], label=f"cluster {label}")
        scatter.scatter(
            x[dropped], y[dropped], s=18, facecolors="none", edgecolors=palette[label], alpha=0.5
        )
    first, second = result.explained_variance
    scatter.set_xlabel(f"PC 1 ({first:.0%} of variance)")
    scatter.set_ylabel(f"PC 2 ({second:.0%} of variance)")
    scatter.set_title(
        f"{result.algorithm}: silhouette {result.silhouette:.2f}, "
        f"Davies-Bouldin {result.davies_bouldin:.2f} (hollow: left out)"
    )
    scatter.legend(fontsize="small", loc="best")
    labels = list(result.sizes)
    positions = np.arange(len(labels))
    after = [int(np.sum((result.labels == label) & selected)) for label in labels]
    bars.bar(positions - 0.2, [result.sizes[label] for label in labels], 0.4, label="clustered")
    bars.bar(positions + 0.2, after, 0.4, label="equalised")
    bars.set_xticks(positions, [str(label) for label in labels])
    bars.set_xlabel("cluster")
    bars.set_ylabel("excerpts")
    bars.set_title(f"{sum(result.sizes.values())} -> {int(np.sum(selected))} excerpts")
    bars.legend(fontsize="small")
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path

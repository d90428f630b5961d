"""K-Means and HDBSCAN on standardised features, equalisation, and the cluster plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from modeling.clustering import cluster_features, equalise_clusters, plot_clusters


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    features, truth = make_blobs(
        n_samples=[30, 22, 40, 25, 33], n_features=253, cluster_std=1.0, random_state=3
    )
    features[:, 7] *= 1000  # a feature on another scale must not dominate: scaling first
    return features, truth


def test_kmeans_recovers_separated_blobs(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    features, truth = blobs
    result = cluster_features(features, algorithm="kmeans", k=5, seed=0)
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert result.n_clusters == 5
    assert sorted(result.sizes.values()) == [22, 25, 30, 33, 40]
    assert result.silhouette > 0.5
    assert result.davies_bouldin < 0.5
    assert result.projection.shape == (150, 2)
    assert result.params == {"k": 5, "n_init": 10, "seed": 0}
    again = cluster_features(features, algorithm="kmeans", k=5, seed=0)
    assert np.array_equal(again.labels, result.labels)


def test_hdbscan_finds_the_blobs_and_keeps_noise(blobs: tuple[np.ndarray, np.ndarray]) -> None:
    features, truth = blobs
    outlier = features.mean(axis=0, keepdims=True) + 50
    result = cluster_features(np.vstack([features, outlier]), algorithm="hdbscan")
    assert result.n_clusters == 5
    assert result.labels[-1] == -1
    assert result.n_noise >= 1
    clustered = result.labels[:-1] != -1
    assert adjusted_rand_score(truth[clustered], result.labels[:-1][clustered]) == 1.0
    assert result.silhouette > 0.5
    assert result.params["min_cluster_size"] == 5


def test_hdbscan_with_one_cloud_says_what_to_do() -> None:
    features = np.random.default_rng(0).standard_normal((60, 10))
    with pytest.raises(ValueError, match="min_cluster_size or use K-Means"):
        cluster_features(features, algorithm="hdbscan", min_cluster_size=30)


@pytest.mark.parametrize(
    ("features", "kwargs", "message"),
    [
        (np.ones((3, 253)), {"k": 5}, "cannot form 5 clusters from 3 excerpts"),
        (np.ones(253), {}, "matrix"),
        (np.ones((20, 253)), {"algorithm": "spectral"}, "unknown algorithm"),
        (np.ones((20, 253)), {"k": 1}, "at least 2"),
        (np.zeros((20, 253)), {"k": 3}, "identical"),
    ],
)
def test_invalid_input(features: np.ndarray, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cluster_features(features, **kwargs)


def test_nan_rows_are_named() -> None:
    features = np.random.default_rng(0).standard_normal((20, 253))
    features[4, 10] = np.nan
    features[9, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 row\(s\) \(4, 9\)"):
        cluster_features(features)


def test_equalise_to_the_smallest_cluster() -> None:
    labels = np.repeat([0, 1, 2], [10, 7, 12])
    selected = equalise_clusters(labels, seed=4)
    assert selected.sum() == 21
    assert [int(np.sum(selected & (labels == c))) for c in range(3)] == [7, 7, 7]
    assert np.all(selected[labels == 1]), "the smallest cluster is kept whole"
    assert np.array_equal(selected, equalise_clusters(labels, seed=4))
    assert not np.array_equal(selected, equalise_clusters(labels, seed=5))


def test_equalise_ignores_noise() -> None:
    labels = np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1, 1])
    selected = equalise_clusters(labels, seed=0)
    assert not selected[:3].any()
    assert selected.sum() == 6
    with pytest.raises(ValueError, match="noise"):
        equalise_clusters(np.full(5, -1), seed=0)


def test_plot_is_written(tmp_path: Path, blobs: tuple[np.ndarray, np.ndarray]) -> None:
    result = cluster_features(blobs[0], k=5)
    path = plot_clusters(result, equalise_clusters(result.labels, seed=0), tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="one flag per excerpt"):
        plot_clusters(result, np.ones(3, bool), tmp_path / "x.png")

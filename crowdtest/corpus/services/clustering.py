"""Clustering the stimuli on their features and equalising the clusters."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from django.db import transaction

from modeling.provenance import code_version

from ..errors import CorpusError
from ..models import Clustering, Experiment, Stimulus
from ..signals import clustering_lock_reason
from .preparation import store_file
from .roles import stimuli_set_rated


def stimuli_cluster(
    *,
    experiment: Experiment,
    algorithm: str | None = None,
    k: int | None = None,
    seed: int | None = None,
) -> Clustering:
    """Cluster the ready stimuli on their standardised features, equalise the clusters to
    the smallest (seeded), and mark which stimuli are kept. Refused once sessions exist."""
    from modeling.clustering import cluster_features, equalise_clusters, plot_clusters

    cfg = experiment.config
    algorithm = algorithm or cfg.clustering_algorithm
    k = k if k is not None else cfg.n_clusters
    seed = seed if seed is not None else cfg.seed
    if algorithm not in ("kmeans", "hdbscan"):
        raise CorpusError(f"Unknown clustering algorithm '{algorithm}' (kmeans or hdbscan).")
    locked = clustering_lock_reason(experiment=experiment)
    if locked:
        raise CorpusError(f"{locked}; clustering is frozen.")
    stimuli = list(
        experiment.stimuli.filter(status=Stimulus.Status.READY, features__isnull=False)
        .order_by("pk")
        .values_list("pk", "features", "features_version")
    )
    versions = {v for _, _, v in stimuli}
    if len(versions) > 1:
        raise CorpusError(f"Stimuli have features of several versions: {sorted(versions)}.")
    if len(stimuli) < max(k, 2) * 2:
        raise CorpusError(
            f"{len(stimuli)} prepared stimuli are too few to cluster into {k} clusters."
        )
    ids = np.array([pk for pk, _, _ in stimuli])
    matrix = np.array([feats for _, feats, _ in stimuli], dtype=float)
    try:
        result = cluster_features(
            matrix, algorithm="kmeans" if algorithm == "kmeans" else "hdbscan", k=k, seed=seed
        )
        selected = equalise_clusters(result.labels, seed=seed)
    except ValueError as exc:
        raise CorpusError(str(exc)) from exc
    with tempfile.TemporaryDirectory() as tmp:
        plot_path = Path(tmp) / "clusters.png"
        plot_clusters(result, selected, plot_path)
        with transaction.atomic():
            experiment.clusterings.update(is_current=False)
            clustering = Clustering.objects.create(
                experiment=experiment,
                algorithm=algorithm,
                k=k if algorithm == "kmeans" else None,
                seed=seed,
                features_version=versions.pop(),
                n_stimuli=len(ids),
                n_clusters=result.n_clusters,
                sizes=[int(result.sizes[label]) for label in sorted(result.sizes)],
                n_noise=int(result.n_noise),
                silhouette=_finite(result.silhouette),
                davies_bouldin=_finite(result.davies_bouldin),
                equalised_size=int(selected.sum() // max(result.n_clusters, 1)),
                code_version=code_version(),
            )
            clustering.plot.name = store_file(
                plot_path, f"plots/{experiment.pk}/clusters-{clustering.pk}.png"
            )
            clustering.save(update_fields=["plot"])
            experiment.stimuli.update(cluster=None)
            for label in np.unique(result.labels):
                members = ids[result.labels == label]
                experiment.stimuli.filter(pk__in=members.tolist()).update(cluster=int(label))
            stimuli_set_rated(experiment=experiment, rated_ids=ids[selected].tolist())
    return clustering


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from crowdtest.corpus.management.base import ExperimentCommand
from crowdtest.corpus.selectors import cluster_table
from crowdtest.corpus.services import CorpusError, deliveries_encode, stimuli_cluster


class Command(ExperimentCommand):
    help = "Cluster the stimuli on their features and equalise the clusters (paper §2)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--k", type=int, default=None, help="clusters (K-Means; default 5)")
        parser.add_argument("--algorithm", choices=["kmeans", "hdbscan"], default=None)
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        experiment = self.experiment(opts["slug"])
        try:
            clustering = stimuli_cluster(
                experiment=experiment, algorithm=opts["algorithm"], k=opts["k"], seed=opts["seed"]
            )
        except CorpusError as exc:
            raise CommandError(str(exc)) from exc
        sil = "n/a" if clustering.silhouette is None else f"{clustering.silhouette:.3f}"
        dbi = "n/a" if clustering.davies_bouldin is None else f"{clustering.davies_bouldin:.3f}"
        self.stdout.write(
            f"{clustering.algorithm}: {clustering.n_clusters} clusters over "
            f"{clustering.n_stimuli} stimuli; silhouette {sil}, Davies-Bouldin {dbi}"
        )
        if clustering.n_noise:
            self.stdout.write(f"  {clustering.n_noise} stimuli marked as noise (HDBSCAN)")
        for row in cluster_table(experiment=experiment):
            self.stdout.write(
                f"  cluster {row['cluster']}: {row['size']} stimuli, {row['kept']} kept"
            )
        total = clustering.equalised_size * clustering.n_clusters
        self.stdout.write(
            self.style.SUCCESS(
                f"Equalised to {clustering.n_clusters} x {clustering.equalised_size} = {total} "
                "stimuli; the others stay in the corpus, available as trap sources."
            )
        )
        job = deliveries_encode(experiment=experiment)
        if job is not None:
            self.stdout.write(f"Encoding the delivery files of {job.total} selected stimuli ...")
            job = self.follow(job.pk)
            if job.failed:
                raise CommandError(
                    f"{job.failed} of {job.total} delivery files could not be encoded "
                    f"({job.message}); fix that and run cluster_stimuli again."
                )

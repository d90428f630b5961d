"""Writes to the corpus: experiments, track imports, stimulus preparation, clustering,
the stimuli's roles."""

from ..errors import CorpusError
from .clustering import stimuli_cluster
from .experiments import experiment_create, experiment_update_settings
from .importing import ImportReport, tracks_import, tracks_upload
from .preparation import (
    deliveries_encode,
    stimuli_prepare,
    stimulus_deliver,
    stimulus_fail,
    stimulus_prepare,
)
from .roles import stimuli_cast_for_design, stimuli_set_rated
from .versions import tracks_set_versions

__all__ = [
    "CorpusError",
    "ImportReport",
    "deliveries_encode",
    "experiment_create",
    "experiment_update_settings",
    "stimuli_cast_for_design",
    "stimuli_cluster",
    "stimuli_prepare",
    "stimuli_set_rated",
    "stimulus_deliver",
    "stimulus_fail",
    "stimulus_prepare",
    "tracks_import",
    "tracks_set_versions",
    "tracks_upload",
]

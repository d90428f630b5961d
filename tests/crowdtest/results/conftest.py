from __future__ import annotations

import pytest

from crowdtest.corpus.models import Experiment
from tests.factories import ExperimentFactory


@pytest.fixture
def experiment(db: None) -> Experiment:
    return ExperimentFactory(slug="vinyl", name="Vinyl test")

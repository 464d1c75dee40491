"""Every use case in orchestration/pipelines.yaml loads, and every model it lists builds."""

from __future__ import annotations

import pytest

from ml.backtest import candidates_for
from orchestration.settings import _pipelines, load_pipeline


@pytest.mark.parametrize("name", sorted(_pipelines()))
def test_every_pipeline_loads_and_builds_its_models(name):
    pipeline = load_pipeline(name)
    candidates = candidates_for(pipeline.models, pipeline.backtest.max_history_statistical, name)
    built = [candidate.build() for candidate in candidates]
    assert [model.name for model in built] == [m.name for m in pipeline.models]
    if pipeline.hierarchy:
        (base,) = candidates_for([pipeline.hierarchy.model], None, name)
        assert base.build().name == pipeline.hierarchy.model.name

"""Fixtures for the pipeline tests: each environment's definition built once per test session."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import EnvironmentConfig


@pytest.fixture(scope="session")
def definitions(environments: dict[str, EnvironmentConfig]) -> dict[str, dict[str, Any]]:
    """Environment name -> its pipeline definition (the SDK import and builds cost a few seconds)."""
    from pipelines.definition import build_pipeline_definition

    return {name: build_pipeline_definition(env) for name, env in environments.items()}

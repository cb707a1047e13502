"""constraints.json: the suggested (or hand-edited) data-quality constraints a monitoring run checks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from containers.contracts.statistics import InferredType

Toggle = Literal["Enabled", "Disabled"]
CategoricalDriftMethod = Literal["LInfinity", "ChiSquared"]


class _Model(BaseModel):
    # populate_by_name for the one camelCase key; unknown keys kept (older files use other names).
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class NumConstraints(_Model):
    is_non_negative: bool


class StringConstraints(_Model):
    domains: list[str]


class FeatureConstraints(_Model):
    name: str
    inferred_type: InferredType
    completeness: float | None = None
    num_constraints: NumConstraints | None = None
    string_constraints: StringConstraints | None = None
    monitoring_config_overrides: dict[str, Any] | None = Field(default=None, alias="monitoringConfigOverrides")


class DistributionConstraints(_Model):
    perform_comparison: Toggle = "Enabled"
    comparison_threshold: float = 0.1
    comparison_method: Literal["Robust", "Simple"] = "Robust"
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: CategoricalDriftMethod = "LInfinity"


class MonitoringConfig(_Model):
    """Defaults are the analyzer's own (its log prints them)."""

    evaluate_constraints: Toggle = "Enabled"
    emit_metrics: Toggle = "Enabled"
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    distribution_constraints: DistributionConstraints = Field(default_factory=DistributionConstraints)


class Constraints(_Model):
    version: float = 0.0
    features: list[FeatureConstraints]
    monitoring_config: MonitoringConfig = Field(default_factory=MonitoringConfig)

    def feature(self, name: str) -> FeatureConstraints | None:
        return next((feature for feature in self.features if feature.name == name), None)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_none=True, by_alias=True)


def parse_constraints(text: str | bytes) -> Constraints:
    """Parse constraints.json text (raises pydantic.ValidationError naming the bad key)."""
    return Constraints.model_validate_json(text)

"""statistics.json: the per-feature data-quality statistics Model Monitor writes (baseline and live)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

InferredType = Literal["Integral", "Fractional", "String", "Unknown"]


class _Model(BaseModel):
    # Unknown keys are kept so files from newer analyzers round-trip instead of failing.
    model_config = ConfigDict(extra="allow")


class CommonStatistics(_Model):
    num_present: int
    num_missing: int


class KllBucket(_Model):
    lower_bound: float
    upper_bound: float
    count: float


class KllSketchParameters(_Model):
    c: float
    k: float


class KllSketch(_Model):
    """Compactor levels: items of `data[i]` each stand for 2**i values (weights sum to num_present)."""

    parameters: KllSketchParameters
    data: list[list[float]]


class KllDistribution(_Model):
    buckets: list[KllBucket]
    sketch: KllSketch


class NumericalDistribution(_Model):
    kll: KllDistribution


class NumericalStatistics(_Model):
    common: CommonStatistics
    mean: float
    sum: float
    std_dev: float
    min: float
    max: float
    # Older analyzers (2021) wrote neither of these two.
    approximate_num_distinct_values: int | None = None
    completeness: float | None = None
    distribution: NumericalDistribution | None = None


class CategoricalBucket(_Model):
    value: str
    count: int


class CategoricalDistribution(_Model):
    buckets: list[CategoricalBucket]


class StringDistribution(_Model):
    categorical: CategoricalDistribution


class StringStatistics(_Model):
    common: CommonStatistics
    distinct_count: float
    completeness: float | None = None
    # Only low-cardinality columns carry a distribution.
    distribution: StringDistribution | None = None


class FeatureStatistics(_Model):
    name: str
    inferred_type: InferredType
    numerical_statistics: NumericalStatistics | None = None
    string_statistics: StringStatistics | None = None

    @property
    def common(self) -> CommonStatistics | None:
        block = self.numerical_statistics or self.string_statistics
        return block.common if block else None


class DatasetInfo(_Model):
    item_count: int


class Statistics(_Model):
    version: float = 0.0
    dataset: DatasetInfo
    features: list[FeatureStatistics]

    def feature(self, name: str) -> FeatureStatistics | None:
        return next((feature for feature in self.features if feature.name == name), None)

    def to_json(self) -> str:
        """The file text: absent optional blocks omitted, as the analyzer writes it."""
        return self.model_dump_json(indent=2, exclude_none=True)


def parse_statistics(text: str | bytes) -> Statistics:
    """Parse statistics.json text (raises pydantic.ValidationError naming the bad key)."""
    return Statistics.model_validate_json(text)

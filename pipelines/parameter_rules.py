"""SageMaker's own rules for the instance parameters a run may override (`--param`), checked before a run
starts, so `TrainingInstanceCount=-1` or a made-up instance type is named here, not by a failed job."""

from __future__ import annotations

import re

from pipelines.contract import (
    PROCESSING_INSTANCE_COUNT,
    PROCESSING_INSTANCE_TYPE,
    TRAINING_INSTANCE_COUNT,
    TRAINING_INSTANCE_TYPE,
)

# CreateTrainingJob ResourceConfig / CreateProcessingJob ClusterConfig: `ml.<family>.<size>`, e.g.
# ml.m5.xlarge, ml.g5.12xlarge, ml.trn1n.32xlarge (the API's enum follows this shape).
INSTANCE_TYPE = re.compile(r"^ml\.[a-z][a-z0-9-]*\.(medium|large|[1-9][0-9]*xlarge|xlarge|metal)$")
# ClusterConfig.InstanceCount is 1..100; ResourceConfig.InstanceCount 0 is only for instance groups,
# which this pipeline does not use.
INSTANCE_COUNT_RANGE = (1, 100)
INSTANCE_TYPE_PARAMETERS = (PROCESSING_INSTANCE_TYPE, TRAINING_INSTANCE_TYPE)
INSTANCE_COUNT_PARAMETERS = (PROCESSING_INSTANCE_COUNT, TRAINING_INSTANCE_COUNT)


def parameter_problem(name: str, value: str) -> str | None:
    """Why `--param name=value` breaks SageMaker's rules, or None when it does not (or is not checked here)."""
    text = value.strip()
    if name in INSTANCE_TYPE_PARAMETERS and not INSTANCE_TYPE.match(text):
        return (f"--param {name}={value!r}: not a SageMaker instance type "
                "(ml.<family>.<size>, e.g. ml.m5.large or ml.c5.2xlarge)")
    if name in INSTANCE_COUNT_PARAMETERS:
        low, high = INSTANCE_COUNT_RANGE
        if not re.fullmatch(r"[+-]?\d+", text) or not low <= int(text) <= high:
            return f"--param {name}={value!r}: an instance count must be a whole number from {low} to {high}"
    return None

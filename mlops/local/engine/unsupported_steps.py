"""Step types local mode refuses, each with why and what to do instead (the message names the step)."""

from __future__ import annotations

from mlops.local.errors import UnsupportedDefinitionError

# What SageMaker does in each, which local mode cannot do faithfully without the service.
REFUSED_STEP_TYPES = {
    "Lambda": "it invokes an AWS Lambda function, which local mode does not host",
    "Callback": "it waits for an external system to answer through SendPipelineExecutionStepSuccess",
    "EMR": "it runs a step on an Amazon EMR cluster",
    "ClarifyCheck": "SageMaker Clarify's bias and explainability analysis is not emulated",
    "AutoML": "Autopilot's candidate search is AWS's closed service",
    "Tuning": "a hyperparameter tuning job's search strategy is AWS's (Bayesian/Hyperband) and not emulated",
    "Notebook": "a notebook job runs in a SageMaker-managed kernel image",
    "Emr": "it runs a step on an Amazon EMR cluster",
}
ADVICE = "run this pipeline in SageMaker, or remove the step for a local run"


def refuse_step_type(name: str, kind: str, supported: tuple[str, ...]) -> UnsupportedDefinitionError:
    reason = REFUSED_STEP_TYPES.get(kind)
    if reason is not None:
        return UnsupportedDefinitionError(f"step {name!r} has type {kind!r}, which local mode refuses: {reason}; "
                                          f"{ADVICE}")
    return UnsupportedDefinitionError(f"step {name!r} has type {kind!r}, which local mode does not run "
                                      f"(supported: {', '.join(supported)}); {ADVICE}")

"""Checking a definition before anything runs: what local mode cannot do is refused by name.

Step types ask their runner (`registry.py`); expressions, references, dependencies and cycles are
checked here for every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.local.engine.expressions import EXECUTION_VARIABLES, EXPRESSIONS, GET, expressions_in, parse_path
from mlops.local.engine.images import ImageCatalog
from mlops.local.engine.registry import CheckContext, StepRunner, runner_of
from mlops.local.errors import UnsupportedDefinitionError
from mlops.local.workdir import WorkDir
from pipelines.definition_json import iter_steps, step_dependencies


def check_definition(definition: Mapping[str, Any], images: ImageCatalog,
                     work: WorkDir | None = None) -> dict[str, set[str]]:
    """Refuse, before anything runs, what the executor cannot do; returns each step's dependencies."""
    steps = iter_steps(dict(definition))
    names = [str(step.get("Name")) for step in steps]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UnsupportedDefinitionError(f"step name(s) used twice: {', '.join(duplicates)}")
    parameters = {str(item["Name"]) for item in definition.get("Parameters", [])}
    runners = {}
    for step in steps:
        runner = runner_of(step)
        runner.check(step, CheckContext(images=images, work=work))
        runners[str(step.get("Name"))] = runner
    own_parts = [{k: v for k, v in step.items() if k not in ("IfSteps", "ElseSteps")} for step in steps]
    for key, value in expressions_in(own_parts):
        if key not in EXPRESSIONS:
            raise UnsupportedDefinitionError(
                f"expression {key!r} is not supported (supported: {', '.join(EXPRESSIONS)})"
            )
        if key == GET:
            _check_reference(str(value), parameters, runners)
    dependencies = step_dependencies(dict(definition))
    for name, needs in dependencies.items():
        unknown = sorted(needs - set(names))
        if unknown:
            raise UnsupportedDefinitionError(f"step {name!r} depends on unknown step(s) {', '.join(unknown)}")
    _check_acyclic(dependencies)
    return dependencies


def _check_reference(path: str, parameters: set[str], steps: Mapping[str, StepRunner]) -> None:
    tokens = parse_path(path)
    root = tokens[0]
    if root == "Parameters" and len(tokens) == 2 and tokens[1] in parameters:
        return
    if root == "Execution" and len(tokens) == 2 and tokens[1] in EXECUTION_VARIABLES:
        return
    if root == "Steps" and len(tokens) >= 3 and tokens[1] in steps:
        produced = steps[str(tokens[1])].properties
        if produced and str(tokens[2]) not in produced:
            raise UnsupportedDefinitionError(
                f"Get {path!r}: a {steps[str(tokens[1])].type} step has no property {tokens[2]!r} "
                f"(it has {', '.join(sorted(produced))})"
            )
        return
    raise UnsupportedDefinitionError(
        f"Get {path!r}: not a declared parameter, a supported execution variable "
        f"({', '.join(EXECUTION_VARIABLES)}) or a property of a step of this pipeline"
    )


def _check_acyclic(dependencies: Mapping[str, set[str]]) -> None:
    remaining = {name: set(needs) for name, needs in dependencies.items()}
    while remaining:
        ready = [name for name, needs in remaining.items() if not needs]
        if not ready:
            raise UnsupportedDefinitionError(f"steps depend on each other in a cycle: {', '.join(sorted(remaining))}")
        for name in ready:
            del remaining[name]
        for needs in remaining.values():
            needs.difference_update(ready)


def branches(definition: Mapping[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Branching step -> (names directly in IfSteps, names directly in ElseSteps)."""
    found = {}
    for step in iter_steps(dict(definition)):
        taken, not_taken = runner_of(step).branches(step)
        if taken or not_taken:
            found[str(step["Name"])] = (taken, not_taken)
    return found

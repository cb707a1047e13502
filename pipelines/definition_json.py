"""Reading a rendered pipeline definition: its JSON text, its steps (branches included) and the
dependencies between them."""

from __future__ import annotations

import json
import re
from typing import Any


def render_definition(definition: dict[str, Any]) -> str:
    """Stable text of a definition: sorted keys, two-space indentation, trailing newline."""
    return json.dumps(definition, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


def iter_steps(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step, including those nested in a Condition's IfSteps/ElseSteps, in definition order."""
    found: list[dict[str, Any]] = []

    def visit(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            found.append(step)
            if step["Type"] == "Condition":
                visit(step["Arguments"].get("IfSteps", []))
                visit(step["Arguments"].get("ElseSteps", []))

    visit(definition["Steps"])
    return found


_STEP_REFERENCE = re.compile(r"^Steps\.([A-Za-z0-9\-_]+)\.")


def step_references(node: Any) -> set[str]:
    """Names of the steps a JSON fragment reads from (`{"Get": "Steps.<name>...."}`)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Get" and isinstance(value, str) and (match := _STEP_REFERENCE.match(value)):
                found.add(match.group(1))
            else:
                found |= step_references(value)
    elif isinstance(node, list):
        for item in node:
            found |= step_references(item)
    return found


def step_dependencies(definition: dict[str, Any]) -> dict[str, set[str]]:
    """Step name -> the steps it must wait for: data references, DependsOn and the enclosing Condition."""
    dependencies: dict[str, set[str]] = {}

    def visit(steps: list[dict[str, Any]], parent: str | None) -> None:
        for step in steps:
            arguments = {key: value for key, value in step.items() if key not in ("IfSteps", "ElseSteps")}
            if step["Type"] == "Condition":
                arguments["Arguments"] = step["Arguments"].get("Conditions", [])
            needs = step_references(arguments) | set(step.get("DependsOn", []))
            if parent:
                needs.add(parent)
            dependencies[step["Name"]] = needs - {step["Name"]}
            if step["Type"] == "Condition":
                visit(step["Arguments"].get("IfSteps", []), step["Name"])
                visit(step["Arguments"].get("ElseSteps", []), step["Name"])

    visit(definition["Steps"], None)
    return dependencies

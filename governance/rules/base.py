"""What a compliance rule is: a named check over one synthesized CloudFormation resource, with the reason it exists."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    """One resource of a synthesized template, as CloudFormation will receive it."""

    logical_id: str
    type: str
    properties: dict[str, Any]

    def get(self, *path: str) -> Any:
        """The value at `path` inside Properties, or None where any step is missing."""
        value: Any = self.properties
        for key in path:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    @property
    def tags(self) -> dict[str, Any]:
        tags = self.properties.get("Tags")
        return {tag["Key"]: tag.get("Value") for tag in tags if "Key" in tag} if isinstance(tags, list) else {}


@dataclass(frozen=True)
class Rule:
    """`complies(resource)` is asked only of resources whose type is in `resource_types`."""

    name: str
    resource_types: frozenset[str]
    # Printed with each finding: what is wrong and why the kit asks for it.
    description: str
    complies: Callable[[Resource], bool]

    def applies_to(self, resource: Resource) -> bool:
        return resource.type in self.resource_types


def is_true(value: Any) -> bool:
    """CloudFormation accepts booleans as JSON booleans or as the strings 'true'/'false'."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def is_set(value: Any) -> bool:
    """A literal or an intrinsic (Ref, Fn::GetAtt, ...): either names something; None or '' does not."""
    return value not in (None, "", {}, [])


def parse_json(value: Any) -> dict[str, Any]:
    """A JSON request held as a string property (e.g. a Scheduler target's Input); {} when it is not one."""
    if not isinstance(value, str):
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}

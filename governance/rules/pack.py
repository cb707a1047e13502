"""The MLOps pack as a CDK validation plugin: it reads the synthesized templates, as cdk-nag's packs run beside it.

CDK maps each finding's logical id back to its construct, so `governance.compliance.acknowledge` accepts a
finding exactly as it accepts a nag finding, with the reason recorded in REASONS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

from governance.rules import RULES, Resource, Rule

PACK_NAME = "MLOps"
PACK_VERSION = "1.0.0"


def rule_id(rule: Rule) -> str:
    """The rule name as the pack reports it (the validation report prefixes it with `MLOps::`)."""
    return f"{PACK_NAME}-{rule.name}"


def resources_of(template: dict[str, Any]) -> Iterator[Resource]:
    for logical_id, body in (template.get("Resources") or {}).items():
        if isinstance(body, dict) and isinstance(body.get("Type"), str):
            properties = body.get("Properties")
            yield Resource(logical_id, body["Type"], properties if isinstance(properties, dict) else {})


def findings(template: dict[str, Any], rules: tuple[Rule, ...] = RULES) -> list[tuple[Rule, str]]:
    """(rule, logical id) of every resource of `template` that breaks a rule."""
    return [(rule, resource.logical_id) for resource in resources_of(template) for rule in rules
            if rule.applies_to(resource) and not rule.complies(resource)]


@jsii.implements(cdk.IPolicyValidationPlugin)
class MlopsChecks:
    """Registered with `cdk.Validations.of(app).add_plugins(...)` next to cdk-nag's packs."""

    @property
    def name(self) -> str:
        return PACK_NAME

    @property
    def version(self) -> str:
        return PACK_VERSION

    @property
    def rule_ids(self) -> list[str]:
        return [rule_id(rule) for rule in RULES]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        violating: dict[str, list[cdk.PolicyViolatingResource]] = {}
        by_name = {rule.name: rule for rule in RULES}
        for template_path in context.template_paths:
            template = json.loads(Path(template_path).read_text(encoding="utf-8"))
            for rule, logical_id in findings(template):
                violating.setdefault(rule.name, []).append(cdk.PolicyViolatingResource(
                    locations=["Properties"], resource_logical_id=logical_id, template_path=template_path))
        violations = [cdk.PolicyViolation(rule_name=rule_id(by_name[name]), description=by_name[name].description,
                                          violating_resources=resources, severity="error")
                      for name, resources in violating.items()]
        return cdk.PolicyValidationPluginReport(success=not violations, violations=violations)

"""The cost budget of each environment: its amount from config, actual and forecast alerts on the alerts topic."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Match, Template

from config.settings import CONFIG_FILE, ConfigError, EnvironmentConfig, load_project, read_yaml
from tests.conftest import ENVIRONMENTS, SynthesizedApp


def topic_logical_id(template: dict[str, Any]) -> str:
    (logical_id,) = [str(key) for key, body in template["Resources"].items() if body["Type"] == "AWS::SNS::Topic"]
    return logical_id


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_budget_has_the_configured_amount_and_alerts_the_topic(
    env_name: str, synthesized_app: SynthesizedApp, environments: dict[str, EnvironmentConfig]
) -> None:
    budget = environments[env_name].budget
    assert budget is not None
    template = synthesized_app.template(f"mlops-kit-{env_name}-alerts")
    topic = {"Ref": topic_logical_id(template)}
    subscribers = [{"SubscriptionType": "SNS", "Address": topic}]
    Template.from_json(template).has_resource_properties("AWS::Budgets::Budget", {
        "Budget": {"BudgetName": f"mlops-kit-{env_name}-monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY",
                   "BudgetLimit": {"Amount": budget.monthly_usd, "Unit": "USD"}},
        "NotificationsWithSubscribers": [
            {"Notification": {"NotificationType": "ACTUAL", "ComparisonOperator": "GREATER_THAN",
                              "Threshold": float(budget.actual_percent), "ThresholdType": "PERCENTAGE"},
             "Subscribers": subscribers},
            {"Notification": {"NotificationType": "FORECASTED", "ComparisonOperator": "GREATER_THAN",
                              "Threshold": float(budget.forecast_percent), "ThresholdType": "PERCENTAGE"},
             "Subscribers": subscribers},
        ],
    })


def test_budgets_of_this_account_only_may_publish_to_the_topic(synthesized_app: SynthesizedApp) -> None:
    template = synthesized_app.template("mlops-kit-dev-alerts")
    Template.from_json(template).has_resource_properties("AWS::SNS::TopicPolicy", {
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Sid": "BudgetsOfThisAccountPublish", "Action": "sns:Publish",
            "Principal": {"Service": "budgets.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"},
                          "ArnLike": {"aws:SourceArn": "arn:aws:budgets::111111111111:*"}}})])}})


def test_budgets_may_use_the_key_of_the_encrypted_topic(synthesized_app: SynthesizedApp) -> None:
    template = synthesized_app.template("mlops-kit-dev-governance")
    Template.from_json(template).has_resource_properties("AWS::KMS::Key", {
        "KeyPolicy": {"Statement": Match.array_with([Match.object_like({
            "Sid": "AllowAwsServicesOfThisAccount",
            "Principal": {"Service": Match.array_with(["budgets.amazonaws.com"])}})])}})


@pytest.mark.parametrize(("values", "key"), [
    ({"monthly_usd": 0}, "monthly_usd"),
    ({"monthly_usd": 100, "actual_percent": 0}, "actual_percent"),
    ({"actual_percent": 80}, "monthly_usd"),
    ({"monthly_usd": 100, "email": "x@example.com"}, "email"),
])
def test_a_bad_budget_block_is_refused_naming_environment_and_key(
    tmp_path: Any, values: dict[str, Any], key: str
) -> None:
    raw = read_yaml(CONFIG_FILE)
    raw["environments"]["staging"]["budget"] = values
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=rf"environment 'staging', key 'budget\.{key}'"):
        load_project(path)


def test_an_environment_without_a_budget_block_has_no_budget(environments: dict[str, EnvironmentConfig]) -> None:
    import aws_cdk as cdk

    from stacks.alerts_stack import AlertsStack

    unbudgeted = environments["dev"].model_copy(update={"budget": None})
    app = cdk.App()
    stack = AlertsStack(app, "NoBudget", env_config=unbudgeted,
                        env=cdk.Environment(account=unbudgeted.account, region=unbudgeted.region))
    Template.from_stack(stack).resource_count_is("AWS::Budgets::Budget", 0)

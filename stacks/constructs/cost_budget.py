"""A monthly AWS Budgets cost budget whose actual and forecast alerts go to an SNS topic."""

from __future__ import annotations

from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

BUDGETS_SERVICE = "budgets.amazonaws.com"


class CostBudget(Construct):
    """Exposes `budget`. Grants Budgets publishing on `topic` (for this account's budgets only)."""

    def __init__(self, scope: Construct, construct_id: str, *, budget_name: str, monthly_usd: float,
                 actual_percent: int, forecast_percent: int, topic: sns.ITopic, account: str,
                 partition: str) -> None:
        super().__init__(scope, construct_id)
        topic.add_to_resource_policy(iam.PolicyStatement(
            sid="BudgetsOfThisAccountPublish", actions=["sns:Publish"], resources=[topic.topic_arn],
            principals=[iam.ServicePrincipal(BUDGETS_SERVICE)],
            conditions={"StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {"aws:SourceArn": f"arn:{partition}:budgets::{account}:*"}}))
        subscribers = [budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=topic.topic_arn)]
        self.budget = budgets.CfnBudget(
            self, "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=budget_name, budget_type="COST", time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=monthly_usd, unit="USD")),
            notifications_with_subscribers=[
                budgets.CfnBudget.NotificationWithSubscribersProperty(
                    notification=budgets.CfnBudget.NotificationProperty(
                        notification_type=kind, comparison_operator="GREATER_THAN", threshold=float(percent),
                        threshold_type="PERCENTAGE"),
                    subscribers=subscribers)
                for kind, percent in (("ACTUAL", actual_percent), ("FORECASTED", forecast_percent))
            ],
        )

"""CostBudget: the stack's monthly budget (`budget.monthlyUsd`) as an AWS Budgets cost
budget. Two readers: AWS, which measures the month's actual and forecast spend against
it (what the estimate cannot see: data, requests, storage as it fills) and emails
`budget.alertEmails`; and the policy pack, whose `estimate-within-budget` rule reads
its limit from the declared budget, so a preview fails before the spend happens.

The budget counts only this stack's spend, found by tags: `environment`, which the
provider's default tags put on everything Pulumi creates, and the cluster's tag, which
the AWS cloud controller and the EBS CSI driver put on the load balancers and volumes
they create. Cost Explorer sees a tag only once it is activated as a cost allocation
tag in the payer account (docs/operations.md, "Budgets").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# AWS Budgets sends a notification when the month's spend passes this share of the limit.
ALERT_PERCENT = 100


def spend_filter(tags: Mapping[str, str]) -> list[str]:
    """Cost Explorer's `TagKeyValue` values for user-defined tags: `user:<key>$<value>`.
    The values of one filter are alternatives: spend carrying any of the tags counts."""
    return [f"user:{key}${value}" for key, value in tags.items()]


@dataclass(frozen=True)
class CostBudgetArgs:
    name: str  # the budget's name, unique in the account: the cluster's
    monthly_usd: float
    spend_tags: Mapping[str, str]  # tags that mark this stack's spend; any one of them counts
    alert_emails: Sequence[str] = ()


class CostBudget(pulumi.ComponentResource):
    budget_name: pulumi.Output[str]

    def __init__(self, name: str, args: CostBudgetArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:cost:CostBudget", name, None, opts)
        # Both kinds: the forecast warns during the month, the actual when it is spent.
        notifications = [
            aws.budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN",
                threshold=ALERT_PERCENT,
                threshold_type="PERCENTAGE",
                notification_type=kind,
                subscriber_email_addresses=list(args.alert_emails),
            )
            for kind in ("ACTUAL", "FORECASTED")
            if args.alert_emails  # a notification needs a subscriber
        ]
        budget = aws.budgets.Budget(
            name,
            name=args.name,
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=f"{args.monthly_usd:.2f}",
            limit_unit="USD",
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=spend_filter(args.spend_tags))],
            notifications=notifications or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.budget_name = budget.name
        self.register_outputs({"budgetName": budget.name})

"""Planned and announced node terminations, drained first: the timings, the EventBridge
rules that feed aws-node-termination-handler's queue, and the queue's policy (pure).

Sources (read, not copied): aws/aws-node-termination-handler v1.25.6, README "Queue
Processor" (the rules, SSE-SQS, the lifecycle hook) and pkg/node/node.go (the drain:
kubectl's drain helper, eviction API, `Timeout` = NODE_TERMINATION_GRACE_PERIOD);
EC2 Auto Scaling's and EC2's EventBridge event references for the event shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.shared.iam import Policy, policy_document

# How long the handler's drain may take before it gives up (its NODE_TERMINATION_GRACE_PERIOD).
# The slowest drain Podium has: a pod whose PDB allows one disruption (the app's) waits for
# its replacement to be Ready, and when no node has room the autoscaler adds one, which
# boots, joins and turns Ready in about 5 minutes (node_group.REFRESH_WARMUP_SECONDS
# allows 10). Ten minutes covers that and the database's shutdown.
DRAIN_TIMEOUT_SECONDS = 600
# The lifecycle hook holds a terminating instance this long unless the handler completes
# the action first: the drain, plus the event's way through EventBridge and SQS (seconds)
# and the handler's poll, with margin. At its end the default result (CONTINUE)
# terminates the instance anyway: a hung drain delays a termination, never blocks it.
LIFECYCLE_HEARTBEAT_SECONDS = DRAIN_TIMEOUT_SECONDS + 300
LIFECYCLE_HOOK_NAME = "podium-drain"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
# A lifecycle event can be acted on as long as the hook holds its instance: keep it that
# long, so that a handler that was down for a few minutes still drains (and releases) it.
QUEUE_RETENTION_SECONDS = LIFECYCLE_HEARTBEAT_SECONDS

EVENTS_SERVICE = "events.amazonaws.com"


def queue_name(cluster_name: str) -> str:
    return f"{cluster_name}-node-termination"


def event_patterns(group_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The EventBridge rules (name suffix -> pattern) whose events the handler acts on
    (in queue mode it drains for every event it receives).

    Lifecycle terminations come only from this cluster's groups (by name). EC2's own
    notices name an instance, not a group, and EventBridge cannot match tags: those
    rules take the account's notices, and the handler drains only instances that carry
    the workers' tag of this cluster (its MANAGED_TAG)."""
    return {
        # Scale-in, instance refresh, capacity rebalancing, a spot replacement: the hook holds each.
        "asg-terminate": {
            "source": ["aws.autoscaling"],
            "detail-type": ["EC2 Instance-terminate Lifecycle Action"],
            "detail": {"AutoScalingGroupName": sorted(group_names)},
        },
        # Two minutes before EC2 reclaims a spot instance.
        "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
        # A spot instance at raised risk: drained early (in queue mode the handler drains
        # for every event it receives); the group's capacity rebalancing launches a
        # replacement, then terminates the instance through the hook.
        "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
        # Not the handler's: AWS Health's scheduled EC2 changes (SCHEDULED_CHANGES below).
    }


# AWS Health's scheduled changes of EC2 instances (retirement, stop, maintenance reboot),
# days ahead. The event names each instance by its ARN, which the handler (v1.25.6,
# scheduled-change-event.go) passes to DescribeInstances as an instance id: it fails and
# the event is dropped (aws/aws-node-termination-handler#1034). So they go to the
# early-retirement function (functions/early_retirement.py), which replaces the instance
# through its group now: the hook and the handler drain it like any other termination.
SCHEDULED_CHANGES = {
    "source": ["aws.health"],
    "detail-type": ["AWS Health Event"],
    "detail": {"service": ["EC2"], "eventTypeCategory": ["scheduledChange"]},
}
EARLY_RETIREMENT_SOURCE = Path(__file__).parent / "functions" / "early_retirement.py"


def early_retirement_name(cluster_name: str) -> str:
    return f"{cluster_name}-early-retirement"


def early_retirement_log_group(cluster_name: str) -> str:
    """Where Lambda writes the function's logs (its fixed name for a function's group)."""
    return f"/aws/lambda/{early_retirement_name(cluster_name)}"


def queue_policy(queue_arn: str, rule_arns: Sequence[str]) -> Policy:
    """Only EventBridge may send, and only for this stack's rules (whose ARNs name the
    account and region): no other account's rule, no other service."""
    return policy_document(
        [
            {
                "Sid": "EventBridgeRules",
                "Effect": "Allow",
                "Principal": {"Service": EVENTS_SERVICE},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
            }
        ]
    )

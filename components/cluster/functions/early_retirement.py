"""AWS Lambda function: a worker that AWS has scheduled for retirement, a stop or a
maintenance reboot is replaced now, drained, instead of when AWS stops it.

AWS Health announces such changes days ahead ("AWS Health Event", service EC2, category
scheduledChange) and names each instance by its ARN. aws-node-termination-handler
(v1.25.6) cannot read that form, so the event comes here instead: each named instance
that belongs to one of the cluster's groups is terminated through its group, without
lowering the group's size. The group's lifecycle hook holds it while the handler drains
it, and the group launches its replacement in the same AZ.

Runs on AWS Lambda's Python runtime (boto3 is part of it); GROUP_NAMES (JSON) lists the
cluster's groups. The logic takes the Auto Scaling client as an argument, for tests.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)
# arn:<partition>:ec2:<region>:<account>:instance/<id>, or a bare instance id.
_INSTANCE = re.compile(r"^(?:arn:aws[a-z-]*:ec2:[a-z0-9-]+:[0-9]{12}:instance/)?(i-[0-9a-f]{8,17})$")


# DescribeAutoScalingInstances takes at most this many ids at once.
_BATCH = 50


def instance_ids(event: dict[str, Any]) -> list[str]:
    """The instances an AWS Health event still affects, as ids: none once the event is
    closed, and not those whose entity is resolved (rebooted in place, say)."""
    detail = event.get("detail", {})
    if detail.get("statusCode") == "closed":
        return []
    found = []
    for entity in detail.get("affectedEntities", []):
        if entity.get("status") == "RESOLVED":
            continue
        match = _INSTANCE.match(str(entity.get("entityValue", "")))
        if match:
            found.append(match.group(1))
        else:
            LOG.warning("not an EC2 instance: %s", entity.get("entityValue"))
    return found


def replace_early(event: dict[str, Any], autoscaling: Any, group_names: set[str]) -> list[str]:
    """Terminates, through their groups and keeping the groups' sizes, the affected
    instances that are in service in one of `group_names`; returns their ids. Others
    (control planes, another cluster's nodes, instances already leaving) are left."""
    ids = instance_ids(event)
    described = []
    for start in range(0, len(ids), _BATCH):
        answer = autoscaling.describe_auto_scaling_instances(InstanceIds=ids[start : start + _BATCH])
        described += answer["AutoScalingInstances"]
    in_groups = {instance["InstanceId"] for instance in described}
    for instance_id in ids:
        if instance_id not in in_groups:
            # A control plane (in no group) or something else: replace a control plane by hand.
            LOG.warning("%s is in no auto-scaling group: not replaced", instance_id)
    replaced = []
    for instance in described:
        if instance["AutoScalingGroupName"] not in group_names or instance["LifecycleState"] != "InService":
            continue
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance["InstanceId"], ShouldDecrementDesiredCapacity=False
        )
        LOG.info("replacing %s of %s early", instance["InstanceId"], instance["AutoScalingGroupName"])
        replaced.append(instance["InstanceId"])
    return replaced


def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    import boto3  # in Lambda's runtime; imported here so that tests need no AWS SDK

    groups = set(json.loads(os.environ["GROUP_NAMES"]))
    return {"replaced": replace_early(event, boto3.client("autoscaling"), groups)}

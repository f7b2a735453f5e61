"""TerminationQueue: where aws-node-termination-handler learns that a node will go. An
SQS queue (SSE-SQS: EventBridge can write to it with no key policy to maintain) fed by
EventBridge rules for the cluster's groups' lifecycle terminations, spot interruption
notices, rebalance recommendations and scheduled EC2 changes, and the handler's own
role, assumed only by its service account. The patterns and the policies are pure
(termination.py, iam_policies.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import iam_policies, termination
from components.shared.workload_role import Issuer, account_scoped_role

KUBE_SYSTEM = "kube-system"
# The service account the pinned chart (aws-node-termination-handler 0.27.6) makes when
# serviceAccount.name is set to this.
HANDLER_ACCOUNT = "aws-node-termination-handler"


@dataclass(frozen=True)
class TerminationQueueArgs:
    cluster_name: str
    region: str
    group_names: pulumi.Input[list[str]]  # the cluster's auto-scaling groups
    issuer: Issuer  # the cluster's service-account issuer: the handler's role trusts it


class TerminationQueue(pulumi.ComponentResource):
    queue_url: pulumi.Output[str]
    handler_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: TerminationQueueArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:nodes:TerminationQueue", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster = args.cluster_name
        queue_name = termination.queue_name(cluster)
        queue = aws.sqs.Queue(
            name,
            name=queue_name,
            message_retention_seconds=termination.QUEUE_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        patterns = pulumi.Output.from_input(args.group_names).apply(termination.event_patterns)
        rules = []
        for suffix in termination.event_patterns([]):
            rule = aws.cloudwatch.EventRule(
                f"{name}-{suffix}",
                name=f"{cluster}-{suffix}",
                description=f"{cluster}: {suffix} events for aws-node-termination-handler",
                event_pattern=patterns.apply(lambda p, s=suffix: json.dumps(p[s], sort_keys=True)),
                opts=child,
            )
            rules.append(rule)
        policy = aws.sqs.QueuePolicy(
            name,
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *[rule.arn for rule in rules]).apply(
                lambda v: json.dumps(termination.queue_policy(v[0], v[1:]))
            ),
            opts=child,
        )
        for suffix, rule in zip(termination.event_patterns([]), rules, strict=True):
            aws.cloudwatch.EventTarget(
                f"{name}-{suffix}",
                rule=rule.name,
                arn=queue.arn,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
            )
        role = account_scoped_role(
            f"{name}-handler",
            issuer=args.issuer,
            namespace=KUBE_SYSTEM,
            service_account=HANDLER_ACCOUNT,
            description=f"{cluster} aws-node-termination-handler: the queue, drained instances' lifecycle actions",
            policy=lambda partition, account: iam_policies.termination_handler_policy(
                partition=partition, region=args.region, account_id=account, cluster_name=cluster, queue_name=queue_name
            ),
            parent=self,
        )
        self.queue_url = queue.url
        self.handler_role_arn = role.arn
        self.register_outputs({"queueUrl": self.queue_url, "handlerRoleArn": self.handler_role_arn})

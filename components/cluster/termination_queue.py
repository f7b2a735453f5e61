"""TerminationQueue: where aws-node-termination-handler learns that a node will go. An
SQS queue (SSE-SQS: EventBridge can write to it with no key policy to maintain) fed by
EventBridge rules for the cluster's groups' lifecycle terminations, spot interruption
notices and rebalance recommendations, and the handler's own role, assumed only by its
service account. AWS Health's scheduled EC2 changes, which the handler cannot read, go
to a small function that replaces the named workers early, through their groups (and
so through the hook and the handler). The patterns and the policies are pure
(termination.py, iam_policies.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import iam_policies, termination
from components.shared import iam
from components.shared.workload_role import Issuer, account_scoped_role, allow

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
    kms_key_arn: pulumi.Input[str]  # the cluster's key: the function's logs
    log_retention_days: int


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
        rules = {
            suffix: aws.cloudwatch.EventRule(
                f"{name}-{suffix}",
                name=f"{cluster}-{suffix}",
                description=f"{cluster}: {suffix} events for aws-node-termination-handler",
                event_pattern=patterns.apply(lambda p, s=suffix: json.dumps(p[s], sort_keys=True)),
                opts=child,
            )
            for suffix in termination.event_patterns([])  # the rules' names; their patterns need the groups
        }
        policy = aws.sqs.QueuePolicy(
            name,
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *[rule.arn for rule in rules.values()]).apply(
                lambda v: json.dumps(termination.queue_policy(v[0], v[1:]))
            ),
            opts=child,
        )
        for suffix, rule in rules.items():
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
        self._early_retirement(name, args)
        self.queue_url = queue.url
        self.handler_role_arn = role.arn
        self.register_outputs({"queueUrl": self.queue_url, "handlerRoleArn": self.handler_role_arn})

    def _early_retirement(self, name: str, args: TerminationQueueArgs) -> None:
        cluster = args.cluster_name
        function_name = termination.early_retirement_name(cluster)
        log_group = termination.early_retirement_log_group(cluster)
        child = pulumi.ResourceOptions(parent=self)
        logs = aws.cloudwatch.LogGroup(
            f"{name}-early-retirement",
            name=log_group,
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-early-retirement",
            assume_role_policy=json.dumps(iam.service_trust_policy("lambda.amazonaws.com")),
            description=f"{cluster} early retirement: replaces workers AWS scheduled for retirement",
            opts=child,
        )
        invoke = pulumi.InvokeOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke).partition
        account = aws.get_caller_identity_output(opts=invoke).account_id
        allow(
            f"{name}-early-retirement",
            role,
            pulumi.Output.all(partition, account).apply(
                lambda v: iam_policies.early_retirement_policy(
                    partition=v[0], region=args.region, account_id=v[1], cluster_name=cluster, log_group=log_group
                )
            ),
            parent=self,
        )
        source = termination.EARLY_RETIREMENT_SOURCE
        function = aws.lambda_.Function(
            f"{name}-early-retirement",
            name=function_name,
            description=f"{cluster}: replace workers AWS scheduled for retirement now, drained",
            role=role.arn,
            runtime="python3.12",
            handler=f"{source.stem}.handler",
            code=pulumi.AssetArchive({source.name: pulumi.FileAsset(str(source))}),
            timeout=60,
            memory_size=128,
            environment={"variables": {"GROUP_NAMES": pulumi.Output.from_input(args.group_names).apply(json.dumps)}},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-scheduled-change",
            name=f"{cluster}-scheduled-change",
            description=f"{cluster}: AWS Health's scheduled EC2 changes, to the early-retirement function",
            event_pattern=json.dumps(termination.SCHEDULED_CHANGES, sort_keys=True),
            opts=child,
        )
        permission = aws.lambda_.Permission(
            f"{name}-scheduled-change",
            action="lambda:InvokeFunction",
            function=function.name,
            principal=termination.EVENTS_SERVICE,
            source_arn=rule.arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-scheduled-change",
            rule=rule.name,
            arn=function.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission]),
        )

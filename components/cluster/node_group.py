"""NodeGroup: one worker pool, a launch template and an auto-scaling group (one per AZ
when zonal) whose instances join the cluster with kubeadm, registering the pool's labels
and taints. The groups carry the cluster autoscaler's tags (discovery, and the labels and
taints it needs to scale a group up from zero) and a lifecycle hook that holds each
terminating instance until aws-node-termination-handler has drained it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.cluster import iam_policies, kubeadm, termination
from components.cluster.bootstrap import JoinMaterial, cluster_tag
from components.cluster.userdata import NodeBoot, encode_plain, render_node_script
from components.config.settings import AUTOSCALER_NODE_TEMPLATE
from components.shared.instance_role import instance_profile


@dataclass(frozen=True)
class NodeGroupArgs:
    cluster_name: str
    kubernetes_version: str
    region: str
    pool_name: str
    instance_type: str
    min_size: int  # of each group
    max_size: int  # of each group
    desired_size: int  # in total, placed from the first group on
    spot: bool
    root_volume_gb: int
    labels: Mapping[str, str]
    taints: Sequence[kubeadm.Taint]
    subnet_ids: pulumi.Output[list[str]]  # the private subnets, one per AZ slot
    zonal: bool  # one group per AZ slot instead of one across them
    az_count: int
    first_az_slot: int  # zonal: the AZ slot of the first group
    security_group_id: pulumi.Input[str]
    image_id: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    join: JoinMaterial
    # The provider's default tags reach neither what an ASG launches nor the ASG
    # itself (its tags are blocks, not a tags map): they are written here explicitly.
    tags: Mapping[str, str]
    # What the launch template waits for: the control planes on kubernetes_version, so
    # that a version change rolls the workers only after them (kubelets never newer).
    control_planes: pulumi.Resource


# A new node boots, joins and turns Ready in about 5 minutes (containerd, packages,
# kubeadm join, Calico on the node): the refresh waits that long before it counts a
# replacement as in service and stops the next old node.
REFRESH_WARMUP_SECONDS = 600


def refresh_preferences(desired_size: int) -> aws.autoscaling.GroupInstanceRefreshPreferencesArgs:
    """Instance refresh that never lowers the pool's capacity: replacements launch
    first (min healthy 100%), about a tenth of the pool (at least one node) at a time.
    A one-node pool (the database's) goes to 200%: the new node is up before the old
    one is terminated. Percentages of the size at refresh time, sized from `desired`."""
    size = max(desired_size, 1)
    batch = max(1, math.ceil(size / 10))
    return aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
        min_healthy_percentage=100,
        max_healthy_percentage=min(200, 100 + math.ceil(100 * batch / size)),
        instance_warmup=str(REFRESH_WARMUP_SECONDS),
    )


# A node the autoscaler finds unneeded this long is removed (its default: 10 minutes). An
# instance refresh launches a replacement that stays empty until the old node is drained,
# about 11 minutes later (REFRESH_WARMUP_SECONDS after it is in service): with the
# default, the autoscaler could remove the replacement first.
SCALE_DOWN_UNNEEDED = "30m0s"


# On every worker instance (and its volumes): its pool. Control planes do not carry it,
# so aws-node-termination-handler drains only what carries it.
POOL_TAG = "podium/pool"


def autoscaler_tags(cluster_name: str, labels: Mapping[str, str], taints: Sequence[kubeadm.Taint]) -> dict[str, str]:
    """The group tags only the cluster autoscaler reads: both discovery tags (it needs
    all of them, and the per-cluster one keeps two clusters in one account apart), the
    node template, which tells it what a node of an empty group looks like, and its
    per-group scale-down delay."""
    tags = {
        "k8s.io/cluster-autoscaler/enabled": "true",
        iam_policies.autoscaler_tag_key(cluster_name): iam_policies.OWNED,
    }
    tags |= {f"{AUTOSCALER_NODE_TEMPLATE}/label/{key}": value for key, value in labels.items()}
    tags |= {f"{AUTOSCALER_NODE_TEMPLATE}/taint/{t.key}": f"{t.value}:{t.effect}" for t in taints}
    tags[f"{AUTOSCALER_NODE_TEMPLATE}/autoscaling-options/scaledownunneededtime"] = SCALE_DOWN_UNNEEDED
    return tags


def zonal_slots(az_count: int, first_slot: int) -> list[int]:
    """The AZ slot of each group of a zonal pool, the first group first: from
    `first_slot` on, around."""
    return [(first_slot + n) % az_count for n in range(az_count)]


def group_sizes(min_size: int, max_size: int, desired: int, groups: int) -> list[tuple[int, int, int]]:
    """(min, max, desired) of each group. The pool's minimum is spread over the groups
    from the first AZ slot on (a zonal database pool of min 1 keeps its node in the
    first group and lets the others rest at 0); the initial nodes beyond the minimums
    fill the groups from the first slot on. Every group has the pool's max."""
    minimums = [min(max_size, min_size // groups + (1 if i < min_size % groups else 0)) for i in range(groups)]
    sizes = []
    remaining = desired - sum(minimums)
    for low in minimums:
        extra = max(0, min(max_size - low, remaining))
        remaining -= extra
        sizes.append((low, max_size, low + extra))
    return sizes


def worker_script(args: NodeGroupArgs, api_endpoint: str, ca_cert_hash: str) -> str:
    """The pool's user data: names and hashes only; the token comes from SSM."""
    join = kubeadm.join_configuration(
        api_endpoint, ca_cert_hash, control_plane=False, labels=args.labels, taints=list(args.taints)
    )
    return render_node_script(
        NodeBoot(
            role="worker",
            cluster_name=args.cluster_name,
            region=args.region,
            kubernetes_version=args.kubernetes_version,
            api_endpoint=api_endpoint,
            kubeadm_config=kubeadm.render([join]),
            token_parameter=args.join.token_parameter,
        )
    )


class NodeGroup(pulumi.ComponentResource):
    auto_scaling_group_names: pulumi.Output[list[str]]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:nodes:NodeGroup", name, None, opts)
        cluster = args.cluster_name
        pool_name = f"{cluster}-{args.pool_name}"

        def policy(partition: str, account: str) -> pulumi.Output[dict[str, Any]]:
            return pulumi.Output.from_input(args.kms_key_arn).apply(
                lambda key_arn: iam_policies.node_policy(
                    partition=partition,
                    region=args.region,
                    account_id=account,
                    cluster_name=cluster,
                    kms_key_arn=key_arn,
                    token_parameter=args.join.token_parameter,
                )
            )

        role, profile = instance_profile(
            f"{name}-role", description=f"{pool_name} nodes: kubelet, the join token", policy=policy, parent=self
        )

        user_data = pulumi.Output.all(args.join.api_endpoint, args.join.ca_cert_hash).apply(
            lambda v: encode_plain(worker_script(args, v[0], v[1]))
        )
        volume_tags = {**args.tags, "Name": pool_name, POOL_TAG: args.pool_name}
        # The cluster tag marks instances for the cloud provider; root volumes and
        # interfaces stay without it, out of the EBS CSI driver's and the controller's reach.
        instance_tags = {**volume_tags, **cluster_tag(cluster)}
        template = aws.ec2.LaunchTemplate(
            f"{name}-template",
            description=f"{pool_name} nodes",
            image_id=args.image_id,
            instance_type=args.instance_type,
            iam_instance_profile={"arn": profile.arn},
            vpc_security_group_ids=[args.security_group_id],
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                # 1: the host only. No pod on the pod network reaches instance metadata, so none
                # borrows the node's role (host-network pods still do, as the host does).
                "http_put_response_hop_limit": 1,
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/sda1",  # the Ubuntu AMI's root device
                    "ebs": {
                        "volume_type": "gp3",
                        "volume_size": args.root_volume_gb,
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            user_data=user_data,
            update_default_version=True,
            tag_specifications=[
                {"resource_type": "instance", "tags": instance_tags},
                {"resource_type": "volume", "tags": volume_tags},
                {"resource_type": "network-interface", "tags": volume_tags},
            ],
            tags={"Name": pool_name},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.control_planes]),
        )
        slots: Sequence[int | None] = zonal_slots(args.az_count, args.first_az_slot) if args.zonal else [None]
        sizes = group_sizes(args.min_size, args.max_size, args.desired_size, len(slots))
        asg_tags = [
            aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=True)
            for key, value in instance_tags.items()
        ] + [
            # The autoscaler reads these on the group; instances need none of them.
            aws.autoscaling.GroupTagArgs(key=key, value=value, propagate_at_launch=False)
            for key, value in autoscaler_tags(cluster, args.labels, args.taints).items()
        ]
        made = []
        for number, (slot, (low, high, desired)) in enumerate(zip(slots, sizes, strict=True), start=1):
            # The first (or only) group keeps the names the pool's group had before pools
            # could be zonal: a pool turned zonal keeps its group, now in `first_az_slot`
            # only (nodes it runs in other AZs are replaced there).
            suffix = "" if number == 1 else f"-{number}"
            made.append(
                self._group(
                    f"{name}-asg{suffix}",
                    name_prefix=f"{pool_name}{suffix}-",
                    sizes=(low, high, desired),
                    subnet_ids=args.subnet_ids if slot is None else args.subnet_ids.apply(lambda ids, s=slot: [ids[s]]),
                    template=template,
                    spot=args.spot,
                    instance_type=args.instance_type,
                    tags=asg_tags,
                )
            )
        self.auto_scaling_group_names = pulumi.Output.all(*[group.name for group in made])
        self.role_arn = role.arn
        self.register_outputs({"autoScalingGroupNames": self.auto_scaling_group_names, "roleArn": self.role_arn})

    def _group(
        self,
        resource_name: str,
        *,
        name_prefix: str,
        sizes: tuple[int, int, int],
        subnet_ids: pulumi.Input[list[str]],
        template: aws.ec2.LaunchTemplate,
        spot: bool,
        instance_type: str,
        tags: list[aws.autoscaling.GroupTagArgs],
    ) -> aws.autoscaling.Group:
        low, high, desired = sizes
        template_spec = {"id": template.id, "version": template.latest_version.apply(str)}
        placement: dict[str, object]
        if spot:
            placement = {
                "mixed_instances_policy": {
                    "instances_distribution": {
                        "on_demand_base_capacity": 0,
                        "on_demand_percentage_above_base_capacity": 0,
                        "spot_allocation_strategy": "price-capacity-optimized",
                    },
                    "launch_template": {
                        "launch_template_specification": {
                            "launch_template_id": template.id,
                            "version": template.latest_version.apply(str),
                        },
                        # One type: the autoscaler sizes a group by its first type.
                        "overrides": [{"instance_type": instance_type}],
                    },
                },
                # Replace a spot node that AWS warns about before it is reclaimed; the
                # old one leaves through the lifecycle hook, drained.
                "capacity_rebalance": True,
            }
        else:
            placement = {"launch_template": template_spec}
        group = aws.autoscaling.Group(
            resource_name,
            name_prefix=name_prefix,
            min_size=low,
            max_size=high,
            desired_capacity=desired,
            vpc_zone_identifiers=subnet_ids,
            health_check_type="EC2",
            health_check_grace_period=300,
            # A new launch template version (image, script, size) rolls through the pool;
            # each old instance is drained (the hook below) after its replacement is up.
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling", preferences=refresh_preferences(desired)
            ),
            tags=tags,
            **placement,  # type: ignore[arg-type]
            # Set once; afterwards the cluster autoscaler (or a person) owns the size.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
        )
        aws.autoscaling.LifecycleHook(
            f"{resource_name}-drain",
            name=termination.LIFECYCLE_HOOK_NAME,
            autoscaling_group_name=group.name,
            lifecycle_transition=termination.TERMINATING,
            heartbeat_timeout=termination.LIFECYCLE_HEARTBEAT_SECONDS,
            default_result="CONTINUE",
            opts=pulumi.ResourceOptions(parent=self),
        )
        return group

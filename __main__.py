"""Podium: wiring only. Settings -> components -> stack outputs (README: outputs contract)."""

import pulumi

from components import settings as stack_settings
from components.addons import KIND_NODE_NAME_PATTERN, ClusterAddons, ClusterAddonsArgs, ec2_node_name_pattern
from components.aws_provider import aws_provider
from components.cluster_bootstrap import ClusterBootstrap, ClusterBootstrapArgs, ControlPlaneSpec
from components.k8s_provider import cluster_provider
from components.kubeadm import Taint
from components.network import Network, NetworkArgs
from components.node_group import NodeGroup, NodeGroupArgs

settings = stack_settings.load()

pulumi.export("environment", settings.environment)
pulumi.export("clusterName", settings.cluster_name)
pulumi.export("kubernetesVersion", settings.kubernetes_version)

if settings.on_aws:
    aws = pulumi.ResourceOptions(providers=[aws_provider(settings)])
    network = Network(
        "network",
        NetworkArgs(
            cluster_name=settings.cluster_name,
            region=settings.region,
            cidr=settings.network.cidr,
            az_count=settings.network.az_count,
            nat_mode=settings.network.nat_mode,
            flow_logs=settings.network.flow_logs,
            flow_logs_retention_days=settings.network.flow_logs_retention_days,
        ),
        opts=aws,
    )
    cp = settings.control_plane
    bootstrap = ClusterBootstrap(
        "cluster",
        ClusterBootstrapArgs(
            cluster_name=settings.cluster_name,
            kubernetes_version=settings.kubernetes_version,
            region=settings.region,
            vpc_id=network.vpc_id,
            vpc_cidr=network.cidr,
            az_count=settings.network.az_count,
            availability_zones=network.availability_zones,
            public_subnet_ids=network.public_subnet_ids,
            private_subnet_ids=network.private_subnet_ids,
            pod_cidr=settings.cluster.pod_cidr,
            service_cidr=settings.cluster.service_cidr,
            api_allowed_cidrs=settings.cluster.api_allowed_cidrs,
            api_endpoint=settings.cluster.api_endpoint,
            ami_id=settings.cluster.ami_id,
            control_plane=ControlPlaneSpec(
                count=cp.count,
                instance_type=cp.instance_type,
                root_volume_gb=cp.root_volume_gb,
                etcd_volume_gb=cp.etcd_volume_gb,
                etcd_snapshot_interval_minutes=cp.etcd_snapshot_interval_minutes,
                etcd_snapshot_retention_days=cp.etcd_snapshot_retention_days,
            ),
            deletion_protection=settings.deletion_protection,
        ),
        opts=aws,
    )
    for pool in settings.node_pools:
        NodeGroup(
            f"pool-{pool.name}",
            NodeGroupArgs(
                cluster_name=settings.cluster_name,
                kubernetes_version=settings.kubernetes_version,
                region=settings.region,
                pod_cidr=settings.cluster.pod_cidr,
                service_cidr=settings.cluster.service_cidr,
                pool_name=pool.name,
                instance_type=pool.instance_type,
                min_size=pool.min,
                max_size=pool.max,
                desired_size=pool.desired,
                spot=pool.spot,
                root_volume_gb=pool.root_volume_gb,
                labels=pool.labels,
                taints=[Taint(t.key, t.value, t.effect) for t in pool.taints],
                subnet_ids=network.private_subnet_ids,
                security_group_id=bootstrap.node_security_group_id,
                image_id=bootstrap.node_image_id,
                kms_key_arn=bootstrap.kms_key_arn,
                join=bootstrap.join,
            ),
            opts=aws,
        )
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("publicSubnetIds", network.public_subnet_ids)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)
    pulumi.export("clusterEndpoint", bootstrap.endpoint)
    pulumi.export("clusterCaCertificate", bootstrap.ca_certificate)
    pulumi.export("kubeconfig", bootstrap.kubeconfig)
    pulumi.export("nodeSecurityGroupId", bootstrap.node_security_group_id)
    k8s = cluster_provider(settings.cluster_name, kubeconfig=bootstrap.kubeconfig, depends_on=[bootstrap.ready])
    node_name_pattern = ec2_node_name_pattern(settings.region)
    node_ip_cidrs = [settings.network.cidr]
else:
    k8s = cluster_provider(
        settings.cluster_name, kubeconfig=settings.cluster.kubeconfig, context=settings.cluster.context
    )
    node_name_pattern = settings.cluster.node_name_pattern or KIND_NODE_NAME_PATTERN
    node_ip_cidrs = []

addons = ClusterAddons(
    "addons",
    ClusterAddonsArgs(
        cluster_name=settings.cluster_name,
        kubernetes_version=settings.kubernetes_version,
        on_aws=settings.on_aws,
        pod_cidr=settings.cluster.pod_cidr,
        deletion_protection=settings.deletion_protection,
        node_name_pattern=node_name_pattern,
        node_ip_cidrs=node_ip_cidrs,
        chart_versions=settings.addon_versions,
        region=settings.aws_region if settings.on_aws else None,
    ),
    opts=pulumi.ResourceOptions(providers=[k8s]),
)

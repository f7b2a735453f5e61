"""Podium: wiring only. Settings -> components -> stack outputs (README: outputs contract)."""

import pulumi

from components import settings as stack_settings
from components.aws_provider import aws_provider
from components.network import Network, NetworkArgs

settings = stack_settings.load()

pulumi.export("environment", settings.environment)
pulumi.export("clusterName", settings.cluster_name)
pulumi.export("kubernetesVersion", settings.kubernetes_version)

if settings.on_aws:
    aws = aws_provider(settings)
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
        opts=pulumi.ResourceOptions(providers=[aws]),
    )
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("publicSubnetIds", network.public_subnet_ids)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)

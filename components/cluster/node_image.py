"""The AMI every node boots, recorded in SSM so that it changes only on purpose."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.config import versions
from components.shared.children import Children

# Canonical publishes its current Ubuntu 24.04 image here; read once per stack, never
# followed silently.
UBUNTU_AMI_PARAMETER = versions.ubuntu_ami_parameter("amd64")


def node_image(scope: Children, parameter_name: str, pinned: str | None) -> pulumi.Output[str]:
    """Without `cluster.amiId`, the first `pulumi up` records Canonical's current image
    and later runs keep it (a newer image never replaces nodes by surprise); setting
    `cluster.amiId` upgrades."""
    value: pulumi.Input[str] = (
        pinned or aws.ssm.get_parameter_output(name=UBUNTU_AMI_PARAMETER, opts=scope.invoke()).insecure_value
    )
    recorded = aws.ssm.Parameter(
        f"{scope.name}-node-ami",
        name=parameter_name,
        type="String",
        data_type="aws:ec2:image",
        insecure_value=value,
        description="AMI of every Podium node in this cluster; change podium:cluster.amiId to upgrade",
        opts=scope.child(ignore_changes=[] if pinned else ["insecureValue"]),
    )
    return recorded.insecure_value.apply(lambda v: v or "")

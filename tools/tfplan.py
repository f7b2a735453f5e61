"""The AWS side of a captured graph as a Terraform plan (`terraform show -json`).

pulumi-aws is bridged from the Terraform AWS provider, so each of its resources is a
Terraform resource under another name. Security teams scan Terraform plans (checkov,
Trivy, KICS); none of them reads a Pulumi program. This module writes what a first
`terraform plan` of the same resources would show:

* `planned_values`: each resource's attributes as Podium sets them, spelled as the
  Terraform provider spells them (snake_case; a nested object is a block, which
  Terraform holds as a list of one; a list Pulumi names in the plural is the singular
  block Terraform repeats, from RENAMED). Secret values stay redacted.
* `resource_changes`: every resource is a create. An attribute holding another
  resource's id or ARN is unknown until that resource exists, as in a real first plan.
* `configuration`: those attributes as references (`aws_vpc.main.id`), from the
  property dependencies the program registered, so scanners' connection checks (flow
  logs on the VPC, the public access block on its bucket) resolve.

The type table is explicit: an AWS type it does not map is refused, so a new kind of
resource cannot slip past the scanners. Non-AWS resources (Kubernetes objects, keys and
passwords generated in the state) are not AWS resources and are left out; their own
checks are in the tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tools import harness

FILE_NAME = "terraform-plan.json"
FORMAT_VERSION = "1.2"
# The plan format is Terraform's; this names the version whose format it follows.
TERRAFORM_VERSION = "1.9.8"
PROVIDER = "registry.terraform.io/hashicorp/aws"

# Pulumi token -> Terraform resource type, as pulumi-aws v7's bridge names them.
TERRAFORM_TYPES: dict[str, str] = {
    "aws:autoscaling/group:Group": "aws_autoscaling_group",
    "aws:autoscaling/lifecycleHook:LifecycleHook": "aws_autoscaling_lifecycle_hook",
    "aws:budgets/budget:Budget": "aws_budgets_budget",
    "aws:cloudwatch/eventRule:EventRule": "aws_cloudwatch_event_rule",
    "aws:cloudwatch/eventTarget:EventTarget": "aws_cloudwatch_event_target",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:ebs/volume:Volume": "aws_ebs_volume",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/instance:Instance": "aws_instance",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/networkInterface:NetworkInterface": "aws_network_interface",
    "aws:ec2/route:Route": "aws_route",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/volumeAttachment:VolumeAttachment": "aws_volume_attachment",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:iam/instanceProfile:InstanceProfile": "aws_iam_instance_profile",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "aws_iam_openid_connect_provider",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:lambda/function:Function": "aws_lambda_function",
    "aws:lambda/permission:Permission": "aws_lambda_permission",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:lb/listener:Listener": "aws_lb_listener",
    "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
    "aws:lb/targetGroup:TargetGroup": "aws_lb_target_group",
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": "aws_lb_target_group_attachment",
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:sqs/queue:Queue": "aws_sqs_queue",
    "aws:sqs/queuePolicy:QueuePolicy": "aws_sqs_queue_policy",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "aws_s3_bucket_lifecycle_configuration",
    "aws:s3/bucketLogging:BucketLogging": "aws_s3_bucket_logging",
    "aws:s3/bucketObjectv2:BucketObjectv2": "aws_s3_object",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "aws_s3_bucket_public_access_block",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "aws_s3_bucket_server_side_encryption_configuration"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "aws_s3_bucket_versioning",
    "aws:ssm/parameter:Parameter": "aws_ssm_parameter",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "aws_vpc_security_group_egress_rule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "aws_vpc_security_group_ingress_rule",
}

# Attributes whose Pulumi name is not the camelCase of the Terraform one: the bridge
# names a repeated block, or a list Terraform names in the singular, in the plural
# (read from pulumi-aws's bridge metadata for the types above). By Terraform type, then
# dotted Pulumi path (list items are not part of the path).
RENAMED: dict[str, dict[str, str]] = {
    "aws_autoscaling_group": {
        "tags": "tag",
        "vpcZoneIdentifiers": "vpc_zone_identifier",
        "initialLifecycleHooks": "initial_lifecycle_hook",
        "mixedInstancesPolicy.launchTemplate.overrides": "override",
    },
    "aws_budgets_budget": {"costFilters": "cost_filter", "notifications": "notification"},
    "aws_iam_openid_connect_provider": {"clientIdLists": "client_id_list", "thumbprintLists": "thumbprint_list"},
    "aws_iam_role": {"inlinePolicies": "inline_policy"},
    "aws_instance": {
        "ebsBlockDevices": "ebs_block_device",
        "ephemeralBlockDevices": "ephemeral_block_device",
        "networkInterfaces": "network_interface",
    },
    "aws_launch_template": {"licenseSpecifications": "license_specification"},
    "aws_lambda_function": {"code": "filename"},
    "aws_lb": {"subnetMappings": "subnet_mapping"},
    "aws_lb_listener": {"defaultActions": "default_action", "defaultActions.forward.targetGroups": "target_group"},
    "aws_lb_target_group": {"targetFailovers": "target_failover"},
    "aws_route_table": {"routes": "route"},
    "aws_s3_bucket_lifecycle_configuration": {
        "rules": "rule",
        "rules.transitions": "transition",
        "rules.noncurrentVersionTransitions": "noncurrent_version_transition",
    },
    "aws_s3_bucket_server_side_encryption_configuration": {"rules": "rule"},
}

# Lists Terraform also names in the plural, by type and dotted Pulumi path. Any other
# list under a plural name is refused: it would be a repeated block or a list Terraform
# names in the singular (RENAMED), and a misspelt attribute is one no scanner reads.
PLURAL_IN_TERRAFORM: dict[str, frozenset[str]] = {
    "aws_budgets_budget": frozenset({"costFilters.values", "notifications.subscriberEmailAddresses"}),
    "aws_instance": frozenset({"vpcSecurityGroupIds"}),
    "aws_launch_template": frozenset(
        {
            "vpcSecurityGroupIds",
            "blockDeviceMappings",
            "tagSpecifications",
            "networkInterfaces",
            "networkInterfaces.securityGroups",
        }
    ),
    "aws_lb": frozenset({"subnets", "securityGroups"}),
    "aws_network_interface": frozenset({"securityGroups"}),
}

# Objects that are Terraform maps (key/value), not blocks, whatever their depth.
MAP_ATTRIBUTES = frozenset({"tags", "tagsAll", "variables"})  # variables: a Lambda function's environment


class UnmappedType(ValueError):
    """An AWS resource type with no Terraform name in TERRAFORM_TYPES."""


class UnmappedAttribute(ValueError):
    """A list under a plural name neither RENAMED nor PLURAL_IN_TERRAFORM names."""


def snake(name: str) -> str:
    """A camelCase attribute as Terraform spells it: `cidrIpv4` -> `cidr_ipv4`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def terraform_type(token: str) -> str:
    if token not in TERRAFORM_TYPES:
        raise UnmappedType(
            f"{token} has no Terraform type in tools/tfplan.py TERRAFORM_TYPES: map it (as pulumi-aws's "
            "bridge names it), or the security scanners will not see it"
        )
    return TERRAFORM_TYPES[token]


@dataclass(frozen=True)
class _Address:
    type: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}.{self.name}"


_UNKNOWN = object()  # a value known only once another resource exists


def _addresses(resources: list[harness.Resource]) -> dict[str, _Address]:
    """A Terraform address per URN: the Pulumi name with only the characters Terraform
    allows in a name; names are unique per type (Pulumi's are, within one program)."""
    addresses: dict[str, _Address] = {}
    taken: set[_Address] = set()
    for resource in resources:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", resource.name)
        address = _Address(terraform_type(resource.type), name if re.match(r"[A-Za-z_]", name) else f"_{name}")
        if address in taken:
            raise ValueError(f"two {address.type} resources are both named {address.name}: {resource.urn}")
        taken.add(address)
        addresses[resource.urn] = address
    return addresses


def _reference_attribute(value: Any, target: harness.Resource) -> str | None:
    """Which output of `target` the value is (its id, ARN, name...), if any."""
    if not isinstance(value, str) or not value:
        return None
    if value == target.id:
        return "id"
    return next((snake(key) for key, out in sorted(target.state.items()) if out == value and key != "id"), None)


class _Converter:
    def __init__(self, graph: harness.Graph) -> None:
        self.resources = graph.cloud_resources()
        self.by_urn = {r.urn: r for r in self.resources}
        self.addresses = _addresses(self.resources)

    def _references(self, value: Any, targets: list[harness.Resource]) -> list[str]:
        for target in targets:
            attribute = _reference_attribute(value, target)
            if attribute:
                address = self.addresses[target.urn]
                return [f"{address}.{attribute}", str(address)]
        return []

    def convert(
        self, value: Any, path: str, tf_type: str, targets: list[harness.Resource]
    ) -> tuple[Any, Any, Any, Any]:
        """(value, after_unknown, expression, sensitive) of one Pulumi value at `path`."""
        if isinstance(value, dict) and harness.ARCHIVE in value:
            # Terraform names a local file (a function's zip) where Pulumi passes the archive.
            name = "+".join(value[harness.ARCHIVE]) + ".zip"
            return name, False, {"constant_value": name}, False
        if isinstance(value, dict) and path.rsplit(".", 1)[-1] in MAP_ATTRIBUTES:
            return value, False, {"constant_value": value}, False
        if isinstance(value, dict):
            return self._block([value], path, tf_type, targets)
        if isinstance(value, list) and any(isinstance(item, dict) for item in value):
            return self._block(value, path, tf_type, targets)
        if isinstance(value, list):
            refs = [self._references(item, targets) for item in value]
            if any(refs):
                # Terraform knows a list only once all of its items are known.
                return _UNKNOWN, True, {"references": [r for pair in refs for r in pair]}, False
            secret = [item == harness.REDACTED for item in value]
            if any(secret):
                return value, False, {}, secret
            return value, False, {"constant_value": value}, False
        if value == harness.REDACTED:
            return value, False, {}, True
        refs = self._references(value, targets)
        if refs:
            return _UNKNOWN, True, {"references": refs}, False
        return value, False, {"constant_value": value}, False

    def _block(
        self, items: list[dict[str, Any]], path: str, tf_type: str, targets: list[harness.Resource]
    ) -> tuple[Any, Any, Any, Any]:
        values, unknowns, expressions, sensitives = [], [], [], []
        for item in items:
            converted = self.attributes(item, tf_type, targets, prefix=f"{path}.")
            values.append(converted[0])
            unknowns.append(converted[1])
            expressions.append(converted[2])
            sensitives.append(converted[3])
        return values, unknowns, expressions, sensitives

    def attributes(
        self, inputs: dict[str, Any], tf_type: str, targets: list[harness.Resource] | None, prefix: str = ""
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        values: dict[str, Any] = {}
        unknown: dict[str, Any] = {}
        expressions: dict[str, Any] = {}
        sensitive: dict[str, Any] = {}
        for key, value in sorted(inputs.items()):
            path = f"{prefix}{key}"
            name = RENAMED.get(tf_type, {}).get(path, snake(key))
            plural = key.endswith("s") and not key.endswith("ss") and path not in RENAMED.get(tf_type, {})
            if isinstance(value, list) and plural and path not in PLURAL_IN_TERRAFORM.get(tf_type, frozenset()):
                raise UnmappedAttribute(
                    f"{tf_type}: the list {path!r} has no Terraform name in tools/tfplan.py: add it to RENAMED "
                    "(the singular block or attribute Terraform uses) or to PLURAL_IN_TERRAFORM"
                )
            converted, is_unknown, expression, is_sensitive = self.convert(value, path, tf_type, targets or [])
            if converted is not _UNKNOWN:
                values[name] = converted
            if is_unknown:
                unknown[name] = is_unknown
            if expression:
                expressions[name] = expression
            if is_sensitive:
                sensitive[name] = is_sensitive
        return values, unknown, expressions, sensitive

    def resource(self, resource: harness.Resource) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        address = self.addresses[resource.urn]
        values, unknown, expressions, sensitive = {}, {}, {}, {}
        for key, value in sorted(resource.public_inputs.items()):
            targets = [self.by_urn[u] for u in resource.property_dependencies.get(key, []) if u in self.by_urn]
            part = self.attributes({key: value}, address.type, targets)
            values.update(part[0])
            unknown.update(part[1])
            expressions.update(part[2])
            sensitive.update(part[3])
        common = {"address": str(address), "mode": "managed", "type": address.type, "name": address.name}
        planned = {**common, "provider_name": PROVIDER, "schema_version": 0, "values": values}
        planned["sensitive_values"] = sensitive
        change = {
            **common,
            "provider_name": PROVIDER,
            "change": {
                "actions": ["create"],
                "before": None,
                "after": values,
                "after_unknown": unknown,
                "before_sensitive": False,
                "after_sensitive": sensitive,
            },
        }
        configured = {**common, "provider_config_key": "aws", "expressions": expressions, "schema_version": 0}
        return planned, change, configured


def terraform_plan(graph: harness.Graph) -> dict[str, Any]:
    """The graph's AWS resources as `terraform show -json` prints a plan."""
    converter = _Converter(graph)
    planned, changes, configured = [], [], []
    for resource in converter.resources:
        one = converter.resource(resource)
        planned.append(one[0])
        changes.append(one[1])
        configured.append(one[2])
    region = _region(graph)
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "applyable": True,
        "complete": True,
        "errored": False,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {"name": "aws", "full_name": PROVIDER, "expressions": {"region": {"constant_value": region}}}
            },
            "root_module": {"resources": configured},
        },
    }


def _region(graph: harness.Graph) -> str:
    providers = [r for r in graph.resources if r.type == "pulumi:providers:aws"]
    regions = {str(p.inputs.get("region")) for p in providers if p.inputs.get("region")}
    return sorted(regions)[0] if regions else "us-east-1"

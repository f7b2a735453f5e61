"""The AWS side as a Terraform plan (tools/tfplan.py), and checkov's AWS checks over it
for every kubeadm stack against a reasoned baseline; the fixes those checks asked for."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import builders
from tests.conftest import graph_for
from tools import configdoc, harness, tfplan

BASELINE = Path(__file__).parent / "data" / "checkov-aws-baseline.yaml"
AWS_STACKS = ("dev", "staging", "prod")
PROVIDER = "registry.terraform.io/hashicorp/aws"


def resource(
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    id_: str = "",
    state: dict[str, Any] | None = None,
    depends: dict[str, list[harness.Resource]] | None = None,
    public: dict[str, Any] | None = None,
) -> harness.Resource:
    """A created AWS resource: its id, its inputs as outputs plus `state`, and its
    inputs as a reviewer sees them (`public`: secrets redacted; default, the inputs)."""
    made = builders.resource(type_, name, inputs, depends=depends, state={**inputs, **(state or {})})
    made.id = id_
    made.public_inputs = inputs if public is None else public
    return made


VPC = resource("aws:ec2/vpc:Vpc", "main", {"cidrBlock": "10.0.0.0/16", "enableDnsHostnames": True}, id_="vpc-1")
FLOW_LOG = resource(
    "aws:ec2/flowLog:FlowLog",
    "flow",
    {"vpcId": "vpc-1", "trafficType": "ALL", "tags": {"Name": "flow"}},
    depends={"vpcId": [VPC]},
)


def plan_of(*resources: harness.Resource) -> dict[str, Any]:
    return tfplan.terraform_plan(harness.Graph(stack="t", resources=list(resources), exports={}, secret_exports=set()))


# -- the converter ------------------------------------------------------------------------------------


def test_a_vpc_and_its_flow_log_become_the_plan_terraform_would_print() -> None:
    vpc = {"address": "aws_vpc.main", "mode": "managed", "type": "aws_vpc", "name": "main"}
    flow = {"address": "aws_flow_log.flow", "mode": "managed", "type": "aws_flow_log", "name": "flow"}
    vpc_values = {"cidr_block": "10.0.0.0/16", "enable_dns_hostnames": True}
    flow_values = {"tags": {"Name": "flow"}, "traffic_type": "ALL"}
    assert plan_of(VPC, FLOW_LOG) == {
        "format_version": "1.2",
        "terraform_version": tfplan.TERRAFORM_VERSION,
        "applyable": True,
        "complete": True,
        "errored": False,
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        **vpc,
                        "provider_name": PROVIDER,
                        "schema_version": 0,
                        "values": vpc_values,
                        "sensitive_values": {},
                    },
                    # The VPC's id is unknown until it exists: not in the values.
                    {
                        **flow,
                        "provider_name": PROVIDER,
                        "schema_version": 0,
                        "values": flow_values,
                        "sensitive_values": {},
                    },
                ]
            }
        },
        "resource_changes": [
            {
                **vpc,
                "provider_name": PROVIDER,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": vpc_values,
                    "after_unknown": {},
                    "before_sensitive": False,
                    "after_sensitive": {},
                },
            },
            {
                **flow,
                "provider_name": PROVIDER,
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": flow_values,
                    "after_unknown": {"vpc_id": True},
                    "before_sensitive": False,
                    "after_sensitive": {},
                },
            },
        ],
        "configuration": {
            "provider_config": {
                "aws": {
                    "name": "aws",
                    "full_name": PROVIDER,
                    "expressions": {"region": {"constant_value": "us-east-1"}},
                }
            },
            "root_module": {
                "resources": [
                    {
                        **vpc,
                        "provider_config_key": "aws",
                        "expressions": {
                            "cidr_block": {"constant_value": "10.0.0.0/16"},
                            "enable_dns_hostnames": {"constant_value": True},
                        },
                        "schema_version": 0,
                    },
                    {
                        **flow,
                        "provider_config_key": "aws",
                        "expressions": {
                            "tags": {"constant_value": {"Name": "flow"}},
                            "traffic_type": {"constant_value": "ALL"},
                            "vpc_id": {"references": ["aws_vpc.main.id", "aws_vpc.main"]},
                        },
                        "schema_version": 0,
                    },
                ]
            },
        },
    }


def test_objects_become_blocks_and_plural_lists_the_singular_block_terraform_repeats() -> None:
    template = resource("aws:ec2/launchTemplate:LaunchTemplate", "pool", {"instanceType": "t3.large"}, id_="lt-1")
    group = resource(
        "aws:autoscaling/group:Group",
        "pool",
        {
            "launchTemplate": {"id": "lt-1", "version": "$Latest"},
            "tags": [{"key": "Name", "value": "pool", "propagateAtLaunch": True}],
            "vpcZoneIdentifiers": ["subnet-a", "subnet-b"],
            "instanceRefresh": {"strategy": "Rolling", "preferences": {"minHealthyPercentage": 90}},
        },
        depends={"launchTemplate": [template]},
    )
    plan = plan_of(template, group)
    values = plan["planned_values"]["root_module"]["resources"][1]["values"]
    assert values == {
        # The template's id is unknown at plan time; the version is known.
        "launch_template": [{"version": "$Latest"}],
        "tag": [{"key": "Name", "value": "pool", "propagate_at_launch": True}],
        "vpc_zone_identifier": ["subnet-a", "subnet-b"],
        "instance_refresh": [{"strategy": "Rolling", "preferences": [{"min_healthy_percentage": 90}]}],
    }
    expressions = plan["configuration"]["root_module"]["resources"][1]["expressions"]
    assert expressions["launch_template"] == [
        {
            "id": {"references": ["aws_launch_template.pool.id", "aws_launch_template.pool"]},
            "version": {"constant_value": "$Latest"},
        }
    ]
    change = plan["resource_changes"][1]["change"]
    assert change["after_unknown"]["launch_template"] == [{"id": True}]


def test_a_list_holding_a_reference_is_unknown_and_references_every_item() -> None:
    groups = [
        resource("aws:ec2/securityGroup:SecurityGroup", name, {"description": name}, id_=f"sg-{name}")
        for name in ("a", "b")
    ]
    balancer = resource(
        "aws:lb/loadBalancer:LoadBalancer",
        "api",
        {"securityGroups": ["sg-a", "sg-b"], "internal": False},
        depends={"securityGroups": groups},
    )
    plan = plan_of(*groups, balancer)
    assert plan["planned_values"]["root_module"]["resources"][2]["values"] == {"internal": False}
    assert plan["configuration"]["root_module"]["resources"][2]["expressions"]["security_groups"] == {
        "references": [
            "aws_security_group.a.id",
            "aws_security_group.a",
            "aws_security_group.b.id",
            "aws_security_group.b",
        ]
    }


def test_a_reference_to_an_arn_names_the_arn_attribute() -> None:
    bucket = resource("aws:s3/bucket:Bucket", "logs", {}, id_="logs-1", state={"arn": "arn:aws:s3:::logs-1"})
    policy = resource(
        "aws:iam/rolePolicy:RolePolicy",
        "writer",
        {"policy": "{}", "role": "writer"},
        depends={"policy": [bucket]},
    )
    trail = resource("aws:ec2/flowLog:FlowLog", "flow", {"logDestination": "arn:aws:s3:::logs-1"})
    linked = resource(
        "aws:ec2/flowLog:FlowLog",
        "flow2",
        {"logDestination": "arn:aws:s3:::logs-1"},
        depends={"logDestination": [bucket]},
    )
    expressions = [
        r["expressions"] for r in plan_of(bucket, policy, trail, linked)["configuration"]["root_module"]["resources"]
    ]
    # A value that only contains the ARN (a policy document) stays known; an equal
    # value without a registered dependency is a constant, not a guessed reference.
    assert expressions[1]["policy"] == {"constant_value": "{}"}
    assert expressions[2]["log_destination"] == {"constant_value": "arn:aws:s3:::logs-1"}
    assert expressions[3]["log_destination"] == {"references": ["aws_s3_bucket.logs.arn", "aws_s3_bucket.logs"]}


def test_secret_values_stay_redacted_and_are_marked_sensitive() -> None:
    token = "abcdef.0123456789abcdef"
    parameter = resource(
        "aws:ssm/parameter:Parameter",
        "token",
        {"name": "/p/token", "type": "SecureString", "value": token, "overwrite": [token, "plain"]},
        public={
            "name": "/p/token",
            "type": "SecureString",
            "value": harness.REDACTED,
            "overwrite": [harness.REDACTED, "plain"],
        },
    )
    plan = plan_of(parameter)
    assert token not in json.dumps(plan)
    planned = plan["planned_values"]["root_module"]["resources"][0]
    assert planned["values"]["value"] == harness.REDACTED
    assert planned["sensitive_values"] == {"value": True, "overwrite": [True, False]}
    assert plan["resource_changes"][0]["change"]["after_sensitive"] == planned["sensitive_values"]
    expressions = plan["configuration"]["root_module"]["resources"][0]["expressions"]
    assert "value" not in expressions and "overwrite" not in expressions


def test_a_functions_code_is_a_file_and_its_environment_a_map() -> None:
    function = resource(
        "aws:lambda/function:Function",
        "retire",
        {
            "code": {"archive": {"early_retirement.py": {"path": "/x/early_retirement.py", "sha256": "ab"}}},
            "environment": {"variables": {"GROUP_NAMES": '["podium-dev-general-a"]'}},
            "handler": "early_retirement.handler",
        },
    )
    (planned,) = plan_of(function)["planned_values"]["root_module"]["resources"]
    assert planned["type"] == "aws_lambda_function"
    assert planned["values"]["filename"] == "early_retirement.py.zip"
    assert planned["values"]["environment"] == [{"variables": {"GROUP_NAMES": '["podium-dev-general-a"]'}}]


def test_an_unmapped_aws_type_is_refused_naming_it() -> None:
    topic = resource("aws:sns/topic:Topic", "events", {"name": "events"})
    with pytest.raises(tfplan.UnmappedType, match=r"aws:sns/topic:Topic has no Terraform type .*TERRAFORM_TYPES"):
        plan_of(VPC, topic)


def test_a_list_under_a_plural_name_terraform_spells_otherwise_is_refused() -> None:
    # aws_s3_bucket's `grant` blocks: Pulumi calls them `grants`; a plan showing
    # `grants` would be a plan no scanner reads, so a public ACL would pass unseen.
    bucket = resource("aws:s3/bucket:Bucket", "logs", {"grants": [{"type": "Group", "permissions": ["READ"]}]})
    with pytest.raises(tfplan.UnmappedAttribute, match=r"aws_s3_bucket: the list 'grants' has no Terraform name"):
        plan_of(bucket)
    # Lists Terraform also names in the plural, and singular names, pass.
    balancer = resource("aws:lb/loadBalancer:LoadBalancer", "api", {"subnets": ["subnet-a"], "internal": True})
    group = resource("aws:ec2/securityGroup:SecurityGroup", "sg", {"ingress": [{"fromPort": 443, "toPort": 443}]})
    values = [r["values"] for r in plan_of(balancer, group)["planned_values"]["root_module"]["resources"]]
    assert values == [{"internal": True, "subnets": ["subnet-a"]}, {"ingress": [{"from_port": 443, "to_port": 443}]}]


@pytest.mark.parametrize(
    ("pulumi", "terraform"),
    [
        ("cidrIpv4", "cidr_ipv4"),
        ("ipv6CidrBlock", "ipv6_cidr_block"),
        ("enableDnsHostnames", "enable_dns_hostnames"),
        ("httpPutResponseHopLimit", "http_put_response_hop_limit"),
        ("ami", "ami"),
    ],
)
def test_camel_case_attributes_are_spelled_as_terraform_spells_them(pulumi: str, terraform: str) -> None:
    assert tfplan.snake(pulumi) == terraform


def test_resource_names_terraform_cannot_take_are_made_valid_and_kept_unique() -> None:
    first = resource("aws:ssm/parameter:Parameter", "cluster-pki-etcd-ca.crt", {"name": "/a"})
    second = resource("aws:ssm/parameter:Parameter", "cluster-pki-etcd-ca_crt", {"name": "/b"})
    assert [r["address"] for r in plan_of(first)["resource_changes"]] == ["aws_ssm_parameter.cluster-pki-etcd-ca_crt"]
    with pytest.raises(ValueError, match="two aws_ssm_parameter resources are both named cluster-pki-etcd-ca_crt"):
        plan_of(first, second)


# -- every kubeadm stack ------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_every_aws_resource_of_the_stack_is_in_the_plan_under_a_valid_address(stack: str) -> None:
    graph = graph_for(stack)
    plan = tfplan.terraform_plan(graph)
    addresses = [r["address"] for r in plan["resource_changes"]]
    assert len(addresses) == len(set(addresses)) == len(graph.cloud_resources()) > 100
    assert all(re.fullmatch(r"aws_[a-z0-9_]+\.[A-Za-z_][A-Za-z0-9_-]*", a) for a in addresses)
    configured = plan["configuration"]["root_module"]["resources"]
    assert [r["address"] for r in configured] == addresses


def test_connections_the_scanners_follow_are_references_in_the_plan() -> None:
    plan = tfplan.terraform_plan(graph_for("prod"))
    configured = {r["address"]: r["expressions"] for r in plan["configuration"]["root_module"]["resources"]}
    values = {r["address"]: r["values"] for r in plan["planned_values"]["root_module"]["resources"]}
    flow = configured["aws_flow_log.network-flow-logs"]
    assert flow["vpc_id"]["references"] == ["aws_vpc.network-vpc.id", "aws_vpc.network-vpc"]
    assert "vpc_id" not in values["aws_flow_log.network-flow-logs"]
    for bucket in ("cluster-etcd-backups", "cluster-oidc", "app-db-backups"):
        access = configured[f"aws_s3_bucket_public_access_block.{bucket}"]
        assert access["bucket"]["references"][1] == f"aws_s3_bucket.{bucket}"
    instance = configured["aws_instance.cluster-control-plane-0"]
    assert "aws_security_group.cluster-control-plane" in instance["vpc_security_group_ids"]["references"]


# -- checkov ------------------------------------------------------------------------------------------


def aws_findings(report: dict[str, Any]) -> dict[str, dict[str, set[str]]]:
    """check -> stack -> resources that failed it."""
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for check in report["results"].get("failed_checks", []):
        stack = check["file_path"].split("/")[1]  # /<stack>/terraform-plan.json
        found[check["check_id"]][stack].add(check["resource"])
    return found


def test_checkov_finds_only_the_reasoned_baseline_in_every_stacks_aws_resources(
    checkov_reports: dict[str, dict[str, Any]],
) -> None:
    report = checkov_reports["terraform_plan"]
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] == sum(len(graph_for(s).cloud_resources()) for s in AWS_STACKS)
    scanned = {c["file_path"].split("/")[1] for c in report["results"]["passed_checks"]}
    assert scanned == set(AWS_STACKS)
    baseline = yaml.safe_load(BASELINE.read_text())
    accepted = {(check, stack, r) for check, e in baseline.items() for stack, rs in e["stacks"].items() for r in rs}
    found = {(check, stack, r) for check, by in aws_findings(report).items() for stack, rs in by.items() for r in rs}
    assert sorted(found - accepted) == [], "new findings: fix them, or add them to the baseline with a reason"
    assert sorted(accepted - found) == [], "stale baseline entries: delete them"
    assert all(len(e["reason"]) > 40 and set(e["stacks"]) <= set(AWS_STACKS) for e in baseline.values())
    assert len(report["results"]["passed_checks"]) > 1000


def test_the_security_doc_lists_the_baseline_as_it_is() -> None:
    text = configdoc.SECURITY.read_text()
    assert text == configdoc.generated(configdoc.SECURITY, text), "run `make docs`"
    table = text.split(configdoc.BASELINE_START)[1].split(configdoc.BASELINE_END)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == list(yaml.safe_load(BASELINE.read_text()))
    assert "| `CKV_AWS_150` | staging | `aws_lb.cluster-api`, `aws_lb.cluster-api-internal` | per stack:" in table


# -- the fixes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_the_cluster_key_has_an_explicit_policy_for_the_account_and_the_clusters_log_group(stack: str) -> None:
    graph = graph_for(stack)
    key = graph.one("aws:kms/key:Key")
    account, logs_service = harness.ACCOUNT_ID, "logs.us-east-1.amazonaws.com"
    groups = [g for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup") if g.inputs.get("kmsKeyId")]
    # The cluster's logs and the early-retirement function's.
    assert len(groups) == 2 and all(g.inputs["kmsKeyId"] == key.state["arn"] for g in groups)
    policy = json.loads(key.inputs["policy"])
    assert policy["Statement"] == [
        {
            "Sid": "AccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogsEncryptsTheClusterLogs",
            "Effect": "Allow",
            "Principal": {"Service": logs_service},
            "Action": ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
            "Resource": "*",
            # Only that group's events: the encryption context names it (its ARN, as the log group reports it).
            "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": sorted(g.state["arn"] for g in groups)}},
        },
    ]

"""IAM policy documents: parliament-clean (with a named, justified allow-list) and least-privilege by construction."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import parliament
import pytest
from parliament import analyze_policy_string, enhance_finding

from components.cluster import iam_policies
from components.cluster.iam_policies import PARLIAMENT_ACCEPTED_FINDINGS
from components.shared import iam

PARTITION = "aws"
REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "podium-dev"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BUCKET = "podium-dev-etcd-backups-abc"
VPC = "vpc-0123456789abcdef0"
CP_PATH = "/podium/podium-dev/control-plane"
TOKEN = "/podium/podium-dev/join/token"
TOKEN_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/podium/podium-dev/join/token"
CP_PARAMS_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/podium/podium-dev/control-plane/*"
CP_PATH_ARN = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/podium/podium-dev/control-plane"

SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
READ_ONLY_PREFIXES = ("Describe", "Get", "List", "BatchGet", "BatchCheck")

# The trust policy has no Resource element (IAM forbids one there), but parliament only lints
# identity policies and stops at "MALFORMED: neither Resource nor NotResource". It is linted with
# "Resource": "*" added, which checks its principal and action; the one finding that causes is:
TRUST_LINT_ACCEPTED = {
    ("Ec2AssumeRole", "RESOURCE_STAR"): "artifact of the Resource added for linting; a trust policy has none",
}

# Community auditors report their own issue types; parliament's CLI loads their severities the same way.
parliament.override_config(str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"))


def control_plane(**overrides: str) -> dict[str, Any]:
    args = {
        "partition": PARTITION,
        "region": REGION,
        "account_id": ACCOUNT,
        "cluster_name": CLUSTER,
        "kms_key_arn": KMS_KEY,
        "parameter_path": CP_PATH,
        "token_parameter": TOKEN,
        "etcd_backup_bucket": BUCKET,
    } | overrides
    return iam_policies.control_plane_policy(**args)


CLUSTER_ARGS = {"partition": PARTITION, "region": REGION, "account_id": ACCOUNT, "cluster_name": CLUSTER}


def of_the_cluster(policy: Callable[..., dict[str, Any]], **extra: str) -> Callable[..., dict[str, Any]]:
    """A document for the test cluster's partition, region and account (plus `extra`),
    each argument overridable per call."""
    return lambda **overrides: policy(**(CLUSTER_ARGS | extra | overrides))


cloud_controller = of_the_cluster(iam_policies.cloud_controller_policy, vpc_id=VPC)
ebs_csi = of_the_cluster(iam_policies.ebs_csi_policy)
cluster_autoscaler = of_the_cluster(iam_policies.cluster_autoscaler_policy)
termination_handler = of_the_cluster(iam_policies.termination_handler_policy, queue_name=f"{CLUSTER}-node-termination")
early_retirement = of_the_cluster(
    iam_policies.early_retirement_policy, log_group=f"/aws/lambda/{CLUSTER}-early-retirement"
)


def node(**overrides: str) -> dict[str, Any]:
    args = {
        "partition": PARTITION,
        "region": REGION,
        "account_id": ACCOUNT,
        "cluster_name": CLUSTER,
        "kms_key_arn": KMS_KEY,
        "token_parameter": TOKEN,
    } | overrides
    return iam_policies.node_policy(**args)


PERMISSION_DOCS = {
    "control_plane": control_plane,
    "node": node,
    "cloud_controller": cloud_controller,
    "ebs_csi": ebs_csi,
    "cluster_autoscaler": cluster_autoscaler,
    "termination_handler": termination_handler,
    "early_retirement": early_retirement,
}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["Statement"]


def allowing(doc: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in statements(doc) if action in as_list(s["Action"])]


def by_sid(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    (stmt,) = [s for s in statements(doc) if s["Sid"] == sid]
    return stmt


def is_read_only(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_ONLY_PREFIXES)


# --- parliament --------------------------------------------------------------------------------


def lint(doc: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """Every parliament finding (core and community auditors) as (Sid, issue, severity, detail).

    Each statement is linted on its own so a finding names its statement; the whole document is
    linted too, and must report nothing the per-statement runs did not (e.g. DUPLICATE_SID).
    """
    found: list[tuple[str, str, str, Any]] = []
    for stmt in statements(doc):
        single = json.dumps({"Version": doc["Version"], "Statement": [stmt]})
        for finding in analyze_policy_string(single, include_community_auditors=True).findings:
            finding = enhance_finding(finding)
            found.append((stmt["Sid"], finding.issue, finding.severity, finding.detail))
    whole = analyze_policy_string(json.dumps(doc), include_community_auditors=True).findings
    assert Counter(f.issue for f in whole) == Counter(issue for _, issue, _, _ in found), "cross-statement finding"
    return found


def unexpected(findings: list[tuple[str, str, str, Any]], accepted: dict[tuple[str, str], str]) -> list[Any]:
    return [f for f in findings if (f[0], f[1]) not in accepted]


@pytest.mark.parametrize("name", sorted(PERMISSION_DOCS))
def test_permission_documents_pass_parliament(name: str) -> None:
    doc = PERMISSION_DOCS[name]()
    findings = lint(doc)
    assert unexpected(findings, PARLIAMENT_ACCEPTED_FINDINGS) == []
    # The allow-list must not go stale: every entry for a statement in this document still fires.
    sids = {s["Sid"] for s in statements(doc)}
    fired = {(sid, issue) for sid, issue, _, _ in findings}
    assert {key for key in PARLIAMENT_ACCEPTED_FINDINGS if key[0] in sids} <= fired


# parliament's data knows a fixed list of federation providers and none of an IAM OIDC
# provider's condition keys; IAM documents both for AssumeRoleWithWebIdentity.
WEB_IDENTITY_LINT_ACCEPTED = {
    ("ServiceAccount", "UNKNOWN_FEDERATION_SOURCE"): "an IAM OIDC provider's ARN, not one of parliament's named IdPs",
    ("ServiceAccount", "UNKNOWN_CONDITION_FOR_ACTION"): "`<issuer>:sub` and `<issuer>:aud`, the provider's own keys",
}
WEB_IDENTITY_TRUST = iam.web_identity_trust_policy(
    provider_arn=f"arn:aws:iam::{ACCOUNT}:oidc-provider/podium-dev-oidc-1.s3.us-east-1.amazonaws.com",
    issuer_url="https://podium-dev-oidc-1.s3.us-east-1.amazonaws.com",
    namespace="kube-system",
    service_account="cloud-controller-manager",
)


@pytest.mark.parametrize("trust", [iam.ec2_assume_role_policy(), WEB_IDENTITY_TRUST], ids=["ec2", "web-identity"])
def test_trust_policy_passes_parliament(trust: dict[str, Any]) -> None:
    doc = copy.deepcopy(trust)
    for stmt in statements(doc):
        stmt["Resource"] = "*"
    # Core auditors only: the community ones judge what an identity may do, not who may assume a role.
    found = [
        (stmt["Sid"], enhance_finding(f).issue)
        for stmt in statements(doc)
        for f in analyze_policy_string(json.dumps({"Version": doc["Version"], "Statement": [stmt]})).findings
    ]
    accepted = {(doc["Statement"][0]["Sid"], issue) for _, issue in TRUST_LINT_ACCEPTED}
    if trust is WEB_IDENTITY_TRUST:
        accepted |= set(WEB_IDENTITY_LINT_ACCEPTED)
    assert set(found) == accepted


def test_every_accepted_finding_names_a_real_statement_and_has_a_reason() -> None:
    sids = {s["Sid"] for make in PERMISSION_DOCS.values() for s in statements(make())}
    for (sid, issue), reason in PARLIAMENT_ACCEPTED_FINDINGS.items():
        assert sid in sids, sid
        assert issue in parliament.config, issue
        assert len(reason) > 30, (sid, issue)


@pytest.mark.parametrize(
    ("stmt", "issue"),
    [
        ({"Sid": "S3Everything", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}, "RESOURCE_STAR"),
        ({"Sid": "Typo", "Effect": "Allow", "Action": "ec2:DescribeInstancez", "Resource": "*"}, "UNKNOWN_ACTION"),
        (
            {"Sid": "WrongArn", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b"},
            "RESOURCE_MISMATCH",
        ),
        (
            {
                "Sid": "BadKey",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": KMS_KEY,
                "Condition": {"StringEquals": {"kms:ViaServise": "ssm.us-east-1.amazonaws.com"}},
            },
            "UNKNOWN_CONDITION_FOR_ACTION",
        ),
    ],
    ids=["s3-star", "unknown-action", "resource-mismatch", "unknown-condition"],
)
def test_parliament_gate_rejects_bad_statements(stmt: dict[str, Any], issue: str) -> None:
    findings = lint({"Version": "2012-10-17", "Statement": [stmt]})
    assert issue in {i for _, i, _, _ in unexpected(findings, PARLIAMENT_ACCEPTED_FINDINGS)}


def test_parliament_gate_sees_findings_above_low() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "WrongArn", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b"}],
    }
    severities = {sev for _, _, sev, _ in lint(doc)}
    assert any(SEVERITIES.index(sev) > SEVERITIES.index("LOW") for sev in severities)


def test_an_accepted_finding_on_another_statement_is_still_rejected() -> None:
    doc = cloud_controller()
    stmt = by_sid(doc, "CcmTagLoadBalancersOnCreate")
    stmt["Sid"] = "SomethingElse"
    assert unexpected(lint(doc), PARLIAMENT_ACCEPTED_FINDINGS)


# --- generic least-privilege checks over every document --------------------------------------


@pytest.mark.parametrize("name", sorted(PERMISSION_DOCS))
def test_no_wildcard_actions_and_only_allow(name: str) -> None:
    for stmt in statements(PERMISSION_DOCS[name]()):
        assert stmt["Effect"] == "Allow"
        assert "NotAction" not in stmt and "NotResource" not in stmt
        for action in as_list(stmt["Action"]):
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), (stmt["Sid"], action)


@pytest.mark.parametrize("name", sorted(PERMISSION_DOCS))
def test_no_unconditioned_mutation_on_every_resource(name: str) -> None:
    for stmt in statements(PERMISSION_DOCS[name]()):
        if "*" in as_list(stmt["Resource"]) and "Condition" not in stmt:
            mutating = [a for a in as_list(stmt["Action"]) if not is_read_only(a)]
            assert mutating == [], stmt["Sid"]


@pytest.mark.parametrize("name", sorted(PERMISSION_DOCS))
def test_resources_stay_in_the_clusters_partition_region_and_account(name: str) -> None:
    for stmt in statements(PERMISSION_DOCS[name]()):
        for arn in as_list(stmt["Resource"]):
            if arn == "*":
                continue
            part, service, region, account = arn.split(":")[1:5]
            assert part == PARTITION, arn
            assert "*" not in (region + account), arn
            assert "//" not in arn, arn
            if service == "s3":
                assert arn.startswith(f"arn:aws:s3:::{BUCKET}/"), arn
            elif service == "iam":
                assert account == ACCOUNT and region == "", arn
            else:
                assert region == REGION and account == ACCOUNT, arn


@pytest.mark.parametrize("name", sorted(PERMISSION_DOCS))
def test_sids_are_unique_camel_case(name: str) -> None:
    sids = [s["Sid"] for s in statements(PERMISSION_DOCS[name]())]
    assert len(sids) == len(set(sids))
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]+", sid) for sid in sids), sids


@pytest.mark.parametrize("name", sorted(PERMISSION_DOCS))
def test_kms_is_only_used_through_ssm_or_s3(name: str) -> None:
    for stmt in statements(PERMISSION_DOCS[name]()):
        if any(a.startswith("kms:") for a in as_list(stmt["Action"])):
            assert stmt["Resource"] == KMS_KEY
            via = stmt["Condition"]["StringEquals"]["kms:ViaService"]
            assert via in {f"ssm.{REGION}.amazonaws.com", f"s3.{REGION}.amazonaws.com"}
            assert "StringLike" in stmt["Condition"], "also bound to an encryption context"


def test_documents_are_deterministic_json() -> None:
    assert json.dumps(control_plane(), sort_keys=True) == json.dumps(control_plane(), sort_keys=True)
    for doc in (control_plane(), node(), iam.ec2_assume_role_policy()):
        assert doc["Version"] == "2012-10-17"
        assert json.loads(json.dumps(doc)) == doc


# --- node role -----------------------------------------------------------------------------------


def test_node_reads_only_the_join_token() -> None:
    doc = node()
    ssm = [s for s in statements(doc) if any(a.startswith("ssm:") for a in as_list(s["Action"]))]
    assert [as_list(s["Action"]) for s in ssm] == [["ssm:GetParameter", "ssm:GetParameters"]]
    assert [as_list(s["Resource"]) for s in ssm] == [[TOKEN_ARN]]
    assert "control-plane" not in json.dumps(doc)


def test_node_kms_is_decrypt_of_the_token_through_ssm_only() -> None:
    kms = [s for s in statements(node()) if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    assert len(kms) == 1
    (stmt,) = kms
    assert as_list(stmt["Action"]) == ["kms:Decrypt"]
    assert stmt["Condition"]["StringEquals"] == {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}
    assert stmt["Condition"]["StringLike"] == {"kms:EncryptionContext:PARAMETER_ARN": [TOKEN_ARN]}


# --- the EBS CSI controller's role -----------------------------------------------------------------

# The driver's documented policy at the pinned release (kubernetes-sigs/aws-ebs-csi-driver
# v1.64.0, chart 2.64.0: docs/example-iam-policy.json, 16 Allow statements without Sids),
# statement by statement: what it grants, and whether Podium grants it (by which Sid,
# never wider) or leaves it out, and why. Read at the tag on 2026-11-27.
SNAPSHOTS_OFF = "no VolumeSnapshot support: Podium installs no snapshot controller or classes"
EBS_CSI_UPSTREAM: list[tuple[int, list[str], str, str | None]] = [
    (
        1,
        [
            "ec2:DescribeAvailabilityZones",
            "ec2:DescribeInstances",
            "ec2:DescribeInstanceTypes",
            "ec2:DescribeTags",
            "ec2:DescribeVolumes",
            "ec2:DescribeVolumesModifications",
            "ec2:DescribeVolumeStatus",
        ],
        "EbsCsiDescribe",
        None,
    ),
    (1, ["ec2:DescribeSnapshots"], "", SNAPSHOTS_OFF),
    (2, ["ec2:ModifyVolume"], "EbsCsiManageOwnVolumes", None),  # upstream: any volume; Podium: tagged ones
    (2, ["ec2:CreateSnapshot"], "", SNAPSHOTS_OFF),
    (3, ["ec2:CopyVolumes"], "", "no volume cloning: no PVC dataSource is offered"),
    (4, ["ec2:AttachVolume", "ec2:DetachVolume"], "EbsCsiAttachClusterVolumesToClusterInstances", None),
    (5, ["ec2:EnableFastSnapshotRestores"], "", SNAPSHOTS_OFF),
    (5, ["ec2:CreateVolume"], "", "on snapshot/*: creating a volume from a snapshot; " + SNAPSHOTS_OFF),
    (6, ["ec2:CreateTags"], "EbsCsiTagVolumesOnCreate", None),  # CreateVolume only, volumes only
    (7, ["ec2:DeleteTags"], "", "tag removal through VolumeAttributesClass changes: Podium defines none"),
    (8, ["ec2:CreateVolume"], "EbsCsiCreateTaggedEncryptedVolumes", None),  # both tags and encryption
    (9, ["ec2:CreateVolume"], "EbsCsiCreateTaggedEncryptedVolumes", None),  # CSIVolumeName alone is not enough
    (10, ["ec2:DeleteVolume"], "EbsCsiManageOwnVolumes", None),
    (11, ["ec2:DeleteVolume"], "EbsCsiManageOwnVolumes", None),
    (12, ["ec2:DeleteVolume"], "EbsCsiManageOwnVolumes", None),
    (13, ["ec2:CreateSnapshot"], "", SNAPSHOTS_OFF),
    (14, ["ec2:CreateSnapshot"], "", SNAPSHOTS_OFF),
    (15, ["ec2:DeleteSnapshot", "ec2:LockSnapshot"], "", SNAPSHOTS_OFF),
    (16, ["ec2:DeleteSnapshot", "ec2:LockSnapshot"], "", SNAPSHOTS_OFF),
]


@pytest.mark.parametrize(
    ("number", "actions", "sid", "left_out"), EBS_CSI_UPSTREAM, ids=[f"{r[0]}-{r[1][0]}" for r in EBS_CSI_UPSTREAM]
)
def test_ebs_csi_policy_against_the_drivers_documented_policy(
    number: int, actions: list[str], sid: str, left_out: str | None
) -> None:
    doc = ebs_csi()
    if left_out is None:
        granted = as_list(by_sid(doc, sid)["Action"])
        assert set(actions) <= set(granted), f"upstream statement {number}"
    elif actions == ["ec2:CreateVolume"]:
        # Granted on volumes (statements 8-9), never on snapshots.
        resources = [r for stmt in allowing(doc, "ec2:CreateVolume") for r in as_list(stmt["Resource"])]
        assert [r for r in resources if ":snapshot/" in r] == [], left_out
    else:
        # Left out everywhere, on every resource: not merely under another Sid.
        assert [a for a in actions if allowing(doc, a)] == [], left_out


def test_the_comparison_covers_all_sixteen_upstream_statements() -> None:
    assert sorted({row[0] for row in EBS_CSI_UPSTREAM}) == list(range(1, 17))


EBS_REQUEST_TAGS = {
    "aws:RequestTag/ebs.csi.aws.com/cluster": "true",
    "aws:RequestTag/kubernetes.io/cluster/podium-dev": "owned",
}
EBS_RESOURCE_TAGS = {
    "aws:ResourceTag/ebs.csi.aws.com/cluster": "true",
    "aws:ResourceTag/kubernetes.io/cluster/podium-dev": "owned",
}
VOLUMES = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/*"
INSTANCES = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"


def test_create_volume_needs_the_driver_tags_and_encryption() -> None:
    (stmt,) = allowing(ebs_csi(), "ec2:CreateVolume")
    assert as_list(stmt["Resource"]) == [VOLUMES]
    assert stmt["Condition"]["StringEquals"] == EBS_REQUEST_TAGS
    assert stmt["Condition"]["Bool"] == {"ec2:Encrypted": "true"}


@pytest.mark.parametrize("action", ["ec2:DeleteVolume", "ec2:ModifyVolume"])
def test_volume_changes_need_the_driver_tags_on_the_volume(action: str) -> None:
    on_volumes = [s for s in allowing(ebs_csi(), action) if VOLUMES in as_list(s["Resource"])]
    assert on_volumes
    for stmt in on_volumes:
        assert as_list(stmt["Resource"]) == [VOLUMES]
        assert stmt["Condition"] == {"StringEquals": EBS_RESOURCE_TAGS}


@pytest.mark.parametrize("action", ["ec2:AttachVolume", "ec2:DetachVolume"])
def test_attach_only_this_clusters_volumes_to_its_instances(action: str) -> None:
    # Podium's etcd and root volumes carry no cluster tag, so the driver cannot move them.
    (stmt,) = allowing(ebs_csi(), action)
    assert sorted(as_list(stmt["Resource"])) == [INSTANCES, VOLUMES]
    assert stmt["Condition"] == {"StringEquals": {"aws:ResourceTag/kubernetes.io/cluster/podium-dev": "owned"}}


def test_tags_are_only_written_while_creating_or_on_owned_resources() -> None:
    doc = {"Statement": [*statements(cloud_controller()), *statements(ebs_csi())]}
    for stmt in allowing(doc, "ec2:CreateTags"):
        assert "ec2:CreateAction" in stmt["Condition"]["StringEquals"], stmt["Sid"]
    assert {
        a for s in allowing(doc, "ec2:CreateTags") for a in as_list(s["Condition"]["StringEquals"]["ec2:CreateAction"])
    } == {"CreateSecurityGroup", "CreateVolume"}
    for stmt in allowing(doc, "elasticloadbalancing:AddTags"):
        cond = stmt["Condition"]["StringEquals"]
        assert "elasticloadbalancing:CreateAction" in cond or cond == {
            "aws:ResourceTag/kubernetes.io/cluster/podium-dev": "owned"
        }, stmt["Sid"]
    actions = {a for s in statements(doc) for a in as_list(s["Action"])}
    assert not actions & {"ec2:DeleteTags", "elasticloadbalancing:RemoveTags"}


# --- the cloud controller's role ------------------------------------------------


def test_ccm_mutations_are_fenced_by_the_cluster_tag() -> None:
    owned = "kubernetes.io/cluster/podium-dev"
    for stmt in statements(cloud_controller()):
        services = {a.split(":")[0] for a in as_list(stmt["Action"])}
        mutating = [a for a in as_list(stmt["Action"]) if not is_read_only(a)]
        if not mutating or not services & {"ec2", "elasticloadbalancing"} or stmt["Sid"].startswith("EbsCsi"):
            continue
        if stmt["Sid"] == "CcmCreateSecurityGroupsInClusterVpc":
            # Fenced by the cluster's own VPC instead: a request tag cannot hold for the VPC half.
            assert as_list(stmt["Resource"]) == [
                f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{VPC}",
                f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*",
            ]
            continue
        cond = stmt["Condition"]["StringEquals"]
        assert (
            cond.get(f"aws:RequestTag/{owned}") == "owned"
            or cond.get(f"aws:ResourceTag/{owned}") == "owned"
            or "ec2:CreateAction" in cond
            or "elasticloadbalancing:CreateAction" in cond
        ), stmt["Sid"]


def test_ccm_does_not_get_routes_or_instance_attributes() -> None:
    actions = {a for s in statements(cloud_controller()) for a in as_list(s["Action"])}
    assert not actions & {"ec2:CreateRoute", "ec2:DeleteRoute", "ec2:ModifyInstanceAttribute"}


def test_no_iam_or_registry_permissions() -> None:
    # The ELB service-linked role exists once per account (docs/architecture.md); private ECR pulls would
    # need the kubelet's ECR credential provider, which Podium does not install.
    for doc in (control_plane(), node(), cloud_controller(), ebs_csi()):
        actions = {a for s in statements(doc) for a in as_list(s["Action"])}
        assert not {a for a in actions if a.startswith(("iam:", "ecr:"))}


# --- control-plane role: SSM and etcd backups, nothing of the controllers --------------------------


def test_no_credential_a_pod_can_hold_reads_the_cluster_secrets() -> None:
    """What pods hold are their web-identity roles (metadata is closed to them): none of
    those reads SSM (the PKI, the encryption key, the join token) or decrypts with KMS."""
    from components.app.backup_policy import backup_writer_policy

    backup = backup_writer_policy(partition=PARTITION, bucket="podium-dev-db-backups-1", prefix="mongodump/podium-dev/")
    for doc in (cloud_controller(), ebs_csi(), backup):
        actions = {a for s in statements(doc) for a in as_list(s["Action"])}
        assert not {a for a in actions if a.startswith(("ssm:", "kms:", "secretsmanager:"))}


def test_no_node_role_holds_what_the_controllers_do() -> None:
    """The controllers' permissions left the node roles: a pod that reached a node's
    role (it cannot: hop limit 1) would find none of them."""
    for doc in (control_plane(), node()):
        actions = {a for s in statements(doc) for a in as_list(s["Action"])}
        assert not {a for a in actions if a.startswith(("ec2:", "elasticloadbalancing:", "autoscaling:"))}
    assert {a for s in statements(node()) for a in as_list(s["Action"])} == {
        "kms:Decrypt",
        "ssm:GetParameter",
        "ssm:GetParameters",
    }


def test_control_plane_reads_its_own_parameters_and_the_token() -> None:
    doc = control_plane()
    (get,) = allowing(doc, "ssm:GetParameter")
    assert sorted(as_list(get["Resource"])) == sorted([CP_PARAMS_ARN, TOKEN_ARN])
    (by_path,) = allowing(doc, "ssm:GetParametersByPath")
    assert sorted(as_list(by_path["Resource"])) == sorted([CP_PATH_ARN, CP_PARAMS_ARN])
    (decrypt,) = [s for s in allowing(doc, "kms:Decrypt") if s["Sid"] == "KmsDecryptSecureStrings"]
    assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}
    assert sorted(decrypt["Condition"]["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"]) == sorted(
        [CP_PARAMS_ARN, TOKEN_ARN]
    )
    ssm_actions = {a for s in statements(doc) for a in as_list(s["Action"]) if a.startswith("ssm:")}
    assert ssm_actions == {"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"}


def test_etcd_snapshots_are_upload_only_into_the_cluster_prefix() -> None:
    doc = control_plane()
    s3 = [s for s in statements(doc) if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert len(s3) == 1
    assert as_list(s3[0]["Action"]) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert s3[0]["Resource"] == f"arn:aws:s3:::{BUCKET}/etcd/{CLUSTER}/*"
    encrypt = by_sid(doc, "EtcdSnapshotEncrypt")
    assert as_list(encrypt["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert encrypt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.us-east-1.amazonaws.com"}


# --- trust policy and inputs ---------------------------------------------------------------------


def test_trust_policy_is_ec2_only() -> None:
    (stmt,) = statements(iam.ec2_assume_role_policy())
    assert stmt == {
        "Sid": "Ec2AssumeRole",
        "Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }


@pytest.mark.parametrize(
    "overrides",
    [
        {"cluster_name": "*"},
        {"cluster_name": ""},
        {"etcd_backup_bucket": "podium-*"},
        {"account_id": "${aws:PrincipalAccount}"},
        {"parameter_path": "podium/podium-dev/control-plane"},
        {"parameter_path": "/podium/podium-dev/control-plane/"},
        {"token_parameter": "/podium//join/token"},
        {"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/?"},
    ],
    ids=lambda o: next(iter(o)),
)
def test_arguments_cannot_widen_a_policy(overrides: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(overrides))):
        control_plane(**overrides)


def test_node_rejects_a_relative_token_name() -> None:
    with pytest.raises(ValueError, match="token_parameter"):
        node(token_parameter="join/token")


def test_other_partitions_use_their_arns_and_endpoints() -> None:
    doc = control_plane(
        partition="aws-cn", region="cn-north-1", kms_key_arn="arn:aws-cn:kms:cn-north-1:123456789012:key/k"
    )
    text = json.dumps(doc)
    assert "arn:aws:" not in text
    assert '"ssm.cn-north-1.amazonaws.com.cn"' in text and '"s3.cn-north-1.amazonaws.com.cn"' in text

"""The CrossGuard pack, evaluated in-process: every stack's graph passes, in `up` and in
preview (where unknown values are reported as such, never as violations), and a crafted
violating resource makes each policy fire with its message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi.output import Unknown

from policy.podium_policies import POLICIES
from tests.builders import resource
from tests.conftest import graph_for, preview_graph_for
from tools import harness, live_outputs, policy_check

BY_NAME = {p.name: p for p in POLICIES}
POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_every_stack_passes_every_policy(stack: str) -> None:
    verdict = policy_check.evaluate(graph_for(stack))
    assert verdict.violations == []
    assert verdict.unknown == []


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_every_stack_passes_on_live_outputs(stack: str) -> None:
    """As at the end of a real `up`, or after `pulumi refresh`: stack rules read the live
    objects, with the API server's defaults and the cloud controller's rules."""
    live = live_outputs.refreshed(graph_for(stack))
    deployments = [
        r
        for r in live.resources
        if r.type == "kubernetes:apps/v1:Deployment"
        and "podium.dev/replicas-owner" in (r.inputs["metadata"].get("annotations") or {})
    ]
    assert deployments and all(d.state["spec"]["replicas"] for d in deployments)
    assert all("replicas" not in d.inputs["spec"] for d in deployments)
    verdict = policy_check.evaluate(live)
    assert verdict.violations == []
    assert verdict.unknown == []


def test_live_outputs_carry_the_cloud_controllers_world_rules() -> None:
    live = live_outputs.refreshed(graph_for("dev"))
    (nodes,) = [g for g in live.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name == "cluster-nodes"]
    world = [rule for rule in nodes.state["ingress"] if "0.0.0.0/0" in rule["cidrBlocks"]]
    assert {(r["protocol"], r["fromPort"]) for r in world} == {("tcp", 31080), ("tcp", 31443), ("icmp", 3)}
    # And the group's own rules, as AWS lists them after a refresh.
    assert len(nodes.state["ingress"]) > len(world)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_preview_with_unknown_values_reports_no_violation(stack: str) -> None:
    graph = preview_graph_for(stack)
    assert any(isinstance(v, Unknown) for r in graph.resources for v in r.inputs.values()), "preview has unknowns"
    verdict = policy_check.evaluate(graph)
    assert verdict.violations == []
    # The IAM documents, trust policies too, are built from ARNs that exist only after `pulumi up`;
    # a tenant's user name carries a random part made then too.
    assert {f.policy for f in verdict.unknown} <= {
        "iam-no-star-star",
        "web-identity-trust-pinned",
        "k8s-no-tenant-on-a-cluster-wide-role",
    }


# -- crafted violations ----------------------------------------------------------------


def messages(policy: str, *resources: harness.Resource) -> list[str]:
    graph = harness.Graph("test", list(resources), {}, set())
    return [f.message for f in policy_check.evaluate(graph, [BY_NAME[policy]]).violations]


POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
    "containers": [
        {
            "name": "web",
            "image": "nginx:1.29",
            "securityContext": {"allowPrivilegeEscalation": False},
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "livenessProbe": {"httpGet": {"path": "/", "port": 80}},
            "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
        }
    ],
}


def deployment(
    name: str = "web", *, replicas: int | None = None, owner: str | None = None, **container: Any
) -> harness.Resource:
    pod = json.loads(json.dumps(POD))
    pod["containers"][0].update(container)
    spec: dict[str, Any] = {"template": {"spec": pod}}
    if replicas is not None:
        spec["replicas"] = replicas
    metadata: dict[str, Any] = {"name": name, "namespace": "app"}
    if owner is not None:
        metadata["annotations"] = {"podium.dev/replicas-owner": owner}
    return resource("kubernetes:apps/v1:Deployment", name, {"metadata": metadata, "spec": spec})


def autoscaler(target: str) -> harness.Resource:
    return resource(
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        target,
        {
            "metadata": {"name": target, "namespace": "app"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}},
        },
    )


CONTROLLER_CLIENT = "kubernetes.io/rule/nlb/client=a0123456789abcdef0123456789abcd"


def node_group_refreshed(*, port: int = 31080, tagged: bool = True, cidr: str = "0.0.0.0/0") -> harness.Resource:
    """The node security group as a refresh reads it, with a rule the controller made."""
    tags = {"kubernetes.io/cluster/podium-dev": "owned"} if tagged else {}
    blocks = {"ipv6CidrBlocks": [cidr]} if ":" in cidr else {"cidrBlocks": [cidr]}
    world = {"protocol": "tcp", "fromPort": port, "toPort": port, **blocks}
    mtu = {"protocol": "icmp", "fromPort": 3, "toPort": 4, "cidrBlocks": ["0.0.0.0/0"]}
    state = {
        "tags": tags,
        "ingress": [{**world, "description": CONTROLLER_CLIENT}, {**mtu, "description": "kubernetes.io/rule/nlb/mtu"}],
    }
    return resource("aws:ec2/securityGroup:SecurityGroup", "nodes", {"tags": tags}, state=state)


ISSUER = "oidc.example.s3.us-east-1.amazonaws.com"


def workload_role(
    *,
    sub: Any = "system:serviceaccount:app:backup",
    aud: str | None = "sts.amazonaws.com",
    action: str = "sts:AssumeRoleWithWebIdentity",
    operator: str = "StringEquals",
):
    exact = {f"{ISSUER}:aud": aud} if aud else {}
    if isinstance(sub, str) and "*" in sub:
        condition = {operator: exact, "StringLike": {f"{ISSUER}:sub": sub}}
    else:
        condition = {operator: {f"{ISSUER}:sub": sub, **exact}}
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Backup",
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{ISSUER}"},
                "Action": action,
                "Condition": condition,
            }
        ],
    }
    return resource("aws:iam/role:Role", "backup", {"assumeRolePolicy": json.dumps(trust)})


def issuer_bucket(
    *,
    public_keys: list[str] | None = None,
    acls_closed: bool = True,
    principal: Any = "*",
    resource_key: str = "Resource",
) -> list[harness.Resource]:
    """The service-account issuer's bucket: ACLs closed, a policy making keys public."""
    arn = "arn:aws:s3:::podium-dev-oidc-1"
    keys = public_keys or [".well-known/openid-configuration", "openid/v1/jwks"]
    bucket = resource("aws:s3/bucket:Bucket", "oidc", {}, state={"arn": arn})
    block = {"blockPublicAcls": acls_closed, "ignorePublicAcls": acls_closed}
    block |= {"blockPublicPolicy": False, "restrictPublicBuckets": False, "bucket": "b"}
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject"}
    statement[resource_key] = [f"{arn}/{k}" for k in keys]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    return [
        bucket,
        resource(PAB, "oidc", block, depends={"bucket": [bucket]}),
        resource(
            "aws:s3/bucketPolicy:BucketPolicy", "oidc", {"bucket": "b", "policy": policy}, depends={"bucket": [bucket]}
        ),
    ]


def node_group_declared_inline() -> harness.Resource:
    """The same rule, written by the program into the group's inline rules."""
    rule = {"protocol": "tcp", "fromPort": 31080, "toPort": 31080, "cidrBlocks": ["0.0.0.0/0"]}
    inputs = {
        "tags": {"kubernetes.io/cluster/podium-dev": "owned"},
        "ingress": [{**rule, "description": CONTROLLER_CLIENT}],
    }
    return resource("aws:ec2/securityGroup:SecurityGroup", "nodes", inputs)


def controller_rule_declared() -> harness.Resource:
    group = security_group("nodes")
    rule = ingress("sneaky", group, 31080)
    rule.inputs["description"] = CONTROLLER_CLIENT
    rule.state["description"] = CONTROLLER_CLIENT
    return rule


def test_a_clean_deployment_passes_the_kubernetes_policies() -> None:
    for policy in ("k8s-no-privileged-or-root", "k8s-resources-and-probes", "k8s-pinned-images"):
        assert messages(policy, deployment()) == [], policy


def bucket_parts(guard_type: str, guard_props: dict[str, Any]) -> list[harness.Resource]:
    bucket = resource("aws:s3/bucket:Bucket", "data", {})
    return [bucket, resource(guard_type, "data", {"bucket": "b", **guard_props}, depends={"bucket": [bucket]})]


SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ALL_BLOCKED = dict.fromkeys(("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)


def security_group(name: str) -> harness.Resource:
    return resource("aws:ec2/securityGroup:SecurityGroup", name, {"vpcId": "vpc-1"})


def ingress(name: str, group: harness.Resource, port: int, cidr: str = "0.0.0.0/0") -> harness.Resource:
    props = {"ipProtocol": "tcp", "fromPort": port, "toPort": port, "cidrIpv4": cidr, "securityGroupId": "sg"}
    return resource(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", name, props, depends={"securityGroupId": [group]}
    )


def public_lb(group: harness.Resource) -> harness.Resource:
    return resource("aws:lb/loadBalancer:LoadBalancer", "web", {"internal": False}, depends={"securityGroups": [group]})


def control_plane(index: int, zone: str, *, protect: bool = True) -> list[harness.Resource]:
    subnet = resource("aws:ec2/subnet:Subnet", f"private-{index}", {"availabilityZone": zone})
    instance = resource(
        "aws:ec2/instance:Instance",
        f"control-plane-{index}",
        {"tags": {"kubernetes.io/cluster/podium-prod": "owned"}, "metadataOptions": {"httpTokens": "required"}},
        protect=protect,
        depends={"subnetId": [subnet]},
    )
    return [subnet, instance]


def star_policy(action: Any = "*", resource_: Any = "*") -> str:
    statement = {"Sid": "Everything", "Effect": "Allow", "Action": action, "Resource": resource_}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


CASES: list[tuple[str, list[harness.Resource], str]] = [
    (
        "imdsv2-required",
        [resource("aws:ec2/launchTemplate:LaunchTemplate", "nodes", {"metadataOptions": {"httpTokens": "optional"}})],
        "must require IMDSv2",
    ),
    ("imdsv2-required", [resource("aws:ec2/instance:Instance", "box", {})], "must require IMDSv2"),
    ("ebs-encrypted", [resource("aws:ebs/volume:Volume", "data", {"encrypted": False})], "must be encrypted"),
    (
        "ebs-encrypted",
        [resource("aws:ec2/instance:Instance", "box", {"rootBlockDevice": {"encrypted": False}})],
        "must be encrypted",
    ),
    (
        "ebs-encrypted",
        [
            resource(
                "aws:ec2/launchTemplate:LaunchTemplate",
                "nodes",
                {"blockDeviceMappings": [{"deviceName": "/dev/sda1", "ebs": {"encrypted": "false"}}]},
            )
        ],
        "/dev/sda1 must be encrypted",
    ),
    ("s3-encrypted", [resource("aws:s3/bucket:Bucket", "data", {})], "needs default encryption"),
    ("s3-encrypted", bucket_parts(SSE, {"rules": [{}]}), "needs default encryption"),
    ("s3-public-access-blocked", [resource("aws:s3/bucket:Bucket", "data", {})], "needs a BucketPublicAccessBlock"),
    (
        "s3-public-access-blocked",
        bucket_parts(PAB, {**ALL_BLOCKED, "restrictPublicBuckets": False}),
        "all four settings true",
    ),
    ("no-world-ingress", [ingress("ssh", security_group("admin"), 22)], "SSH (22) must never be open"),
    ("no-world-ingress", [ingress("app", security_group("nodes"), 8080)], "allowed only on 80 or 443"),
    (
        "no-world-ingress",
        [
            security_group("nodes"),
            resource(
                "aws:ec2/securityGroup:SecurityGroup",
                "legacy",
                {"ingress": [{"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}]},
            ),
        ],
        "SSH (22) must never be open",
    ),
    (
        "iam-no-star-star",
        [resource("aws:iam/rolePolicy:RolePolicy", "admin", {"role": "r", "policy": star_policy()})],
        "allows every action on every resource",
    ),
    (
        "iam-no-star-star",
        [resource("aws:iam/rolePolicy:RolePolicy", "admin", {"role": "r", "policy": star_policy(["*:*"], ["*"])})],
        "allows every action on every resource",
    ),
    (
        "iam-no-star-star",
        [
            resource(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "admin",
                {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
            )
        ],
        "grants every action on every resource",
    ),
    (
        "api-not-open-in-protected-stacks",
        [resource("aws:kms/key:Key", "k", {}, protect=True), ingress("api", security_group("api-lb"), 6443)],
        "open to 0.0.0.0/0 in a protected stack",
    ),
    (
        "protected-stack-ha",
        [*control_plane(0, "us-east-1a")],
        "at least 3 control planes across 3 availability zones; found 1 in 1",
    ),
    (
        "protected-stack-ha",
        [*control_plane(0, "us-east-1a"), *control_plane(1, "us-east-1a"), *control_plane(2, "us-east-1b")],
        "found 3 in 2",
    ),
    (
        "k8s-no-privileged-or-root",
        [deployment(securityContext={"privileged": True, "allowPrivilegeEscalation": False})],
        "must not be privileged",
    ),
    (
        "k8s-no-privileged-or-root",
        [deployment(securityContext={"runAsUser": 0, "allowPrivilegeEscalation": False})],
        "must run as non-root",
    ),
    ("k8s-no-privileged-or-root", [deployment(securityContext={})], "allowPrivilegeEscalation: false"),
    (
        "k8s-resources-and-probes",
        [deployment(resources={"requests": {"cpu": "1", "memory": "1Gi"}})],
        "needs cpu and memory limits",
    ),
    ("k8s-resources-and-probes", [deployment(livenessProbe=None)], "needs a livenessProbe"),
    ("k8s-pinned-images", [deployment(image="nginx:latest")], "uses the latest tag"),
    ("k8s-pinned-images", [deployment(image="docker.io/library/nginx")], "has no tag"),
    (
        "k8s-namespace-pod-security",
        [resource("kubernetes:core/v1:Namespace", "app", {"metadata": {"name": "app"}})],
        "pod-security.kubernetes.io/enforce label",
    ),
    (
        "k8s-hpa-owns-replicas",
        [deployment(replicas=3, owner="HorizontalPodAutoscaler/web")],
        "HorizontalPodAutoscaler/web scales this Deployment; setting spec.replicas would fight it",
    ),
    ("k8s-hpa-target-names-its-owner", [deployment(), autoscaler("web")], "annotate it podium.dev/replicas-owner"),
    (
        "k8s-no-tenant-on-a-cluster-wide-role",
        [
            resource(
                "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
                "team-a-view",
                {
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                    "subjects": [{"kind": "User", "name": "podium:tenant:team-a:1"}],
                },
            )
        ],
        "binds tenant podium:tenant:team-a:1 to the ClusterRole view",
    ),
    (
        "k8s-no-tenant-on-a-cluster-wide-role",
        [
            resource(
                "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                "all-tenants",
                {
                    "metadata": {"namespace": "team-a"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x"},
                    "subjects": [{"kind": "Group", "name": "podium:tenants"}],
                },
            )
        ],
        "binds the group podium:tenants, which every tenant is in",
    ),
    (
        "k8s-no-tenant-on-a-cluster-wide-role",
        [
            resource(
                "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
                "team-a-in-podium",
                {
                    "metadata": {"namespace": "podium"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": "podium-tenant-deployer",
                    },
                    "subjects": [{"kind": "User", "name": "podium:tenant:team-a:1"}],
                },
            )
        ],
        "binds tenant podium:tenant:team-a:1 in namespace podium: a tenant is bound in its own only",
    ),
    (
        "k8s-hpa-target-names-its-owner",
        [deployment(owner="HorizontalPodAutoscaler/other"), autoscaler("web")],
        "HorizontalPodAutoscaler/web scales this Deployment",
    ),
    # What the controller's description does not excuse: a declared rule, another port, another group.
    ("no-world-ingress", [controller_rule_declared()], "on 31080-31080"),
    ("no-world-ingress", [node_group_refreshed(cidr="::/0")], "from ::/0 on 31080-31080"),
    ("web-identity-trust-pinned", [workload_role(sub="system:serviceaccount:app:*")], "must pin `<issuer>:sub`"),
    ("web-identity-trust-pinned", [workload_role(aud=None)], "must pin `<issuer>:aud` to sts.amazonaws.com"),
    ("s3-public-access-blocked", issuer_bucket(public_keys=["*"]), "needs a BucketPublicAccessBlock"),
    ("s3-public-access-blocked", issuer_bucket(acls_closed=False), "needs a BucketPublicAccessBlock"),
    ("s3-public-access-blocked", issuer_bucket(principal={"AWS": ["*"]}, resource_key="NotResource"), "needs a"),
    ("web-identity-trust-pinned", [workload_role(action="sts:*", sub=["a", "b"])], "must pin `<issuer>:sub` to one"),
    ("web-identity-trust-pinned", [workload_role(operator="ForAnyValue:StringEquals")], "must pin"),
    ("controller-rules-not-declared", [controller_rule_declared()], "is its to write"),
    ("controller-rules-not-declared", [node_group_declared_inline()], "is its to write"),
    ("no-world-ingress", [node_group_refreshed(port=443)], "on 443-443"),
    ("no-world-ingress", [node_group_refreshed(port=22)], "SSH (22)"),
    ("no-world-ingress", [node_group_refreshed(tagged=False)], "is allowed only on 80 or 443"),
    (
        "estimate-within-budget",
        [
            resource(
                "aws:budgets/budget:Budget",
                "budget",
                {"budgetType": "COST", "timeUnit": "MONTHLY", "limitAmount": "1.00", "limitUnit": "USD"},
            ),
            resource("aws:ec2/natGateway:NatGateway", "nat", {}),
        ],
        "budget 1.00 a month: the estimate 32.85 is 31.85 OVER it (3285% of the budget). Largest costs: nat: NAT gateway 32.85.",
    ),
]


@pytest.mark.parametrize(("policy", "resources", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_policy_fires_on_a_violation_with_its_message(
    policy: str, resources: list[harness.Resource], expected: str
) -> None:
    found = messages(policy, *resources)
    assert found and all(expected in m for m in found), found


def test_every_policy_has_a_crafted_violation() -> None:
    assert {c[0] for c in CASES} == set(BY_NAME)


def test_allowed_shapes_do_not_fire() -> None:
    lb_group = security_group("lb")
    assert messages("no-world-ingress", lb_group, public_lb(lb_group), ingress("https", lb_group, 443)) == []
    allowed_api = ingress("api", security_group("api-lb"), 6443, "198.51.100.0/24")
    assert (
        messages("api-not-open-in-protected-stacks", resource("aws:kms/key:Key", "k", {}, protect=True), allowed_api)
        == []
    )
    assert messages("api-not-open-in-protected-stacks", ingress("api", security_group("api-lb"), 6443)) == []
    ha = [*control_plane(0, "a"), *control_plane(1, "b"), *control_plane(2, "c")]
    assert messages("protected-stack-ha", *ha) == []
    # No owner named: replicas are the Deployment's own. The live default is no violation.
    assert messages("k8s-hpa-owns-replicas", deployment(replicas=3)) == []
    owned = deployment(owner="HorizontalPodAutoscaler/web")
    owned.state["spec"]["replicas"] = 2
    assert messages("k8s-hpa-owns-replicas", owned) == []
    assert messages("k8s-hpa-target-names-its-owner", owned, autoscaler("web")) == []
    assert messages("web-identity-trust-pinned", workload_role()) == []
    assert messages("s3-public-access-blocked", *issuer_bucket()) == []
    # The controller's rules for the ingress NLB, as a refresh reads them.
    assert messages("no-world-ingress", node_group_refreshed()) == []
    assert (
        messages(
            "iam-no-star-star", resource("aws:iam/rolePolicy:RolePolicy", "ok", {"policy": star_policy("s3:GetObject")})
        )
        == []
    )


def test_unknown_values_are_not_violations() -> None:
    template = resource("aws:ec2/launchTemplate:LaunchTemplate", "nodes", {"metadataOptions": Unknown()})
    graph = harness.Graph("test", [template], {}, set())
    verdict = policy_check.evaluate(graph, [BY_NAME["imdsv2-required"]])
    assert verdict.violations == []
    assert [f.policy for f in verdict.unknown] == ["imdsv2-required"]


def test_the_pack_and_the_program_name_the_same_annotation_documents_and_audience() -> None:
    from components.app import manifests
    from components.cluster import oidc
    from policy import podium_policies

    assert podium_policies.REPLICAS_OWNER == manifests.REPLICAS_OWNER
    assert podium_policies.OIDC_DOCUMENTS == (oidc.DISCOVERY_KEY, oidc.JWKS_KEY)
    assert podium_policies.WEB_IDENTITY_AUDIENCE == oidc.AUDIENCE


def test_policy_pack_project_files() -> None:
    pack = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"]["name"] == "python"
    assert "pulumi-policy" in (POLICY_DIR / "requirements.txt").read_text()
    assert all(p.enforcement_level.value == "mandatory" for p in POLICIES)
    assert len(BY_NAME) == len(POLICIES), "policy names are unique"

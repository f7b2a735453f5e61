"""Environment parity (one topology, differing only where config says), deletion
protection, the stack-outputs contract, and another team's StackReference consumer."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from components.config import outputs
from policy.podium_policies import POLICIES
from tests import netpol, rbac
from tests.conftest import graph_for, node_pool_resources, stack_config
from tools import harness, policy_check, render

AWS_STACKS = ["dev", "staging", "prod"]
CONSUMER = Path(__file__).resolve().parent.parent / "examples" / "consumer"
RETAIN_CLASS = {("kubernetes:storage.k8s.io/v1:StorageClass", "addons-gpN-retain")}


def canonical(name: str) -> str:
    """A resource name without its counts: `network-private-2` -> `network-private-N`."""
    return re.sub(r"\d+", "N", name)


def shape(graph: harness.Graph) -> set[tuple[str, str]]:
    return {(r.type, canonical(r.name)) for r in graph.resources}


def wiring(graph: harness.Graph) -> set[tuple[str, str, str]]:
    """Parent and dependency edges between canonical resources."""
    by_urn = {r.urn: r for r in graph.resources}
    edges = set()
    for r in graph.resources:
        for kind, urns in (("parent", [r.parent]), ("depends", r.dependencies)):
            for urn in urns:
                if urn in by_urn:
                    edges.add((canonical(r.name), kind, canonical(by_urn[urn].name)))
    return edges


# The cheap layout (natMode instance, apiEndpoint natInstance) swaps the NAT gateways
# and the API load balancers for the NAT instance: those resources' names.
CHEAP_LAYOUT_PREFIXES = ("network-nat", "cluster-api", "cluster-api-lb")


def config_driven(stack: str, graph: harness.Graph) -> set[tuple[str, str]]:
    """The resources whose presence config decides: the Retain class, and the NAT and
    API endpoint resources the network layout picks (tests/test_nat_instance.py checks
    those). One control plane or five sit privately behind the same endpoint."""
    config = stack_config(stack)
    retain = RETAIN_CLASS if config["podium:deletionProtection"] else set()
    layout = {
        (r.type, canonical(r.name))
        for r in graph.resources
        if r.name.startswith(CHEAP_LAYOUT_PREFIXES) and r.name != "cluster-api-endpoint-record"
    }
    # Each tenant's objects (the guardrails, tenants-podium-*, are in every AWS stack).
    names = {t["name"] for t in config["podium:tenants"]}
    tenants = (
        {
            (r.type, canonical(r.name))
            for r in graph.resources
            if r.name.startswith(tuple(f"tenants-{n}" for n in names))
        }
        if names
        else set()
    )
    return retain | layout | tenants


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_every_environment_has_prods_topology(stack: str) -> None:
    prod, other = graph_for("prod"), graph_for(stack)
    assert shape(prod) - config_driven("prod", prod) == shape(other) - config_driven(stack, other)
    names = {name for _, name in config_driven("prod", prod) | config_driven(stack, other)}

    def common(edges: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
        return {e for e in edges if e[0] not in names and e[2] not in names}

    assert common(wiring(prod)) == common(wiring(other))


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_counts_follow_config(stack: str) -> None:
    graph, config = graph_for(stack), stack_config(stack)
    network = config["podium:network"]
    assert len(graph.of_type("aws:ec2/subnet:Subnet")) == 2 * network["azCount"]
    nat = {"none": 0, "single": 1, "perAz": network["azCount"], "instance": 0}[network["natMode"]]
    assert len(graph.of_type("aws:ec2/natGateway:NatGateway")) == nat
    assert len(graph.of_type("podium:network:NatInstance")) == (network["natMode"] == "instance")
    assert len(graph.of_type("aws:ec2/instance:Instance")) == config["podium:controlPlane"]["count"]
    groups = sum(network["azCount"] if p.get("zonal") else 1 for p in config["podium:nodePools"])
    assert len(node_pool_resources(graph, "aws:autoscaling/group:Group")) == groups
    sizes = {i.inputs["instanceType"] for i in graph.of_type("aws:ec2/instance:Instance")}
    assert sizes == {config["podium:controlPlane"]["instanceType"]}


def test_environments_differ_only_in_sizes_ha_and_protection() -> None:
    """The stack files themselves: the same keys everywhere; different values only
    under the settings that size, replicate or protect an environment, or name it."""
    sized = {
        "deletionProtection",
        "network.cidr",
        "network.azCount",
        "network.natMode",
        "network.flowLogsRetentionDays",
        "cluster.apiEndpoint",
        "budget.monthlyUsd",
        "tenants",
        "cluster.apiAllowedCidrs",
        "controlPlane",
        "nodePools",
        "app.hostname",
        "app.frontend.cpu",
        "app.frontend.memory",
        "app.api.cpu",
        "app.api.memory",
        "app.frontend.minReplicas",
        "app.frontend.maxReplicas",
        "app.api.minReplicas",
        "app.api.maxReplicas",
        "app.db.storageGb",
        "app.db.storageClass",
        "app.db.backupSchedule",
        "tags.cost-center",
        "observability",
    }

    def flatten(value: object, path: str = "") -> dict[str, object]:
        if isinstance(value, dict):
            flat: dict[str, object] = {}
            for key, item in value.items():
                flat |= flatten(item, f"{path}.{key}" if path else str(key).removeprefix("podium:"))
            return flat
        return {path: value}

    files = {stack: flatten(stack_config(stack)) for stack in AWS_STACKS}
    assert files["dev"].keys() == files["staging"].keys() == files["prod"].keys()
    for key in files["prod"]:
        values = {repr(files[s][key]) for s in AWS_STACKS}
        if len(values) > 1:
            assert any(key == s or key.startswith(s + ".") for s in sized), f"{key} differs: {values}"


# What deletionProtection protects, by resource (docs/operations.md, "Deletion protection").
PROTECTED_IN_PROD = {
    ("aws:ec2/instance:Instance", "cluster-control-plane-N"),
    ("aws:ebs/volume:Volume", "cluster-etcd-N"),
    ("tls:index/privateKey:PrivateKey", "cluster-pki-ca"),
    ("tls:index/privateKey:PrivateKey", "cluster-pki-front-proxy-ca"),
    ("tls:index/privateKey:PrivateKey", "cluster-pki-etcd-ca"),
    ("tls:index/privateKey:PrivateKey", "cluster-pki-sa"),
    ("tls:index/selfSignedCert:SelfSignedCert", "cluster-pki-ca"),
    ("tls:index/selfSignedCert:SelfSignedCert", "cluster-pki-front-proxy-ca"),
    ("tls:index/selfSignedCert:SelfSignedCert", "cluster-pki-etcd-ca"),
    ("random:index/randomBytes:RandomBytes", "cluster-encryption-key"),
    ("aws:kms/key:Key", "cluster-kms"),
    ("aws:s3/bucket:Bucket", "cluster-etcd-backups"),
    # The service-account issuer: a new one would break every trust policy naming it.
    ("aws:s3/bucket:Bucket", "cluster-oidc"),
    ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "cluster-oidc"),
    # Deleting a CRD deletes every resource of its kind: Calico's would take the pod network.
    ("kubernetes:yaml/v2:ConfigGroup", "addons-calico-crds"),
    ("aws:lb/loadBalancer:LoadBalancer", "cluster-api"),
    ("aws:lb/loadBalancer:LoadBalancer", "cluster-api-internal"),
    ("aws:s3/bucket:Bucket", "app-db-backups"),
    ("kubernetes:core/v1:Namespace", "app-namespace"),
    ("kubernetes:apps/v1:StatefulSet", "app-statefulset-db"),
    ("random:index/randomPassword:RandomPassword", "app-db-root-password"),
    ("random:index/randomPassword:RandomPassword", "app-db-app-password"),
    ("random:index/randomPassword:RandomPassword", "app-db-backup-password"),
    # Prometheus's CRDs: deleting one deletes every rule and ServiceMonitor of its kind.
    ("kubernetes:helm.sh/v4:Chart", "observability-prometheus-operator-crds"),
    # The cluster's logs, the API audit log among them, kept for their retention.
    ("aws:cloudwatch/logGroup:LogGroup", "observability-logs"),
}


def test_prod_protects_every_stateful_or_hard_to_rebuild_resource() -> None:
    graph = graph_for("prod")
    assert {(r.type, canonical(r.name)) for r in graph.resources if r.protect} == PROTECTED_IN_PROD
    assert sum(r.protect for r in graph.of_type("aws:ec2/instance:Instance")) == 3
    operations = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    section = operations[operations.index("## Deletion protection") :].split("\n## ")[0]
    for phrase in ("control-plane instances", "etcd volumes", "KMS key", "etcd snapshots", "database"):
        assert phrase in section, phrase


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_unprotected_environments_can_be_destroyed(stack: str) -> None:
    graph = graph_for(stack)
    assert [r.name for r in graph.resources if r.protect] == []
    assert all(b.inputs["forceDestroy"] is True for b in graph.of_type("aws:s3/bucket:Bucket"))


def test_prod_data_survives_its_claims_and_buckets() -> None:
    graph = graph_for("prod")
    manifests = render.kubernetes_objects(graph)
    (statefulset,) = [o for o in manifests if o["kind"] == "StatefulSet"]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    (storage_class,) = [
        o
        for o in manifests
        if o["kind"] == "StorageClass" and o["metadata"]["name"] == claim["spec"]["storageClassName"]
    ]
    assert storage_class["reclaimPolicy"] == "Retain"
    assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert all(b.inputs["forceDestroy"] is False for b in graph.of_type("aws:s3/bucket:Bucket"))


@pytest.mark.parametrize("stack", [*AWS_STACKS, "local"])
def test_exports_keep_the_outputs_contract(stack: str) -> None:
    graph = graph_for(stack)
    on_aws = stack != "local"
    assert outputs.problems(graph.exports, graph.secret_exports, on_aws=on_aws) == []


def test_the_contract_check_sees_a_renamed_retyped_or_unmarked_output() -> None:
    graph = graph_for("dev")
    exports = dict(graph.exports)
    exports["clusterUrl"] = exports.pop("clusterEndpoint")
    exports["publicSubnetIds"] = ",".join(exports["publicSubnetIds"])
    assert outputs.problems(exports, set(), on_aws=True) == [
        "clusterEndpoint: missing",
        "clusterUrl: not in the contract for this mode",
        "kubeconfig: not secret, the contract says otherwise",
        "publicSubnetIds: string, the contract says list of string",
        "tenantKubeconfigs: not secret, the contract says otherwise",
    ]
    with pytest.raises(ValueError, match="not in the outputs contract"):
        outputs.export("clusterUrl", "https://example")


def test_consumer_deploys_into_its_tenant_namespace_with_its_tenant_kubeconfig() -> None:
    podium_dev = graph_for("dev")
    config = yaml.safe_load((CONSUMER / "Pulumi.dev.yaml").read_text())["config"]
    config["podium-consumer:awsCliImage"] = "public.ecr.aws/aws-cli/aws-cli:test-pin"
    referenced = config["podium-consumer:podiumStack"]
    graph = harness.run(
        "dev",
        config,
        program=CONSUMER / "__main__.py",
        project="podium-consumer",
        stack_references={referenced: podium_dev},
    )
    tenant = config["podium-consumer:tenant"]
    provider = graph.one("pulumi:providers:kubernetes")
    # The tenant's kubeconfig, never the admin one: its user is the tenant's, its
    # context its namespace.
    assert provider.inputs["kubeconfig"] == podium_dev.exports["tenantKubeconfigs"][tenant]
    assert provider.inputs["kubeconfig"] != podium_dev.exports["kubeconfig"]
    kubeconfig = yaml.safe_load(provider.inputs["kubeconfig"])
    assert kubeconfig["users"][0]["name"].startswith(f"podium:tenant:{tenant}:")
    assert kubeconfig["contexts"][0]["context"]["namespace"] == tenant == provider.inputs["namespace"]
    assert "kubeconfig" in provider.secret_inputs, "the kubeconfig stays secret in the consumer"
    assert provider.inputs["clusterIdentifier"] == podium_dev.exports["clusterName"]
    objects = [r for r in graph.resources if r.type.startswith("kubernetes:")]
    # Podium made the namespace; the team deploys into it.
    assert {r.inputs["metadata"]["namespace"] for r in objects} == {tenant}
    assert {r.type for r in objects} == {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:ServiceAccount",
        "kubernetes:batch/v1:Job",
    }
    assert all(r.provider_urn == provider.urn for r in objects)
    # Its own role, from Podium's issuer: the webhook gives the Job's pod the token.
    role = graph.one("aws:iam/role:Role", "reports-aws")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = podium_dev.exports["oidcIssuerUrl"].removeprefix("https://")
    assert trust["Principal"] == {"Federated": podium_dev.exports["oidcProviderArn"]}
    assert trust["Condition"]["StringEquals"] == {
        f"{issuer}:sub": "system:serviceaccount:team-reports:reports-aws",
        f"{issuer}:aud": "sts.amazonaws.com",
    }
    account = graph.one("kubernetes:core/v1:ServiceAccount")
    assert account.inputs["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role.state["arn"]}
    job = graph.one("kubernetes:batch/v1:Job").inputs["spec"]["template"]["spec"]
    assert job["serviceAccountName"] == "reports-aws" and job["containers"][0]["args"] == ["sts", "get-caller-identity"]
    web_identity = [p for p in POLICIES if p.name == "web-identity-trust-pinned"]
    assert policy_check.evaluate(graph, web_identity).violations == []
    assert graph.exports["clusterName"] == "podium-dev"
    assert graph.exports["podiumAppUrl"] == podium_dev.exports["appUrl"]
    # What the tenant may do is enough for what the team deploys (RBAC as the API server
    # evaluates it), and its Job reaches STS through the tenant's NetworkPolicies.
    podium_objects = render.kubernetes_objects(podium_dev, redact=False)
    rbac_objects = [
        o for o in podium_objects if o["kind"] in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    ]
    user = kubeconfig["users"][0]["name"]
    groups = ["podium:tenants", "system:authenticated"]
    for obj in (r.inputs for r in objects):
        group, _, _ = obj["apiVersion"].rpartition("/")
        plural = {"Deployment": "deployments", "ServiceAccount": "serviceaccounts", "Job": "jobs"}[obj["kind"]]
        for verb in ("create", "patch", "delete"):
            assert rbac.allowed(rbac_objects, user, groups, rbac.Request(verb, group, plural, tenant)), (verb, plural)
    policies = [o for o in podium_objects if o["kind"] == "NetworkPolicy"]
    job_labels = graph.one("kubernetes:batch/v1:Job").inputs["spec"]["template"]["metadata"]["labels"]
    job_pod = netpol.Endpoint("whoami", tenant, job_labels)
    sts = netpol.Endpoint("sts.amazonaws.com", None, ip="52.46.128.1")
    assert netpol.connection_allowed(policies, job_pod, sts, 443, "TCP")


def test_consumer_fails_clearly_without_its_config() -> None:
    with pytest.raises(harness.ProgramError, match="podiumStack"):
        harness.run("dev", {}, program=CONSUMER / "__main__.py", project="podium-consumer")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_no_stack_has_a_long_lived_aws_key(stack: str) -> None:
    graph = graph_for(stack)
    assert [r.name for r in graph.resources if r.type in ("aws:iam/user:User", "aws:iam/accessKey:AccessKey")] == []

"""The Kubernetes provider and ClusterAddons, per stack: which add-ons, at which pinned
versions, with which values, in which order; plain objects validated by
kubernetes-validate for the configured minor."""

from __future__ import annotations

import json
import re

import kubernetes_validate
import pytest

from components.config import versions
from components.platform import certificates, ingress
from tests.conftest import graph_for, stack_config
from tools import harness, mock_tls

RELEASE = "kubernetes:helm.sh/v3:Release"
PROVIDER = "pulumi:providers:kubernetes"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
AWS_RELEASES = {
    "calico-crds",
    "tigera-operator",
    "aws-cloud-controller-manager",
    "aws-ebs-csi-driver",
    "kubelet-csr-approver",
    "metrics-server",
    "traefik",
}


def releases(graph: harness.Graph) -> dict[str, harness.Resource]:
    return {r.inputs["name"]: r for r in graph.of_type(RELEASE)}


def depends(graph: harness.Graph, resource: harness.Resource) -> set[str]:
    """Names of the releases and objects `resource` waits for."""
    by_urn = {r.urn: r for r in graph.resources}
    return {by_urn[u].inputs.get("name") or by_urn[u].name for u in resource.dependencies if u in by_urn}


def test_aws_stacks_install_every_addon_at_its_pinned_version(aws_graph: harness.Graph) -> None:
    found = releases(aws_graph)
    assert set(found) == AWS_RELEASES
    pinned = {c.chart: c for c in versions.charts().values()}
    for name, release in found.items():
        chart = pinned[release.inputs["chart"]]
        assert release.inputs["version"] == chart.version, name
        assert release.inputs["repositoryOpts"]["repo"] == chart.repo, name
        assert release.inputs["atomic"] is True
    namespaces = {name: r.inputs["namespace"] for name, r in found.items()}
    assert namespaces == {
        "calico-crds": "tigera-operator",
        "tigera-operator": "tigera-operator",
        "aws-cloud-controller-manager": "kube-system",
        "aws-ebs-csi-driver": "kube-system",
        "kubelet-csr-approver": "kube-system",
        "metrics-server": "kube-system",
        "traefik": "traefik",
    }


def test_the_pod_cidr_reaches_calico_in_vxlan_mode(aws_graph: harness.Graph) -> None:
    values = releases(aws_graph)["tigera-operator"].inputs["values"]
    network = values["installation"]["calicoNetwork"]
    (pool,) = network["ipPools"]
    pod_cidr = stack_config(aws_graph.stack)["podium:cluster"].get("podCidr", "10.244.0.0/16")
    assert pool["cidr"] == pod_cidr
    assert pool["encapsulation"] == "VXLAN" and network["bgp"] == "Disabled"


def test_cloud_controller_matches_the_cluster(aws_graph: harness.Graph) -> None:
    values = releases(aws_graph)["aws-cloud-controller-manager"].inputs["values"]
    minor = stack_config(aws_graph.stack)["podium:kubernetesVersion"].rsplit(".", 1)[0]
    assert values["image"]["tag"] == versions.cloud_controller_image_tag(minor) == "v1.35.2"
    assert f"--cluster-name={aws_graph.exports['clusterName']}" in values["args"]
    assert "--configure-cloud-routes=false" in values["args"]
    assert values["hostNetworking"] is True


def test_ebs_csi_controller_runs_on_control_planes_tagged_for_the_cluster(aws_graph: harness.Graph) -> None:
    values = releases(aws_graph)["aws-ebs-csi-driver"].inputs["values"]
    controller = values["controller"]
    # The IAM policy lets the driver touch only volumes with this cluster's tag.
    assert controller["k8sTagClusterId"] == aws_graph.exports["clusterName"]
    assert controller["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert values["node"]["tolerateAllTaints"] is True


def test_storage_classes_are_encrypted_gp3_bound_late_with_retain_for_protected_data() -> None:
    for stack, expected in (("dev", {"gp3": "Delete"}), ("prod", {"gp3": "Delete", "gp3-retain": "Retain"})):
        classes = {c.inputs["metadata"]["name"]: c for c in graph_for(stack).of_type(STORAGE_CLASS)}
        assert {name: c.inputs["reclaimPolicy"] for name, c in classes.items()} == expected, stack
        for storage_class in classes.values():
            assert storage_class.inputs["provisioner"] == "ebs.csi.aws.com"
            assert storage_class.inputs["parameters"] == {"type": "gp3", "encrypted": "true"}
            assert storage_class.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
            assert storage_class.delete_before_replace
        defaults = [
            name
            for name, c in classes.items()
            if c.inputs["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"
        ]
        assert defaults == ["gp3"]
        db_class = stack_config(stack)["podium:app"]["db"]["storageClass"]
        assert db_class in classes


def test_metrics_server_verifies_kubelets_whose_serving_certificates_are_approved(aws_graph: harness.Graph) -> None:
    found = releases(aws_graph)
    assert "kubelet-insecure-tls" not in json.dumps(found["metrics-server"].inputs)
    approver = found["kubelet-csr-approver"].inputs["values"]
    pattern = re.compile(approver["providerRegex"])
    region = stack_config(aws_graph.stack)["aws:region"]
    assert pattern.match(
        "ip-10-20-1-5.ec2.internal" if region == "us-east-1" else f"ip-10-20-1-5.{region}.compute.internal"
    )
    assert not pattern.match("evil.example.com")
    assert not pattern.match("ip-10-20-1-5.ec2.internal.evil.example.com")
    vpc = stack_config(aws_graph.stack)["podium:network"]["cidr"]
    eips = [e.state["publicIp"] for e in aws_graph.of_type("aws:ec2/eip:Eip") if e.name == "cluster-api"]
    # One control plane sits behind an Elastic IP: its public address is in its certificate too.
    assert approver["providerIpPrefixes"] == [vpc, *(f"{ip}/32" for ip in eips)]
    public = [e.state["publicDns"] for e in aws_graph.of_type("aws:ec2/eip:Eip") if e.name == "cluster-api"]
    assert all(pattern.match(name) for name in public)
    assert not pattern.match("ec2-1-2-3-4.compute-1.amazonaws.com.evil.example.com")


def test_ec2_node_name_pattern_per_region() -> None:
    assert re.match(certificates.ec2_node_name_pattern("eu-west-1"), "ip-10-30-1-2.eu-west-1.compute.internal")
    assert not re.match(certificates.ec2_node_name_pattern("eu-west-1"), "ip-10-30-1-2.eu-west-2.compute.internal")
    assert not re.match(certificates.ec2_node_name_pattern("eu-west-1"), "ip-10-30-1-2.ec2.internal")


def test_ingress_is_traefik_behind_an_nlb(aws_graph: harness.Graph) -> None:
    values = releases(aws_graph)["traefik"].inputs["values"]
    assert values["service"]["type"] == "LoadBalancer"
    assert values["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    assert values["providers"]["kubernetesIngress"]["enabled"] is True
    assert aws_graph.one("podium:addons:ClusterAddons").outputs["ingressClass"] == "traefik"


def test_order_cni_then_pods_ccm_before_load_balancers_csi_before_volumes(aws_graph: harness.Graph) -> None:
    found = releases(aws_graph)
    assert "calico-crds" in depends(aws_graph, found["tigera-operator"])
    # The cloud controller runs on the host network: it waits for nothing but the API.
    assert depends(aws_graph, found["aws-cloud-controller-manager"]) == set()
    # Pods that need a worker start only once one is Ready and initialised: the gate
    # after Calico and the controller, which also waits for the node groups.
    gate = aws_graph.one("pulumi-python:dynamic:Resource", "addons-workers-ready")
    assert {"tigera-operator", "aws-cloud-controller-manager"} <= depends(aws_graph, gate)
    pools = stack_config(aws_graph.stack)["podium:nodePools"]
    assert {f"pool-{p['name']}-asg" for p in pools} <= depends(aws_graph, gate)
    assert gate.inputs["stage"] == "workers"
    for name in ("aws-ebs-csi-driver", "kubelet-csr-approver", "metrics-server", "traefik"):
        assert {"tigera-operator", "aws-cloud-controller-manager", "addons-workers-ready"} <= depends(
            aws_graph, found[name]
        ), name
    assert "kubelet-csr-approver" in depends(aws_graph, found["metrics-server"])
    for storage_class in aws_graph.of_type(STORAGE_CLASS):
        assert "aws-ebs-csi-driver" in depends(aws_graph, storage_class)


# What runs before any worker exists, so cannot wait for one: the pod network and the
# cloud controller (both on the host network, the controller on the control planes).
BEFORE_WORKERS = {"addons-tigera-operator", "addons-calico-crds", "addons-aws-cloud-controller-manager"}


def test_destroy_removes_what_runs_on_workers_before_the_node_groups(aws_graph: harness.Graph) -> None:
    """Pulumi deletes a resource only after everything that depends on it. So every
    object whose deletion needs a running worker (a release's pods ending, a namespace
    emptying, a volume detaching) must depend, directly or not, on every node group."""
    by_urn = {r.urn: r for r in aws_graph.resources}

    def closure(urn: str) -> set[str]:
        seen: set[str] = set()
        todo = [urn]
        while todo:
            for dependency in by_urn[todo.pop()].dependencies:
                if dependency not in seen and dependency in by_urn:
                    seen.add(dependency)
                    todo.append(dependency)
        return seen

    groups = {g.urn for g in aws_graph.of_type("aws:autoscaling/group:Group")}
    objects = [r for r in aws_graph.cloud_resources("kubernetes:") if r.name not in BEFORE_WORKERS]
    assert len(objects) > 30
    assert [r.name for r in objects if not groups <= closure(r.urn)] == []


def test_an_unreachable_cluster_fails_a_destroy_unless_the_user_says_it_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PULUMI_K8S_DELETE_UNREACHABLE", raising=False)
    assert "deleteUnreachable" not in harness.run("dev").one(PROVIDER).inputs
    monkeypatch.setenv("PULUMI_K8S_DELETE_UNREACHABLE", "true")
    assert harness.run("dev").one(PROVIDER).inputs["deleteUnreachable"] == "true"


def test_every_cluster_object_goes_through_the_one_provider(aws_graph: harness.Graph) -> None:
    provider = aws_graph.one(PROVIDER)
    objects = [r for r in aws_graph.resources if r.custom and r.type.startswith("kubernetes:")]
    assert objects and all(r.provider_urn == provider.urn for r in objects)


def test_provider_is_gated_on_readiness_and_keyed_by_the_cluster_name(aws_graph: harness.Graph) -> None:
    provider = aws_graph.one(PROVIDER)
    assert provider.inputs["clusterIdentifier"] == aws_graph.exports["clusterName"]
    assert "kubeconfig" in provider.secret_inputs
    gate = aws_graph.one("pulumi-python:dynamic:Resource", "cluster-api-ready")
    assert gate.urn in provider.dependencies


def test_new_certificate_material_keeps_the_provider_identity() -> None:
    before = graph_for("dev")
    for cached in (
        mock_tls.private_key_pem,
        mock_tls.self_signed_cert_pem,
        mock_tls._cert_request_pem,
        mock_tls.locally_signed_cert_pem,
    ):
        cached.cache_clear()  # new keys and certificates, as after a renewal
    after = harness.run("dev")
    assert after.exports["kubeconfig"] != before.exports["kubeconfig"]
    old, new = before.one(PROVIDER), after.one(PROVIDER)
    assert (new.urn, new.inputs["clusterIdentifier"]) == (old.urn, old.inputs["clusterIdentifier"])


def test_local_stack_installs_only_what_makes_sense_off_aws() -> None:
    graph = graph_for("local")
    assert set(releases(graph)) == {"kubelet-csr-approver", "metrics-server", "traefik"}
    assert [r for r in graph.resources if r.type.startswith(("aws:", "pulumi:providers:aws"))] == []
    traefik = releases(graph)["traefik"].inputs["values"]
    assert traefik["service"] == {"type": "NodePort"}
    assert traefik["ports"]["web"]["nodePort"] == ingress.LOCAL_HTTP_NODE_PORT
    provider = graph.one(PROVIDER)
    assert provider.inputs["context"] == "kind-podium"
    assert provider.inputs["clusterIdentifier"] == "podium-local"
    assert graph.of_type(STORAGE_CLASS) == []
    approver = releases(graph)["kubelet-csr-approver"].inputs["values"]
    assert re.match(approver["providerRegex"], "podium-worker2")


def test_addon_versions_can_be_overridden() -> None:
    config = stack_config("dev")
    config["podium:addonVersions"] = {"traefik": "41.2.0", "calico": "v3.32.0"}
    found = releases(harness.run("dev", config))
    assert found["traefik"].inputs["version"] == "41.2.0"
    assert found["calico-crds"].inputs["version"] == found["tigera-operator"].inputs["version"] == "v3.32.0"
    assert found["metrics-server"].inputs["version"] == versions.charts()["metricsServer"].version


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_plain_objects_pass_kubernetes_validate_strict(stack: str) -> None:
    graph = graph_for(stack)
    minor = stack_config(stack)["podium:kubernetesVersion"].rsplit(".", 1)[0]
    objects = [r for r in graph.resources if r.custom and r.type.startswith("kubernetes:") and r.type != RELEASE]
    assert objects
    for resource in objects:
        kubernetes_validate.validate(resource.inputs, f"{minor}.0", strict=True)


def test_kubernetes_validate_does_reject_a_misspelt_field() -> None:
    storage_class = graph_for("dev").one(STORAGE_CLASS, "addons-gp3").inputs
    broken = {**storage_class, "volumeBindingModes": storage_class["volumeBindingMode"]}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.35.0", strict=True)

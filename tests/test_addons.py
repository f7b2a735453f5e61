"""The Kubernetes provider and ClusterAddons, per stack: which add-ons, at which pinned
versions, with which values, in which order; plain objects validated by
kubernetes-validate for the configured minor."""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.config import versions
from components.platform import certificates, ingress
from tests.conftest import graph_for, node_pool_resources, rendered_for, stack_config
from tools import charts, harness, helm_render, mock_tls

RELEASE = "kubernetes:helm.sh/v3:Release"
PROVIDER = "pulumi:providers:kubernetes"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"
AWS_RELEASES = {
    "tigera-operator",
    "aws-cloud-controller-manager",
    "aws-ebs-csi-driver",
    "kubelet-csr-approver",
    "metrics-server",
    "traefik",
    "cluster-autoscaler",
    "aws-node-termination-handler",
}


def releases(graph: harness.Graph) -> dict[str, harness.Resource]:
    """ClusterAddons' releases (observability's are tests/test_observability.py's)."""
    return {
        r.inputs["name"]: r for r in graph.of_type(RELEASE) if r.parent.endswith("$podium:addons:ClusterAddons::addons")
    }


def depends(graph: harness.Graph, resource: harness.Resource) -> set[str]:
    """Names of the releases and objects `resource` waits for."""
    by_urn = {r.urn: r for r in graph.resources}
    return {by_urn[u].inputs.get("name") or by_urn[u].name for u in resource.dependencies if u in by_urn}


def test_aws_stacks_install_every_addon_from_its_vendored_package(aws_graph: harness.Graph) -> None:
    found = releases(aws_graph)
    assert set(found) == AWS_RELEASES
    locked = charts.lock()
    pinned = {c.chart: c for c in versions.charts().values()} | {
        c.chart: c for c in map(versions.pinned_chart, ("clusterAutoscaler", "awsNodeTerminationHandler"))
    }
    for name, release in found.items():
        package = release.inputs["chart"]
        # A path into charts/, locked by digest; no repository, no version to resolve.
        assert package == pinned[name].package and Path(package).name in locked, name
        assert release.inputs["description"].endswith("sha256:" + locked[Path(package).name]["sha256"]), name
        assert "repositoryOpts" not in release.inputs and "version" not in release.inputs, name
        assert charts.chart_yaml(charts.ROOT / package)["version"] == pinned[name].version, name
        assert release.inputs["atomic"] is True
    namespaces = {name: r.inputs["namespace"] for name, r in found.items()}
    assert namespaces == {
        "tigera-operator": "tigera-operator",
        "cluster-autoscaler": "kube-system",
        "aws-node-termination-handler": "kube-system",
        "aws-cloud-controller-manager": "kube-system",
        "aws-ebs-csi-driver": "kube-system",
        "kubelet-csr-approver": "kube-system",
        "metrics-server": "kube-system",
        "traefik": "traefik",
    }


def test_calicos_crds_are_objects_applied_before_the_operator(aws_graph: harness.Graph) -> None:
    (group,) = aws_graph.of_type(CONFIG_GROUP)
    assert group.name == "addons-calico-crds" and set(group.inputs) == {"yaml"}
    # The stack's own CRDs less Prometheus's (observability's, from their chart).
    applied = [c for c in helm_render.stack_crds(aws_graph) if c["spec"]["group"] != "monitoring.coreos.com"]
    package = charts.ROOT / versions.charts()["calicoCrds"].package
    # Exactly the package's CRDs, as they are there (less the status the server writes).
    with tarfile.open(package) as archive:
        upstream = [
            yaml.load(archive.extractfile(m).read(), Loader=yaml.CSafeLoader)  # type: ignore[union-attr]
            for m in sorted(archive.getmembers(), key=lambda m: m.name)
            if "/templates/" in m.name and m.name.endswith(".yaml")
        ]
    assert applied == [{k: v for k, v in d.items() if k != "status"} for d in upstream]
    assert len(applied) == 32
    assert {c["spec"]["group"] for c in applied} == {
        "crd.projectcalico.org",
        "operator.tigera.io",
        "policy.networking.k8s.io",
    }
    assert group.urn in releases(aws_graph)["tigera-operator"].dependencies
    # One owner: the operator does not write them too. Protected with the stack.
    assert "-manage-crds=false" in json.dumps(rendered_for(aws_graph.stack)["tigera-operator"].of_kind("Deployment"))
    assert group.protect == (aws_graph.stack == "prod")


def test_the_pod_cidr_reaches_calicos_installation_in_vxlan_mode(aws_graph: harness.Graph) -> None:
    (installation,) = rendered_for(aws_graph.stack)["tigera-operator"].of_kind("Installation")
    network = installation["spec"]["calicoNetwork"]
    (pool,) = network["ipPools"]
    pod_cidr = stack_config(aws_graph.stack)["podium:cluster"].get("podCidr", "10.244.0.0/16")
    assert (pool["cidr"], pool["encapsulation"], network["bgp"]) == (pod_cidr, "VXLAN", "Disabled")


def containers(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in workload["spec"]["template"]["spec"]["containers"]}


def test_cloud_controller_matches_the_cluster_and_starts_before_the_pod_network(aws_graph: harness.Graph) -> None:
    (daemon_set,) = rendered_for(aws_graph.stack)["aws-cloud-controller-manager"].of_kind("DaemonSet")
    pod = daemon_set["spec"]["template"]["spec"]
    (container,) = containers(daemon_set).values()
    minor = stack_config(aws_graph.stack)["podium:kubernetesVersion"].rsplit(".", 1)[0]
    assert container["image"].endswith(":" + versions.cloud_controller_image_tag(minor))
    assert {"--cloud-provider=aws", "--configure-cloud-routes=false"} <= set(container["args"])
    assert f"--cluster-name={aws_graph.exports['clusterName']}" in container["args"]
    assert pod["hostNetwork"] is True
    # Before Calico makes any node Ready: it tolerates not-ready (the chart's list did not).
    tolerated = {t["key"] for t in pod["tolerations"]}
    assert {
        "node.kubernetes.io/not-ready",
        "node.cloudprovider.kubernetes.io/uninitialized",
        "node-role.kubernetes.io/control-plane",
    } <= tolerated


def test_ebs_csi_controller_runs_on_control_planes_tagged_for_the_cluster(aws_graph: harness.Graph) -> None:
    rendered = rendered_for(aws_graph.stack)["aws-ebs-csi-driver"]
    (controller,) = rendered.of_kind("Deployment")
    pod = controller["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["node-role.kubernetes.io/control-plane"] == ""
    assert "node-role.kubernetes.io/control-plane" in {t.get("key") for t in pod["tolerations"]}
    # The IAM policy lets the driver touch only volumes with this cluster's tag.
    assert f"--k8s-tag-cluster-id={aws_graph.exports['clusterName']}" in containers(controller)["ebs-plugin"]["args"]
    assert [d["metadata"]["name"] for d in rendered.of_kind("DaemonSet")] == ["ebs-csi-node"]


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


def approver_settings(stack: str) -> dict[str, str]:
    (deployment,) = rendered_for(stack)["kubelet-csr-approver"].of_kind("Deployment")
    (container,) = containers(deployment).values()
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_metrics_server_verifies_kubelets_whose_serving_certificates_are_approved(stack: str) -> None:
    (metrics,) = rendered_for(stack)["metrics-server"].of_kind("Deployment")
    assert not [a for c in containers(metrics).values() for a in c.get("args", []) if "insecure" in a]
    settings = approver_settings(stack)
    pattern = re.compile(settings["PROVIDER_REGEX"])
    if stack == "local":
        assert pattern.match("podium-worker2") and not pattern.match("evil.example.com")
        assert "PROVIDER_IP_PREFIXES" not in settings
        return
    region = stack_config(stack)["aws:region"]
    assert pattern.match(
        "ip-10-20-1-5.ec2.internal" if region == "us-east-1" else f"ip-10-20-1-5.{region}.compute.internal"
    )
    assert not pattern.match("evil.example.com")
    assert not pattern.match("ip-10-20-1-5.ec2.internal.evil.example.com")
    assert not pattern.match("ec2-1-2-3-4.compute-1.amazonaws.com")
    # Every node's address is in the VPC: the only prefix a serving certificate may carry.
    assert settings["PROVIDER_IP_PREFIXES"] == stack_config(stack)["podium:network"]["cidr"]


def test_ec2_node_name_pattern_per_region() -> None:
    assert re.match(certificates.ec2_node_name_pattern("eu-west-1"), "ip-10-30-1-2.eu-west-1.compute.internal")
    assert not re.match(certificates.ec2_node_name_pattern("eu-west-1"), "ip-10-30-1-2.eu-west-2.compute.internal")
    assert not re.match(certificates.ec2_node_name_pattern("eu-west-1"), "ip-10-30-1-2.ec2.internal")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_ingress_is_traefik_behind_an_nlb_on_aws_and_on_node_ports_on_kind(stack: str) -> None:
    rendered = rendered_for(stack)["traefik"]
    (service,) = rendered.of_kind("Service")
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    # What cost and reachability read from the values is what the chart renders.
    assert ingress.service_type(dict(rendered.values)) == service["spec"]["type"]
    if stack == "local":
        # What kind maps to the host; a LoadBalancer here would wait for an address forever.
        assert service["spec"]["type"] == "NodePort"
        assert (ports["web"]["nodePort"], ports["websecure"]["nodePort"]) == (
            ingress.LOCAL_HTTP_NODE_PORT,
            ingress.LOCAL_HTTPS_NODE_PORT,
        )
    else:
        assert service["spec"]["type"] == "LoadBalancer"
        annotations = service["metadata"]["annotations"]
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "nlb"
    (ingress_class,) = rendered.of_kind("IngressClass")
    assert ingress_class["metadata"]["name"] == "traefik"
    assert ingress_class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "true"
    (deployment,) = rendered.of_kind("Deployment")
    assert containers(deployment)["traefik"]["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}


def test_order_cni_then_pods_ccm_before_load_balancers_csi_before_volumes(aws_graph: harness.Graph) -> None:
    found = releases(aws_graph)
    assert "addons-calico-crds" in depends(aws_graph, found["tigera-operator"])
    # The cloud controller runs on the host network: it waits for nothing in the cluster,
    # only for its role.
    assert depends(aws_graph, found["aws-cloud-controller-manager"]) == {"cluster-cloud-controller"}
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


# What runs before any worker exists, so cannot wait for one: the pod network (its CRDs
# too) and the cloud controller (both on the host network, the controller on the
# control planes).
BEFORE_WORKERS = {"addons-tigera-operator", "addons-aws-cloud-controller-manager", "addons-calico-crds"}


def test_destroy_removes_what_runs_on_workers_before_the_node_groups(aws_graph: harness.Graph) -> None:
    """Pulumi deletes a resource only after everything that depends on it. So every
    object whose deletion needs a running worker (a release's pods ending, a namespace
    emptying, a volume detaching) must depend, directly or not, on every node group."""
    by_urn = {r.urn: r for r in aws_graph.resources}

    def closure(urn: str) -> set[str]:
        seen: set[str] = set()
        todo = [urn]
        while todo:
            resource = by_urn[todo.pop()]
            # A child depends on its parent too: the engine deletes children first.
            for dependency in [*resource.dependencies, *([resource.parent] if resource.parent else [])]:
                if dependency not in seen and dependency in by_urn:
                    seen.add(dependency)
                    todo.append(dependency)
        return seen

    groups = {g.urn for g in node_pool_resources(aws_graph, "aws:autoscaling/group:Group")}
    objects = [r for r in aws_graph.cloud_resources("kubernetes:") if r.name not in BEFORE_WORKERS]
    assert len(objects) > 30
    assert [r.name for r in objects if not groups <= closure(r.urn)] == []


def test_an_unreachable_cluster_fails_a_destroy_unless_the_user_says_it_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The shared run is the one made without the variable (CI sets none).
    assert "PULUMI_K8S_DELETE_UNREACHABLE" not in os.environ
    assert "deleteUnreachable" not in graph_for("dev").one(PROVIDER).inputs
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
    assert graph.of_type(CONFIG_GROUP) == []
    provider = graph.one(PROVIDER)
    assert provider.inputs["context"] == "kind-podium"
    assert provider.inputs["clusterIdentifier"] == "podium-local"
    assert graph.of_type(STORAGE_CLASS) == []


def test_an_addon_version_without_a_vendored_package_is_refused() -> None:
    config = stack_config("dev")
    config["podium:addonVersions"] = {"traefik": "41.2.0", "calico": versions.charts()["calico"].version}
    with pytest.raises(harness.ProgramError) as caught:
        harness.run("dev", config)
    message = str(caught.value)
    assert "addonVersions.traefik" in message
    assert "no package ./charts/traefik-41.2.0.tgz: `make charts CHART=traefik VERSION=41.2.0` vendors it" in message
    assert "addonVersions.calico" not in message


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_plain_objects_pass_kubernetes_validate_strict(stack: str) -> None:
    graph = graph_for(stack)
    minor = stack_config(stack)["podium:kubernetesVersion"].rsplit(".", 1)[0]
    # Custom resources are checked against their CRDs' schemas (tests/test_observability.py).
    crds = [
        *helm_render.stack_crds(graph),
        *(o for r in rendered_for(stack).values() for o in r.of_kind("CustomResourceDefinition")),
    ]
    custom_groups = {crd["spec"]["group"] for crd in crds}
    objects = [
        r
        for r in graph.resources
        if r.custom
        and r.type.startswith("kubernetes:")
        and r.type != RELEASE
        and r.type.split(":")[1].split("/")[0] not in custom_groups
    ]
    assert objects
    for resource in objects:
        kubernetes_validate.validate(resource.inputs, f"{minor}.0", strict=True)


def test_kubernetes_validate_does_reject_a_misspelt_field() -> None:
    storage_class = graph_for("dev").one(STORAGE_CLASS, "addons-gp3").inputs
    broken = {**storage_class, "volumeBindingModes": storage_class["volumeBindingMode"]}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.35.0", strict=True)


@pytest.mark.parametrize(
    ("release", "kind", "container", "account"),
    [
        ("aws-cloud-controller-manager", "DaemonSet", "aws-cloud-controller-manager", "cloud-controller-manager"),
        ("aws-ebs-csi-driver", "Deployment", "ebs-plugin", "ebs-csi-controller-sa"),
    ],
)
def test_the_controllers_use_their_own_roles_through_their_service_accounts(
    aws_graph: harness.Graph, release: str, kind: str, container: str, account: str
) -> None:
    (workload,) = [
        o for o in rendered_for(aws_graph.stack)[release].of_kind(kind) if o["metadata"]["name"] != "ebs-csi-node"
    ]
    pod = workload["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account
    (token,) = [v for v in pod["volumes"] if v["name"] == "aws-token"]
    assert token["projected"]["sources"] == [
        {"serviceAccountToken": {"audience": "sts.amazonaws.com", "expirationSeconds": 3600, "path": "token"}}
    ]
    plugin = containers(workload)[container]
    env = {e["name"]: e.get("value") for e in plugin["env"]}
    role = aws_graph.one(
        "aws:iam/role:Role", "cluster-" + ("cloud-controller" if "cloud" in release else "ebs-csi-controller")
    )
    assert env["AWS_ROLE_ARN"] == role.state["arn"]
    assert env["AWS_WEB_IDENTITY_TOKEN_FILE"] == "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
    assert {
        "name": "aws-token",
        "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount",
        "readOnly": True,
    } in plugin["volumeMounts"]
    # Only that service account, for STS, may assume it.
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = aws_graph.exports["oidcIssuerUrl"].removeprefix("https://")
    assert trust["Condition"]["StringEquals"] == {
        f"{issuer}:sub": f"system:serviceaccount:kube-system:{account}",
        f"{issuer}:aud": "sts.amazonaws.com",
    }


def test_the_csi_node_plugin_asks_kubernetes_not_instance_metadata(aws_graph: harness.Graph) -> None:
    (node,) = [o for o in rendered_for(aws_graph.stack)["aws-ebs-csi-driver"].of_kind("DaemonSet")]
    assert "--metadata-sources=kubernetes" in containers(node)["ebs-plugin"]["args"]

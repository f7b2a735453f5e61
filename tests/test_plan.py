"""The offline plan reviewers read: --out artifacts with secrets redacted, the diagram,
the cost estimate (checked on small cases computed by hand), the policy verdict and its
exit code, and the bench's scaled config."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.builders import resource
from tests.conftest import graph_for, stack_config
from tools import bench, configdoc, cost, diagram, harness, plan

PRICES: dict[str, Any] = {
    "asOf": "test",
    "hoursPerMonth": 100,
    "ec2PerHour": {"t3.large": 0.1, "m7i.large": 0.2},
    "assumptions": {"spotFractionOfOnDemand": 0.5},
    "natGateway": {"perHour": 0.05, "perGbProcessed": 0.045},
    "publicIpv4PerHour": 0.01,
    "loadBalancer": {"nlbPerHour": 0.02, "nlbPerNlcuHour": 0.006},
    "ebs": {"gp3PerGbMonth": 0.1},
    "s3": {"standardPerGbMonth": 0.023},
    "cloudwatchLogs": {"ingestPerGb": 0.5, "storagePerGbMonth": 0.03},
    "kms": {"keyPerMonth": 1.0},
    "eks": {"controlPlanePerHour": 0.1},
}


# The groups the cluster autoscaler moves carry its discovery tag (a fixed group, the NAT
# instance's, has no bounds to price).
AUTOSCALED = [{"key": "k8s.io/cluster-autoscaler/enabled", "value": "true", "propagateAtLaunch": False}]


def small_graph(pool_type: str = "m7i.large") -> harness.Graph:
    cluster = resource("podium:cluster:ClusterBootstrap", "cluster", {})
    pool = resource("podium:nodes:NodeGroup", "pool-general", {})
    template = resource(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "pool-general-template",
        {"instanceType": pool_type, "blockDeviceMappings": [{"ebs": {"volumeSize": 50}}]},
        parent=pool.urn,
    )
    return harness.Graph(
        "test",
        [
            cluster,
            pool,
            resource(
                "aws:ec2/instance:Instance",
                "cluster-control-plane-0",
                {"instanceType": "t3.large", "rootBlockDevice": {"volumeSize": 20}},
                parent=cluster.urn,
            ),
            resource("aws:ebs/volume:Volume", "cluster-etcd-0", {"size": 10}, parent=cluster.urn),
            resource("aws:ec2/eip:Eip", "cluster-api", {}, parent=cluster.urn),
            resource("aws:kms/key:Key", "cluster-kms", {}, parent=cluster.urn),
            resource("aws:ec2/natGateway:NatGateway", "network-nat-0", {}),
            template,
            resource(
                "aws:autoscaling/group:Group",
                "pool-general-asg",
                {"desiredCapacity": 2, "minSize": 1, "maxSize": 4, "mixedInstancesPolicy": {}, "tags": AUTOSCALED},
                parent=pool.urn,
                dependencies=[template.urn],
            ),
            # A zonal pool's second group, empty at first.
            resource(
                "aws:autoscaling/group:Group",
                "pool-general-asg-az2",
                {"desiredCapacity": 0, "minSize": 0, "maxSize": 2, "mixedInstancesPolicy": {}, "tags": AUTOSCALED},
                parent=pool.urn,
                dependencies=[template.urn],
            ),
        ],
        {},
        set(),
    )


def test_cost_of_a_small_stack_computed_by_hand() -> None:
    estimate = cost.estimate(small_graph(), PRICES)
    # control plane: t3.large 0.1 x 100 h = 10; root 20 GiB x 0.1 = 2; etcd 10 GiB = 1; EIP 0.01 x 100 = 1; KMS 1
    # pool: 2 x m7i.large spot = 2 x 0.2 x 100 x 0.5 = 20; roots 2 x 50 GiB x 0.1 = 10
    # NAT: 0.05 x 100 = 5
    assert estimate.by_component() == pytest.approx({"cluster": 15.0, "pool-general": 30.0, "network-nat-0": 5.0})
    assert estimate.total == pytest.approx(50.0)
    (spot,) = [i for i in estimate.items if "spot" in i.what]
    assert spot.monthly == pytest.approx(20.0) and "50% of on-demand" in spot.assumption
    # EKS instead of the control planes (10 + 2 + 1 + 1 = 14): 50 - 14 + 0.1 x 100
    assert estimate.eks_equivalent == pytest.approx(46.0)
    assert estimate.unpriced == []
    assert not [i for i in estimate.items if i.what.startswith("0 x")]  # the empty group costs nothing now
    # Bounds: a node is 10 (spot) + 5 (root); min 1 + 0 nodes, max 4 + 2 nodes.
    (bounds,) = estimate.pools
    assert (bounds.component, bounds.what, bounds.min_nodes, bounds.max_nodes, bounds.initial_nodes) == (
        "pool-general",
        "m7i.large spot",
        1,
        6,
        2,
    )
    assert (bounds.min_monthly, bounds.max_monthly) == pytest.approx((15.0, 90.0))
    # Everything else (20) with the pool at its maximum (90).
    assert estimate.ceiling == pytest.approx(110.0)
    rendered = "\n".join(cost.render(estimate))
    assert "pool-general" in rendered and "1 to 6   nodes (2 at first)" in rendered and "90.00" in rendered
    assert "total with every pool at its maximum: 110.00" in rendered


def test_an_unknown_price_is_listed_not_counted_as_zero() -> None:
    estimate = cost.estimate(small_graph(pool_type="x9z.huge"), PRICES)
    assert estimate.unpriced == ["EC2 x9z.huge (2 in pool-general)"]
    assert not [i for i in estimate.items if "x9z.huge" in i.what and "root" not in i.what]
    assert any("NOT PRICED" in line and "x9z.huge" in line for line in cost.render(estimate))


def test_prod_estimate_covers_every_cost_kind() -> None:
    estimate = cost.estimate(graph_for("prod"))
    whats = " | ".join(i.what for i in estimate.items)
    for kind in (
        "m7i.large",
        "r6i.large",
        "NAT gateway",
        "NLB (cluster-api)",
        "ingress NLB",
        "public IPv4",
        "gp3 root",
        "cluster-etcd-0",
        "claim (data)",
        "KMS key",
        "S3 bucket",
        "CloudWatch Logs",
    ):
        assert kind in whats, kind
    assert estimate.unpriced == []
    assert estimate.eks_equivalent is not None and estimate.eks_equivalent > 0
    # The data claim is 100 GiB gp3 in prod, and so is Prometheus's (observability.metricsStorageGb).
    gp3 = cost.price_table()["ebs"]["gp3PerGbMonth"]
    claims = {(i.component, i.what): i.monthly for i in estimate.items if "claim" in i.what}
    assert claims == {
        ("app", "100 GiB gp3 claim (data)"): pytest.approx(100 * gp3),
        ("observability", "100 GiB gp3 claim (Prometheus)"): pytest.approx(100 * gp3),
    }
    groups = [i.what for i in estimate.items if i.what.startswith("CloudWatch Logs group")]
    assert sorted(groups) == [
        "CloudWatch Logs group (network-flow-logs), empty",
        "CloudWatch Logs group (observability-logs), empty",
        "CloudWatch Logs group (termination-early-retirement), empty",
    ]
    assert f"CloudWatch Logs: ${cost.price_table()['cloudwatchLogs']['ingestPerGb']}/GB ingested" in " ".join(
        estimate.usage_priced
    )


def test_local_stack_costs_nothing_on_aws() -> None:
    estimate = cost.estimate(graph_for("local"))
    assert estimate.total == 0 and estimate.eks_equivalent is None


def _secrets(graph: harness.Graph) -> list[str]:
    values: list[str] = []
    for r in graph.resources:
        if r.type == "random:index/randomId:RandomId":
            continue  # a name's random part (a tenant's user), public like the name
        for key in ("privateKeyPem", "result", "base64", "hex", "secret"):
            value = r.state.get(key)
            if isinstance(value, str) and (
                key in r.additional_secret_outputs or r.type.startswith(("tls:", "random:"))
            ):
                values.append(value.strip())
        if r.type == "aws:iam/accessKey:AccessKey" and "secret" in r.state:
            values.append(r.state["secret"])
    if "kubeconfig" in graph.exports:
        values.append(graph.exports["kubeconfig"])
    return values + [base64.b64encode(v.encode()).decode() for v in values if len(v) > 8]


@pytest.mark.usefixtures("plan_reuses_runs")
@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_out_writes_every_artifact_with_no_secret_in_any_file(
    stack: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cost_json = tmp_path / "cost.json"
    assert plan.main([stack, "--out", str(tmp_path), "--cost-json", str(cost_json)]) == 0
    assert "wrote " in capsys.readouterr().out
    # The estimate as JSON, as the cost comparison of a pull request reads it (tests/test_cost.py).
    assert json.loads(cost_json.read_text()) == json.loads(
        json.dumps(cost.as_json(cost.estimate(graph_for(stack)), stack))
    )
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {str(p.relative_to(tmp_path)) for p in files}
    assert {"graph.json", "diagram.mmd", "cost.txt", "policy.txt"} <= names
    assert any(n.startswith("manifests/podium-statefulset-db") for n in names)
    # What the charts render, next to the program's own objects.
    assert "manifests/addons/traefik/traefik-service-traefik.yaml" in names
    if stack != "local":
        installation = yaml.safe_load(
            (tmp_path / "manifests/addons/tigera-operator/_cluster-installation-default.yaml").read_text()
        )
        assert installation["spec"]["calicoNetwork"]["bgp"] == "Disabled"
        assert any(n.startswith("scripts/cluster-control-plane-0") for n in names)
        assert any(n.startswith("iam/cluster-control-plane.policy") for n in names)
        assert "iam/cluster-kms.policy.json" in names
        exported = json.loads((tmp_path / "terraform-plan.json").read_text())
        assert len(exported["resource_changes"]) == len(graph_for(stack).cloud_resources())
    else:
        assert "terraform-plan.json" not in names  # kind: no AWS resources
    # The plan wrote the session's run of the stack (plan_reuses_runs): its secrets.
    secrets = _secrets(graph_for(stack))
    assert len(secrets) >= 6
    for path in files:
        text = path.read_text()
        leaked = [s[:12] for s in secrets if s in text]
        assert leaked == [], f"{path.name} leaks {leaked}"
    secret_manifest = yaml.safe_load((tmp_path / "manifests" / "podium-secret-db-root.yaml").read_text())
    assert secret_manifest["stringData"] == harness.REDACTED


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "local"])
def test_the_diagram_shows_the_wiring_for_every_stack(stack: str) -> None:
    text = diagram.mermaid(graph_for(stack))
    assert text.startswith("flowchart LR\n")
    chain = ["k8s --> addons", "addons --> app"]
    if stack != "local":
        chain = ["network --> cluster", "cluster --> pool_general", "cluster --> k8s", *chain]
    for edge in chain:
        assert f"  {edge}\n" in text, edge


def test_architecture_doc_embeds_devs_diagram() -> None:
    text = configdoc.ARCHITECTURE.read_text()
    assert text == configdoc.generated(configdoc.ARCHITECTURE, text), "run `make docs`"
    assert diagram.mermaid(graph_for("dev")) in text


def test_a_policy_violation_fails_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = stack_config("prod")
    config["podium:controlPlane"]["count"] = 1  # protected, yet a single control plane
    config["podium:cluster"]["apiEndpoint"] = "public"
    stack_file = tmp_path / "Pulumi.fragile.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    assert plan.main(["prod", "--config", str(stack_file)]) == plan.POLICY_VIOLATIONS
    out = capsys.readouterr().out
    assert "Policy verdict: FAIL" in out
    assert "protected-stack-ha: a protected stack needs at least 3 control planes" in out


def test_bench_scales_pools_and_replicas() -> None:
    prod = stack_config("prod")
    scaled = bench.scaled_config(prod)
    assert len(scaled["podium:nodePools"]) == 10
    assert len({p["name"] for p in scaled["podium:nodePools"]}) == 10
    assert scaled["podium:app"]["api"]["maxReplicas"] == 3 * prod["podium:app"]["api"]["maxReplicas"]
    zonal_groups = scaled["podium:network"]["azCount"]
    expected = sum(zonal_groups if p.get("zonal") else 1 for p in scaled["podium:nodePools"])
    assert expected > 10  # the database's pool is zonal
    assert len(harness.run("prod", scaled).of_type("aws:autoscaling/group:Group")) == expected

"""The capacity check (tools/capacity.py): small cases computed by hand on the pure
check, the pools and the kubelet's reservations read from rendered user data, and every
shipped stack as the plan checks it (from the session's cached runs and renders)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cluster import kubeadm, userdata
from tests.builders import resource
from tests.conftest import graph_for, rendered_for, stack_config
from tools import capacity, harness, plan
from tools.capacity import Placement, Pool, Resources, Taint, Workload

MI = 1024**2
GI = 1024**3
DB_TAINT = Taint("podium/dedicated", "db", "NoSchedule")
TOLERATES_DB = ({"key": "podium/dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"},)


def pool(
    name: str,
    nodes: int,
    cpu: int = 2000,
    memory: int = 4 * GI,
    *,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Taint] = (),
    pods: int = 110,
) -> Pool:
    return Pool(name, nodes, Resources(cpu, memory, pods), dict(labels or {}), tuple(taints))


def pods(
    name: str,
    cpu: int,
    memory: int,
    replicas: int = 1,
    *,
    per_node: bool = False,
    steady: bool = True,
    selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Mapping[str, Any]] = (),
    affinity: tuple[tuple[Mapping[str, Any], ...], ...] | None = None,
) -> Workload:
    placement = Placement(dict(selector or {}), affinity, tuple(tolerations))
    return Workload(name, Resources(cpu, memory, 1), replicas, per_node, steady, placement)


def usage(report: capacity.Report, name: str) -> capacity.PoolUsage:
    return next(u for u in report.usage if u.pool.name == name)


def test_pods_that_fit_leave_the_headroom_computed_by_hand() -> None:
    report = capacity.check(
        [pods("app", 500, GI, 3), pods("agent", 100, 256 * MI, per_node=True)], [pool("pool-general", 2)]
    )
    assert report.passed, report.failures
    general = usage(report, "pool-general")
    # 2 agents (one a node) and 3 app pods.
    assert general.requested == Resources(2 * 100 + 3 * 500, 2 * 256 * MI + 3 * GI, 5)
    assert general.headroom == Resources(4000 - 1700, 8 * GI - 3 * GI - 512 * MI, 220 - 5)


def test_requests_over_a_pools_minimum_fail_naming_the_pool_and_the_resource() -> None:
    general = pool("pool-general", 1, memory=int(3.4 * GI))
    report = capacity.check([pods("podium: Deployment podium/api", 100, int(5.1 * GI) // 6, 6)], [general])
    assert not report.passed
    # Each pod fits a node alone; together they do not fit the pool at its minimum.
    assert report.failures == [
        "pool-general: memory requests 5.10 GiB exceed allocatable 3.40 GiB at its minimum of 1 node"
    ]
    assert usage(report, "pool-general").headroom.memory < 0


def test_a_daemonset_counts_once_per_node_of_each_pool_it_can_run_on() -> None:
    pools = [pool("pool-general", 3), pool("pool-db", 2, taints=[DB_TAINT])]
    report = capacity.check([pods("logs", 50, 64 * MI, per_node=True)], pools)
    assert usage(report, "pool-general").requested == Resources(150, 192 * MI, 3)
    assert usage(report, "pool-db").requested == Resources()  # the taint keeps it off
    everywhere = capacity.check([pods("logs", 50, 64 * MI, per_node=True, tolerations=[{"operator": "Exists"}])], pools)
    assert usage(everywhere, "pool-db").requested == Resources(100, 128 * MI, 2)


def test_a_taint_excludes_a_pool_and_a_pod_no_pool_can_host_is_named() -> None:
    pools = [pool("pool-db", 1, memory=8 * GI, taints=[DB_TAINT]), pool("pool-general", 1, memory=GI)]
    report = capacity.check([pods("web", 100, 2 * GI)], pools)
    # The roomy tainted pool is refused: the pod goes to the small pool, and does not fit.
    assert usage(report, "pool-db").requested == Resources()
    assert any(
        f.startswith("web: one pod (CPU 0.10, memory 2.00 GiB) is larger than any node") for f in report.failures
    )
    nowhere = capacity.check([pods("db", 500, GI, selector={"podium/pool": "db"})], pools)
    assert nowhere.failures == [
        "db: no pool can host it (pool-db: nodeSelector podium/pool=db; pool-general: nodeSelector podium/pool=db)"
    ]


def test_a_node_selector_and_a_toleration_pin_pods_to_their_pool() -> None:
    db_pool = pool("pool-db", 1, labels={"podium/pool": "db"}, taints=[DB_TAINT])
    general = pool("pool-general", 1, labels={"podium/pool": "general"})
    db = pods("db", 500, GI, selector={"podium/pool": "db"}, tolerations=TOLERATES_DB)
    assert capacity.refusal(general, db.placement) == "nodeSelector podium/pool=db"
    assert (
        capacity.refusal(db_pool, pods("web", 1, 1).placement) == "taint podium/dedicated=db:NoSchedule not tolerated"
    )
    report = capacity.check([db, pods("web", 100, GI, 2)], [db_pool, general])
    assert report.passed, report.failures
    assert usage(report, "pool-db").requested == Resources(500, GI, 1)
    assert usage(report, "pool-general").requested == Resources(200, 2 * GI, 2)


def test_required_node_affinity_terms_are_evaluated_against_the_pools_labels() -> None:
    general = pool("pool-general", 1, labels={"podium/pool": "general"})
    not_fargate = (({"key": "eks.amazonaws.com/compute-type", "operator": "NotIn", "values": ["fargate"]},),)
    assert capacity.refusal(general, Placement(affinity_terms=not_fargate)) is None  # absent label: NotIn holds
    only_db = (({"key": "podium/pool", "operator": "In", "values": ["db"]},),)
    assert capacity.refusal(general, Placement(affinity_terms=only_db)) == "required node affinity"
    either = (*only_db, ({"key": "podium/pool", "operator": "Exists"},))
    assert capacity.refusal(general, Placement(affinity_terms=either)) is None  # terms are ORed
    assert capacity.refusal(general, Placement(affinity_terms=((),))) == "required node affinity"  # an empty term


def test_a_pod_larger_than_any_node_fails_even_when_the_pool_total_would_hold_it() -> None:
    report = capacity.check([pods("prometheus", 500, 3 * GI)], [pool("pool-general", 3, memory=2 * GI)])
    assert report.failures[0] == (
        "prometheus: one pod (CPU 0.50, memory 3.00 GiB) is larger than any node it may run on "
        "(room per node after DaemonSets: pool-general CPU 2.00, memory 2.00 GiB)"
    )


def test_pods_that_fit_the_total_but_no_single_node_are_reported_with_the_resource_short() -> None:
    # 3 pods of 1.2 GiB: 3.6 GiB of 4 GiB in total, but only one fits each 2 GiB node.
    report = capacity.check([pods("cache", 100, int(1.2 * GI), 3)], [pool("pool-general", 2, memory=2 * GI)])
    assert report.failures == [
        "cache: 1 of 3 pods (CPU 0.10, memory 1.20 GiB each) fit on no node of pool-general at minimum size "
        "(memory short)"
    ]


def test_pods_beyond_max_pods_fail_on_the_pod_count() -> None:
    report = capacity.check([pods("tiny", 1, MI, 4)], [pool("pool-general", 1, pods=3)])
    assert report.failures == ["pool-general: pod count 4 exceeds the 3 its maxPods allows at its minimum of 1 node"]


def test_batch_pods_are_listed_not_summed_but_must_fit_a_node() -> None:
    report = capacity.check(
        [pods("backup", 250, GI, steady=False), pods("restore", 250, 9 * GI, steady=False)], [pool("pool-general", 1)]
    )
    assert usage(report, "pool-general").requested == Resources()
    assert [line.split(":")[0] for line in report.not_counted] == ["backup", "restore"]
    assert [f.split(":")[0] for f in report.failures] == ["restore"]


def test_a_pods_requests_are_counted_as_the_scheduler_counts_them() -> None:
    spec = {
        "initContainers": [
            {"name": "migrate", "resources": {"requests": {"cpu": "1", "memory": "512Mi"}}},
            {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
        ],
        "containers": [
            {"name": "app", "resources": {"requests": {"cpu": "200m"}, "limits": {"cpu": "1", "memory": "256Mi"}}},
            {"name": "exporter", "resources": {"requests": {"cpu": "0.05", "memory": "32M"}}},
        ],
        "overhead": {"cpu": "10m", "memory": "16Mi"},
    }
    # The init container runs alone before the sidecar starts: its 1 CPU and 512Mi beat
    # the running sum (sidecar 100m + 64Mi, the app's limits as requests for memory,
    # 200m + 256Mi, the exporter 50m + 32 MB); the overhead comes on top.
    assert capacity.pod_requests(spec) == Resources(1000 + 10, 512 * MI + 16 * MI, 1)
    spec["initContainers"][0]["resources"]["requests"]["memory"] = "64Mi"
    assert capacity.pod_requests(spec).memory == 64 * MI + 256 * MI + 32_000_000 + 16 * MI


# -- pools from rendered user data -------------------------------------------------------


def _script(documents: list[dict[str, Any]]) -> str:
    """The shape of common.sh: the kubeadm documents shell-quoted into one variable."""
    return f"#!/bin/bash\nset -euo pipefail\nkubeadm_config={shlex.quote(kubeadm.render(documents))}\necho done\n"


def _pool_graph(group_minimums: Sequence[int], skip_phases: Sequence[str] = ()) -> harness.Graph:
    kubelet = {**kubeadm.kubelet_configuration(), "maxPods": 50, "systemReserved": {"cpu": "100m", "memory": "256Mi"}}
    init = [{**kubeadm.init_configuration(), "skipPhases": list(skip_phases)}, kubelet]
    join = kubeadm.join_configuration(
        "api:6443",
        "sha256:00",
        control_plane=False,
        labels={"podium/pool": "db"},
        taints=[kubeadm.Taint("podium/dedicated", "db", "NoSchedule")],
    )
    cluster = resource("podium:cluster:ClusterBootstrap", "cluster", {})
    db = resource("podium:nodes:NodeGroup", "pool-db", {})
    nat = resource("podium:network:NatInstance", "nat", {})
    template = resource(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "pool-db-template",
        {"instanceType": "t3.large", "userData": userdata.encode_plain(_script([join]))},
        parent=db.urn,
    )
    nat_template = resource(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "nat-template",
        {
            "instanceType": "t4g.nano",
            "userData": userdata.encode_plain("#!/bin/bash\nsysctl -w net.ipv4.ip_forward=1\n"),
        },
        parent=nat.urn,
    )
    groups = [
        resource(
            "aws:autoscaling/group:Group",
            f"pool-db-asg-{index}",
            {"minSize": minimum, "maxSize": 2, "desiredCapacity": minimum},
            parent=db.urn,
            dependencies=[template.urn],
        )
        for index, minimum in enumerate(group_minimums)
    ]
    control_plane = resource(
        "aws:ec2/instance:Instance",
        "cluster-control-plane-0",
        {"instanceType": "t3.medium", "userDataBase64": userdata.encode_gzipped(_script(init))},
        parent=cluster.urn,
    )
    nat_group = resource(
        "aws:autoscaling/group:Group",
        "nat-asg",
        {"minSize": 1, "maxSize": 1, "desiredCapacity": 1},
        parent=nat.urn,
        dependencies=[nat_template.urn],
    )
    resources = [cluster, db, nat, template, nat_template, *groups, control_plane, nat_group]
    return harness.Graph("test", resources, {"kubernetesVersion": "1.35.8"}, set())


def test_pools_come_from_the_kubeadm_documents_and_kubelet_configuration_in_user_data() -> None:
    db, control_plane = capacity.pools_of(_pool_graph([1, 0, 0]))  # the NAT instance's group is no pool
    mib = 1024**2
    assert (db.name, db.nodes, db.instance_type) == ("pool-db", 1, "t3.large")
    assert db.taints == (DB_TAINT,)
    assert db.labels["podium/pool"] == "db" and db.labels["kubernetes.io/arch"] == "amd64"
    # t3.large: 8192 MiB less the assumed 7.5% kernel share, less systemReserved 256Mi and
    # the default evictionHard 100Mi; 2000m less 100m; the rendered maxPods.
    assert db.allocatable == Resources(1900, int(8192 * mib * 0.925) - 256 * mib - 100 * mib, 50)
    assert (control_plane.name, control_plane.nodes) == ("control-plane", 1)
    assert control_plane.taints == (Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),)
    assert control_plane.labels["node-role.kubernetes.io/control-plane"] == ""
    assert control_plane.allocatable.memory == int(4096 * mib * 0.925) - 256 * mib - 100 * mib


def test_a_zonal_pool_sums_its_groups_minimums_and_at_zero_cannot_hold_its_database() -> None:
    assert capacity.pools_of(_pool_graph([1, 1, 0]))[0].nodes == 2
    pools = capacity.pools_of(_pool_graph([0, 0, 0]))
    assert pools[0].nodes == 0
    db = pods("podium: StatefulSet podium/db", 500, GI, selector={"podium/pool": "db"}, tolerations=TOLERATES_DB)
    assert capacity.check([db], pools).failures == [
        "pool-db: CPU requests 0.50 cores exceed allocatable 0.00 cores at its minimum of 0 nodes",
        "pool-db: memory requests 1.00 GiB exceed allocatable 0.00 GiB at its minimum of 0 nodes",
        "pool-db: pod count 1 exceeds the 0 its maxPods allows at its minimum of 0 nodes",
    ]


def test_kubeadms_own_pods_are_counted_unless_its_configuration_skips_them() -> None:
    names = {w.name for w in capacity.workloads_of(_pool_graph([1]), [])}
    static = {f"kubeadm: static pod kube-system/{n} (on every control plane)" for n in ("etcd", "kube-apiserver")}
    assert static | {"kubeadm: Deployment kube-system/coredns", "kubeadm: DaemonSet kube-system/kube-proxy"} <= names
    skipped = {w.name for w in capacity.workloads_of(_pool_graph([1], ["addon/kube-proxy"]), [])}
    assert names - skipped == {"kubeadm: DaemonSet kube-system/kube-proxy"}


def test_an_instance_type_without_data_fails_by_name() -> None:
    graph = _pool_graph([1])
    template = graph.one("aws:ec2/launchTemplate:LaunchTemplate", "pool-db-template")
    template.inputs["instanceType"] = "x9.huge"
    report = capacity.check([], capacity.pools_of(graph))
    assert report.failures == [
        "pool-db: instance type x9.huge has no entry in aws-instance-types.yaml: capacity unknown"
    ]


# -- the shipped stacks --------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_shipped_stack_fits_at_its_minimum(stack: str) -> None:
    report = capacity.stack_report(graph_for(stack), rendered_for(stack).values())
    assert report.passed, "\n".join(capacity.render(report))
    names = {u.pool.name for u in report.usage}
    assert {"control-plane", "pool-general", "pool-db"} <= names


def test_the_stack_counts_what_the_program_and_the_charts_render() -> None:
    graph, rendered = graph_for("dev"), rendered_for("dev")
    workloads = {w.name: w for w in capacity.workloads_of(graph, rendered.values())}
    hpa = graph.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "app-horizontalpodautoscaler-api")
    assert workloads["podium: Deployment podium/api"].replicas == hpa.inputs["spec"]["minReplicas"]
    traefik = next(o for o in rendered["traefik"].of_kind("Deployment"))
    assert workloads["traefik: Deployment traefik/traefik"].replicas == traefik["spec"]["replicas"]
    assert workloads[
        "kube-prometheus-stack: DaemonSet monitoring-node/kube-prometheus-stack-prometheus-node-exporter"
    ].per_node
    prometheus = next(o for o in rendered["kube-prometheus-stack"].of_kind("Prometheus"))
    counted = workloads[
        "kube-prometheus-stack: Prometheus monitoring/kube-prometheus-stack-prometheus (pods made by its operator)"
    ]
    assert counted.pod.memory > capacity.byte_count(prometheus["spec"]["resources"]["requests"]["memory"])
    assert {"kubeadm: Deployment kube-system/coredns", "kubeadm: DaemonSet kube-system/kube-proxy"} <= set(workloads)
    assert not workloads["podium: CronJob podium/backup"].steady
    pools = {p.name: p for p in capacity.pools_of(graph)}
    assert Taint("podium/dedicated", "db", "NoSchedule") in pools["pool-db"].taints
    assert pools["control-plane"].labels["node-role.kubernetes.io/control-plane"] == ""


def test_a_stack_without_cloud_node_pools_is_skipped_and_says_so() -> None:
    report = capacity.stack_report(graph_for("local"), rendered_for("local").values())
    assert report.passed and report.skipped
    assert capacity.render(report) == [
        "Capacity check: skipped, no cloud node pools (cluster.mode existing): the cluster's capacity is not Podium's"
    ]


def test_a_stack_too_small_for_its_workload_fails_the_plan_naming_the_pool_and_resource(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan as a user runs it: dev with its general pool on t3.micro (1 GiB)."""
    config = stack_config("dev")
    config["podium:nodePools"][0]["instanceType"] = "t3.micro"
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    assert plan.main(["dev", "--config", str(stack_file)]) == plan.CAPACITY_SHORT
    printed = capsys.readouterr().out
    assert "pool-general: memory requests" in printed and "at its minimum of 1 node" in printed

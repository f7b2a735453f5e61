"""Capacity check: can each node pool, at its minimum size, hold what the stack deploys?

`workloads_of(graph, rendered)` and `pools_of(graph)` read what the program really
renders; `check(workloads, pools)` is pure; `render(report)` is the plan's table.

What is counted, pod by pod, as the scheduler counts a pod's requests: per resource, the
larger of the largest init container and the sum of the containers (a sidecar, an init
container with `restartPolicy: Always`, adds to both), plus `spec.overhead` when set. A
container with a limit and no request requests its limit (the API server's default).
- The program's own objects and every object each Helm release renders with the real
  Helm from the vendored chart (tools/helm_render.py), and the charts the provider
  applies itself (`helm.sh/v4:Chart`).
- Deployments, ReplicaSets and StatefulSets at the minReplicas of the
  HorizontalPodAutoscaler that targets them, else at `spec.replicas` (default 1); bare
  Pods once; DaemonSets once per node of every pool they can run on.
- The pods the Prometheus operator makes from a rendered `Prometheus` (replicas x shards)
  or `Alertmanager`: the main container at the custom resource's `resources`, plus the
  config-reloader sidecar and init container at the requests the rendered operator
  Deployment passes on its command line.
- kubeadm's own kube-system pods, which are in no graph: the static pods on every
  control plane and the CoreDNS Deployment and kube-proxy DaemonSet unless the rendered
  kubeadm configuration skips them (tools/data/kubeadm-kube-system.yaml, from kubeadm's
  source).
- Jobs and CronJobs (Helm hooks included) run to completion: they are not steady-state
  load and are not summed (the cluster autoscaler adds a node for a run that finds no
  room), but each must still have a pool and fit on one of its nodes; they are listed.
- Not counted, and said so in the report: the pods the tigera operator makes from the
  Installation (calico-node, typha, kube-controllers, csi-node-driver) request nothing
  unless the Installation sets component resources, which is flagged if it does.

Pools: the control planes (EC2 instances whose user data runs kubeadm init or a
control-plane join) and every worker pool (Auto Scaling groups whose launch template
joins with kubeadm; the minSize of a zonal pool's groups summed). Anything else with
user data (a NAT instance) is no node. Labels and taints come from the kubeadm
documents rendered into the user data: the node-labels and taints a node registers
with, kubeadm's control-plane label and its default control-plane taint when none are
given, and the labels the kubelet and the cloud controller set (os, arch, instance
type). Allocatable per node: the instance type's vCPUs and memory
(tools/data/aws-instance-types.yaml, which states its assumed kernel share of memory)
less the KubeletConfiguration the init control plane renders (every node downloads it
from the cluster): systemReserved, kubeReserved and evictionHard's memory.available
(the kubelet's default 100Mi, or the rendered value when that is larger: the safe side);
maxPods pods (110 when unset). A type missing from the data file fails the check by name.

The rule, in the direction of safety:
1. A pod may go to a pool when the pool's labels satisfy its nodeSelector and its
   required node affinity (a term of In/NotIn/Exists/DoesNotExist/Gt/Lt expressions),
   and it tolerates each NoSchedule and NoExecute taint. A workload no pool can host
   fails, naming it and why each pool refused it.
2. DaemonSet pods take their requests on every node of each pool they can run on; what
   is left of a node is its room.
3. A pod larger than the room of one node of every pool it may go to fails, whatever
   the pools' totals.
4. Pods are then placed node by node at each pool's minimum size: first the pods that
   only one pool can host, then the others, each set largest memory request first
   (then CPU), each pod on the first node with room for its CPU, memory and one more
   pod, the pools tried in the order given (worker pools, then control planes).
5. Per pool, the DaemonSets, the pods placed there and the pods only it can host but
   that found no room must fit its allocatable at minimum size (CPU, memory, pods);
   every resource over is a failure naming the pool. Any other pod left without a node
   fails, naming the workload, its pools and the resource short.
Not modelled: pod affinity and anti-affinity and topology spread constraints (a
workload with a required one is noted), priorities and preemption, and the transient
taints of a node that is not ready yet.
"""

from __future__ import annotations

import functools
import math
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from components.cluster import userdata
from tools import harness, helm_render
from tools.render import kubernetes_objects

DATA = Path(__file__).parent / "data"
INSTANCE_TYPES = DATA / "aws-instance-types.yaml"
KUBEADM_COMPONENTS = DATA / "kubeadm-kube-system.yaml"

INSTANCE = "aws:ec2/instance:Instance"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
AUTO_SCALING_GROUP = "aws:autoscaling/group:Group"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
CONTROL_PLANE_POOL = "control-plane"
SCHEDULING_EFFECTS = ("NoSchedule", "NoExecute")
MIB = 1024**2
GIB = 1024**3


@functools.cache
def instance_types() -> dict[str, Any]:
    return yaml.safe_load(INSTANCE_TYPES.read_text())


@functools.cache
def kubeadm_components() -> dict[str, Any]:
    return yaml.safe_load(KUBEADM_COMPONENTS.read_text())


# -- quantities ---------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}


def _quantity(value: object) -> Decimal:
    match = _QUANTITY.match(str(value).strip())
    if not match or (match.group(2) not in _BINARY and match.group(2) not in _DECIMAL):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = Decimal(match.group(1)), match.group(2)
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def millicores(value: object) -> int:
    """A CPU quantity in millicores, rounded up as the API server rounds it."""
    return math.ceil(_quantity(value) * 1000)


def byte_count(value: object) -> int:
    return math.ceil(_quantity(value))


# -- the model ------------------------------------------------------------------------


@dataclass(frozen=True)
class Resources:
    cpu: int = 0  # millicores
    memory: int = 0  # bytes
    pods: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.cpu + other.cpu, self.memory + other.memory, self.pods + other.pods)

    def __sub__(self, other: Resources) -> Resources:
        return Resources(self.cpu - other.cpu, self.memory - other.memory, self.pods - other.pods)

    def times(self, count: int) -> Resources:
        return Resources(self.cpu * count, self.memory * count, self.pods * count)

    def short_of(self, room: Resources) -> list[str]:
        """The resources this needs more of than `room` has."""
        names = [("CPU", self.cpu, room.cpu), ("memory", self.memory, room.memory), ("pods", self.pods, room.pods)]
        return [name for name, need, have in names if need > have]

    def fits(self, room: Resources) -> bool:
        return not self.short_of(room)

    def peak(self, other: Resources) -> Resources:
        return Resources(max(self.cpu, other.cpu), max(self.memory, other.memory), max(self.pods, other.pods))


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        return f"{self.key}{'=' + self.value if self.value else ''}:{self.effect}"


@dataclass(frozen=True)
class Placement:
    """Where a pod may go: its nodeSelector, the matchExpressions of each of its required
    node affinity's nodeSelectorTerms (None: no required affinity), its tolerations."""

    node_selector: Mapping[str, str] = field(default_factory=dict)
    affinity_terms: tuple[tuple[Mapping[str, Any], ...], ...] | None = None
    tolerations: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Workload:
    name: str  # "<source>: <Kind> <namespace>/<name>"
    pod: Resources  # one pod's requests; pods is 1 (or the number of pods it stands for)
    replicas: int = 1  # ignored per node
    per_node: bool = False  # a DaemonSet: one pod on every node it can run on
    steady: bool = True  # False: runs to completion (Job, CronJob), not summed
    placement: Placement = field(default_factory=Placement)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pool:
    name: str
    nodes: int  # at its minimum size
    allocatable: Resources  # per node
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    instance_type: str = ""
    basis: str = ""  # how `allocatable` was computed, for the reader
    problem: str = ""  # why its capacity is unknown (then it counts as none)


@dataclass(frozen=True)
class PoolUsage:
    pool: Pool
    requested: Resources

    @property
    def allocatable(self) -> Resources:
        return self.pool.allocatable.times(self.pool.nodes)

    @property
    def headroom(self) -> Resources:
        return self.allocatable - self.requested


@dataclass
class Report:
    usage: list[PoolUsage] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    not_counted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""  # why the stack has nothing to check

    @property
    def passed(self) -> bool:
        return not self.failures


# -- placement -------------------------------------------------------------------------


def _tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Taint) -> bool:
    for toleration in tolerations:
        effect = toleration.get("effect") or ""
        if effect and effect != taint.effect:
            continue
        key = toleration.get("key") or ""
        exists = (toleration.get("operator") or "Equal") == "Exists"
        if not key:
            if exists:  # no key, Exists: every taint
                return True
            continue
        if key == taint.key and (exists or str(toleration.get("value") or "") == taint.value):
            return True
    return False


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = [str(v) for v in expression.get("values") or []]
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and key in labels and labels[key].lstrip("-").isdigit():
        bound = int(values[0])
        return int(labels[key]) > bound if operator == "Gt" else int(labels[key]) < bound
    return False


def refusal(pool: Pool, placement: Placement) -> str | None:
    """Why the pool cannot host a pod placed so; None when it can."""
    for key, value in placement.node_selector.items():
        if pool.labels.get(key) != value:
            return f"nodeSelector {key}={value}"
    terms = placement.affinity_terms
    # An empty term matches no node (the API's rule), so affinity with only empty terms matches none.
    if terms is not None and not any(term and all(_expression_holds(e, pool.labels) for e in term) for term in terms):
        return "required node affinity"
    for taint in pool.taints:
        if taint.effect in SCHEDULING_EFFECTS and not _tolerates(placement.tolerations, taint):
            return f"taint {taint} not tolerated"
    return None


# -- the check -------------------------------------------------------------------------


def _cores(millis: int) -> str:
    return f"{millis / 1000:.2f}"


def _gib(count: int) -> str:
    return f"{count / GIB:.2f}"


def describe(resources: Resources) -> str:
    return f"CPU {_cores(resources.cpu)}, memory {_gib(resources.memory)} GiB"


def _amount(resource: str, value: int) -> str:
    return f"{_cores(value)} cores" if resource == "CPU" else f"{_gib(value)} GiB"


def _value(resources: Resources, resource: str) -> int:
    return {"CPU": resources.cpu, "memory": resources.memory, "pods": resources.pods}[resource]


def check(workloads: Sequence[Workload], pools: Sequence[Pool]) -> Report:
    report = Report()
    report.failures += [f"{p.name}: {p.problem}" for p in pools if p.problem]
    hosts: dict[str, list[Pool]] = {}  # workload name -> the pools that may host it
    for workload in workloads:
        refusals = {pool.name: refusal(pool, workload.placement) for pool in pools}
        hosts[workload.name] = [pool for pool in pools if refusals[pool.name] is None]
        report.notes += [f"{workload.name}: {note}" for note in workload.notes]
        if not hosts[workload.name]:
            why = "; ".join(f"{name}: {reason}" for name, reason in refusals.items()) or "there are no pools"
            report.failures.append(f"{workload.name}: no pool can host it ({why})")

    daemons: dict[str, Resources] = {pool.name: Resources() for pool in pools}  # per node
    for workload in workloads:
        if workload.per_node and workload.steady:
            for pool in hosts[workload.name]:
                daemons[pool.name] += workload.pod
    room = {pool.name: pool.allocatable - daemons[pool.name] for pool in pools}  # of one node

    for workload in workloads:
        if workload.per_node or not hosts[workload.name]:
            continue
        if not any(workload.pod.fits(room[pool.name]) for pool in hosts[workload.name]):
            rooms = ", ".join(f"{p.name} {describe(room[p.name])}" for p in hosts[workload.name])
            report.failures.append(
                f"{workload.name}: one pod ({describe(workload.pod)}) is larger than any node it may run on "
                f"(room per node after DaemonSets: {rooms})"
            )
        if not workload.steady:
            report.not_counted.append(f"{workload.name}: runs to completion, not summed ({describe(workload.pod)})")

    nodes = [(pool, [room[pool.name]] * pool.nodes) for pool in pools]
    requested = {pool.name: daemons[pool.name].times(pool.nodes) for pool in pools}
    unplaced: dict[str, int] = {}
    placeable = [w for w in workloads if w.steady and not w.per_node and hosts[w.name]]
    order = sorted(placeable, key=lambda w: (len(hosts[w.name]) > 1, -w.pod.memory, -w.pod.cpu))
    for workload in order:
        eligible = {pool.name for pool in hosts[workload.name]}
        for _ in range(workload.replicas):
            if not _place(workload.pod, nodes, eligible, requested):
                unplaced[workload.name] = unplaced.get(workload.name, 0) + 1
                if len(eligible) == 1:  # its pool must hold it: counted there
                    requested[next(iter(eligible))] += workload.pod

    over: set[str] = set()
    for pool in pools:
        total = pool.allocatable.times(pool.nodes)
        for resource in requested[pool.name].short_of(total):
            over.add(pool.name)
            need, have = _value(requested[pool.name], resource), _value(total, resource)
            at_minimum = f"at its minimum of {pool.nodes} {'node' if pool.nodes == 1 else 'nodes'}"
            if resource == "pods":
                report.failures.append(
                    f"{pool.name}: pod count {need} exceeds the {have} its maxPods allows {at_minimum}"
                )
            else:
                report.failures.append(
                    f"{pool.name}: {resource} requests {_amount(resource, need)} exceed allocatable "
                    f"{_amount(resource, have)} {at_minimum}"
                )
    for workload in order:
        count = unplaced.get(workload.name, 0)
        names = [pool.name for pool in hosts[workload.name]]
        if not count or (len(names) == 1 and names[0] in over):
            continue
        free = [node for pool, pool_nodes in nodes if pool.name in names for node in pool_nodes]
        widest = functools.reduce(Resources.peak, free, Resources(-1, -1, -1))
        short = workload.pod.short_of(widest) or ["no node has room for all of CPU, memory and a pod at once"]
        report.failures.append(
            f"{workload.name}: {count} of {workload.replicas} pods ({describe(workload.pod)} each) fit on no node "
            f"of {', '.join(names)} at minimum size ({', '.join(short)} short)"
        )
    report.usage = [PoolUsage(pool, requested[pool.name]) for pool in pools]
    return report


def _place(
    pod: Resources, nodes: list[tuple[Pool, list[Resources]]], eligible: set[str], requested: dict[str, Resources]
) -> bool:
    for pool, pool_nodes in nodes:
        if pool.name not in eligible:
            continue
        for index, free in enumerate(pool_nodes):
            if pod.fits(free):
                pool_nodes[index] = free - pod
                requested[pool.name] += pod
                return True
    return False


# -- what a stack deploys --------------------------------------------------------------


def _container_requests(container: Mapping[str, Any]) -> Resources:
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    cpu = requests.get("cpu", limits.get("cpu"))
    memory = requests.get("memory", limits.get("memory"))
    return Resources(millicores(cpu) if cpu is not None else 0, byte_count(memory) if memory is not None else 0)


def pod_requests(spec: Mapping[str, Any]) -> Resources:
    """What the scheduler reserves for one pod of this spec."""
    sidecars = Resources()
    init_peak = Resources()
    for container in spec.get("initContainers") or []:
        need = _container_requests(container)
        if container.get("restartPolicy") == "Always":  # a sidecar: it keeps running
            sidecars += need
            init_peak = init_peak.peak(sidecars)
        else:
            init_peak = init_peak.peak(sidecars + need)
    running = sidecars
    for container in spec.get("containers") or []:
        running += _container_requests(container)
    overhead = spec.get("overhead") or {}
    extra = Resources(
        millicores(overhead["cpu"]) if "cpu" in overhead else 0,
        byte_count(overhead["memory"]) if "memory" in overhead else 0,
    )
    return running.peak(init_peak) + extra + Resources(pods=1)


def placement_of(spec: Mapping[str, Any]) -> Placement:
    affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    terms = None
    if required is not None:
        terms = tuple(tuple(term.get("matchExpressions") or ()) for term in required.get("nodeSelectorTerms") or [])
    return Placement(
        node_selector={str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()},
        affinity_terms=terms,
        tolerations=tuple(spec.get("tolerations") or ()),
    )


def _unmodelled(spec: Mapping[str, Any]) -> tuple[str, ...]:
    affinity = spec.get("affinity") or {}
    notes = [
        f"required {kind} is not modelled"
        for kind in ("podAffinity", "podAntiAffinity")
        if (affinity.get(kind) or {}).get("requiredDuringSchedulingIgnoredDuringExecution")
    ]
    if any(c.get("whenUnsatisfiable") == "DoNotSchedule" for c in spec.get("topologySpreadConstraints") or []):
        notes.append("a DoNotSchedule topology spread constraint is not modelled")
    return tuple(notes)


_REPLICATED = ("Deployment", "ReplicaSet", "StatefulSet", "ReplicationController")


def _pod_spec(manifest: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind, spec = manifest.get("kind"), manifest.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in (*_REPLICATED, "DaemonSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return None


def _reloader(objects: Iterable[Mapping[str, Any]]) -> tuple[Resources, bool]:
    """The config-reloader's requests the Prometheus operator gives its pods, from the
    operator Deployment's command line; and whether the flags were found."""
    flags: dict[str, str] = {}
    for manifest in objects:
        if manifest.get("kind") != "Deployment":
            continue
        for container in (_pod_spec(manifest) or {}).get("containers") or []:
            for arg in [*(container.get("args") or []), *(container.get("command") or [])]:
                name, _, value = str(arg).partition("=")
                if name in ("--config-reloader-cpu-request", "--config-reloader-memory-request"):
                    flags[name] = value
    cpu = flags.get("--config-reloader-cpu-request")
    memory = flags.get("--config-reloader-memory-request")
    found = cpu is not None and memory is not None
    return Resources(millicores(cpu) if cpu else 0, byte_count(memory) if memory else 0), found


def _operator_workload(
    source: str, manifest: Mapping[str, Any], namespace: str, reloader: tuple[Resources, bool]
) -> Workload:
    """A Prometheus or an Alertmanager as the pods its operator makes of it."""
    spec, kind = manifest.get("spec") or {}, manifest["kind"]
    main = {"name": kind.lower(), "resources": spec.get("resources") or {}}
    pod = pod_requests({"containers": [main]}) + Resources(reloader[0].cpu, reloader[0].memory)
    replicas = int(spec.get("replicas", 1)) * (int(spec.get("shards", 1)) if kind == "Prometheus" else 1)
    notes = () if reloader[1] else ("its config-reloader's requests are not rendered: not counted",)
    return Workload(
        f"{source}: {kind} {namespace}/{manifest['metadata']['name']} (pods made by its operator)",
        pod,
        replicas,
        placement=placement_of(spec),
        notes=notes + _unmodelled(spec),
    )


def _objects(graph: harness.Graph, rendered: Iterable[helm_render.Rendered]) -> Iterator[tuple[str, str, dict]]:
    """(source, default namespace, manifest) of every object the stack applies."""
    for manifest in kubernetes_objects(graph):
        if "kind" in manifest:
            yield "podium", "default", manifest
    for release in rendered:
        for manifest in release.objects:
            yield release.release, release.namespace, manifest
    kube_version = str(graph.exports.get("kubernetesVersion", ""))
    for chart in graph.of_type(helm_render.HELM_CHART):
        # The same call as helm_render.stack_crds makes: a cached render, not a new one.
        for manifest in helm_render.template(
            chart.inputs["chart"],
            release=chart.inputs.get("name") or chart.name,
            namespace=chart.inputs.get("namespace") or "default",
            values=chart.inputs.get("values") or {},
            kube_version=kube_version,
        ):
            yield chart.inputs.get("name") or chart.name, chart.inputs.get("namespace") or "default", manifest


def workloads_of(graph: harness.Graph, rendered: Iterable[helm_render.Rendered]) -> list[Workload]:
    """Every pod the stack runs, from what the program registers and the charts render,
    and kubeadm's own kube-system pods on a kubeadm cluster."""
    objects = list(_objects(graph, rendered))
    minimums: dict[tuple[str, str, str], int] = {}  # (namespace, kind, name) -> HPA minReplicas
    for _, default_namespace, manifest in objects:
        if manifest.get("kind") == "HorizontalPodAutoscaler":
            spec = manifest.get("spec") or {}
            target = spec.get("scaleTargetRef") or {}
            namespace = (manifest.get("metadata") or {}).get("namespace") or default_namespace
            minimums[(namespace, target.get("kind", ""), target.get("name", ""))] = int(spec.get("minReplicas", 1))
    reloader = _reloader(m for _, _, m in objects)

    workloads: list[Workload] = []
    for source, default_namespace, manifest in objects:
        kind = manifest.get("kind", "")
        metadata = manifest.get("metadata") or {}
        namespace = metadata.get("namespace") or default_namespace
        name = metadata.get("name", "")
        if kind in ("Prometheus", "Alertmanager") and str(manifest.get("apiVersion", "")).startswith(
            "monitoring.coreos.com/"
        ):
            workloads.append(_operator_workload(source, manifest, namespace, reloader))
            continue
        spec = _pod_spec(manifest)
        if spec is None:
            continue
        label = f"{source}: {kind} {namespace}/{name}"
        replicas = 1
        if kind in _REPLICATED:
            replicas = minimums.get((namespace, kind, name), int((manifest.get("spec") or {}).get("replicas", 1)))
        workloads.append(
            Workload(
                label,
                pod_requests(spec),
                replicas,
                per_node=kind == "DaemonSet",
                steady=kind not in ("Job", "CronJob"),
                placement=placement_of(spec),
                notes=_unmodelled(spec),
            )
        )
    init = _init_documents(graph)
    if init:
        workloads += _kubeadm_workloads(init)
    return workloads


def operator_pods_not_counted(rendered: Iterable[helm_render.Rendered]) -> list[str]:
    """The operator-made pods the check leaves out, and why, for the report."""
    lines = []
    for release in rendered:
        for installation in release.of_kind("Installation"):
            spec = installation.get("spec") or {}
            sized = [key for key in spec if key == "componentResources" or key.endswith(("DaemonSet", "Deployment"))]
            state = (
                f"but it sets {', '.join(sized)}: those requests are NOT counted"
                if sized
                else "which sets no component resources, so they request nothing"
            )
            lines.append(
                f"{release.release}: the pods the tigera operator makes from Installation "
                f"{installation['metadata']['name']} (calico-node, typha, kube-controllers, csi-node-driver), {state}"
            )
    return lines


def _kubeadm_workloads(init: Sequence[Mapping[str, Any]]) -> list[Workload]:
    data = kubeadm_components()
    on_control_planes = Placement(node_selector={CONTROL_PLANE_LABEL: ""}, tolerations=({"operator": "Exists"},))
    workloads = [
        Workload(
            f"kubeadm: static pod kube-system/{name} (on every control plane)",
            pod_requests({"containers": [{"name": name, "resources": {"requests": requests}}]}),
            per_node=True,
            placement=on_control_planes,
        )
        for name, requests in data["staticPodsPerControlPlane"].items()
    ]
    skipped = {str(p) for d in init for p in d.get("skipPhases") or []}
    cluster = next((d for d in init if d.get("kind") == "ClusterConfiguration"), {})
    disabled = {
        "coredns": "addon/coredns" in skipped or (cluster.get("dns") or {}).get("disabled", False),
        "kube-proxy": "addon/kube-proxy" in skipped or (cluster.get("proxy") or {}).get("disabled", False),
    }
    for name, manifest in data["addons"].items():
        if disabled.get(name):
            continue
        spec = manifest["spec"]["template"]["spec"]
        workloads.append(
            Workload(
                f"kubeadm: {manifest['kind']} kube-system/{name}",
                pod_requests(spec),
                int(manifest["spec"].get("replicas", 1)),
                per_node=manifest["kind"] == "DaemonSet",
                placement=placement_of(spec),
            )
        )
    return workloads


# -- the pools -------------------------------------------------------------------------

_KUBEADM_CONFIG = re.compile(r"^kubeadm_config=", re.MULTILINE)


def kubeadm_documents(inputs: Mapping[str, object]) -> list[dict[str, Any]]:
    """The kubeadm (and kubelet) documents an instance's or a launch template's user data
    hands to kubeadm; none when it is no Kubernetes node."""
    value = inputs.get("userDataBase64") or inputs.get("userData")
    if not isinstance(value, str) or not value:
        return []
    script = userdata.script_of(inputs)
    found = _KUBEADM_CONFIG.search(script)
    if not found:
        return []
    lexer = shlex.shlex(script[found.end() :], posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    return [d for d in yaml.safe_load_all(lexer.get_token() or "") if isinstance(d, dict)]


def _registration(documents: Sequence[Mapping[str, Any]]) -> tuple[str, Mapping[str, Any]] | None:
    """("control-plane" or "worker", nodeRegistration) of a node's documents."""
    for document in documents:
        if document.get("kind") == "InitConfiguration":
            return "control-plane", document.get("nodeRegistration") or {}
        if document.get("kind") == "JoinConfiguration":
            role = "control-plane" if document.get("controlPlane") else "worker"
            return role, document.get("nodeRegistration") or {}
    return None


def _init_documents(graph: harness.Graph) -> list[dict[str, Any]]:
    for instance in graph.of_type(INSTANCE):
        documents = kubeadm_documents(instance.inputs)
        if any(d.get("kind") == "InitConfiguration" for d in documents):
            return documents
    return []


def _node_labels_and_taints(
    role: str, registration: Mapping[str, Any], instance_type: str
) -> tuple[dict[str, str], tuple[Taint, ...]]:
    labels = {"kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": instance_type}
    arch = (instance_types()["instanceTypes"].get(instance_type) or {}).get("arch")
    if arch:
        labels["kubernetes.io/arch"] = arch
    for argument in registration.get("kubeletExtraArgs") or []:
        if argument.get("name") == "node-labels":
            for pair in str(argument.get("value", "")).split(","):
                key, _, value = pair.partition("=")
                if key:
                    labels[key] = value
    if role == "control-plane":
        labels[CONTROL_PLANE_LABEL] = ""  # kubeadm's mark-control-plane phase
    if "taints" in registration and registration["taints"] is not None:
        taints = tuple(Taint(t["key"], str(t.get("value") or ""), t["effect"]) for t in registration["taints"])
    elif role == "control-plane":
        taints = (Taint(CONTROL_PLANE_LABEL, "", "NoSchedule"),)  # kubeadm's default
    else:
        taints = ()
    return labels, taints


def _allocatable(instance_type: str, kubelet: Mapping[str, Any]) -> tuple[Resources, str, str]:
    """(allocatable per node, how it was computed, the problem if it cannot be)."""
    spec = instance_types()["instanceTypes"].get(instance_type)
    if spec is None:
        return Resources(), "", f"instance type {instance_type} has no entry in {INSTANCE_TYPES.name}: capacity unknown"
    defaults = kubeadm_components()["kubeletDefaults"]
    overhead = Decimal(str(instance_types()["assumptions"]["memoryOverheadFraction"]))
    memory = int(spec["memoryMiB"] * MIB * (1 - overhead))
    cpu = spec["vcpu"] * 1000
    reserved = Resources()
    for key in ("systemReserved", "kubeReserved"):
        part = kubelet.get(key) or {}
        reserved += Resources(
            millicores(part["cpu"]) if "cpu" in part else 0, byte_count(part["memory"]) if "memory" in part else 0
        )
    eviction = _eviction_bytes(defaults["evictionHard"]["memory.available"], memory)
    rendered = (kubelet.get("evictionHard") or {}).get("memory.available")
    if rendered is not None:
        eviction = max(eviction, _eviction_bytes(rendered, memory))
    max_pods = int(kubelet.get("maxPods") or defaults["maxPods"])
    allocatable = Resources(cpu - reserved.cpu, memory - reserved.memory - eviction, max_pods)
    kept = f"systemReserved + kubeReserved {describe(reserved)}" if reserved != Resources() else "nothing reserved"
    basis = (
        f"{instance_type}: {spec['vcpu']} vCPU, {spec['memoryMiB']} MiB less {float(overhead):.1%} assumed kernel "
        f"share; {kept}; evictionHard memory.available {eviction // MIB} MiB; maxPods {max_pods}"
    )
    return allocatable, basis, ""


def _eviction_bytes(threshold: object, capacity: int) -> int:
    text = str(threshold)
    if text.endswith("%"):
        return math.ceil(capacity * Decimal(text[:-1]) / 100)
    return byte_count(text)


def _group_template(graph: harness.Graph, group: harness.Resource) -> harness.Resource | None:
    inputs = group.inputs
    reference = inputs.get("launchTemplate") or {}
    template_id = reference.get("id")
    mixed = inputs.get("mixedInstancesPolicy") or {}
    if not template_id and mixed:
        template_id = ((mixed.get("launchTemplate") or {}).get("launchTemplateSpecification") or {}).get(
            "launchTemplateId"
        )
    found = graph.resolve(template_id) if template_id else None
    if found is None:  # graphs made by hand carry the template as a dependency
        by_urn = {r.urn: r for r in graph.resources}
        found = next((by_urn[u] for u in group.dependencies if u in by_urn and by_urn[u].type == LAUNCH_TEMPLATE), None)
    return found


def _group_types(group: harness.Resource, template: harness.Resource) -> list[str]:
    mixed = group.inputs.get("mixedInstancesPolicy") or {}
    overrides = [o["instanceType"] for o in (mixed.get("launchTemplate") or {}).get("overrides") or []]
    return overrides or [str(template.inputs.get("instanceType", ""))]


def _smallest(types: Sequence[str]) -> str:
    """Of the types a group may launch, the one with the least memory (an unknown type
    first: it fails the check by name)."""
    known = instance_types()["instanceTypes"]
    return min(types, key=lambda t: (t in known, (known.get(t) or {}).get("memoryMiB", 0), t))


def _parent_name(resource: harness.Resource) -> str:
    return resource.parent.rsplit("::", 1)[-1] if resource.parent else ""


def pools_of(graph: harness.Graph) -> list[Pool]:
    """The worker pools (in the graph's order) and then the control planes, each at its
    minimum size."""
    kubelet = next((d for d in _init_documents(graph) if d.get("kind") == "KubeletConfiguration"), {})
    workers: dict[str, dict[str, Any]] = {}  # by launch template URN
    for group in graph.of_type(AUTO_SCALING_GROUP):
        template = _group_template(graph, group)
        if template is None:
            continue
        found = _registration(kubeadm_documents(template.inputs))
        if found is None:
            continue  # no Kubernetes node (a NAT instance's group)
        role, registration = found
        entry = workers.setdefault(
            template.urn,
            {
                "name": _parent_name(group) or template.name,
                "role": role,
                "registration": registration,
                "types": [],
                "nodes": 0,
            },
        )
        entry["types"] += _group_types(group, template)
        entry["nodes"] += int(group.inputs.get("minSize", 0))
    planes: dict[str, dict[str, Any]] = {}  # by instance type
    for instance in graph.of_type(INSTANCE):
        found = _registration(kubeadm_documents(instance.inputs))
        if found is None or found[0] != "control-plane":
            continue
        instance_type = str(instance.inputs.get("instanceType", ""))
        entry = planes.setdefault(instance_type, {"registration": found[1], "nodes": 0})
        entry["nodes"] += 1

    pools = []
    for entry in workers.values():
        instance_type = _smallest(entry["types"])
        labels, taints = _node_labels_and_taints(entry["role"], entry["registration"], instance_type)
        allocatable, basis, problem = _allocatable(instance_type, kubelet)
        pools.append(Pool(entry["name"], entry["nodes"], allocatable, labels, taints, instance_type, basis, problem))
    for instance_type, entry in planes.items():
        name = CONTROL_PLANE_POOL if len(planes) == 1 else f"{CONTROL_PLANE_POOL}-{instance_type}"
        labels, taints = _node_labels_and_taints("control-plane", entry["registration"], instance_type)
        allocatable, basis, problem = _allocatable(instance_type, kubelet)
        pools.append(Pool(name, entry["nodes"], allocatable, labels, taints, instance_type, basis, problem))
    return pools


def stack_report(graph: harness.Graph, rendered: Iterable[helm_render.Rendered]) -> Report:
    """The check as the plan runs it; a stack without cloud node pools is skipped."""
    pools = pools_of(graph)
    if not pools:
        return Report(skipped="no cloud node pools (cluster.mode existing): the cluster's capacity is not Podium's")
    releases = list(rendered)
    report = check(workloads_of(graph, releases), pools)
    report.not_counted += operator_pods_not_counted(releases)
    return report


# -- the table -------------------------------------------------------------------------


def render(report: Report) -> list[str]:
    if report.skipped:
        return [f"Capacity check: skipped, {report.skipped}"]
    status = "PASS" if report.passed else f"FAIL ({len(report.failures)} problems)"
    lines = [f"Capacity check at each pool's minimum size (pod requests against node allocatable): {status}"]
    header = (
        f"  {'pool':<16} {'type':<10} {'nodes':>5} | {'alloc CPU':>9} {'mem GiB':>8} {'pods':>5}"
        f" | {'req CPU':>8} {'mem GiB':>8} {'pods':>5} | {'free CPU':>8} {'mem GiB':>8} {'pods':>5}"
    )
    lines.append(header)
    for usage in report.usage:
        a, r, h = usage.allocatable, usage.requested, usage.headroom
        lines.append(
            f"  {usage.pool.name:<16} {usage.pool.instance_type:<10} {usage.pool.nodes:>5}"
            f" | {_cores(a.cpu):>9} {_gib(a.memory):>8} {a.pods:>5}"
            f" | {_cores(r.cpu):>8} {_gib(r.memory):>8} {r.pods:>5}"
            f" | {_cores(h.cpu):>8} {_gib(h.memory):>8} {h.pods:>5}"
        )
    lines += [f"  per node, {usage.pool.name}: {usage.pool.basis}" for usage in report.usage if usage.pool.basis]
    lines += [f"  FAIL {failure}" for failure in report.failures]
    lines += [f"  not counted: {line}" for line in report.not_counted]
    lines += [f"  note: {line}" for line in report.notes]
    return lines

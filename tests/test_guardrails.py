"""The guardrails' CEL, evaluated by a real CEL implementation on crafted admission requests.

`common-expression-language` (module `cel`) wraps the Rust `cel` crate; each expression
is compiled once. `review` plays the API server's part for one policy: the resource
rules, the match conditions, the variables in order, then each validation and, when one
is false, its messageExpression (the static message when that fails or is blank or
multi-line, as the API server does).

What the Python evaluation covers: standard CEL as the policies use it (has, macros,
`in`, size, matches, startsWith/endsWith/contains, string(), ternaries, list
concatenation, deep equality, null), and the errors cel-go raises for a field that is
absent (`object.a.b` and `has(object.a.b)` with `a` missing both fail here too, see
the last test), so an unguarded access shows as an error rather than a pass. What it
does not cover: the API server's type checking against each kind's schema and its
homogeneous-literal check (every literal in the policies holds one type); runtime cost
budgets; equality that ignores order for lists of type set or map (here any reordering
counts as a change, the stricter direction); lazy variables (evaluated eagerly here,
which differs only when a variable errors, and every error fails a test); RE2 versus
Rust regex (the patterns use ASCII classes both read alike). No Kubernetes CEL library
function (quantity, split, url...) is used, so none needs covering.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import cel
import kubernetes_validate
import pytest

from components.platform import guardrails
from tests.conftest import graph_for
from tests.netpol import selects
from tools import render

OBJECTS = guardrails.admission_objects()
POLICIES = {o["metadata"]["name"]: o for o in OBJECTS if o["kind"] == "ValidatingAdmissionPolicy"}
BINDINGS = {o["metadata"]["name"]: o for o in OBJECTS if o["kind"] == "ValidatingAdmissionPolicyBinding"}
IMAGES, RESOURCES, HOST, LOAD_BALANCERS = (
    "podium-images-pinned",
    "podium-resources-declared",
    "podium-no-host-access",
    "podium-load-balancers-allowed",
)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
# kind -> (group, version, resource), as the request names them.
RESOURCE_OF = {
    "Pod": ("", "v1", "pods"),
    "Service": ("", "v1", "services"),
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
    "Ingress": ("networking.k8s.io", "v1", "ingresses"),
}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}},
    }


GUARDED = {guardrails.ENFORCED_LABEL: guardrails.ENFORCED}
TEAM_A = namespace("team-a", **GUARDED)
TEAM_LB = namespace("team-lb", **GUARDED, **{guardrails.LOAD_BALANCERS_LABEL: guardrails.ALLOWED})

FULL_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
DIGEST = "sha256:" + "0123456789abcdef" * 4


def container(name: str = "api", image: str = "ghcr.io/acme/api:1.4.2", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "resources": copy.deepcopy(FULL_RESOURCES), **fields}


def pod_spec(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"containers": list(containers) or [container()], **fields}


def workload(kind: str, spec: dict[str, Any] | None = None, name: str = "api") -> dict[str, Any]:
    spec = spec or pod_spec()
    group, version, _ = RESOURCE_OF[kind]
    metadata = {"name": name, "namespace": "team-a"}
    template = {"metadata": {"labels": {"app": name}}, "spec": spec}
    selector = {"matchLabels": {"app": name}}
    job_template = {**template, "spec": {**spec, "restartPolicy": "Never"}}
    specs = {
        "Pod": spec,
        "Deployment": {"selector": selector, "template": template},
        "StatefulSet": {"selector": selector, "serviceName": name, "template": template},
        "DaemonSet": {"selector": selector, "template": template},
        "ReplicaSet": {"selector": selector, "replicas": 2, "template": template},
        "Job": {"template": job_template},
        "CronJob": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": job_template}}},
    }
    return {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": kind,
        "metadata": metadata,
        "spec": specs[kind],
    }


def service(service_type: str | None, name: str = "web") -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}
    if service_type:
        spec["type"] = service_type
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "team-a"}, "spec": spec}


@functools.cache
def program(expression: str) -> cel.Program:
    return cel.compile(expression)


@dataclass(frozen=True)
class Verdict:
    applies: bool
    refused: bool = False
    message: str = ""


ALLOWED = Verdict(applies=True)
SKIPPED = Verdict(applies=False)


def _request(obj: dict[str, Any], operation: str, subresource: str, ns: dict[str, Any]) -> dict[str, Any]:
    group, version, resource = RESOURCE_OF[obj["kind"]]
    kind = {"group": group, "version": version, "kind": obj["kind"]}
    resource_ref = {"group": group, "version": version, "resource": resource}
    return {
        "uid": "00000000-0000-0000-0000-000000000000",
        "kind": kind,
        "resource": resource_ref,
        "subResource": subresource,
        "requestKind": kind,
        "requestResource": resource_ref,
        "requestSubResource": subresource,
        "name": obj["metadata"]["name"],
        "namespace": ns["metadata"]["name"],
        "operation": operation,
        "userInfo": {"username": "podium:tenant:team-a:1", "groups": ["podium:tenants", "system:authenticated"]},
        "dryRun": False,
    }


def _rules_match(policy: dict[str, Any], request: dict[str, Any]) -> bool:
    resource = request["resource"]["resource"]
    if request["subResource"]:
        resource += "/" + request["subResource"]
    return any(
        request["resource"]["group"] in rule["apiGroups"]
        and request["resource"]["version"] in rule["apiVersions"]
        and request["operation"] in rule["operations"]
        and resource in rule["resources"]
        for rule in policy["spec"]["matchConstraints"]["resourceRules"]
    )


def review(
    name: str,
    obj: dict[str, Any],
    *,
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    ns: dict[str, Any] = TEAM_A,
    subresource: str = "",
) -> Verdict:
    """What the API server decides for one policy (its binding already selected `ns`)."""
    spec = POLICIES[name]["spec"]
    request = _request(obj, operation, subresource, ns)
    if not _rules_match(POLICIES[name], request):
        return SKIPPED
    activation: dict[str, Any] = {
        "object": obj,
        "oldObject": old,
        "request": request,
        "namespaceObject": ns,
        "params": None,
    }
    if not all(
        program(condition["expression"]).execute(activation) is True for condition in spec.get("matchConditions", [])
    ):
        return SKIPPED
    variables: dict[str, Any] = {}
    for variable in spec.get("variables", []):
        variables[variable["name"]] = program(variable["expression"]).execute({**activation, "variables": variables})
    activation["variables"] = variables
    for validation in spec["validations"]:
        if program(validation["expression"]).execute(activation) is not True:
            try:
                message = program(validation["messageExpression"]).execute(activation)
            except Exception:  # noqa: BLE001 - the API server falls back on the static message too
                message = None
            if not isinstance(message, str) or not message.strip() or "\n" in message:
                message = validation["message"]
            return Verdict(applies=True, refused=True, message=message)
    return ALLOWED


def review_all(obj: dict[str, Any], **kwargs: Any) -> dict[str, Verdict]:
    return {name: review(name, obj, **kwargs) for name in POLICIES}


# --- what passes ---


@pytest.mark.parametrize("kind", ["Pod", *WORKLOAD_KINDS])
def test_a_compliant_workload_passes_every_policy(kind: str) -> None:
    spec = pod_spec(
        container(securityContext={"privileged": False, "allowPrivilegeEscalation": False}),
        initContainers=[container("migrate", f"ghcr.io/acme/migrate@{DIGEST}")],
        volumes=[{"name": "scratch", "emptyDir": {}}],
    )
    verdicts = review_all(workload(kind, spec))
    assert all(not v.refused for v in verdicts.values()), verdicts
    assert verdicts[IMAGES] == verdicts[HOST] == ALLOWED
    assert verdicts[RESOURCES] == (ALLOWED if kind == "Pod" else SKIPPED)
    assert verdicts[LOAD_BALANCERS] == SKIPPED


@pytest.mark.parametrize(
    "image",
    [
        f"ghcr.io/acme/api@{DIGEST}",
        f"ghcr.io/acme/api:latest@{DIGEST}",  # the digest decides what runs
        "registry.example:5000/api:1.2.3",
        "nginx:1.27-alpine",
    ],
)
def test_a_version_tag_or_a_digest_passes(image: str) -> None:
    assert review(IMAGES, workload("Deployment", pod_spec(container(image=image)))) == ALLOWED


def test_a_template_without_resources_is_left_to_the_limit_range() -> None:
    bare = pod_spec({"name": "api", "image": "ghcr.io/acme/api:1.4.2"})
    assert all(not v.refused for v in review_all(workload("Deployment", bare)).values())
    # The Pod as LimitRanger completes it, before validating admission sees it.
    completed = pod_spec({"name": "api", "image": "ghcr.io/acme/api:1.4.2", "resources": FULL_RESOURCES})
    assert review(RESOURCES, workload("Pod", completed)) == ALLOWED


def test_a_load_balancer_passes_where_the_namespace_allows_one() -> None:
    assert review(LOAD_BALANCERS, service("LoadBalancer"), ns=TEAM_LB) == ALLOWED


@pytest.mark.parametrize("service_type", [None, "ClusterIP", "NodePort"])
def test_other_service_types_pass_anywhere(service_type: str | None) -> None:
    assert review(LOAD_BALANCERS, service(service_type)) == ALLOWED


# --- what is refused, and what the user is told ---

PIN = "; pin a version tag or a digest"
DECLARE = "; declare CPU and memory requests and limits (resources.requests and resources.limits)"
NOT_PRIVILEGED = "; remove it: privileged containers are not allowed in this namespace"
NO_HOST_NAMESPACE = (
    "; remove it: sharing the network, PID or IPC namespace of the node is not allowed in this namespace"
)
NO_HOST_PATH = ": hostPath mounts a directory of the node; use an emptyDir, a ConfigMap, a Secret or a PersistentVolumeClaim instead"


def _limits_without(resource: str) -> dict[str, Any]:
    resources = copy.deepcopy(FULL_RESOURCES)
    del resources["limits"][resource]
    return resources


REFUSALS = {
    "latest": (
        IMAGES,
        workload("Deployment", pod_spec(container(image="docker.io/acme/api:latest"))),
        "container api: image docker.io/acme/api:latest uses the tag latest" + PIN,
    ),
    "no tag": (
        IMAGES,
        workload("Deployment", pod_spec(container(image="nginx"))),
        "container api: image nginx has no version tag or digest (no tag means latest)" + PIN,
    ),
    "a registry port is not a tag": (
        IMAGES,
        workload("Deployment", pod_spec(container(image="registry.example:5000/acme/api"))),
        "container api: image registry.example:5000/acme/api has no version tag or digest (no tag means latest)" + PIN,
    ),
    "no image in a template": (
        IMAGES,
        workload("Deployment", pod_spec({"name": "api"})),
        "container api: no image is set" + PIN,
    ),
    "init container": (
        IMAGES,
        workload("Job", pod_spec(container(), initContainers=[container("migrate", "ghcr.io/acme/migrate:latest")])),
        "init container migrate: image ghcr.io/acme/migrate:latest uses the tag latest" + PIN,
    ),
    "two unpinned": (
        IMAGES,
        workload("Pod", pod_spec(container(image="a:latest"), container("sidecar", "b"))),
        "container api: image a:latest uses the tag latest" + PIN + " (and 1 more)",
    ),
    "missing memory limit on a Pod": (
        RESOURCES,
        workload("Pod", pod_spec(container(resources=_limits_without("memory")))),
        "container api: resources.limits.memory is not set" + DECLARE,
    ),
    "no resources at all on a Pod's init container": (
        RESOURCES,
        workload("Pod", pod_spec(container(), initContainers=[{"name": "migrate", "image": "m:1", "resources": {}}])),
        "init container migrate: resources.requests.cpu is not set" + DECLARE,
    ),
    "privileged": (
        HOST,
        workload("Deployment", pod_spec(container(securityContext={"privileged": True}))),
        "container api: securityContext.privileged is true" + NOT_PRIVILEGED,
    ),
    "hostNetwork": (
        HOST,
        workload("DaemonSet", pod_spec(hostNetwork=True)),
        "pod spec: hostNetwork is true" + NO_HOST_NAMESPACE,
    ),
    "hostPID": (
        HOST,
        workload("Pod", pod_spec(hostPID=True, hostNetwork=False)),
        "pod spec: hostPID is true" + NO_HOST_NAMESPACE,
    ),
    "hostPath": (
        HOST,
        workload("Deployment", pod_spec(volumes=[{"name": "node-logs", "hostPath": {"path": "/var/log"}}])),
        "volume node-logs" + NO_HOST_PATH,
    ),
    "load balancer in a namespace without the label": (
        LOAD_BALANCERS,
        service("LoadBalancer"),
        "service web: type LoadBalancer is not allowed in namespace team-a; use type ClusterIP and an Ingress"
        " through the ingress controller, or ask the platform team to allow load balancers for this namespace",
    ),
}


@pytest.mark.parametrize(("policy", "obj", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_violation_is_refused_with_what_to_change(policy: str, obj: dict[str, Any], message: str) -> None:
    assert review(policy, obj) == Verdict(applies=True, refused=True, message=message)


def test_a_cron_job_and_a_stateful_set_are_reached_through_the_pod_spec_variable() -> None:
    cron = workload("CronJob", pod_spec(container("report", "ghcr.io/acme/report:latest")))
    assert (
        review(IMAGES, cron).message == "container report: image ghcr.io/acme/report:latest uses the tag latest" + PIN
    )
    stateful = workload("StatefulSet", pod_spec(container("db", "mongo:8.0.4", securityContext={"privileged": True})))
    assert review(HOST, stateful).message == "container db: securityContext.privileged is true" + NOT_PRIVILEGED


def test_kubectl_debug_is_checked_through_the_ephemeral_containers_subresource() -> None:
    running = workload("Pod")
    debugged = copy.deepcopy(running)
    debugged["spec"]["ephemeralContainers"] = [
        {"name": "debugger", "image": "busybox", "securityContext": {"privileged": True}}
    ]
    update = {"operation": "UPDATE", "old": running, "subresource": "ephemeralcontainers"}
    assert review(IMAGES, debugged, **update).message == (
        "ephemeral container debugger: image busybox has no version tag or digest (no tag means latest)" + PIN
    )
    assert review(HOST, debugged, **update).message == (
        "ephemeral container debugger: securityContext.privileged is true" + NOT_PRIVILEGED
    )
    # It may carry no resources (the API refuses them), so that policy does not ask.
    assert review(RESOURCES, debugged, **update) == SKIPPED


# --- updates: what was admitted stays maintainable; a change is checked ---


def test_an_update_that_leaves_the_pod_spec_alone_is_not_checked() -> None:
    old = workload("ReplicaSet", pod_spec(container(image="acme/api:latest")))
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 0  # the Deployment controller scaling an old ReplicaSet down
    assert review(IMAGES, scaled, operation="UPDATE", old=old) == SKIPPED
    for image, refused in (("acme/api:1.0", False), ("acme/worker:latest", True)):
        changed = copy.deepcopy(old)
        changed["spec"]["template"]["spec"]["containers"][0]["image"] = image
        assert review(IMAGES, changed, operation="UPDATE", old=old).refused is refused


def test_an_existing_load_balancer_stays_updatable_but_a_service_cannot_become_one() -> None:
    existing = service("LoadBalancer")
    finalized = copy.deepcopy(existing)
    finalized["metadata"]["finalizers"] = ["service.kubernetes.io/load-balancer-cleanup"]
    assert review(LOAD_BALANCERS, finalized, operation="UPDATE", old=existing) == SKIPPED
    assert review(LOAD_BALANCERS, existing, operation="UPDATE", old=service("ClusterIP")).refused


# --- the objects themselves ---


def test_each_policy_fails_closed_and_each_binding_denies_in_guarded_namespaces() -> None:
    assert set(POLICIES) == set(BINDINGS) == {IMAGES, RESOURCES, HOST, LOAD_BALANCERS, POOLS, EXTERNAL_IPS, INGRESS}
    for name, policy in POLICIES.items():
        assert name.startswith("podium-")
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert all(v["messageExpression"] and v["message"] for v in policy["spec"]["validations"])
        binding = BINDINGS[name]["spec"]
        assert binding["policyName"] == name
        assert binding["validationActions"] == ["Deny"]
        assert binding["matchResources"]["namespaceSelector"]["matchLabels"] == GUARDED


def test_each_policy_matches_create_and_update_of_exactly_the_kinds_it_evaluates() -> None:
    def matched(name: str) -> set[str]:
        rules = POLICIES[name]["spec"]["matchConstraints"]["resourceRules"]
        assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in rules)
        return {
            f"{group}/{resource}" for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]
        }

    workloads = {"apps/deployments", "apps/statefulsets", "apps/daemonsets", "apps/replicasets"}
    workloads |= {"batch/jobs", "batch/cronjobs"}
    pods = {"/pods", "/pods/ephemeralcontainers"}
    assert matched(IMAGES) == matched(HOST) == workloads | pods
    assert matched(RESOURCES) == {"/pods"}
    assert matched(LOAD_BALANCERS) == {"/services"}


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_every_object_passes_kubernetes_validate_strict(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, "1.35.0", strict=True)


def test_the_crafted_requests_are_valid_objects_too() -> None:
    for obj in [*(workload(kind) for kind in ("Pod", *WORKLOAD_KINDS)), service("LoadBalancer"), TEAM_A]:
        kubernetes_validate.validate(obj, "1.35.0", strict=True)


@pytest.mark.parametrize(
    ("labels", "selected"),
    [
        ({"kubernetes.io/metadata.name": "team-a", **GUARDED, guardrails.TENANT_LABEL: "team-a"}, True),
        ({"kubernetes.io/metadata.name": "team-a"}, False),
        ({"kubernetes.io/metadata.name": "traefik"}, False),
        ({"kubernetes.io/metadata.name": "kube-system"}, False),
        # Even mislabelled, the control plane's namespace is never guarded.
        ({"kubernetes.io/metadata.name": "kube-system", **GUARDED}, False),
    ],
)
def test_a_binding_selects_guarded_namespaces_only(labels: dict[str, str], selected: bool) -> None:
    for binding in BINDINGS.values():
        assert selects(binding["spec"]["matchResources"]["namespaceSelector"], labels) is selected


def test_the_app_namespace_is_guarded_but_its_ingress_is_not_a_tenants() -> None:
    app = {"kubernetes.io/metadata.name": "podium", **GUARDED}
    chosen = {name for name, b in BINDINGS.items() if selects(b["spec"]["matchResources"]["namespaceSelector"], app)}
    assert chosen == set(BINDINGS) - {INGRESS}


def test_the_evaluator_errors_on_a_missing_field_as_the_api_server_does() -> None:
    # cel-go fails both; an implementation that answered false here would hide an
    # unguarded access that fails closed (failurePolicy Fail) on a real cluster.
    with pytest.raises(KeyError):
        program("object.spec.template.spec").execute({"object": {"spec": {}}})
    with pytest.raises(KeyError):
        program("has(object.spec.template.spec)").execute({"object": {"spec": {}}})


POOLS = "podium-node-pools"
TEAM_GENERAL = namespace(
    "team-general",
    **GUARDED,
    **{guardrails.POOLS_RESTRICTED_LABEL: guardrails.RESTRICTED, f"{guardrails.POOL_LABEL_PREFIX}general": "allowed"},
)


def on_pool(pool: str | None, kind: str = "Deployment") -> dict[str, Any]:
    selector = {"nodeSelector": {guardrails.NODE_POOL_LABEL: pool}} if pool else {}
    return workload(kind, pod_spec(container(), **selector))


@pytest.mark.parametrize("kind", ["Pod", "Deployment", "CronJob"])
def test_a_tenant_limited_to_pools_runs_on_them_only(kind: str) -> None:
    assert review(POOLS, on_pool("general", kind), ns=TEAM_GENERAL) == ALLOWED
    refused = review(POOLS, on_pool("db", kind), ns=TEAM_GENERAL)
    assert refused.refused and refused.message == (
        "pod spec: nodeSelector podium/pool is db, not a pool of this namespace; "
        "select one of the pools allowed here (the namespace labels pools.podium.dev/<pool>)"
    )
    unset = review(POOLS, on_pool(None, kind), ns=TEAM_GENERAL)
    assert unset.refused and unset.message.startswith("pod spec: nodeSelector podium/pool is not set;")


def test_a_tenant_without_pools_may_select_any_or_none() -> None:
    assert review(POOLS, on_pool(None), ns=TEAM_A) == ALLOWED
    assert review(POOLS, on_pool("db"), ns=TEAM_A) == ALLOWED
    unlabelled = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bare"}}
    assert review(POOLS, on_pool(None), ns=unlabelled) == ALLOWED


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_workload_the_app_namespace_gets_passes_the_guardrails(stack: str) -> None:
    """The app's namespace is guarded too: every Pod-bearing object and Service the program
    puts there, and the Pods its workloads make, pass every policy."""
    graph = graph_for(stack)
    (app_namespace,) = [
        r.inputs for r in graph.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "podium"
    ]
    assert app_namespace["metadata"]["labels"][guardrails.ENFORCED_LABEL] == guardrails.ENFORCED
    kinds = {*WORKLOAD_KINDS, "Pod", "Service"}
    objects = [
        o
        for o in render.kubernetes_objects(graph, redact=False)
        if o.get("kind") in kinds and (o.get("metadata") or {}).get("namespace") == "podium"
    ]
    assert len(objects) >= 6

    def pod_of(obj: dict[str, Any]) -> dict[str, Any] | None:
        """The Pod a workload's controller makes (no LimitRange here: nothing fills it in)."""
        spec = obj["spec"]
        template = spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec.get("template")
        if template is None:
            return None
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{obj['metadata']['name']}-pod", "namespace": "podium"},
            "spec": template["spec"],
        }

    objects += [pod for pod in map(pod_of, objects) if pod is not None]
    namespace_object = {"apiVersion": "v1", "kind": "Namespace", **app_namespace}
    refused = {
        (obj["kind"], obj["metadata"]["name"], name): verdict.message
        for obj in objects
        for name, verdict in review_all(obj, ns=namespace_object).items()
        if verdict.refused
    }
    assert refused == {}


EXTERNAL_IPS, INGRESS = "podium-no-external-ips", "podium-tenant-ingress-hosts"
TENANT = namespace("team-a", **GUARDED, **{guardrails.TENANT_LABEL: "team-a"}) | {
    "metadata": {
        "name": "team-a",
        "labels": {**GUARDED, guardrails.TENANT_LABEL: "team-a"},
        "annotations": {guardrails.HOSTS_ANNOTATION: "team-a.podium.example.com"},
    }
}


def test_external_ips_are_refused_wherever_guarded() -> None:
    svc = service("ClusterIP")
    svc["spec"]["externalIPs"] = ["10.96.0.1"]
    verdict = review(EXTERNAL_IPS, svc)
    assert verdict.refused and verdict.message.startswith("service web: spec.externalIPs is set; remove it")
    assert review(EXTERNAL_IPS, service("ClusterIP")) == ALLOWED


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nodeName": "ip-10-20-0-10.ec2.internal"}, "pod spec: nodeName is ip-10-20-0-10.ec2.internal; remove it"),
        ({"tolerations": [{"operator": "Exists"}]}, "pod spec: a toleration of every taint"),
        (
            {
                "tolerations": [
                    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}
                ]
            },
            "pod spec: a toleration of every taint or of node-role.kubernetes.io/control-plane",
        ),
    ],
)
def test_pods_cannot_reach_the_control_planes(fields: dict[str, Any], message: str) -> None:
    verdict = review(HOST, workload("Deployment", pod_spec(container(), **fields)))
    assert verdict.refused and verdict.message.startswith(message)


def test_a_pools_taint_may_be_tolerated() -> None:
    toleration = {"key": "podium/dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}
    assert review(HOST, workload("Deployment", pod_spec(container(), tolerations=[toleration]))) == ALLOWED


def ingress(*hosts: str, **spec: Any) -> dict[str, Any]:
    rules = [
        {
            "host": h,
            "http": {
                "paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
                ]
            },
        }
        for h in hosts
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "team-a", **spec.pop("metadata", {})},
        "spec": {"rules": rules, **spec},
    }


def test_a_tenants_ingress_routes_only_its_own_hostnames() -> None:
    assert review(INGRESS, ingress("reports.team-a.podium.example.com"), ns=TENANT) == ALLOWED
    taken = review(INGRESS, ingress("dev.podium.example.com"), ns=TENANT)
    assert taken.refused and taken.message == (
        "ingress web: every rule and TLS host must end in .team-a.podium.example.com (the names of this team); "
        "set each host under it"
    )
    tls = ingress("reports.team-a.podium.example.com", tls=[{"hosts": ["dev.podium.example.com"]}])
    assert review(INGRESS, tls, ns=TENANT).refused
    assert review(INGRESS, ingress(), ns=TENANT) == ALLOWED  # no rule, nothing routed
    catch_all = ingress(defaultBackend={"service": {"name": "web", "port": {"number": 80}}})
    assert "spec.defaultBackend would catch every other hostname" in review(INGRESS, catch_all, ns=TENANT).message
    first = ingress(
        "reports.team-a.podium.example.com",
        metadata={"annotations": {"traefik.ingress.kubernetes.io/router.priority": "1000"}},
    )
    assert "router.priority is not allowed here" in review(INGRESS, first, ns=TENANT).message
    assert review(INGRESS, ingress(""), ns=TENANT).refused  # a rule without a host matches every host

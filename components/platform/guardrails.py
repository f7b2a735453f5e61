"""Guardrails: ValidatingAdmissionPolicies the API server enforces in guarded namespaces.

A namespace is guarded when it carries `ENFORCED_LABEL: ENFORCED`: every tenant
namespace and the app's namespace, never kube-system or a platform namespace. Each
policy has one binding with `validationActions: [Deny]` that selects those namespaces
(and, in case one of them is ever mislabelled, never kube-system, kube-public or
kube-node-lease, where the control plane's own pods would be refused).
`admissionregistration.k8s.io/v1` is GA since Kubernetes 1.30, and the
ValidatingAdmissionPolicy plugin is in kube-apiserver's default-on set
(kubernetes/kubernetes pkg/kubeapiserver/options/plugins.go), so these need no pod and
no webhook.

The policies, and the kinds each matches:

- `podium-images-pinned`: every container, init container and ephemeral container
  names an image with a version tag other than `latest`, or a digest. Tag and digest
  follow the distribution reference grammar (tag `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`,
  digest `algorithm:hex` with at least 32 hex digits).
- `podium-no-host-access`: no privileged container; no hostNetwork, hostPID or
  hostIPC; no hostPath volume. Pod Security `restricted` already refuses these on
  tenant Pods; this policy also covers workload templates and the app's namespace.

  Both match Pods and the workload kinds (Deployment, StatefulSet, DaemonSet,
  ReplicaSet, Job, CronJob), reaching the pod spec of each through the `podSpec`
  variable. A template is refused at `kubectl apply` / `pulumi up`; matching only
  Pods would refuse each Pod as its ReplicaSet creates it, and the reason would show
  only in that ReplicaSet's events. Pods stay matched for Pods made directly and by
  kinds not listed (ReplicationControllers, operators' resources). They also match
  the `pods/ephemeralcontainers` subresource: `kubectl debug` adds a container through
  it, it presents the whole Pod to admission (kubernetes/kubernetes#101034), and a
  rule for `pods` does not cover a subresource (NamedRuleWithOperations.resources:
  "'pods/log' means the log subresource of pods").
- `podium-resources-declared`: every container and init container declares CPU and
  memory requests and limits. Pods only: the LimitRanger admission plugin fills a
  container's missing requests and limits from the namespace's LimitRange defaults,
  and it does so on Pods only (plugin/pkg/admission/limitranger/admission.go:
  `MutateLimit` acts on "pods"; `SupportsAttributes` takes Pod CREATE, neither Pod
  UPDATE nor a subresource but resize; kubernetes.io/docs/concepts/policy/limit-range:
  LimitRange defaults are injected into Containers). Mutating admission runs before
  validating admission (kubernetes.io/docs/reference/access-authn-authz/
  admission-controllers, "Admission control phases"; plugins.go's AllOrderedPlugins
  runs LimitRanger long before ValidatingAdmissionPolicy), so this policy sees the
  Pod LimitRange completed. Matching templates would refuse the very Deployment a
  tenant's LimitRange exists to complete. Ephemeral containers are left out: the API
  refuses resources on them ("Resources are not allowed for ephemeral containers").
- `podium-load-balancers-allowed`: a Service of type LoadBalancer only in a namespace
  labelled `LOAD_BALANCERS_LABEL: ALLOWED`, read from `namespaceObject`. Services only.
- `podium-node-pools`: in a namespace labelled `POOLS_RESTRICTED_LABEL: RESTRICTED` (a
  tenant with `nodePools`), a pod selects a pool with `nodeSelector` `podium/pool`,
  and that pool is one the namespace is labelled for (`POOL_LABEL_PREFIX<pool>:
  ALLOWED`). A nodeSelector is a conjunction with any node affinity, so the pod can
  land on that pool's nodes only. Pods and the workload kinds, as above.

All match CREATE and UPDATE. A match condition skips an UPDATE that does not change
what the policy checks (the pod spec; a Service that already was a LoadBalancer): an
object admitted before a namespace was guarded, or before its allowance was withdrawn,
stays updatable by the controllers that maintain it (a ReplicaSet scaled down by its
Deployment, a cloud controller removing its finalizer from a Service being deleted)
instead of being stuck. Match conditions cannot read `variables` (they are evaluated
before the rest of the policy; ValidatingAdmissionPolicySpec.variables), so they
choose the pod spec by kind themselves.

Each validation's `messageExpression` names the container (or volume, or Service) and
the field, and says what to change; the static `message` is what the API server falls
back on when the expression fails. `failurePolicy: Fail`: an expression that errors
refuses the request rather than letting it through.

The CEL is standard CEL only (has, all, exists, filter, map, in, size, matches,
startsWith, endsWith, string(), ternaries), no Kubernetes library function, so the
tests evaluate it with a Python CEL implementation. The API server type-checks each
expression against every matched kind; a branch that reads `spec.template` is an
"undefined field" warning for the Pod kind, which the docs say does not affect the
policy's behaviour (validating-admission-policy, "Type checking"). Kubernetes'
environment enforces homogeneous list and map literals (k8s.io/apiserver/pkg/cel/
environment/base.go, `cel.HomogeneousAggregateLiterals()`): every literal here holds
one type.
"""

from __future__ import annotations

import copy
from typing import Any

from components.config.settings import POOL_LABEL

ENFORCED_LABEL = "podium.dev/guardrails"
ENFORCED = "enforced"
LOAD_BALANCERS_LABEL = "podium.dev/load-balancers"
ALLOWED = "allowed"
# A tenant limited to some node pools: the namespace carries the marker, and one label
# per pool it may use; its pods select the pool by the label Podium's pools register.
POOLS_RESTRICTED_LABEL = "podium.dev/node-pools"
RESTRICTED = "restricted"
POOL_LABEL_PREFIX = "pools.podium.dev/"
NODE_POOL_LABEL = POOL_LABEL
# The Pod Security version guarded namespaces pin, so a cluster upgrade cannot change
# what is admitted.
PSS_VERSION = "v1.35"

# Never guarded, even if labelled: the cluster's own Pods there were not written to
# these rules, and refusing one of them can stop the cluster.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

API_VERSION = "admissionregistration.k8s.io/v1"
OPERATIONS = ["CREATE", "UPDATE"]

WORKLOAD_RULES = [
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": OPERATIONS,
        "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
    },
    {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": OPERATIONS, "resources": ["jobs", "cronjobs"]},
]
POD_RULE = {"apiGroups": [""], "apiVersions": ["v1"], "operations": OPERATIONS, "resources": ["pods"]}
POD_AND_DEBUG_RULE = {**POD_RULE, "resources": ["pods", "pods/ephemeralcontainers"]}
SERVICE_RULE = {"apiGroups": [""], "apiVersions": ["v1"], "operations": OPERATIONS, "resources": ["services"]}

# The pod spec of whichever kind was matched.
POD_SPEC = (
    "object.kind == 'Pod' ? object.spec"
    " : object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec"
    " : object.spec.template.spec"
)
OLD_POD_SPEC = POD_SPEC.replace("object.", "oldObject.")
POD_SPEC_CREATED_OR_CHANGED = {
    "name": "pod-spec-created-or-changed",
    "expression": f"request.operation != 'UPDATE' || oldObject == null || ({POD_SPEC}) != ({OLD_POD_SPEC})",
}

# Distribution reference grammar, anchored at the end of the image reference.
DIGEST = "@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}$"
TAG = ":[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


def _problems(lists: tuple[str, ...], violates: str, describe: str) -> str:
    """A CEL list of strings, one per container of the pod spec that `violates`, each
    naming it ("init container migrate") followed by `describe`. `c` is the container."""
    labels = {
        "containers": "container",
        "initContainers": "init container",
        "ephemeralContainers": "ephemeral container",
    }
    parts = []
    for field in lists:
        found = f"variables.podSpec.{field}.filter(c, {violates}).map(c, '{labels[field]} ' + c.name + {describe})"
        # `containers` is required by the API; the others are absent when empty.
        parts.append(found if field == "containers" else f"(has(variables.podSpec.{field}) ? {found} : [])")
    return " + ".join(parts)


def _first_of(problems: str, advice: str) -> str:
    """A message: the first problem, the advice, and how many more there are."""
    return (
        f"{problems}[0] + '; {advice}'"
        f" + (size({problems}) > 1 ? ' (and ' + string(size({problems}) - 1) + ' more)' : '')"
    )


ALL_CONTAINERS = ("containers", "initContainers", "ephemeralContainers")

_HAS_IMAGE = "has(c.image) && c.image != ''"
_PINNED = f"(c.image.matches('{DIGEST}') || (!c.image.contains('@') && c.image.matches('{TAG}') && !c.image.endsWith(':latest')))"
_WHY_UNPINNED = (
    f"(!({_HAS_IMAGE}) ? ': no image is set'"
    " : ': image ' + c.image + (c.image.endsWith(':latest') ? ' uses the tag latest'"
    " : ' has no version tag or digest (no tag means latest)'))"
)
IMAGES_PINNED = {
    "name": "podium-images-pinned",
    "rules": [POD_AND_DEBUG_RULE, *WORKLOAD_RULES],
    "variables": [
        {"name": "podSpec", "expression": POD_SPEC},
        {
            "name": "unpinned",
            "expression": _problems(ALL_CONTAINERS, f"!({_HAS_IMAGE} && {_PINNED})", _WHY_UNPINNED),
        },
    ],
    "validations": [
        {
            "expression": "size(variables.unpinned) == 0",
            "messageExpression": _first_of("variables.unpinned", "pin a version tag or a digest"),
            "message": "every container's image must carry a version tag other than latest, or a digest",
        }
    ],
}

_RESOURCE_FIELDS = [(kind, resource) for kind in ("requests", "limits") for resource in ("cpu", "memory")]


def _missing(kind: str, resource: str) -> str:
    return f"!(has(c.resources) && has(c.resources.{kind}) && '{resource}' in c.resources.{kind})"


_FIRST_MISSING = "".join(f"{_missing(k, r)} ? 'resources.{k}.{r}' : " for k, r in _RESOURCE_FIELDS[:-1])
_LAST = _RESOURCE_FIELDS[-1]
RESOURCES_DECLARED = {
    "name": "podium-resources-declared",
    "rules": [POD_RULE],
    "variables": [
        {"name": "podSpec", "expression": POD_SPEC},
        {
            "name": "undeclared",
            "expression": _problems(
                ("containers", "initContainers"),
                " || ".join(_missing(k, r) for k, r in _RESOURCE_FIELDS),
                f"': ' + ({_FIRST_MISSING}'resources.{_LAST[0]}.{_LAST[1]}') + ' is not set'",
            ),
        },
    ],
    "validations": [
        {
            "expression": "size(variables.undeclared) == 0",
            "messageExpression": _first_of(
                "variables.undeclared",
                "declare CPU and memory requests and limits (resources.requests and resources.limits)",
            ),
            "message": "every container must declare CPU and memory requests and limits",
        }
    ],
}

_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
NO_HOST_ACCESS = {
    "name": "podium-no-host-access",
    "rules": [POD_AND_DEBUG_RULE, *WORKLOAD_RULES],
    "variables": [
        {"name": "podSpec", "expression": POD_SPEC},
        {
            "name": "privileged",
            "expression": _problems(
                ALL_CONTAINERS,
                "has(c.securityContext) && has(c.securityContext.privileged) && c.securityContext.privileged",
                "': securityContext.privileged is true'",
            ),
        },
        {
            "name": "hostNamespaces",
            "expression": " + ".join(
                f"(has(variables.podSpec.{field}) && variables.podSpec.{field} ? ['{field}'] : [])"
                for field in _HOST_NAMESPACES
            ),
        },
        {
            "name": "hostPathVolumes",
            "expression": "has(variables.podSpec.volumes)"
            " ? variables.podSpec.volumes.filter(v, has(v.hostPath)).map(v, v.name) : []",
        },
    ],
    "validations": [
        {
            "expression": "size(variables.privileged) == 0",
            "messageExpression": _first_of(
                "variables.privileged", "remove it: privileged containers are not allowed in this namespace"
            ),
            "message": "privileged containers are not allowed in this namespace",
        },
        {
            "expression": "size(variables.hostNamespaces) == 0",
            "messageExpression": "'pod spec: ' + variables.hostNamespaces[0] + ' is true; remove it:"
            " sharing the network, PID or IPC namespace of the node is not allowed in this namespace'",
            "message": "hostNetwork, hostPID and hostIPC are not allowed in this namespace",
        },
        {
            # The scheduler binds through pods/binding: only a pod that names its node
            # itself skips the scheduler, and with it the control planes' taint.
            "expression": "!has(variables.podSpec.nodeName) || variables.podSpec.nodeName == ''",
            "messageExpression": "'pod spec: nodeName is ' + variables.podSpec.nodeName + '; remove it and let the"
            " scheduler place the pod (use a nodeSelector to choose a pool)'",
            "message": "pods may not name their node in this namespace",
        },
        {
            "expression": "!has(variables.podSpec.tolerations) || variables.podSpec.tolerations.all(t,"
            " (has(t.key) && t.key != '' && t.key != 'node-role.kubernetes.io/control-plane')"
            " || (has(t.operator) && t.operator != 'Exists') || (!has(t.operator) && has(t.key) && t.key != ''))",
            "messageExpression": "'pod spec: a toleration of every taint or of node-role.kubernetes.io/control-plane;"
            " remove it: the control planes are reserved for the platform'",
            "message": "pods may not tolerate the control planes' taint, or every taint, in this namespace",
        },
        {
            "expression": "size(variables.hostPathVolumes) == 0",
            "messageExpression": "'volume ' + variables.hostPathVolumes[0] + ': hostPath mounts a directory of the"
            " node; use an emptyDir, a ConfigMap, a Secret or a PersistentVolumeClaim instead'",
            "message": "hostPath volumes are not allowed in this namespace",
        },
    ],
}

NO_EXTERNAL_IPS = {
    "name": "podium-no-external-ips",
    "rules": [SERVICE_RULE],
    "matchConditions": [],
    "variables": [],
    "validations": [
        {
            # CVE-2020-8554: a Service's externalIPs capture other pods' traffic to those
            # addresses; Kubernetes leaves the fix to admission control.
            "expression": "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
            "messageExpression": "'service ' + object.metadata.name + ': spec.externalIPs is set; remove it (it would"
            " capture the traffic of other pods to those addresses): use an Ingress or, where allowed, a LoadBalancer'",
            "message": "Services may not set externalIPs in this namespace",
        }
    ],
}

LOAD_BALANCERS_ALLOWED = {
    "name": "podium-load-balancers-allowed",
    "rules": [SERVICE_RULE],
    # Only turning a Service into a LoadBalancer is checked; see the module docstring.
    "matchConditions": [
        {
            "name": "becomes-a-load-balancer",
            "expression": "request.operation != 'UPDATE' || oldObject == null"
            " || !has(oldObject.spec.type) || oldObject.spec.type != 'LoadBalancer'",
        }
    ],
    "variables": [
        {
            "name": "allowed",
            "expression": f"has(namespaceObject.metadata.labels) && '{LOAD_BALANCERS_LABEL}' in"
            f" namespaceObject.metadata.labels && namespaceObject.metadata.labels['{LOAD_BALANCERS_LABEL}'] == '{ALLOWED}'",
        }
    ],
    "validations": [
        {
            "expression": "!has(object.spec.type) || object.spec.type != 'LoadBalancer' || variables.allowed",
            "messageExpression": "'service ' + object.metadata.name + ': type LoadBalancer is not allowed in namespace '"
            " + namespaceObject.metadata.name + '; use type ClusterIP and an Ingress through the ingress controller,"
            " or ask the platform team to allow load balancers for this namespace'",
            "message": "Services of type LoadBalancer are not allowed in this namespace",
        }
    ],
}

_NAMESPACE_LABELS = "(has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels : {'': ''})"
ON_ALLOWED_POOLS = {
    "name": "podium-node-pools",
    "rules": [POD_RULE, *WORKLOAD_RULES],
    "variables": [
        {"name": "podSpec", "expression": POD_SPEC},
        {"name": "namespaceLabels", "expression": _NAMESPACE_LABELS},
        {
            "name": "restricted",
            "expression": f"'{POOLS_RESTRICTED_LABEL}' in variables.namespaceLabels"
            f" && variables.namespaceLabels['{POOLS_RESTRICTED_LABEL}'] == '{RESTRICTED}'",
        },
        {
            "name": "pool",
            "expression": f"has(variables.podSpec.nodeSelector) && '{NODE_POOL_LABEL}' in variables.podSpec.nodeSelector"
            f" ? variables.podSpec.nodeSelector['{NODE_POOL_LABEL}'] : ''",
        },
    ],
    "validations": [
        {
            "expression": f"!variables.restricted || (variables.pool != ''"
            f" && ('{POOL_LABEL_PREFIX}' + variables.pool) in variables.namespaceLabels)",
            "messageExpression": f"'pod spec: nodeSelector {NODE_POOL_LABEL} '"
            " + (variables.pool == '' ? 'is not set' : 'is ' + variables.pool + ', not a pool of this namespace')"
            f" + '; select one of the pools allowed here (the namespace labels {POOL_LABEL_PREFIX}<pool>)'",
            "message": f"pods in this namespace must select one of its node pools with nodeSelector {NODE_POOL_LABEL}",
        }
    ],
}

# H1 of the review: a tenant's Ingress routes only hostnames under its own suffix (the
# namespace's HOSTS_ANNOTATION), so it cannot take the app's hostname from the shared
# ingress controller, nor get a certificate or a DNS record for it; no default backend
# and no router priority either. Tenant namespaces only: the app's Ingress is Podium's.
HOSTS_ANNOTATION = "podium.dev/ingress-host-suffix"
TENANT_LABEL = "podium.dev/tenant"
_SUFFIX = f"namespaceObject.metadata.annotations['{HOSTS_ANNOTATION}']"
INGRESS_HOSTS = {
    "name": "podium-tenant-ingress-hosts",
    "rules": [
        {
            "apiGroups": ["networking.k8s.io"],
            "apiVersions": ["v1"],
            "operations": OPERATIONS,
            "resources": ["ingresses"],
        }
    ],
    "matchConditions": [],
    "variables": [
        {
            "name": "suffix",
            "expression": f"has(namespaceObject.metadata.annotations) && '{HOSTS_ANNOTATION}' in"
            f" namespaceObject.metadata.annotations ? '.' + {_SUFFIX} : '.invalid.'",
        },
    ],
    "validations": [
        {
            "expression": "(has(object.spec.rules) ? object.spec.rules.all(r, has(r.host) && r.host.endsWith(variables.suffix)) : true)"
            " && (has(object.spec.tls) ? object.spec.tls.all(t, has(t.hosts) && t.hosts.all(h, h.endsWith(variables.suffix))) : true)",
            "messageExpression": "'ingress ' + object.metadata.name + ': every rule and TLS host must end in '"
            " + variables.suffix + ' (the names of this team); set each host under it'",
            "message": "an Ingress here may only route this team's own hostnames",
        },
        {
            "expression": "!has(object.spec.defaultBackend)",
            "messageExpression": "'ingress ' + object.metadata.name + ': spec.defaultBackend would catch every other"
            " hostname; route your own hosts with rules instead'",
            "message": "an Ingress here may not set a default backend",
        },
        {
            "expression": "!has(object.metadata.annotations)"
            " || !('traefik.ingress.kubernetes.io/router.priority' in object.metadata.annotations)",
            "messageExpression": "'ingress ' + object.metadata.name + ': the annotation"
            " traefik.ingress.kubernetes.io/router.priority is not allowed here; remove it'",
            "message": "an Ingress here may not set the router priority",
        },
    ],
    "namespaces": "tenants",
}

POLICIES = (
    IMAGES_PINNED,
    RESOURCES_DECLARED,
    NO_HOST_ACCESS,
    NO_EXTERNAL_IPS,
    LOAD_BALANCERS_ALLOWED,
    ON_ALLOWED_POOLS,
    INGRESS_HOSTS,
)


def _policy(definition: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": definition["rules"]},
        # Forbidden (403) rather than the default Invalid (422): the object is well
        # formed, the namespace's policy refuses it.
        "validations": [{**validation, "reason": "Forbidden"} for validation in definition["validations"]],
    }
    conditions = definition.get("matchConditions", [POD_SPEC_CREATED_OR_CHANGED])
    if conditions:
        spec["matchConditions"] = conditions
    if definition["variables"]:
        spec["variables"] = definition["variables"]
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": definition["name"]},
        "spec": spec,
    }


def _binding(definition: dict[str, Any]) -> dict[str, Any]:
    expressions: list[dict[str, Any]] = [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": list(SYSTEM_NAMESPACES)}
    ]
    if definition.get("namespaces") == "tenants":
        expressions.append({"key": TENANT_LABEL, "operator": "Exists"})
    selector: dict[str, Any] = {"matchLabels": {ENFORCED_LABEL: ENFORCED}, "matchExpressions": expressions}
    spec = {
        "policyName": definition["name"],
        "validationActions": ["Deny"],
        "matchResources": {"namespaceSelector": selector},
    }
    return {
        "apiVersion": API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": definition["name"]},
        "spec": spec,
    }


def admission_objects() -> list[dict[str, Any]]:
    """Each policy followed by its binding; fresh dicts on every call."""
    return [obj for definition in POLICIES for obj in (_policy(copy.deepcopy(definition)), _binding(definition))]

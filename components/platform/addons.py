"""ClusterAddons: what turns a reachable API server into a usable cluster.

On AWS (kubeadm mode): Calico (CNI enforcing NetworkPolicy, VXLAN, the pod CIDR), the
AWS cloud-controller-manager, the EBS CSI driver and its StorageClasses,
kubelet-csr-approver (signed kubelet serving certificates), metrics-server (verifying
them), Traefik (Ingress, behind an NLB), the cluster autoscaler and
aws-node-termination-handler (drains before terminations). On an existing cluster: metrics-server,
kubelet-csr-approver and Traefik on NodePorts. Each is a Helm release at the version
pinned in components/config/data/versions.yaml unless `podium:addonVersions` overrides it
(the autoscaler and the termination handler: always as pinned).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster.addon_roles import AddonRoles
from components.cluster.readiness import AdminAccess, ApiReadiness, groups_hint
from components.config import versions
from components.platform.autoscaling import cluster_autoscaler_values, termination_handler_values
from components.platform.aws_integration import cloud_controller_values, ebs_csi_values, storage_class_objects
from components.platform.certificates import csr_approver_values
from components.platform.cni import CALICO_NAMESPACE, calico_crds_yaml, calico_values
from components.platform.identity_webhook import IdentityWebhook, IdentityWebhookArgs
from components.platform.ingress import INGRESS_CLASS, INGRESS_NAMESPACE, traefik_values
from components.platform.metrics import metrics_server_values
from components.shared.iam import WEB_IDENTITY_AUDIENCE

KUBE_SYSTEM = "kube-system"
HELM_TIMEOUT_SECONDS = 15 * 60


@dataclass(frozen=True)
class WorkerGate:
    """Kubeadm mode: what the add-ons wait for before any pod that needs a worker."""

    access: AdminAccess
    group_names: pulumi.Input[list[str]]  # named in the failure message
    groups: Sequence[pulumi.Resource]  # the node groups whose instances join


@dataclass(frozen=True)
class TerminationHandling:
    """Kubeadm mode: the queue aws-node-termination-handler reads, and its role."""

    queue_url: pulumi.Input[str]
    handler_role_arn: pulumi.Input[str]


@dataclass(frozen=True)
class ClusterAddonsArgs:
    cluster_name: str
    kubernetes_version: str
    on_aws: bool
    pod_cidr: str
    deletion_protection: bool
    node_name_pattern: str  # kubelets whose serving certificates may be approved
    node_ip_cidrs: Sequence[pulumi.Input[str]]  # where those kubelets' addresses must lie
    chart_versions: Mapping[str, str]  # podium:addonVersions
    region: str | None = None
    workers: WorkerGate | None = None  # kubeadm mode
    roles: AddonRoles | None = None  # kubeadm mode: the controllers' own roles
    termination: TerminationHandling | None = None  # kubeadm mode


def namespace_labels(level: str) -> dict[str, str]:
    """Pod Security Standards labels: enforce `level`, warn and audit on `restricted`."""
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


def helm_release(
    resource_name: str, chart: versions.Chart, namespace: str, values: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    """A release of a vendored package (charts/, locked by digest): no chart repository
    at `up`; `./`: a missing file is an error, never a download from a repository."""
    return k8s.helm.v3.Release(
        resource_name,
        name=chart.chart,
        chart=chart.package,
        # The provider diffs inputs only: the digest makes a changed package an upgrade.
        description=f"{chart.chart} {chart.version} sha256:{chart.digest}",
        namespace=namespace,
        values=values,
        atomic=True,
        timeout=HELM_TIMEOUT_SECONDS,
        opts=opts,
    )


def custom_resource(
    resource_name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """An object of a CRD, from its manifest (apiVersion, kind, metadata, spec)."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=obj["apiVersion"],
        kind=obj["kind"],
        metadata=obj["metadata"],
        spec=obj["spec"],
        opts=opts,
    )


def pod_security_namespace(
    resource_name: str, name: str, level: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name, metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=namespace_labels(level)), opts=opts
    )


class ClusterAddons(pulumi.ComponentResource):
    ingress_class: str
    default_storage_class: str | None
    ready: list[pulumi.Resource]  # what workloads wait for: networking, ingress, storage

    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:addons:ClusterAddons", name, None, opts)
        self._name = name
        self._charts = versions.charts(args.chart_versions)
        self._releases: dict[str, k8s.helm.v3.Release] = {}
        pod_network: list[pulumi.Resource] = []
        if args.on_aws:
            assert args.region is not None, "kubeadm mode always has a region"
            assert args.roles is not None, "kubeadm mode always has the controllers' roles"
            calico_namespace = self._namespace(CALICO_NAMESPACE, "privileged")  # calico-node is host-level
            # Applied server-side as plain objects (children of the group), not a release.
            # Protected with the stack: deleting a CRD deletes every resource of its kind.
            crds = k8s.yaml.v2.ConfigGroup(
                f"{name}-calico-crds",
                yaml=calico_crds_yaml(versions.PROJECT / self._charts["calicoCrds"].package),
                opts=pulumi.ResourceOptions(parent=self, protect=args.deletion_protection),
            )
            calico = self._release("calico", CALICO_NAMESPACE, calico_values(args.pod_cidr), [calico_namespace, crds])
            # Runs in parallel with Calico (host network); every other pod needs both:
            # the pod network, and nodes the controller has initialised (untainted).
            cloud_controller = self._release(
                "awsCloudControllerManager",
                KUBE_SYSTEM,
                cloud_controller_values(
                    args.cluster_name, args.kubernetes_version, args.roles.cloud_controller_arn, args.region
                ),
                [],
            )
            assert args.workers is not None, "kubeadm mode always has worker groups"
            # Only now can a worker be Ready (Calico) and untainted (the controller):
            # each release below would otherwise spend its timeout on Pending pods.
            workers_ready = ApiReadiness(
                f"{name}-workers-ready",
                args.workers.access,
                stage="workers",
                hint=pulumi.Output.from_input(args.workers.group_names).apply(groups_hint),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[calico, cloud_controller, *args.workers.groups]),
            )
            pod_network = [calico, cloud_controller, workers_ready]
            # Roles for other teams' pods, from an annotation on their service account.
            identity_webhook = IdentityWebhook(
                f"{name}-identity-webhook",
                IdentityWebhookArgs(audience=WEB_IDENTITY_AUDIENCE, region=args.region),
                opts=pulumi.ResourceOptions(parent=self, depends_on=pod_network),
            )
            assert args.termination is not None, "kubeadm mode always has the termination queue"
            self._node_lifecycle(args, args.region, args.roles, args.termination, [*pod_network, identity_webhook])
            csi = self._release(
                "awsEbsCsiDriver",
                KUBE_SYSTEM,
                ebs_csi_values(args.cluster_name, args.region, args.roles.ebs_csi_controller_arn),
                pod_network,
            )
            storage = [
                self._storage_class(class_name, spec, csi)
                for class_name, spec in storage_class_objects(args.deletion_protection).items()
            ]
            self.default_storage_class = "gp3"
        else:
            storage = []
            self.default_storage_class = None
        approver = self._release(
            "kubeletCsrApprover",
            KUBE_SYSTEM,
            csr_approver_values(args.node_name_pattern, args.node_ip_cidrs),
            pod_network,
        )
        metrics = self._release("metricsServer", KUBE_SYSTEM, metrics_server_values(), [approver, *pod_network])
        # Baseline enforced, restricted warned and audited: Traefik's chart is meant to
        # meet restricted, which the audit log shows before it is enforced.
        # After the workers gate, so that `pulumi destroy` deletes it (and waits for its
        # pods to end) while the node groups still run them.
        ingress_namespace = self._namespace(INGRESS_NAMESPACE, "baseline", depends_on=pod_network)
        ingress = self._release(
            "traefik", INGRESS_NAMESPACE, traefik_values(args.on_aws), [ingress_namespace, *pod_network]
        )
        self.ingress_class = INGRESS_CLASS
        self.ready = [*pod_network, ingress, metrics, *storage]
        self.register_outputs(
            {
                "ingressClass": self.ingress_class,
                "defaultStorageClass": self.default_storage_class,
                "charts": {key: f"{self._charts[key].chart}@{self._charts[key].version}" for key in self._releases},
            }
        )

    def _node_lifecycle(
        self,
        args: ClusterAddonsArgs,
        region: str,
        roles: AddonRoles,
        termination: TerminationHandling,
        depends_on: Sequence[pulumi.Resource],
    ) -> None:
        """The cluster autoscaler and aws-node-termination-handler, in kube-system on the
        control planes; the handler after the identity webhook, which gives it its role."""
        for key, values in (
            (
                "clusterAutoscaler",
                cluster_autoscaler_values(
                    args.cluster_name, args.kubernetes_version, region, roles.cluster_autoscaler_arn
                ),
            ),
            (
                "awsNodeTerminationHandler",
                termination_handler_values(
                    args.cluster_name, region, termination.queue_url, termination.handler_role_arn
                ),
            ),
        ):
            chart = versions.pinned_chart(key)
            helm_release(
                f"{self._name}-{chart.chart}",
                chart,
                KUBE_SYSTEM,
                values,
                pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )

    def _release(
        self, key: str, namespace: str, values: dict[str, Any], depends_on: Sequence[pulumi.Resource]
    ) -> k8s.helm.v3.Release:
        chart = self._charts[key]
        self._releases[key] = helm_release(
            f"{self._name}-{chart.chart}",
            chart,
            namespace,
            values,
            pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        return self._releases[key]

    def _namespace(self, name: str, level: str, depends_on: Sequence[pulumi.Resource] = ()) -> k8s.core.v1.Namespace:
        opts = pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))
        return pod_security_namespace(f"{self._name}-{name}", name, level, opts)

    def _storage_class(self, name: str, spec: dict[str, Any], csi: pulumi.Resource) -> k8s.storage.v1.StorageClass:
        annotations = {"storageclass.kubernetes.io/is-default-class": "true"} if spec["default"] else {}
        return k8s.storage.v1.StorageClass(
            f"{self._name}-{name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, annotations=annotations),
            provisioner=spec["provisioner"],
            reclaim_policy=spec["reclaim_policy"],
            volume_binding_mode=spec["volume_binding_mode"],
            allow_volume_expansion=spec["allow_volume_expansion"],
            parameters=spec["parameters"],
            # Fixed name and immutable parameters: a change must delete the old class first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[csi], delete_before_replace=True),
        )

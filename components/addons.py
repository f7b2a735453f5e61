"""ClusterAddons: what turns a reachable API server into a usable cluster.

On AWS (kubeadm mode): Calico (CNI enforcing NetworkPolicy, VXLAN, the pod CIDR), the
AWS cloud-controller-manager, the EBS CSI driver and its StorageClasses,
kubelet-csr-approver (signed kubelet serving certificates), metrics-server (verifying
them) and Traefik (Ingress, behind an NLB). On an existing cluster: metrics-server,
kubelet-csr-approver and Traefik on NodePorts. Each is a Helm release at the version
pinned in components/data/versions.yaml unless `podium:addonVersions` overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components.settings import storage_classes

KUBE_SYSTEM = "kube-system"
CALICO_NAMESPACE = "tigera-operator"
INGRESS_NAMESPACE = "traefik"
INGRESS_CLASS = "traefik"
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
HELM_TIMEOUT_SECONDS = 15 * 60
# The ingress controller's NodePorts on a laptop cluster (kind maps them to the host).
LOCAL_HTTP_NODE_PORT = 30080
LOCAL_HTTPS_NODE_PORT = 30443
LOCAL_HTTP_HOST_PORT = 8080  # examples/kind/cluster.yaml maps the HTTP NodePort here
EBS_PROVISIONER = "ebs.csi.aws.com"
# kind names nodes <cluster>-control-plane, <cluster>-worker, <cluster>-worker2, ...
KIND_NODE_NAME_PATTERN = r"^[a-z0-9-]+-(control-plane|worker[0-9]*)$"


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


def ec2_node_name_pattern(region: str) -> str:
    """EC2 DNS names a kubelet's serving certificate may carry: the private name its
    node registers with and, for a control plane behind an Elastic IP, the public name
    the cloud controller adds to its addresses."""
    if region == "us-east-1":
        private, public = r"ec2\.internal", r"compute-1\.amazonaws\.com"
    else:
        private, public = rf"{re.escape(region)}\.compute\.internal", rf"{re.escape(region)}\.compute\.amazonaws\.com"
    octets = r"[0-9]{1,3}(-[0-9]{1,3}){3}"
    return rf"^(ip-{octets}\.{private}|ec2-{octets}\.{public})$"


def calico_values(pod_cidr: str) -> dict[str, Any]:
    """VXLAN without BGP: works in any VPC without route-table or source/destination
    check changes; the node security groups open UDP 4789 between nodes."""
    return {
        "installation": {
            "enabled": True,
            "cni": {"type": "Calico"},
            "calicoNetwork": {
                "bgp": "Disabled",
                "ipPools": [
                    {
                        "name": "default-ipv4-ippool",
                        "cidr": pod_cidr,
                        "encapsulation": "VXLAN",
                        "natOutgoing": "Enabled",
                        "nodeSelector": "all()",
                        "blockSize": 26,
                    }
                ],
            },
        },
        # Calico's own API server, flow aggregator and UI are not needed to enforce
        # NetworkPolicy; leaving them out saves a node's worth of pods.
        "apiServer": {"enabled": False},
        "goldmane": {"enabled": False},
        "whisker": {"enabled": False},
    }


def cloud_controller_values(cluster_name: str, kubernetes_version: str) -> dict[str, Any]:
    minor = kubernetes_version.rsplit(".", 1)[0]
    return {
        "image": {"tag": versions.cloud_controller_image_tag(minor)},
        "args": [
            "--v=2",
            "--cloud-provider=aws",
            "--use-service-account-credentials=true",
            # Calico routes pods; the controller must not touch route tables (its role cannot).
            "--configure-cloud-routes=false",
            # The tag it puts on load balancers and security groups, which its role is fenced by.
            f"--cluster-name={cluster_name}",
        ],
        # Host networking: it must run before the CNI and before nodes are initialised.
        "hostNetworking": True,
    }


def ebs_csi_values(cluster_name: str, region: str) -> dict[str, Any]:
    control_plane_toleration = {"key": CONTROL_PLANE_LABEL, "operator": "Exists", "effect": "NoSchedule"}
    return {
        "controller": {
            # The control-plane role holds the driver's permissions, fenced by this tag.
            "k8sTagClusterId": cluster_name,
            "region": region,
            "nodeSelector": {CONTROL_PLANE_LABEL: ""},
            # The chart's defaults plus the control-plane taint (setting the list replaces them).
            "tolerations": [
                control_plane_toleration,
                {"key": "CriticalAddonsOnly", "operator": "Exists"},
                {"effect": "NoExecute", "operator": "Exists", "tolerationSeconds": 300},
            ],
        },
        "node": {"tolerateAllTaints": True},
        # Podium declares the classes itself (plain objects, validated in tests).
        "storageClasses": [],
    }


def storage_class_objects(deletion_protection: bool) -> dict[str, dict[str, Any]]:
    """gp3, encrypted, bound where the pod lands; `gp3` is the default class and,
    with deletionProtection, `gp3-retain` keeps volumes after their claim is gone."""
    classes: dict[str, dict[str, Any]] = {}
    for name in storage_classes(deletion_protection):
        classes[name] = {
            "provisioner": EBS_PROVISIONER,
            "reclaim_policy": "Retain" if name.endswith("-retain") else "Delete",
            "volume_binding_mode": "WaitForFirstConsumer",
            "allow_volume_expansion": True,
            "parameters": {"type": "gp3", "encrypted": "true"},
            "default": name == "gp3",
        }
    return classes


def csr_approver_values(node_name_pattern: str, node_ip_cidrs: Sequence[pulumi.Input[str]]) -> dict[str, Any]:
    """Approves kubelet serving certificates only for node names matching the pattern,
    with addresses inside the cluster's network: what lets metrics-server verify
    kubelets instead of skipping TLS verification."""
    values: dict[str, Any] = {
        "providerRegex": node_name_pattern,
        # EC2 kubelets ask for their private DNS name and, in us-east-1, a second form.
        "allowedDnsNames": 2,
        "bypassDnsResolution": False,
    }
    if node_ip_cidrs:
        values["providerIpPrefixes"] = list(node_ip_cidrs)
    return values


def traefik_values(on_aws: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
        "providers": {"kubernetesIngress": {"enabled": True}, "kubernetesGateway": {"enabled": False}},
    }
    if on_aws:
        values["deployment"] = {"replicas": 2}
        values["podDisruptionBudget"] = {"enabled": True, "minAvailable": 1}
        # The cloud controller makes an NLB for it and opens only these Service ports.
        values["service"] = {
            "type": "LoadBalancer",
            "annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
            },
        }
    else:
        values["service"] = {"type": "NodePort"}
        values["ports"] = {
            "web": {"nodePort": LOCAL_HTTP_NODE_PORT},
            "websecure": {"nodePort": LOCAL_HTTPS_NODE_PORT},
        }
    return values


def namespace_labels(level: str) -> dict[str, str]:
    """Pod Security Standards labels: enforce `level`, warn and audit on `restricted`."""
    return {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


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
            calico_namespace = self._namespace(CALICO_NAMESPACE, "privileged")  # calico-node is host-level
            crds = self._release("calicoCrds", CALICO_NAMESPACE, {}, [calico_namespace])
            calico = self._release("calico", CALICO_NAMESPACE, calico_values(args.pod_cidr), [crds])
            # Runs in parallel with Calico (host network); every other pod needs both:
            # the pod network, and nodes the controller has initialised (untainted).
            cloud_controller = self._release(
                "awsCloudControllerManager",
                KUBE_SYSTEM,
                cloud_controller_values(args.cluster_name, args.kubernetes_version),
                [],
            )
            pod_network = [calico, cloud_controller]
            csi = self._release(
                "awsEbsCsiDriver", KUBE_SYSTEM, ebs_csi_values(args.cluster_name, args.region), pod_network
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
        metrics = self._release("metricsServer", KUBE_SYSTEM, {}, [approver, *pod_network])
        # Baseline enforced, restricted warned and audited: Traefik's chart is meant to
        # meet restricted, which the audit log shows before it is enforced.
        ingress_namespace = self._namespace(INGRESS_NAMESPACE, "baseline")
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

    def _release(
        self, key: str, namespace: str, values: dict[str, Any], depends_on: Sequence[pulumi.Resource]
    ) -> k8s.helm.v3.Release:
        chart = self._charts[key]
        release_name = chart.chart if key != "calicoCrds" else "calico-crds"
        self._releases[key] = k8s.helm.v3.Release(
            f"{self._name}-{release_name}",
            name=release_name,
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repo),
            namespace=namespace,
            values=values,
            atomic=True,
            timeout=HELM_TIMEOUT_SECONDS,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        return self._releases[key]

    def _namespace(self, name: str, level: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{self._name}-{name}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=namespace_labels(level)),
            opts=pulumi.ResourceOptions(parent=self),
        )

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

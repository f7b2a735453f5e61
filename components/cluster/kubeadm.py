"""kubeadm and kubelet configuration documents, rendered by pure functions.

API `kubeadm.k8s.io/v1beta4` (extraArgs are lists of name/value) and
`kubelet.config.k8s.io/v1beta1`. Values only a node knows at boot (its EC2 private DNS
name) and secrets it fetches from SSM (the bootstrap token) are placeholders that the
bootstrap script fills in on the node, so nothing secret is rendered into user data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from components.cluster import oidc

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
KUBE_PROXY_API = "kubeproxy.config.k8s.io/v1alpha1"
API_PORT = 6443
# Where Prometheus scrapes the control plane (kubeadm binds all of these to 127.0.0.1
# unless told otherwise). The security groups admit them from the nodes only.
ETCD_METRICS_PORT = 2381  # plain HTTP, metrics and health only
CONTROLLER_MANAGER_PORT = 10257  # HTTPS
SCHEDULER_PORT = 10259  # HTTPS
KUBE_PROXY_METRICS_PORT = 10249  # plain HTTP, every node
# Filled in on the node: the EC2 private DNS name from instance metadata (the node
# name the AWS cloud provider expects) and the bootstrap token it reads from SSM.
NODE_NAME = "${NODE_NAME}"
BOOTSTRAP_TOKEN = "${BOOTSTRAP_TOKEN}"
AUDIT_POLICY_PATH = "/etc/kubernetes/audit/policy.yaml"
AUDIT_LOG_PATH = "/var/log/kubernetes/audit/audit.log"
ENCRYPTION_CONFIG_PATH = "/etc/kubernetes/encryption/config.yaml"
# Late ASG scale-out must still join: kubeadm's default 24 h would lock out nodes an
# ASG starts later, so the token is long-lived and rotated by replacing it in the stack.
TOKEN_TTL = "8760h0m0s"


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class ClusterParams:
    cluster_name: str
    kubernetes_version: str  # 1.MINOR.PATCH
    endpoint_host: str  # DNS name or IP clients and nodes use for the API server
    pod_cidr: str
    service_cidr: str
    cert_sans: Sequence[str] = field(default_factory=tuple)
    # The public issuer of service-account tokens (components/cluster/oidc.py); None:
    # the API server's in-cluster default only.
    service_account_issuer: str | None = None

    @property
    def control_plane_endpoint(self) -> str:
        return f"{self.endpoint_host}:{API_PORT}"


def _args(pairs: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs.items()]


def _node_registration(labels: Mapping[str, str], taints: Sequence[Taint] | None) -> dict[str, Any]:
    kubelet_args = {"cloud-provider": "external"}
    if labels:
        kubelet_args["node-labels"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    registration: dict[str, Any] = {
        "name": NODE_NAME,
        "criSocket": "unix:///run/containerd/containerd.sock",
        "kubeletExtraArgs": _args(kubelet_args),
    }
    if taints is not None:  # None keeps kubeadm's default (the control-plane taint)
        registration["taints"] = [{"key": t.key, "value": t.value, "effect": t.effect} for t in taints]
    return registration


def cluster_configuration(p: ClusterParams) -> dict[str, Any]:
    return {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "clusterName": p.cluster_name,
        "kubernetesVersion": f"v{p.kubernetes_version}",
        "controlPlaneEndpoint": p.control_plane_endpoint,
        "networking": {"podSubnet": p.pod_cidr, "serviceSubnet": p.service_cidr, "dnsDomain": "cluster.local"},
        # Metrics on every address so that Prometheus reaches them (the kubelet's probes
        # follow: kubeadm derives their host from these flags). Here, and never in the
        # static pod manifests: `kubeadm upgrade` regenerates those from this document.
        "etcd": {
            "local": {
                "dataDir": "/var/lib/etcd",
                "extraArgs": _args({"listen-metrics-urls": f"http://0.0.0.0:{ETCD_METRICS_PORT}"}),
            }
        },
        "apiServer": {
            "certSANs": sorted({p.endpoint_host, *p.cert_sans}),
            # No cloud-provider flag here: kube-apiserver refuses it from 1.33 on.
            "extraArgs": _args(
                {
                    "encryption-provider-config": ENCRYPTION_CONFIG_PATH,
                    "audit-policy-file": AUDIT_POLICY_PATH,
                    "audit-log-path": AUDIT_LOG_PATH,
                    "audit-log-maxage": "30",
                    "audit-log-maxbackup": "10",
                    "audit-log-maxsize": "100",
                    "profiling": "false",
                }
            )
            + (oidc.api_server_args(p.service_account_issuer) if p.service_account_issuer else []),
            "extraVolumes": [
                _host_mount("audit-policy", "/etc/kubernetes/audit", read_only=True, path_type="DirectoryOrCreate"),
                _host_mount("audit-log", "/var/log/kubernetes/audit", read_only=False, path_type="DirectoryOrCreate"),
                _host_mount("encryption", "/etc/kubernetes/encryption", read_only=True, path_type="DirectoryOrCreate"),
            ],
        },
        "controllerManager": {
            "extraArgs": _args({"cloud-provider": "external", "profiling": "false", "bind-address": "0.0.0.0"})
        },
        "scheduler": {"extraArgs": _args({"profiling": "false", "bind-address": "0.0.0.0"})},
    }


def _host_mount(name: str, path: str, *, read_only: bool, path_type: str) -> dict[str, Any]:
    return {"name": name, "hostPath": path, "mountPath": path, "readOnly": read_only, "pathType": path_type}


def init_configuration(labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The first control plane. Its bootstrap token is the one workers join with."""
    return {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": BOOTSTRAP_TOKEN,
                "description": "podium node join token, rotated through the Pulumi stack",
                "ttl": TOKEN_TTL,
                "usages": ["signing", "authentication"],
                "groups": ["system:bootstrappers:kubeadm:default-node-token"],
            }
        ],
        "nodeRegistration": _node_registration(labels or {}, None),
    }


def join_configuration(
    api_endpoint: str,
    ca_cert_hash: str,
    *,
    control_plane: bool,
    labels: Mapping[str, str] | None = None,
    taints: Sequence[Taint] | None = None,
) -> dict[str, Any]:
    """A joining node. Discovery verifies the cluster CA by its public-key hash."""
    document: dict[str, Any] = {
        "apiVersion": KUBEADM_API,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": api_endpoint,
                "token": BOOTSTRAP_TOKEN,
                "caCertHashes": [ca_cert_hash],
            }
        },
        "nodeRegistration": _node_registration(labels or {}, None if control_plane else list(taints or ())),
    }
    if control_plane:
        document["controlPlane"] = {"localAPIEndpoint": {"bindPort": API_PORT}}
    return document


def kubelet_configuration() -> dict[str, Any]:
    return {
        "apiVersion": KUBELET_API,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        # Serving certificates signed by the cluster CA (approved by a CSR approver), so
        # metrics-server can verify kubelets instead of skipping TLS verification.
        "serverTLSBootstrap": True,
        "rotateCertificates": True,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}},
        "authorization": {"mode": "Webhook"},
        "protectKernelDefaults": True,
        "readOnlyPort": 0,
        "failSwapOn": True,
    }


def kube_proxy_configuration() -> dict[str, Any]:
    """kube-proxy's metrics on the node's addresses (kubeadm's default is 127.0.0.1).
    kubeadm writes this into the kube-proxy ConfigMap at init only."""
    return {
        "apiVersion": KUBE_PROXY_API,
        "kind": "KubeProxyConfiguration",
        "metricsBindAddress": f"0.0.0.0:{KUBE_PROXY_METRICS_PORT}",
    }


def render(documents: Sequence[Mapping[str, Any]]) -> str:
    """A multi-document YAML file, stable key order so renders are reproducible."""
    return yaml.safe_dump_all([dict(d) for d in documents], sort_keys=True, default_flow_style=False)


# Filled in on the control plane from SSM, never rendered into user data.
ENCRYPTION_KEY = "${ENCRYPTION_KEY}"


def encryption_configuration() -> dict[str, Any]:
    """Secrets (and ConfigMaps stay plain) encrypted at rest in etcd with secretbox;
    `identity` last so objects written before encryption stay readable. etcd
    snapshots hold these Secrets encrypted: a restore needs this key too."""
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {"secretbox": {"keys": [{"name": "podium-1", "secret": ENCRYPTION_KEY}]}},
                    {"identity": {}},
                ],
            }
        ],
    }


def audit_policy() -> dict[str, Any]:
    """Who did what, without logging secret payloads: metadata only for Secrets,
    ConfigMaps and token reviews; request bodies for changes elsewhere; nothing for
    the high-volume read-only system noise."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]},
            {"level": "None", "nonResourceURLs": ["/healthz*", "/livez*", "/readyz*", "/version"]},
            {"level": "None", "resources": [{"group": "", "resources": ["events"]}]},
            {
                "level": "Metadata",
                "resources": [
                    {"group": "", "resources": ["secrets", "configmaps"]},
                    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                ],
            },
            {"level": "Metadata", "verbs": ["get", "list", "watch"]},
            {"level": "Request"},
        ],
    }

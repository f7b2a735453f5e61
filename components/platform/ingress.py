"""The ingress controller: Traefik, behind an NLB the cloud controller makes on AWS,
on NodePorts on a laptop cluster."""

from __future__ import annotations

from typing import Any

INGRESS_NAMESPACE = "traefik"
INGRESS_CLASS = "traefik"
# The ingress controller's NodePorts on a laptop cluster (kind maps them to the host).
LOCAL_HTTP_NODE_PORT = 30080
LOCAL_HTTPS_NODE_PORT = 30443
LOCAL_HTTP_HOST_PORT = 8080  # examples/kind/cluster.yaml maps the HTTP NodePort here
LOCAL_HTTPS_HOST_PORT = 8443  # and the HTTPS one here


def traefik_values(on_aws: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
        # Every request of the app passes here: a guaranteed share, and a bound.
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "providers": {"kubernetesIngress": {"enabled": True}, "kubernetesGateway": {"enabled": False}},
    }
    if on_aws:
        values["deployment"] = {"replicas": 2}
        values["podDisruptionBudget"] = {"enabled": True, "minAvailable": 1}
        # The cloud controller makes an NLB for it and opens only these Service ports.
        # (`service.spec` is what the chart adds to the Service's spec; it reads no `service.type`.)
        values["service"] = {
            "spec": {"type": "LoadBalancer"},
            "annotations": {
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
            },
        }
    else:
        values["service"] = {"spec": {"type": "NodePort"}}
        values["ports"] = {
            "web": {"nodePort": LOCAL_HTTP_NODE_PORT},
            "websecure": {"nodePort": LOCAL_HTTPS_NODE_PORT},
        }
    return values


def service_type(values: dict[str, Any]) -> str:
    """The type of the Service chart 41.3.0 renders for these values: it copies
    `service.spec` into the Service's spec, whose type defaults to LoadBalancer there
    (tests/test_charts.py renders it to check)."""
    return str(((values.get("service") or {}).get("spec") or {}).get("type", "LoadBalancer"))

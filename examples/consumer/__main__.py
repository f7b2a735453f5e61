"""Another team's program on a Podium cluster: it reads Podium's stack outputs through a
StackReference, builds its own Kubernetes provider from the `kubeconfig` output and
deploys its namespace and a Deployment there. Podium's outputs are its only interface."""

import pulumi
import pulumi_kubernetes as k8s

config = pulumi.Config()
podium = pulumi.StackReference(config.require("podiumStack"))
cluster_name = podium.require_output("clusterName")

# Same identity as Podium's own provider: a renewed kubeconfig never replaces this one.
cluster = k8s.Provider(
    "podium-cluster",
    kubeconfig=podium.require_output("kubeconfig"),  # secret in Podium, secret here
    cluster_identifier=cluster_name,
)
in_cluster = pulumi.ResourceOptions(provider=cluster)

labels = {"app.kubernetes.io/name": "reports", "app.kubernetes.io/part-of": "team-reports"}
namespace = k8s.core.v1.Namespace(
    "team-reports",
    metadata={
        "name": "team-reports",
        "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "v1.35",
        },
    },
    opts=in_cluster,
)
k8s.apps.v1.Deployment(
    "reports",
    metadata={"name": "reports", "namespace": namespace.metadata.name, "labels": labels},
    spec={
        "replicas": 2,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10201,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "reports",
                        "image": config.require("image"),
                        "ports": [{"containerPort": 9898}],
                        "resources": {
                            "requests": {"cpu": "50m", "memory": "64Mi"},
                            "limits": {"cpu": "100m", "memory": "128Mi"},
                        },
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9898}},
                        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 9898}},
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        },
    },
    opts=in_cluster,
)

pulumi.export("namespace", namespace.metadata.name)
pulumi.export("clusterName", cluster_name)
pulumi.export("podiumAppUrl", podium.require_output("appUrl"))

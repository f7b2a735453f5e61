"""Another team's program on a Podium cluster: it reads Podium's stack outputs through a
StackReference, builds its own Kubernetes provider from the `kubeconfig` output and
deploys its namespace and a Deployment there. It also gets an AWS role for its own
pods: a trust policy on Podium's service-account issuer (`oidcIssuerUrl`,
`oidcProviderArn`), a service account annotated with the role, and a Job whose
`aws sts get-caller-identity` prints that role (Podium's pod-identity webhook gives the
pod its token). Podium's outputs are its only interface."""

import json

import pulumi
import pulumi_aws as aws
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

# A role only this namespace's `reports-aws` service account can assume, for STS.
issuer_host = podium.require_output("oidcIssuerUrl").apply(lambda url: url.removeprefix("https://"))
trust = pulumi.Output.all(podium.require_output("oidcProviderArn"), issuer_host).apply(
    lambda v: json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": v[0]},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{v[1]}:sub": "system:serviceaccount:team-reports:reports-aws",
                            f"{v[1]}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )
)
role = aws.iam.Role("reports-aws", assume_role_policy=trust, description="team-reports pods")
account = k8s.core.v1.ServiceAccount(
    "reports-aws",
    metadata={
        "name": "reports-aws",
        "namespace": namespace.metadata.name,
        "annotations": {"eks.amazonaws.com/role-arn": role.arn},
    },
    automount_service_account_token=False,
    opts=in_cluster,
)
k8s.batch.v1.Job(
    "whoami",
    metadata={"name": "whoami", "namespace": namespace.metadata.name, "labels": labels},
    spec={
        "backoffLimit": 2,
        "activeDeadlineSeconds": 300,
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "serviceAccountName": "reports-aws",
                "automountServiceAccountToken": False,
                "restartPolicy": "Never",
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10201,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "whoami",
                        "image": config.require("awsCliImage"),  # an AWS CLI image, pinned
                        "args": ["sts", "get-caller-identity"],
                        "resources": {
                            "requests": {"cpu": "50m", "memory": "64Mi"},
                            "limits": {"cpu": "200m", "memory": "256Mi"},
                        },
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
    opts=pulumi.ResourceOptions(provider=cluster, depends_on=[account]),
)

pulumi.export("namespace", namespace.metadata.name)
pulumi.export("roleArn", role.arn)
pulumi.export("clusterName", cluster_name)
pulumi.export("podiumAppUrl", podium.require_output("appUrl"))

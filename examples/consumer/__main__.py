"""Another team's program on a Podium cluster, as a tenant: Podium made its namespace
(`tenants[].name`, here `team-reports`) with a quota, defaults and guardrails, and hands
it a kubeconfig limited to that namespace (`tenantKubeconfigs`). With it, this program
deploys a Deployment there. It also gets an AWS role for its own pods: a trust policy on
Podium's service-account issuer (`oidcIssuerUrl`, `oidcProviderArn`), a service account
annotated with the role, and a Job whose `aws sts get-caller-identity` prints that role
(Podium's pod-identity webhook gives the pod its token). Podium's outputs are its only
interface; README.md says what the team can and cannot do."""

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

config = pulumi.Config()
podium = pulumi.StackReference(config.require("podiumStack"))
cluster_name = podium.require_output("clusterName")
tenant = config.require("tenant")  # Podium's tenants[].name: this team's namespace


def own_kubeconfig(kubeconfigs: dict[str, str]) -> str:
    if tenant not in kubeconfigs:
        raise ValueError(
            f"podium-consumer:tenant {tenant!r} is not a tenant of {config.require('podiumStack')} "
            f"(it has: {', '.join(sorted(kubeconfigs)) or 'none'}); ask the platform team to add it"
        )
    return kubeconfigs[tenant]


# The tenant's own credential, never the admin one; the same identity as Podium's
# provider, so a renewed certificate never replaces this provider.
cluster = k8s.Provider(
    "podium-cluster",
    kubeconfig=podium.require_output("tenantKubeconfigs").apply(own_kubeconfig),  # secret there, secret here
    cluster_identifier=cluster_name,
    namespace=tenant,
)
in_cluster = pulumi.ResourceOptions(provider=cluster)

labels = {"app.kubernetes.io/name": "reports", "app.kubernetes.io/part-of": tenant}
k8s.apps.v1.Deployment(
    "reports",
    metadata={"name": "reports", "namespace": tenant, "labels": labels},
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
                            f"{v[1]}:sub": f"system:serviceaccount:{tenant}:reports-aws",
                            f"{v[1]}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        }
    )
)
role = aws.iam.Role("reports-aws", assume_role_policy=trust, description=f"{tenant} pods")
account = k8s.core.v1.ServiceAccount(
    "reports-aws",
    metadata={
        "name": "reports-aws",
        "namespace": tenant,
        "annotations": {"eks.amazonaws.com/role-arn": role.arn},
    },
    automount_service_account_token=False,
    opts=in_cluster,
)
k8s.batch.v1.Job(
    "whoami",
    metadata={"name": "whoami", "namespace": tenant, "labels": labels},
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

pulumi.export("namespace", tenant)
pulumi.export("roleArn", role.arn)
pulumi.export("clusterName", cluster_name)
pulumi.export("podiumAppUrl", podium.require_output("appUrl"))

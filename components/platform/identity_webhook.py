"""IdentityWebhook: aws/amazon-eks-pod-identity-webhook, so that a pod whose service
account carries `eks.amazonaws.com/role-arn` gets the projected token and the
variables the AWS SDKs read, without writing them itself.

Upstream ships no chart, only manifests that assume cert-manager and the `default`
namespace (`../shared/charts/pod-identity-webhook/deploy`, v0.6.17). Here: its own
namespace, a serving certificate from a small CA made with pulumi-tls (so no
cert-manager at bootstrap; the CA bundle goes into the MutatingWebhookConfiguration),
its cluster role (read service accounts; its CSR and Secret rights serve only the
in-cluster certificate mode, which it does not use), and a hardened pod. As upstream,
`failurePolicy: Ignore`: a webhook that is down never blocks pod creation; those pods
just get no credentials.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

NAMESPACE = "pod-identity"
NAME = "pod-identity-webhook"
IMAGE = "public.ecr.aws/eks/amazon-eks-pod-identity-webhook:v0.6.17"
UID = 65534
CERT_HOURS = 2 * 365 * 24
RENEW_HOURS = 60 * 24
PORT = 8443
# checkov's findings this Deployment has on purpose, with why.
CHECKOV_SKIPS = {
    "checkov.io/skip1": "CKV_K8S_43=pinned by tag; a digest per release is the next step, as for the add-ons",
    "checkov.io/skip2": "CKV_K8S_38=it reads service accounts from the API server with its own token",
}


@dataclass(frozen=True)
class IdentityWebhookArgs:
    audience: str  # the STS audience of the tokens it writes
    region: str  # written into the pods it mutates: some SDKs need it for web identity


class IdentityWebhook(pulumi.ComponentResource):
    def __init__(self, name: str, args: IdentityWebhookArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:platform:IdentityWebhook", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        service_host = f"{NAME}.{NAMESPACE}.svc"
        ca_key = tls.PrivateKey(f"{name}-ca", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{NAME} CA"),
            is_ca_certificate=True,
            validity_period_hours=CERT_HOURS,
            early_renewal_hours=RENEW_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=child,
        )
        key = tls.PrivateKey(f"{name}-serving", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        request = tls.CertRequest(
            f"{name}-serving",
            private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=service_host),
            dns_names=[service_host, f"{NAME}.{NAMESPACE}", NAME],
            opts=child,
        )
        serving = tls.LocallySignedCert(
            f"{name}-serving",
            cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem,
            validity_period_hours=CERT_HOURS,
            early_renewal_hours=RENEW_HOURS,
            allowed_uses=["server_auth", "digital_signature", "key_encipherment"],
            opts=child,
        )
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
            opts=child,
        )
        scoped = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        account = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount", metadata={"name": NAME, "namespace": NAMESPACE}, opts=scoped
        )
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-clusterrole",
            metadata={"name": NAME},
            rules=cast(Any, [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["get", "watch", "list"]}]),
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-clusterrolebinding",
            metadata={"name": NAME},
            role_ref=cast(Any, {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME}),
            subjects=cast(Any, [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]),
        )
        secret = k8s.core.v1.Secret(
            f"{name}-cert",
            metadata={"name": f"{NAME}-cert", "namespace": NAMESPACE},
            type="kubernetes.io/tls",
            string_data={"tls.crt": serving.cert_pem, "tls.key": pulumi.Output.secret(key.private_key_pem)},
            opts=scoped,
        )
        labels = {"app.kubernetes.io/name": NAME}
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": NAME, "namespace": NAMESPACE, "labels": labels, "annotations": CHECKOV_SKIPS},
            spec=cast(
                Any,
                {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": _pod(args.audience, args.region)},
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[secret, account]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-poddisruptionbudget",
            metadata={"name": NAME, "namespace": NAMESPACE},
            spec=cast(Any, {"maxUnavailable": 1, "selector": {"matchLabels": labels}}),
            opts=scoped,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": NAME, "namespace": NAMESPACE},
            spec=cast(Any, {"selector": labels, "ports": [{"name": "https", "port": 443, "targetPort": PORT}]}),
            opts=scoped,
        )
        # Only the API server calls it: everything else in the namespace is refused.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-networkpolicy",
            metadata={"name": NAME, "namespace": NAMESPACE},
            spec=cast(
                Any,
                {
                    "podSelector": {"matchLabels": labels},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"ports": [{"port": PORT, "protocol": "TCP"}]}],
                    # The API server (service-account lookups), wherever it listens.
                    "egress": [{"ports": [{"port": 6443, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]}],
                },
            ),
            opts=scoped,
        )
        self.configuration = k8s.admissionregistration.v1.MutatingWebhookConfiguration(
            f"{name}-mutatingwebhookconfiguration",
            metadata={"name": NAME},
            webhooks=cast(
                Any,
                [
                    {
                        "name": "pod-identity-webhook.amazonaws.com",
                        "failurePolicy": "Ignore",
                        # Down, it delays a pod's creation by at most this.
                        "timeoutSeconds": 3,
                        "clientConfig": {
                            "service": {"name": NAME, "namespace": NAMESPACE, "path": "/mutate"},
                            "caBundle": ca.cert_pem.apply(lambda pem: base64.b64encode(pem.encode()).decode()),
                        },
                        "objectSelector": {
                            "matchExpressions": [
                                {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": [NAME]}
                            ]
                        },
                        "rules": [
                            {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}
                        ],
                        "sideEffects": "None",
                        # What v0.6.17 answers (upstream's mutatingwebhook.yaml).
                        "admissionReviewVersions": ["v1beta1"],
                    }
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment, service]),
        )
        self.register_outputs({"namespace": NAMESPACE})


def _pod(audience: str, region: str) -> dict[str, Any]:
    return {
        "serviceAccountName": NAME,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": NAME,
                "image": IMAGE,
                "imagePullPolicy": "Always",
                "command": [
                    "/webhook",
                    "--in-cluster=false",
                    f"--namespace={NAMESPACE}",
                    f"--service-name={NAME}",
                    f"--port={PORT}",
                    "--tls-cert=/etc/webhook/certs/tls.crt",
                    "--tls-key=/etc/webhook/certs/tls.key",
                    "--annotation-prefix=eks.amazonaws.com",
                    f"--token-audience={audience}",
                    f"--aws-default-region={region}",
                    "--sts-regional-endpoint=true",
                    "--logtostderr",
                ],
                "ports": [{"name": "https", "containerPort": PORT}],
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"cpu": "200m", "memory": "128Mi"},
                },
                "livenessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 20},
                "readinessProbe": {"tcpSocket": {"port": PORT}, "periodSeconds": 10},
                "volumeMounts": [{"name": "cert", "mountPath": "/etc/webhook/certs", "readOnly": True}],
            }
        ],
        "volumes": [{"name": "cert", "secret": {"secretName": f"{NAME}-cert", "defaultMode": 0o440}}],
    }

"""ClusterPki: the certificate authorities and keys every control plane must share,
generated declaratively with pulumi-tls, plus the admin client certificate.

kubeadm would generate these on the first control plane; generating them here makes
the cluster's CA, the discovery hash and the admin kubeconfig known before any node
boots, and lets every control plane receive the same material from SSM.

Validity and renewal (docs/security.md, "PKI validity"): the three CAs last 10 years and are renewed by
`pulumi up` once inside their last year (renewing a CA re-keys the cluster: plan it);
the admin client certificate lasts one year and is renewed in its last 30 days, which
changes only the kubeconfig output.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

CA_VALIDITY_HOURS = 10 * 8760
CA_EARLY_RENEWAL_HOURS = 8760
CLIENT_VALIDITY_HOURS = 8760
CLIENT_EARLY_RENEWAL_HOURS = 30 * 24
# kubeadm binds this group to cluster-admin (kubeadm:cluster-admins, 1.29+), unlike
# system:masters, which no RBAC change can ever revoke.
ADMIN_GROUP = "kubeadm:cluster-admins"
CA_USES = ["cert_signing", "crl_signing", "digital_signature", "key_encipherment"]


@dataclass(frozen=True)
class ClusterPkiArgs:
    cluster_name: str
    protect: bool


@dataclass(frozen=True)
class CertificateAuthority:
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]  # secret


@dataclass(frozen=True)
class ClientCertificate:
    cert_pem: pulumi.Output[str]
    key_pem: pulumi.Output[str]  # secret


def client_certificate(
    name: str,
    *,
    user: pulumi.Input[str],
    group: str,
    ca: CertificateAuthority,
    validity_hours: int,
    early_renewal_hours: int,
    parent: pulumi.Resource,
) -> ClientCertificate:
    """A key and a client certificate the cluster CA signs: the API server authenticates
    it as `user` (its common name) in `group` (its organization). `pulumi up` renews it
    once inside its last `early_renewal_hours`."""
    child = pulumi.ResourceOptions(parent=parent)
    key = tls.PrivateKey(name, algorithm="ECDSA", ecdsa_curve="P256", opts=child)
    key_pem = pulumi.Output.secret(key.private_key_pem)
    request = tls.CertRequest(
        name,
        private_key_pem=key_pem,
        subject=tls.CertRequestSubjectArgs(common_name=user, organization=group),
        opts=child,
    )
    cert = tls.LocallySignedCert(
        name,
        cert_request_pem=request.cert_request_pem,
        ca_cert_pem=ca.cert_pem,
        ca_private_key_pem=ca.key_pem,
        validity_period_hours=validity_hours,
        early_renewal_hours=early_renewal_hours,
        allowed_uses=["client_auth", "digital_signature", "key_encipherment"],
        opts=child,
    )
    return ClientCertificate(cert_pem=cert.cert_pem, key_pem=key_pem)


class ClusterPki(pulumi.ComponentResource):
    cluster_ca: CertificateAuthority
    front_proxy_ca: CertificateAuthority
    etcd_ca: CertificateAuthority
    service_account_key_pem: pulumi.Output[str]  # secret
    service_account_public_pem: pulumi.Output[str]
    admin_cert_pem: pulumi.Output[str]
    admin_key_pem: pulumi.Output[str]  # secret

    def __init__(self, name: str, args: ClusterPkiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:pki:ClusterPki", name, None, opts)
        self._name = name
        self._keep_material = args.protect
        self.cluster_ca = self._authority("ca", "kubernetes")
        self.front_proxy_ca = self._authority("front-proxy-ca", "front-proxy-ca")
        self.etcd_ca = self._authority("etcd-ca", "etcd-ca")

        # RSA for the service-account signer: RS256 is what every OIDC consumer of
        # projected tokens (IAM roles for service accounts included) accepts.
        sa_key = tls.PrivateKey(f"{name}-sa", algorithm="RSA", rsa_bits=2048, opts=self._keep())
        self.service_account_key_pem = pulumi.Output.secret(sa_key.private_key_pem)
        self.service_account_public_pem = sa_key.public_key_pem

        admin = client_certificate(
            f"{name}-admin",
            user=f"{args.cluster_name}-admin",
            group=ADMIN_GROUP,
            ca=self.cluster_ca,
            validity_hours=CLIENT_VALIDITY_HOURS,
            early_renewal_hours=CLIENT_EARLY_RENEWAL_HOURS,
            parent=self,
        )
        self.admin_cert_pem = admin.cert_pem
        self.admin_key_pem = admin.key_pem

        self.register_outputs(
            {
                "clusterCaCertificate": self.cluster_ca.cert_pem,
                "frontProxyCaCertificate": self.front_proxy_ca.cert_pem,
                "etcdCaCertificate": self.etcd_ca.cert_pem,
                "serviceAccountPublicKey": self.service_account_public_pem,
                "adminCertificate": self.admin_cert_pem,
            }
        )

    def files(self) -> dict[str, pulumi.Output[str]]:
        """What kubeadm expects under /etc/kubernetes/pki, by relative path; with these
        in place kubeadm init and every control-plane join use them as they are."""
        return {
            "ca.crt": self.cluster_ca.cert_pem,
            "ca.key": self.cluster_ca.key_pem,
            "front-proxy-ca.crt": self.front_proxy_ca.cert_pem,
            "front-proxy-ca.key": self.front_proxy_ca.key_pem,
            "etcd/ca.crt": self.etcd_ca.cert_pem,
            "etcd/ca.key": self.etcd_ca.key_pem,
            "sa.key": self.service_account_key_pem,
            "sa.pub": self.service_account_public_pem,
        }

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _keep(self) -> pulumi.ResourceOptions:
        """CAs and the service-account key: losing one re-keys the whole cluster."""
        return pulumi.ResourceOptions(parent=self, protect=self._keep_material)

    def _authority(self, suffix: str, common_name: str) -> CertificateAuthority:
        key = tls.PrivateKey(f"{self._name}-{suffix}", algorithm="ECDSA", ecdsa_curve="P256", opts=self._keep())
        key_pem = pulumi.Output.secret(key.private_key_pem)
        cert = tls.SelfSignedCert(
            f"{self._name}-{suffix}",
            private_key_pem=key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=common_name),
            is_ca_certificate=True,
            set_subject_key_id=True,
            validity_period_hours=CA_VALIDITY_HOURS,
            early_renewal_hours=CA_EARLY_RENEWAL_HOURS,
            allowed_uses=CA_USES,
            opts=self._keep(),
        )
        return CertificateAuthority(cert_pem=cert.cert_pem, key_pem=key_pem)

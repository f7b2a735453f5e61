"""Rendered kubeadm/kubelet documents, the discovery hash and the admin kubeconfig."""

from __future__ import annotations

import base64
import datetime

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.cluster import kubeadm
from components.cluster.discovery import discovery_hash, render_kubeconfig
from tests import openssl
from tests.schema_walk import walk_document

PARAMS = kubeadm.ClusterParams(
    cluster_name="podium-dev",
    kubernetes_version="1.35.8",
    endpoint_host="api.podium-dev.example.com",
    pod_cidr="10.244.0.0/16",
    service_cidr="10.96.0.0/12",
    cert_sans=("10.20.0.10",),
)
HASH = "sha256:" + "0" * 64
DB_TAINT = kubeadm.Taint("podium/dedicated", "db", "NoSchedule")


def all_documents() -> dict[str, dict]:
    return {
        "cluster": kubeadm.cluster_configuration(PARAMS),
        "init": kubeadm.init_configuration(),
        "control-plane-join": kubeadm.join_configuration(PARAMS.control_plane_endpoint, HASH, control_plane=True),
        "worker-join": kubeadm.join_configuration(
            PARAMS.control_plane_endpoint, HASH, control_plane=False, labels={"podium/pool": "db"}, taints=[DB_TAINT]
        ),
        "kubelet": kubeadm.kubelet_configuration(),
        "kube-proxy": kubeadm.kube_proxy_configuration(),
    }


@pytest.mark.parametrize("name", list(all_documents()))
def test_rendered_documents_walk_clean_against_the_api_schema(name: str) -> None:
    assert walk_document(all_documents()[name]) == []


def test_the_walk_rejects_a_v1beta3_style_extra_args_map() -> None:
    document = kubeadm.cluster_configuration(PARAMS)
    document["apiServer"]["extraArgs"] = {"audit-log-path": "/var/log/audit.log"}
    assert walk_document(document) == ["ClusterConfiguration.apiServer.extraArgs: expected a list, got dict"]


def test_the_walk_rejects_a_misspelt_field() -> None:
    document = kubeadm.cluster_configuration(PARAMS)
    document["networking"]["podSubnets"] = document["networking"].pop("podSubnet")
    assert walk_document(document) == ["ClusterConfiguration.networking.podSubnets: unknown field of Networking"]


def test_the_walk_rejects_a_wrongly_typed_kubelet_scalar() -> None:
    document = kubeadm.kubelet_configuration()
    document["readOnlyPort"] = "0"
    assert walk_document(document) == ["KubeletConfiguration.readOnlyPort: expected an integer, got '0'"]


def test_cloud_provider_is_external_on_kubelet_and_controller_manager_not_api_server() -> None:
    cluster = kubeadm.cluster_configuration(PARAMS)
    api_args = {a["name"] for a in cluster["apiServer"]["extraArgs"]}
    assert "cloud-provider" not in api_args
    assert {"name": "cloud-provider", "value": "external"} in cluster["controllerManager"]["extraArgs"]
    for name in ("init", "control-plane-join", "worker-join"):
        registration = all_documents()[name]["nodeRegistration"]
        assert {"name": "cloud-provider", "value": "external"} in registration["kubeletExtraArgs"]
        assert registration["name"] == "${NODE_NAME}"


def test_api_server_encrypts_secrets_and_audits() -> None:
    args = {a["name"]: a["value"] for a in kubeadm.cluster_configuration(PARAMS)["apiServer"]["extraArgs"]}
    assert args["encryption-provider-config"] == kubeadm.ENCRYPTION_CONFIG_PATH
    assert args["audit-policy-file"] == kubeadm.AUDIT_POLICY_PATH
    assert (args["audit-log-maxage"], args["audit-log-maxbackup"], args["audit-log-maxsize"]) == ("30", "10", "100")


def test_cluster_settings_reach_the_cluster_configuration() -> None:
    cluster = kubeadm.cluster_configuration(PARAMS)
    assert cluster["controlPlaneEndpoint"] == "api.podium-dev.example.com:6443"
    assert cluster["kubernetesVersion"] == "v1.35.8"
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16"
    assert cluster["networking"]["serviceSubnet"] == "10.96.0.0/12"
    assert cluster["apiServer"]["certSANs"] == ["10.20.0.10", "api.podium-dev.example.com"]


def test_joins_verify_the_ca_and_carry_pool_labels_and_taints() -> None:
    worker = all_documents()["worker-join"]
    discovery = worker["discovery"]["bootstrapToken"]
    assert discovery["caCertHashes"] == [HASH]
    assert "unsafeSkipCAVerification" not in discovery
    assert discovery["apiServerEndpoint"] == PARAMS.control_plane_endpoint
    assert worker["nodeRegistration"]["taints"] == [{"key": "podium/dedicated", "value": "db", "effect": "NoSchedule"}]
    assert {"name": "node-labels", "value": "podium/pool=db"} in worker["nodeRegistration"]["kubeletExtraArgs"]
    assert "controlPlane" not in worker
    assert "controlPlane" in all_documents()["control-plane-join"]


def test_token_outlives_kubeadms_default_so_late_nodes_join() -> None:
    (token,) = kubeadm.init_configuration()["bootstrapTokens"]
    assert token["token"] == "${BOOTSTRAP_TOKEN}", "the real token is filled in on the node, from SSM"
    assert token["ttl"] != "24h0m0s"


def test_kubelet_uses_systemd_cgroups_and_signed_serving_certs() -> None:
    kubelet = kubeadm.kubelet_configuration()
    assert kubelet["cgroupDriver"] == "systemd"
    assert kubelet["serverTLSBootstrap"] is True
    assert kubelet["authentication"]["anonymous"]["enabled"] is False


def test_render_is_reproducible_multi_document_yaml() -> None:
    documents = list(all_documents().values())
    text = kubeadm.render(documents)
    assert text == kubeadm.render(documents)
    assert [d["kind"] for d in yaml.safe_load_all(text)] == [d["kind"] for d in documents]


def _ca() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_discovery_hash_matches_the_openssl_pipeline_kubeadm_documents() -> None:
    ca_pem, _ = _ca()
    assert discovery_hash(ca_pem) == openssl.discovery_hash(ca_pem)


def test_kubeconfig_parses_embeds_the_ca_and_is_deterministic() -> None:
    ca_pem, key_pem = _ca()
    text = render_kubeconfig("podium-dev", "https://api.example.com:6443", ca_pem, ca_pem, key_pem)
    assert text == render_kubeconfig("podium-dev", "https://api.example.com:6443", ca_pem, ca_pem, key_pem)
    config = yaml.safe_load(text)
    (cluster,) = config["clusters"]
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]).decode() == ca_pem
    assert cluster["cluster"]["server"] == "https://api.example.com:6443"
    assert config["current-context"] == "podium-dev"
    (user,) = config["users"]
    assert base64.b64decode(user["user"]["client-key-data"]).decode() == key_pem

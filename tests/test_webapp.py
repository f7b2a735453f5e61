"""WebApp, per stack: hardened pods, autoscaling from config, exactly the allowed network
paths, the database on its pool, least-privilege backups, secrets kept secret, and
checkov over every rendered object."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.app import manifests as m
from components.platform import guardrails, monitoring
from tests import netpol
from tests.buckets import assert_private_bucket
from tests.conftest import graph_for, stack_config
from tools import harness, render

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "CronJob", "Job")
# Every stack monitors its app: the exporter and the Job keeping its user come with it.
APP_WORKLOADS = {"frontend", "api", "db", "backup", "db-metrics", "db-users"}
STACKS = ["dev", "prod", "local"]


def objects(graph: harness.Graph, kind: str | None = None) -> list[dict[str, Any]]:
    found = render.kubernetes_objects(graph, redact=False)
    return [o for o in found if kind is None or o["kind"] == kind]


def app_object(graph: harness.Graph, kind: str, name: str) -> dict[str, Any]:
    (found,) = [
        o
        for o in objects(graph, kind)
        if o["metadata"]["name"] == name and o["metadata"].get("namespace") == m.NAMESPACE
    ]
    return found


def pod_template(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    return spec["jobTemplate"]["spec"]["template"] if workload["kind"] == "CronJob" else spec["template"]


def workloads(graph: harness.Graph) -> list[dict[str, Any]]:
    return [o for o in objects(graph) if o["kind"] in WORKLOAD_KINDS and o["metadata"]["namespace"] == m.NAMESPACE]


@pytest.mark.parametrize("stack", STACKS)
def test_namespace_enforces_restricted_pod_security(stack: str) -> None:
    (namespace,) = [o for o in objects(graph_for(stack), "Namespace") if o["metadata"]["name"] == m.NAMESPACE]
    labels = namespace["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == guardrails.PSS_VERSION
    # Podium's guardrails hold here too where the cluster has them (kubeadm mode).
    assert (labels.get(guardrails.ENFORCED_LABEL) == guardrails.ENFORCED) == (stack != "local")


@pytest.mark.parametrize("stack", STACKS)
def test_every_pod_is_hardened(stack: str) -> None:
    found = workloads(graph_for(stack))
    assert {w["metadata"]["name"] for w in found} == APP_WORKLOADS
    for workload in found:
        pod = pod_template(workload)["spec"]
        name = workload["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False, name
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] >= 10000, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["labelSelector"]["matchLabels"] == m.selector(name)
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["runAsUser"] >= 10000
            assert set(container["resources"]) == {"requests", "limits"}
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}
            if workload["kind"] not in ("CronJob", "Job"):
                assert "livenessProbe" in container and "readinessProbe" in container, (name, container["name"])
    db = pod_template(app_object(graph_for(stack), "StatefulSet", "db"))["spec"]["containers"][0]
    assert db["startupProbe"]["failureThreshold"] * db["startupProbe"]["periodSeconds"] >= 300


@pytest.mark.parametrize("stack", STACKS)
def test_deployments_leave_replicas_to_the_hpa_and_roll_without_downtime(stack: str) -> None:
    graph = graph_for(stack)
    config = stack_config(stack)["podium:app"]
    for name in ("frontend", "api"):
        deployment = app_object(graph, "Deployment", name)
        assert "replicas" not in deployment["spec"]
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        hpa = app_object(graph, "HorizontalPodAutoscaler", name)["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (config[name]["minReplicas"], config[name]["maxReplicas"])
        targets = {t["resource"]["name"]: t["resource"]["target"]["averageUtilization"] for t in hpa["metrics"]}
        assert targets == {
            "cpu": config[name].get("targetCpuPercent", 70),
            "memory": config[name].get("targetMemoryPercent", 80),
        }
        container = pod_template(deployment)["spec"]["containers"][0]
        assert container["image"] == config[name]["image"]
        assert container["resources"]["requests"] == {"cpu": config[name]["cpu"], "memory": config[name]["memory"]}
        assert app_object(graph, "PodDisruptionBudget", name)["spec"]["maxUnavailable"] == 1


def test_hpa_targets_follow_config() -> None:
    config = stack_config("dev")
    config["podium:app"]["api"].update(targetCpuPercent=55, targetMemoryPercent=65, minReplicas=3, maxReplicas=9)
    hpa = app_object(harness.run("dev", config), "HorizontalPodAutoscaler", "api")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 9)
    assert [t["resource"]["target"]["averageUtilization"] for t in hpa["metrics"]] == [55, 65]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_database_runs_on_its_pool_with_its_storage(stack: str) -> None:
    graph = graph_for(stack)
    config = stack_config(stack)
    db_config = config["podium:app"]["db"]
    (pool,) = [p for p in config["podium:nodePools"] if p["name"] == db_config["nodePool"]]
    statefulset = app_object(graph, "StatefulSet", "db")["spec"]
    pod = statefulset["template"]["spec"]
    assert pod["nodeSelector"] == pool["labels"]
    assert pod["tolerations"] == [{"operator": "Equal", **taint} for taint in pool["taints"]]
    (claim,) = statefulset["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == db_config["storageClass"]
    assert claim["spec"]["resources"]["requests"]["storage"] == f"{db_config['storageGb']}Gi"
    assert statefulset["serviceName"] == "db"
    assert app_object(graph, "Service", "db")["spec"]["clusterIP"] == "None"
    container = pod["containers"][0]
    assert {e["name"] for e in container["env"]} >= {
        "MONGO_INITDB_ROOT_PASSWORD_FILE",
        "MONGO_INITDB_ROOT_USERNAME_FILE",
    }
    assert not [e for e in container["env"] if "valueFrom" in e], "credentials come as files"
    mounts = {v["mountPath"] for v in container["volumeMounts"]}
    assert {"/data/db", "/tmp", "/data/configdb"} <= mounts


def test_local_database_is_not_pinned() -> None:
    pod = app_object(graph_for("local"), "StatefulSet", "db")["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod


@pytest.mark.parametrize("stack", STACKS)
def test_ingress_routes_the_hostname(stack: str) -> None:
    graph = graph_for(stack)
    spec = app_object(graph, "Ingress", "podium")["spec"]
    assert spec["ingressClassName"] == "traefik"
    (rule,) = spec["rules"]
    assert rule["host"] == stack_config(stack)["podium:app"]["hostname"]
    routes = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert routes == {"/": "frontend", "/api": "api"}
    # Every stack here serves HTTPS (dev, staging, prod: ACME; local: the cluster's CA).
    assert spec["tls"] == [{"hosts": [rule["host"]], "secretName": m.TLS_SECRET}]
    port = ":8443" if stack == "local" else ""
    assert graph.exports["appUrl"] == f"https://{rule['host']}{port}"
    assert graph.exports["appNamespace"] == m.NAMESPACE


def _endpoints(graph: harness.Graph, stack: str) -> dict[str, netpol.Endpoint]:
    """The app's pods from their templates, plus the peers the policies talk about."""
    pod_cidr = stack_config(stack).get("podium:cluster", {}).get("podCidr", "10.244.0.0/16")
    base = pod_cidr.split("/")[0].rsplit(".", 2)[0]
    found = {
        w["metadata"]["name"]: netpol.Endpoint(
            w["metadata"]["name"], m.NAMESPACE, pod_template(w)["metadata"]["labels"], f"{base}.1.{i + 10}"
        )
        for i, w in enumerate(workloads(graph))
    }
    found["traefik"] = netpol.Endpoint("traefik", "traefik", {"app.kubernetes.io/name": "traefik"}, f"{base}.2.10")
    found["prometheus"] = netpol.Endpoint(
        "prometheus",
        monitoring.NAMESPACE,
        {**monitoring.PROMETHEUS_POD_LABELS, "app.kubernetes.io/name": "prometheus"},
        f"{base}.3.10",
    )
    # Another pod of the monitoring namespace: Grafana reaches nothing in the app.
    found["grafana"] = netpol.Endpoint(
        "grafana", monitoring.NAMESPACE, {"app.kubernetes.io/name": "grafana"}, f"{base}.3.11"
    )
    found["kube-dns"] = netpol.Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, f"{base}.2.11")
    found["stranger"] = netpol.Endpoint("stranger", "default", {"app.kubernetes.io/name": "api"}, f"{base}.2.12")
    found["internet"] = netpol.Endpoint("internet", None, {}, "52.216.8.1")
    vpc = stack_config(stack).get("podium:network", {}).get("cidr", "10.20.0.0/16")
    found["vpc-host"] = netpol.Endpoint("vpc-host", None, {}, vpc.split("/")[0].rsplit(".", 1)[0] + ".5")
    return found


# (source, target, port, protocol) that must be allowed; every other pairing involving
# an app pod must not be.
EXPECTED_PATHS = {
    ("traefik", "frontend", 8080, "TCP"),
    ("traefik", "api", 9898, "TCP"),
    ("frontend", "api", 9898, "TCP"),
    ("api", "db", 27017, "TCP"),
    ("backup", "db", 27017, "TCP"),
    # Prometheus, and only Prometheus, to the metrics ports; the exporter and its user's Job to the database.
    ("prometheus", "api", 9797, "TCP"),
    ("prometheus", "db-metrics", 9216, "TCP"),
    ("db-metrics", "db", 27017, "TCP"),
    ("db-users", "db", 27017, "TCP"),
} | {(app, "kube-dns", 53, protocol) for app in APP_WORKLOADS for protocol in ("UDP", "TCP")}
PORTS = {
    "frontend": [8080],
    "api": [9898, 9797],
    "db": [27017],
    "backup": [8080],
    "db-metrics": [9216],
    "db-users": [8080],
    "prometheus": [9090],
    "grafana": [3000],
    "traefik": [8000],
    "kube-dns": [53],
    "stranger": [9898],
    "internet": [443],
    "vpc-host": [443],
}


@pytest.mark.parametrize("stack", STACKS)
def test_network_policies_allow_exactly_the_designed_paths(stack: str) -> None:
    graph = graph_for(stack)
    policies = objects(graph, "NetworkPolicy")
    endpoints = _endpoints(graph, stack)
    expected = set(EXPECTED_PATHS)
    if stack != "local":
        expected.add(("backup", "internet", 443, "TCP"))
    app = APP_WORKLOADS
    allowed = set()
    for source in endpoints.values():
        for target in endpoints.values():
            if source == target or not ({source.name, target.name} & app):
                continue
            for port in PORTS[target.name]:
                for protocol in ("TCP", "UDP"):
                    if netpol.connection_allowed(policies, source, target, port, protocol):
                        allowed.add((source.name, target.name, port, protocol))
    assert allowed == expected
    # The audit's question, answered by the same evaluator.
    assert not netpol.connection_allowed(policies, endpoints["frontend"], endpoints["db"], 27017)


def test_the_evaluator_sees_a_missing_default_deny() -> None:
    graph = graph_for("dev")
    policies = [p for p in objects(graph, "NetworkPolicy") if p["metadata"]["name"] != "default-deny"]
    endpoints = _endpoints(graph, "dev")
    assert netpol.connection_allowed(policies, endpoints["stranger"], endpoints["backup"], 8080)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_backup_goes_to_a_private_bucket_only_its_user_can_write(stack: str) -> None:
    from components.cluster.iam_policies import PARLIAMENT_ACCEPTED_FINDINGS
    from tests.test_iam_policies import lint, unexpected

    graph = graph_for(stack)
    retention = stack_config(stack)["podium:app"]["db"].get("backupRetentionDays", 30)
    bucket = assert_private_bucket(
        graph,
        "app-db-backups",
        encryption={"sseAlgorithm": "AES256"},
        expire_prefix="mongodump/",
        expire_days=retention,
    )
    assert graph.exports["appBackupBucket"] == bucket.state["bucket"]
    # A role only the backup's service account assumes; no user, no key.
    assert graph.of_type("aws:iam/user:User") == [] and graph.of_type("aws:iam/accessKey:AccessKey") == []
    role = graph.one("aws:iam/role:Role", "app-backup")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    issuer = graph.exports["oidcIssuerUrl"].removeprefix("https://")
    assert trust["Principal"] == {"Federated": graph.exports["oidcProviderArn"]}
    assert trust["Condition"] == {
        "StringEquals": {f"{issuer}:sub": "system:serviceaccount:podium:backup", f"{issuer}:aud": "sts.amazonaws.com"}
    }
    policy = json.loads(graph.one("aws:iam/rolePolicy:RolePolicy", "app-backup").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Action"] == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert statement["Resource"] == f"arn:aws:s3:::{bucket.state['bucket']}/mongodump/podium-{stack}/*"
    assert unexpected(lint(policy), PARLIAMENT_ACCEPTED_FINDINGS) == []
    bucket_policy = json.loads(graph.one("aws:s3/bucketPolicy:BucketPolicy", "app-db-backups").inputs["policy"])
    (only_writer,) = [s for s in bucket_policy["Statement"] if s["Sid"] == "OnlyTheBackupWrites"]
    assert only_writer["Effect"] == "Deny" and only_writer["Action"] == "s3:PutObject"
    assert only_writer["Condition"] == {"ArnNotEquals": {"aws:PrincipalArn": role.state["arn"]}}


@pytest.mark.parametrize("stack", STACKS)
def test_backup_cronjob_never_overlaps_and_keeps_history(stack: str) -> None:
    graph = graph_for(stack)
    cronjob = app_object(graph, "CronJob", "backup")["spec"]
    assert cronjob["schedule"] == stack_config(stack)["podium:app"]["db"]["backupSchedule"]
    assert cronjob["concurrencyPolicy"] == "Forbid"
    assert cronjob["successfulJobsHistoryLimit"] == 3 and cronjob["failedJobsHistoryLimit"] == 3
    pod = cronjob["jobTemplate"]["spec"]["template"]["spec"]
    secrets_mounted = {
        (w["metadata"]["name"], v["secret"]["secretName"])
        for w in workloads(graph)
        for v in pod_template(w)["spec"]["volumes"]
        if "secret" in v
    }
    # Only the backup pod sees the backup credentials; on AWS none is a key.
    assert {s for s in secrets_mounted if s[1].startswith("backup-")} == {("backup", "backup-db")}
    if stack != "local":
        (token,) = [v["projected"] for v in pod["volumes"] if "projected" in v]
        assert token["sources"] == [
            {"serviceAccountToken": {"audience": "sts.amazonaws.com", "expirationSeconds": 3600, "path": "token"}}
        ]
        assert pod["serviceAccountName"] == "backup" and pod["automountServiceAccountToken"] is False
        (upload,) = pod["containers"]
        env = {e["name"]: e["value"] for e in upload["env"]}
        assert env["AWS_ROLE_ARN"] == graph.one("aws:iam/role:Role", "app-backup").state["arn"]
        assert env["AWS_WEB_IDENTITY_TOKEN_FILE"] == "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
        account = app_object(graph, "ServiceAccount", "backup")
        assert account["automountServiceAccountToken"] is False
    if stack == "local":
        assert [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v] == [
            "db-backups"
        ]


STS_ANSWER = (
    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
    "<AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s3cr3t/key+x</SecretAccessKey>"
    "<SessionToken>FwoGZXIvYXdzEXAMPLE==</SessionToken><Expiration>2026-11-27T13:00:00Z</Expiration>"
    "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
)


def run_upload(tmp_path: Path, *, sts_answer: str = STS_ANSWER, archive: bytes = b"archive"):
    """backup-upload.sh under sh, with a curl stub that records its arguments and the
    config file it is handed, and answers STS."""
    script = (ROOT / "components" / "app" / "scripts" / "backup-upload.sh").read_text()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls, configs = tmp_path / "calls", tmp_path / "configs"
    stub = (
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {calls}\n'
        'case "$*" in *sts.*) printf "%s" "$STS_ANSWER" ;; esac\n'
        "while [ $# -gt 0 ]; do\n"
        f'  if [ "$1" = --config ]; then cat "$2" >> {configs}; ls -l "$2" >> {configs}; fi\n'
        "  shift\n"
        "done\n"
    )
    (bin_dir / "curl").write_text(stub)
    (bin_dir / "curl").chmod(0o755)
    for tool in ("date", "sh", "sed", "cat", "ls", "rm", "printf"):
        if not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    work = tmp_path / "backup"
    work.mkdir(exist_ok=True)
    (work / "dump.archive.gz").write_bytes(archive)
    token = tmp_path / "token"
    token.write_text("eyJhbGciOiJSUzI1NiJ9.token.sig")
    environment = {
        "PATH": str(bin_dir),
        "AWS_REGION": "us-east-1",
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/app-backup",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "BACKUP_BUCKET": "podium-dev-db-backups-abc",
        "BACKUP_PREFIX": "mongodump/podium-dev/",
        "STS_ANSWER": sts_answer,
    }
    script = script.replace("/backup/", f"{work}/").replace("/tmp/curlrc", f"{tmp_path}/curlrc")
    run = subprocess.run(["sh", "-c", script], env=environment, capture_output=True, text=True, check=False)
    read = lambda p: p.read_text().splitlines() if p.exists() else []  # noqa: E731
    return run, read(calls), read(configs), tmp_path / "curlrc"


def test_backup_upload_script_is_shellcheck_clean() -> None:
    shellcheck = Path(harness.__file__).resolve().parent.parent / ".venv" / "bin" / "shellcheck"
    for name in ("backup-upload.sh", "backup-local.sh"):
        checked = subprocess.run(
            [str(shellcheck), "-s", "sh", "--severity=style", str(ROOT / "components" / "app" / "scripts" / name)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout


def test_backup_upload_assumes_its_role_then_signs_with_the_session(tmp_path: Path) -> None:
    run, calls, configs, curlrc = run_upload(tmp_path)
    assert run.returncode == 0, run.stderr
    sts, put = calls
    assert sts.endswith(" https://sts.us-east-1.amazonaws.com/")
    assert "Action=AssumeRoleWithWebIdentity" in sts and "RoleArn=arn:aws:iam::123456789012:role/app-backup" in sts
    assert f"WebIdentityToken@{tmp_path}/token" in sts  # the token is read by curl, not passed as text
    assert "--aws-sigv4 aws:amz:us-east-1:s3" in put
    assert "--header x-amz-content-sha256: UNSIGNED-PAYLOAD" in put
    assert " https://podium-dev-db-backups-abc.s3.us-east-1.amazonaws.com/mongodump/podium-dev/" in put
    # The session's credentials reach curl in a private file, never on a command line.
    assert configs[:2] == [
        'user = "ASIAEXAMPLE:s3cr3t/key+x"',
        'header = "x-amz-security-token: FwoGZXIvYXdzEXAMPLE=="',
    ]
    assert configs[2].startswith("-rw-------")
    assert not [c for c in calls if "s3cr3t" in c or "FwoGZXIvYXdz" in c]
    assert not curlrc.exists()


@pytest.mark.parametrize(("answer", "archive"), [("<Error>AccessDenied</Error>", b"archive"), (STS_ANSWER, b"")])
def test_backup_upload_fails_without_credentials_or_a_dump(tmp_path: Path, answer: str, archive: bytes) -> None:
    run, calls, _, _ = run_upload(tmp_path, sts_answer=answer, archive=archive)
    assert run.returncode != 0
    assert not [c for c in calls if "--upload-file" in c]


def _app_secret_values(graph: harness.Graph) -> list[str]:
    passwords = [
        r.state["result"]
        for r in graph.of_type("random:index/randomPassword:RandomPassword")
        if r.name.startswith("app-")
    ]
    return passwords + [base64.b64encode(v.encode()).decode() for v in passwords]


@pytest.mark.parametrize("stack", STACKS)
def test_database_passwords_are_secret_everywhere(stack: str) -> None:
    graph = graph_for(stack)
    secrets = _app_secret_values(graph)
    assert len(secrets) >= 6
    for resource in graph.resources:
        public = json.dumps([resource.public_inputs, resource.public_state, resource.public_outputs])
        assert not [v for v in secrets if v in public], f"{resource.type} {resource.name}"
    for secret in [o for o in render.kubernetes_objects(graph) if o["kind"] == "Secret"]:
        data = secret["stringData"]
        assert data == harness.REDACTED or set(data.values()) == {harness.REDACTED}, secret["metadata"]["name"]


def test_changing_an_image_changes_only_that_workload() -> None:
    before = harness.run("dev")
    config = stack_config("dev")
    config["podium:app"]["api"]["image"] = "ghcr.io/stefanprodan/podinfo:6.14.0"
    after = harness.run("dev", config)
    old = {r.urn: r.inputs for r in before.resources}
    changed = {r.name for r in after.resources if old.get(r.urn) != r.inputs}
    assert changed == {"app-deployment-api"}


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_nothing_in_the_rendered_objects(stack: str, checkov_report: dict[str, Any]) -> None:
    def of_stack(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [c for c in checks if c["file_path"].startswith(f"/{stack}/app/")]

    results = checkov_report["results"]
    assert [(c["check_id"], c["resource"]) for c in of_stack(results.get("failed_checks", []))] == []
    assert len(of_stack(results["passed_checks"])) > 300
    # Skips only through annotations that give a reason.
    skipped = of_stack(results.get("skipped_checks", []))
    assert skipped
    for check in skipped:
        comment = check["check_result"]["suppress_comment"]
        if check["check_id"] == "CKV_K8S_38":  # the one workload that calls the API server
            assert check["resource"] == "Deployment.pod-identity.pod-identity-webhook" and "service accounts" in comment
        elif check["check_id"] == "CKV_K8S_35":  # the exporter reads its connection string from the environment
            assert check["resource"] == "Deployment.podium.db-metrics" and "MONGODB_URI" in comment
        else:
            assert check["check_id"] == "CKV_K8S_43" and "pinned by tag" in comment

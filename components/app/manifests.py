"""The web application's Kubernetes objects as plain data: pure functions of the app
settings, apart from the resource code in webapp.py, so tests can read them directly.

Three tiers in one namespace: `frontend` (unprivileged nginx serving the UI and
proxying /api), `api` (podinfo, a small REST service with health endpoints) and `db`
(MongoDB), plus the `backup` CronJob. Every pod runs non-root with a UID >= 10000, a
read-only root file system, no privilege escalation, all capabilities dropped, the
RuntimeDefault seccomp profile and no service-account token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from components.platform import guardrails
from components.shared import workload_role

NAMESPACE = "podium"
PART_OF = "podium"
FRONTEND, API, DB, BACKUP = "frontend", "api", "db", "backup"
# With monitoring: the database's metrics exporter, and the Job that keeps its user.
DB_METRICS, DB_USERS = "db-metrics", "db-users"
# Non-root UIDs of the tiers (>= 10000, outside any image's own users).
UIDS = {FRONTEND: 10101, API: 10102, DB: 10103, BACKUP: 10104, DB_METRICS: 10105, DB_USERS: 10106}
FRONTEND_PORT = 8080  # nginx-unprivileged listens here
API_PORT = 9898  # podinfo
API_METRICS_PORT = 9797  # podinfo --port-metrics: http_requests_total, http_request_duration_seconds
DB_METRICS_PORT = 9216  # percona/mongodb_exporter
METRICS_USERNAME = "metrics"
DB_PORT = 27017
DATABASE = "podium"
ZONE_KEY = "topology.kubernetes.io/zone"
LIMIT_FACTOR = 2  # limits are twice the requests: room for bursts, a ceiling for the node
DB_RESOURCES = ("500m", "1Gi")
# mongod ends cleanly on SIGTERM (the image's entrypoint execs it): it finishes its
# writes, checkpoints and closes its files; a minute is ample for a single node, and the
# node termination handler's drain gives each pod its own grace period.
DB_SHUTDOWN_SECONDS = 60
# The cluster autoscaler must never move the database to consolidate nodes (a restart and
# a volume move for nothing); planned terminations still drain it.
NOT_FOR_CONSOLIDATION = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
BACKUP_RESOURCES = ("250m", "512Mi")

# The ingress controller's pods (ClusterAddons' Traefik) and the cluster DNS.
INGRESS_POD_LABELS = {"app.kubernetes.io/name": "traefik"}
DNS_NAMESPACE, DNS_POD_LABELS = "kube-system", {"k8s-app": "kube-dns"}
DIGEST_SKIP = (
    "CKV_K8S_43=images are pinned by tag in the stack config (app.*.image); set a digest there to pin by digest"
)


@dataclass(frozen=True)
class Workload:
    """The scaling and sizing settings of a Deployment tier (app.frontend, app.api)."""

    image: str
    min_replicas: int
    max_replicas: int
    cpu: str
    memory: str
    target_cpu_percent: int
    target_memory_percent: int


@dataclass(frozen=True)
class Toleration:
    key: str
    value: str
    effect: str


def labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
    }


def selector(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/component": component, "app.kubernetes.io/part-of": PART_OF}


def namespace_labels(*, guarded: bool = False) -> dict[str, str]:
    """Pod Security Standards `restricted`, enforced, warned and audited, at a pinned
    version so a cluster upgrade cannot change what is admitted; and, where the cluster
    has them, the label that binds Podium's guardrails here."""
    labels = {}
    for mode in ("enforce", "warn", "audit"):
        labels[f"pod-security.kubernetes.io/{mode}"] = "restricted"
        labels[f"pod-security.kubernetes.io/{mode}-version"] = guardrails.PSS_VERSION
    if guarded:
        labels[guardrails.ENFORCED_LABEL] = guardrails.ENFORCED
    return labels


_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")


def scale_quantity(quantity: str, factor: int) -> str:
    """`250m` * 2 = `500m`, `1Gi` * 2 = `2Gi`: the same unit, a whole or decimal number."""
    match = _QUANTITY.match(quantity)
    if not match:
        raise ValueError(f"not a quantity: {quantity!r}")
    number = Decimal(match.group(1)) * factor
    return f"{number.normalize():f}{match.group(2)}"


def resources(cpu: str, memory: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu, "memory": memory},
        "limits": {"cpu": scale_quantity(cpu, LIMIT_FACTOR), "memory": scale_quantity(memory, LIMIT_FACTOR)},
    }


def container_security(uid: int) -> dict[str, Any]:
    return {
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_spec(
    component: str,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    *,
    init_containers: Sequence[dict[str, Any]] = (),
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Toleration] = (),
    restart_policy: str | None = None,
    service_account: str | None = None,
) -> dict[str, Any]:
    uid = UIDS[component]
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE_KEY,
                # Spread when zones allow it; a one-zone cluster (or kind) still schedules.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector(component)},
            }
        ],
        "containers": containers,
        "volumes": volumes,
        **({"serviceAccountName": service_account} if service_account else {}),
    }
    if init_containers:
        spec["initContainers"] = list(init_containers)
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    if tolerations:
        spec["tolerations"] = [
            {"key": t.key, "operator": "Equal", "value": t.value, "effect": t.effect} for t in tolerations
        ]
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return spec


def container(
    name: str,
    image: str,
    *,
    uid: int,
    cpu: str,
    memory: str,
    ports: Sequence[tuple[str, int]] = (),
    mounts: Sequence[tuple[str, str]] = (),
    probes: Mapping[str, dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": name,
        "image": image,
        # Re-resolve the tag on every start: a re-pushed tag cannot linger on one node.
        "imagePullPolicy": "Always",
        "securityContext": container_security(uid),
        "resources": resources(cpu, memory),
        "volumeMounts": [{"name": volume, "mountPath": path} for volume, path in mounts],
        **extra,
    }
    if ports:
        spec["ports"] = [{"name": port_name, "containerPort": port} for port_name, port in ports]
    for kind, probe in (probes or {}).items():
        spec[f"{kind}Probe"] = probe
    return spec


def http_probe(path: str, port: int, *, period: int = 10, failures: int = 3) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def empty_dir(name: str, medium: str | None = None) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"medium": medium} if medium else {}}


def secret_volume(name: str, secret: str) -> dict[str, Any]:
    return {"name": name, "secret": {"secretName": secret, "defaultMode": 0o440}}


def config_map_volume(name: str, config_map: str) -> dict[str, Any]:
    return {"name": name, "configMap": {"name": config_map, "defaultMode": 0o444}}


def object_metadata(component: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name or component, "namespace": NAMESPACE, "labels": labels(component), **extra}


def checkov_skips(*checks: str) -> dict[str, str]:
    """Annotations that tell checkov why a check does not apply, one per check."""
    return {f"checkov.io/skip{i + 1}": check for i, check in enumerate(checks)}


# Workloads whose images come from the stack config.
WORKLOAD_ANNOTATIONS = checkov_skips(DIGEST_SKIP)


# -- frontend and api --------------------------------------------------------------


def frontend_nginx_config() -> str:
    """The UI from the image's html root; /api proxied to the API Service."""
    return (
        "server {\n"
        f"    listen {FRONTEND_PORT};\n"
        "    server_name _;\n"
        "    location = /healthz {\n"
        "        access_log off;\n"
        "        default_type text/plain;\n"
        '        return 200 "ok\\n";\n'
        "    }\n"
        "    location /api/ {\n"
        f"        proxy_pass http://{API}.{NAMESPACE}.svc.cluster.local:{API_PORT};\n"
        "        proxy_set_header Host $host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "    }\n"
        "    location / {\n"
        "        root /usr/share/nginx/html;\n"
        "        index index.html;\n"
        "    }\n"
        "}\n"
    )


def _web_container(
    component: str,
    workload: Workload,
    port: int,
    *,
    mounts: Sequence[tuple[str, str]],
    live: str,
    ready: str,
    extra_ports: Sequence[tuple[str, int]] = (),
    **extra: Any,
) -> dict[str, Any]:
    """A Deployment tier's one container: its image and size from config, HTTP probes."""
    return container(
        component,
        workload.image,
        uid=UIDS[component],
        cpu=workload.cpu,
        memory=workload.memory,
        ports=[("http", port), *extra_ports],
        mounts=mounts,
        probes={"liveness": http_probe(live, port), "readiness": http_probe(ready, port, period=5)},
        **extra,
    )


def frontend_pod(workload: Workload, config_map: str) -> dict[str, Any]:
    web = _web_container(
        FRONTEND,
        workload,
        FRONTEND_PORT,
        mounts=[("config", "/etc/nginx/conf.d"), ("tmp", "/tmp"), ("cache", "/var/cache/nginx")],
        live="/healthz",
        ready="/healthz",
    )
    volumes = [config_map_volume("config", config_map), empty_dir("tmp"), empty_dir("cache")]
    return pod_spec(FRONTEND, [web], volumes)


def api_pod(workload: Workload, db_secret: str) -> dict[str, Any]:
    api = _web_container(
        API,
        workload,
        API_PORT,
        # The database connection settings, as files (uri, host, port, database, username, password).
        mounts=[("db", "/etc/podium/db"), ("tmp", "/tmp"), ("data", "/data")],
        live="/healthz",
        ready="/readyz",
        extra_ports=[("http-metrics", API_METRICS_PORT)],
        command=["./podinfo", f"--port={API_PORT}", f"--port-metrics={API_METRICS_PORT}", "--level=info"],
    )
    return pod_spec(API, [api], [secret_volume("db", db_secret), empty_dir("tmp"), empty_dir("data")])


# On a Deployment an HPA scales: which one owns its replica count. The policy pack reads
# it, from inputs and from live objects alike (the API server fills in `spec.replicas`
# on every live Deployment, so the live spec cannot tell who set it).
REPLICAS_OWNER = "podium.dev/replicas-owner"


def replicas_owner(component: str) -> dict[str, str]:
    return {REPLICAS_OWNER: f"HorizontalPodAutoscaler/{component}"}


def deployment(component: str, pod: dict[str, Any]) -> dict[str, Any]:
    """No `replicas`: the HPA owns the count (a set value would fight it on every update)."""
    return {
        "selector": {"matchLabels": selector(component)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "revisionHistoryLimit": 5,
        "template": {"metadata": {"labels": labels(component)}, "spec": pod},
    }


def autoscaler(component: str, workload: Workload) -> dict[str, Any]:
    def target(resource: str, percent: int) -> dict[str, Any]:
        return {
            "type": "Resource",
            "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": percent}},
        }

    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": component},
        "minReplicas": workload.min_replicas,
        "maxReplicas": workload.max_replicas,
        "metrics": [target("cpu", workload.target_cpu_percent), target("memory", workload.target_memory_percent)],
    }


def disruption_budget(component: str) -> dict[str, Any]:
    """One pod at a time during drains, which also works with a single replica: a drain
    evicts it (and waits for nothing), so the database is stopped with its grace
    period, not killed when the lifecycle hook runs out."""
    return {"maxUnavailable": 1, "selector": {"matchLabels": selector(component)}}


def service(
    component: str,
    port: int,
    target_port: int,
    *,
    headless: bool = False,
    port_name: str = "http",
    extra_ports: Sequence[tuple[str, int]] = (),
) -> dict[str, Any]:
    """`extra_ports`: (name, port) served on the same port number by the pods."""
    spec: dict[str, Any] = {
        "selector": selector(component),
        "ports": [
            {"name": port_name, "port": port, "targetPort": target_port},
            *({"name": name, "port": number, "targetPort": number} for name, number in extra_ports),
        ],
    }
    if headless:
        spec["clusterIP"] = "None"
    return spec


# -- HTTPS ---------------------------------------------------------------------------

TLS_SECRET = "podium-tls"
REDIRECT_MIDDLEWARE, HSTS_MIDDLEWARE = "redirect-https", "hsts"
HSTS_SECONDS = 31536000  # a year


@dataclass(frozen=True)
class Tls:
    """HTTPS for the Ingress: the ClusterIssuer of its certificate, whether to send HSTS
    (only with a certificate browsers trust), the HTTPS port clients use (None: 443), and
    whether external-dns keeps the hostname's record."""

    issuer: str
    hsts: bool
    https_port: int | None
    dns_record: bool


# Pulumi waits for the certificate to be issued: `up` ends with it or fails saying so.
CERTIFICATE_WAIT = {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "900"}


def certificate(hostname: str, issuer: str) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": object_metadata(FRONTEND, TLS_SECRET, annotations=dict(CERTIFICATE_WAIT)),
        "spec": {
            "secretName": TLS_SECRET,
            "dnsNames": [hostname],
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
    }


def middlewares(tls: Tls) -> dict[str, dict[str, Any]]:
    """Traefik middlewares of the Ingress: HTTP to HTTPS (a permanent redirect), and
    with `hsts`, Strict-Transport-Security on every answer."""
    redirect: dict[str, Any] = {"scheme": "https", "permanent": True}
    if tls.https_port:
        redirect["port"] = str(tls.https_port)
    found = {REDIRECT_MIDDLEWARE: {"redirectScheme": redirect}}
    if tls.hsts:
        found[HSTS_MIDDLEWARE] = {"headers": {"stsSeconds": HSTS_SECONDS, "stsIncludeSubdomains": False}}
    return found


def ingress_annotations(hostname: str, tls: Tls) -> dict[str, str]:
    chain = ",".join(f"{NAMESPACE}-{name}@kubernetescrd" for name in middlewares(tls))
    annotations = {"traefik.ingress.kubernetes.io/router.middlewares": chain}
    if tls.dns_record:
        annotations["external-dns.alpha.kubernetes.io/hostname"] = hostname
    return annotations


def ingress(hostname: str, ingress_class: str, tls: Tls | None = None) -> dict[str, Any]:
    def path(prefix: str, component: str, port: int) -> dict[str, Any]:
        return {
            "path": prefix,
            "pathType": "Prefix",
            "backend": {"service": {"name": component, "port": {"number": port}}},
        }

    spec: dict[str, Any] = {
        "ingressClassName": ingress_class,
        "rules": [{"host": hostname, "http": {"paths": [path("/api", API, API_PORT), path("/", FRONTEND, 80)]}}],
    }
    if tls is not None:
        spec["tls"] = [{"hosts": [hostname], "secretName": TLS_SECRET}]
    return spec


# -- database ----------------------------------------------------------------------


def db_connection(username: str, password: str) -> dict[str, str]:
    """What the API reads from its Secret, one file per key."""
    host = f"{DB}-0.{DB}.{NAMESPACE}.svc.cluster.local"
    return {
        "host": host,
        "port": str(DB_PORT),
        "database": DATABASE,
        "username": username,
        "password": password,
        "uri": f"mongodb://{username}:{password}@{host}:{DB_PORT}/{DATABASE}?authSource=admin",
    }


def db_init_script() -> str:
    """Runs once, on an empty data volume: the API's user (read/write on its database)
    and the backup's (the `backup` role only), passwords read from mounted files."""
    return (
        "// Podium: database users, created by the image's entrypoint on first start.\n"
        "const fs = require('fs');\n"
        "const read = (name) => fs.readFileSync('/etc/podium/db-users/' + name, 'utf8').trim();\n"
        "const admin = db.getSiblingDB('admin');\n"
        "admin.createUser({user: read('app-username'), pwd: read('app-password'),\n"
        f"  roles: [{{role: 'readWrite', db: '{DATABASE}'}}]}});\n"
        "admin.createUser({user: read('backup-username'), pwd: read('backup-password'),\n"
        "  roles: [{role: 'backup', db: 'admin'}]});\n"
    )


def db_statefulset(
    image: str,
    *,
    storage_class: str,
    storage_gb: int,
    node_selector: Mapping[str, str],
    tolerations: Sequence[Toleration],
) -> dict[str, Any]:
    cpu, memory = DB_RESOURCES
    mongo = container(
        DB,
        image,
        uid=UIDS[DB],
        cpu=cpu,
        memory=memory,
        ports=[("mongodb", DB_PORT)],
        mounts=[
            ("data", "/data/db"),
            ("configdb", "/data/configdb"),
            ("tmp", "/tmp"),
            ("root", "/etc/podium/db-root"),
            ("users", "/etc/podium/db-users"),
            ("init", "/docker-entrypoint-initdb.d"),
        ],
        # Credentials as files (the image reads *_FILE); mongosh keeps its state in /tmp.
        env=[
            {"name": "MONGO_INITDB_ROOT_USERNAME_FILE", "value": "/etc/podium/db-root/username"},
            {"name": "MONGO_INITDB_ROOT_PASSWORD_FILE", "value": "/etc/podium/db-root/password"},
            {"name": "HOME", "value": "/tmp"},
        ],
        probes={
            # First start initialises the data files and runs the init script.
            "startup": {"tcpSocket": {"port": DB_PORT}, "periodSeconds": 10, "failureThreshold": 30},
            "liveness": {"tcpSocket": {"port": DB_PORT}, "periodSeconds": 20, "timeoutSeconds": 5},
            "readiness": {
                "exec": {"command": ["mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"]},
                "periodSeconds": 10,
                "timeoutSeconds": 10,
            },
        },
    )
    volumes = [
        empty_dir("configdb"),
        empty_dir("tmp"),
        secret_volume("root", "db-root"),
        secret_volume("users", "db-users"),
        config_map_volume("init", "db-init"),
    ]
    return {
        "serviceName": DB,
        "replicas": 1,
        "selector": {"matchLabels": selector(DB)},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "template": {
            "metadata": {"labels": labels(DB), "annotations": dict(NOT_FOR_CONSOLIDATION)},
            "spec": {
                **pod_spec(DB, [mongo], volumes, node_selector=node_selector, tolerations=tolerations),
                "terminationGracePeriodSeconds": DB_SHUTDOWN_SECONDS,
            },
        },
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data", "labels": labels(DB)},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": storage_class,
                    "resources": {"requests": {"storage": f"{storage_gb}Gi"}},
                },
            }
        ],
    }


# -- backup ------------------------------------------------------------------------


def mongodump_config(password: str) -> str:
    """mongodump's --config file: the connection string stays off the command line."""
    host = f"{DB}-0.{DB}.{NAMESPACE}.svc.cluster.local"
    return f'uri: "mongodb://backup:{password}@{host}:{DB_PORT}/?authSource=admin"\n'


def backup_cronjob(
    *,
    schedule: str,
    db_image: str,
    uploader_image: str | None,
    upload_script: str | None,
    local_script: str | None,
    environment: Mapping[str, Any],
) -> dict[str, Any]:
    """With an uploader (AWS): mongodump into a memory-backed emptyDir, then the
    uploader sends it to S3. Without (existing clusters): mongodump onto the
    `db-backups` claim, keeping `RETENTION_DAYS` of archives."""
    cpu, memory = BACKUP_RESOURCES
    env = [{"name": key, "value": value} for key, value in sorted(environment.items(), key=lambda kv: kv[0])]
    dump_mounts = [("backup-db", "/etc/podium/backup-db"), ("tmp", "/tmp")]
    if uploader_image and upload_script:
        dump = container(
            "dump",
            db_image,
            uid=UIDS[BACKUP],
            cpu=cpu,
            memory=memory,
            mounts=[*dump_mounts, ("work", "/backup")],
            command=[
                "mongodump",
                "--config=/etc/podium/backup-db/mongodump.yaml",
                "--archive=/backup/dump.archive.gz",
                "--gzip",
            ],
        )
        upload = container(
            "upload",
            uploader_image,
            uid=UIDS[BACKUP],
            cpu=cpu,
            memory=memory,
            # Its role's credentials come from STS for this token (no key anywhere).
            mounts=[("work", "/backup"), ("aws-token", workload_role.TOKEN_DIRECTORY), ("tmp", "/tmp")],
            command=["/bin/sh", "-c", upload_script],
            env=env,
        )
        pod = pod_spec(
            BACKUP,
            [upload],
            [
                secret_volume("backup-db", "backup-db"),
                workload_role.token_volume("aws-token"),
                empty_dir("work"),
                empty_dir("tmp", "Memory"),
            ],
            init_containers=[dump],
            restart_policy="Never",
            service_account=BACKUP,
        )
    else:
        assert local_script, "a backup needs an uploader or a local script"
        dump = container(
            "dump",
            db_image,
            uid=UIDS[BACKUP],
            cpu=cpu,
            memory=memory,
            mounts=[*dump_mounts, ("backups", "/backups")],
            command=["/bin/sh", "-c", local_script],
            env=env,
        )
        pod = pod_spec(
            BACKUP,
            [dump],
            [
                secret_volume("backup-db", "backup-db"),
                {"name": "backups", "persistentVolumeClaim": {"claimName": "db-backups"}},
                empty_dir("tmp", "Memory"),
            ],
            restart_policy="Never",
        )
    return {
        "schedule": schedule,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 600,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 2,
                # A hung dump or upload ends here instead of blocking the next run forever.
                "activeDeadlineSeconds": 3600,
                "template": {"metadata": {"labels": labels(BACKUP)}, "spec": pod},
            }
        },
    }


# -- database metrics (with monitoring) --------------------------------------------

DB_METRICS_SKIPS = checkov_skips(
    DIGEST_SKIP,
    "CKV_K8S_35=the exporter reads its connection string only from MONGODB_URI or a flag;"
    " an environment variable stays out of the process list, a flag does not",
)


def db_metrics_pod(image: str, secret: str) -> dict[str, Any]:
    """percona/mongodb_exporter (FROM scratch, no shell) as its own Deployment: the
    database pod is not restarted to add it. It connects as the `metrics` user."""
    exporter = container(
        DB_METRICS,
        image,
        uid=UIDS[DB_METRICS],
        cpu="20m",
        memory="48Mi",
        ports=[("metrics", DB_METRICS_PORT)],
        probes={
            "liveness": http_probe("/", DB_METRICS_PORT, period=20),
            "readiness": http_probe("/", DB_METRICS_PORT),
        },
        args=["--compatible-mode", f"--web.listen-address=:{DB_METRICS_PORT}"],
        env=[{"name": "MONGODB_URI", "valueFrom": {"secretKeyRef": {"name": secret, "key": "uri"}}}],
    )
    return pod_spec(DB_METRICS, [exporter], [])


def db_metrics_connection(password: str) -> str:
    host = db_connection("", "")["host"]
    return f"mongodb://{METRICS_USERNAME}:{password}@{host}:{DB_PORT}/admin?authSource=admin"


def db_users_script() -> str:
    """Creates the `metrics` user, or sets its password and roles: the database's
    init script runs only on an empty volume, so an existing database learns of it here.
    Roles as percona/mongodb_exporter documents them: clusterMonitor, and read on local."""
    host = db_connection("", "")["host"]
    return (
        "// Podium: the database exporter's user, kept by the db-users Job.\n"
        "const fs = require('fs');\n"
        "const read = (path) => fs.readFileSync(path, 'utf8').trim();\n"
        "const rootPassword = encodeURIComponent(read('/etc/podium/db-root/password'));\n"
        f"const admin = connect('mongodb://root:' + rootPassword + '@{host}:{DB_PORT}/admin?authSource=admin');\n"
        f"const user = '{METRICS_USERNAME}';\n"
        "const pwd = read('/etc/podium/db-metrics/password');\n"
        "const roles = [{role: 'clusterMonitor', db: 'admin'}, {role: 'read', db: 'local'}];\n"
        "if (admin.getUser(user)) {\n"
        "  admin.updateUser(user, {pwd: pwd, roles: roles});\n"
        "} else {\n"
        "  admin.createUser({user: user, pwd: pwd, roles: roles});\n"
        "}\n"
        "print('database user ' + user + ' is ready');\n"
    )


# On a pod template: the revision of the password it uses. A new password changes the
# template, so the db-users Job runs again (Pulumi replaces a Job whose spec changes)
# and the exporter restarts with it.
PASSWORD_REVISION = "podium.dev/password-revision"


def db_users_job(db_image: str, script_config_map: str, password_revision: Any) -> dict[str, Any]:
    """Runs `db_users_script` with the root password, again for every new password."""
    cpu, memory = BACKUP_RESOURCES
    job = container(
        DB_USERS,
        db_image,
        uid=UIDS[DB_USERS],
        cpu=cpu,
        memory=memory,
        mounts=[
            ("root", "/etc/podium/db-root"),
            ("metrics", "/etc/podium/db-metrics"),
            ("script", "/etc/podium/db-users-job"),
            ("tmp", "/tmp"),
        ],
        command=["mongosh", "--nodb", "--quiet", "/etc/podium/db-users-job/users.js"],
        env=[{"name": "HOME", "value": "/tmp"}],
    )
    volumes = [
        secret_volume("root", "db-root"),
        secret_volume("metrics", "db-metrics-user"),
        config_map_volume("script", script_config_map),
        empty_dir("tmp", "Memory"),
    ]
    return {
        "backoffLimit": 6,
        "activeDeadlineSeconds": 900,
        "template": {
            "metadata": {"labels": labels(DB_USERS), "annotations": {PASSWORD_REVISION: password_revision}},
            "spec": pod_spec(DB_USERS, [job], volumes, restart_policy="OnFailure"),
        },
    }


def service_monitor_spec(component: str, port: str) -> dict[str, Any]:
    """Prometheus scrapes the named port of the component's Service (job: its name)."""
    return {
        "selector": {"matchLabels": selector(component)},
        "namespaceSelector": {"matchNames": [NAMESPACE]},
        "endpoints": [{"port": port, "path": "/metrics", "interval": "30s"}],
    }


# -- network policy ----------------------------------------------------------------


def _peer(component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": selector(component)}}


def _ports(port: int, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"port": port, "protocol": protocol}]


@dataclass(frozen=True)
class Scraper:
    """Where the Prometheus that scrapes the app runs: its namespace and pod labels."""

    namespace: str
    pod_labels: Mapping[str, str]


def network_policies(
    ingress_namespace: str,
    *,
    internet_except: Sequence[str] | None,
    scraper: Scraper | None = None,
    http01_solver: tuple[Mapping[str, str], int] | None = None,
) -> dict[str, dict[str, Any]]:
    """Deny everything, then allow exactly: DNS for all; the ingress controller to the
    front end and (the Ingress's /api route) the API; front end to API; API to
    database; backup to database and, with `internet_except` (AWS), backup to HTTPS
    anywhere but those cluster-internal ranges (S3). With a `scraper`: Prometheus, and
    only Prometheus, to the API's metrics port and to the database exporter; the
    exporter and the db-users Job to the database. With `http01_solver` (the labels and
    port of cert-manager's HTTP-01 solver pods): the ingress controller to them."""
    ingress_controller = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ingress_namespace}},
        "podSelector": {"matchLabels": INGRESS_POD_LABELS},
    }
    dns = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": DNS_NAMESPACE}},
        "podSelector": {"matchLabels": DNS_POD_LABELS},
    }

    def allow(
        component: str, *, ingress: Sequence[dict[str, Any]] = (), egress: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules]
        spec: dict[str, Any] = {"podSelector": {"matchLabels": selector(component)}, "policyTypes": types}
        if ingress:
            spec["ingress"] = list(ingress)
        if egress:
            spec["egress"] = list(egress)
        return spec

    backup_egress = [{"to": [_peer(DB)], "ports": _ports(DB_PORT)}]
    if internet_except is not None:
        internet = {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(internet_except)}}
        backup_egress.append({"to": [internet], "ports": _ports(443)})
    api_ingress = [{"from": [ingress_controller, _peer(FRONTEND)], "ports": _ports(API_PORT)}]
    db_clients = [_peer(API), _peer(BACKUP)]
    monitored: dict[str, dict[str, Any]] = {}
    if scraper is not None:
        prometheus = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": scraper.namespace}},
            "podSelector": {"matchLabels": dict(scraper.pod_labels)},
        }
        api_ingress.append({"from": [prometheus], "ports": _ports(API_METRICS_PORT)})
        db_clients += [_peer(DB_METRICS), _peer(DB_USERS)]
        to_db = [{"to": [_peer(DB)], "ports": _ports(DB_PORT)}]
        monitored = {
            DB_METRICS: allow(
                DB_METRICS, ingress=[{"from": [prometheus], "ports": _ports(DB_METRICS_PORT)}], egress=to_db
            ),
            DB_USERS: allow(DB_USERS, egress=to_db),
        }
    return {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [dns], "ports": _ports(53, "UDP") + _ports(53)}],
        },
        FRONTEND: allow(
            FRONTEND,
            ingress=[{"from": [ingress_controller], "ports": _ports(FRONTEND_PORT)}],
            egress=[{"to": [_peer(API)], "ports": _ports(API_PORT)}],
        ),
        API: allow(API, ingress=api_ingress, egress=[{"to": [_peer(DB)], "ports": _ports(DB_PORT)}]),
        DB: allow(DB, ingress=[{"from": db_clients, "ports": _ports(DB_PORT)}]),
        BACKUP: allow(BACKUP, egress=backup_egress),
        **monitored,
        **(
            {
                "acme-http01-solver": {
                    "podSelector": {"matchLabels": dict(http01_solver[0])},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [ingress_controller], "ports": _ports(http01_solver[1])}],
                }
            }
            if http01_solver
            else {}
        ),
    }

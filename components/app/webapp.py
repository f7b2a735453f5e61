"""WebApp: the n-tier application (front end, REST API, document database and its
backup) in its own namespace, from the objects manifests.py describes.

On AWS the backup goes to an S3 bucket Podium creates, written with a role only the
backup's service account can assume (web identity, no key), which may only put objects
under its prefix, and a bucket policy that lets no one else write.
On an existing cluster it goes to a claim in the namespace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.app import manifests as m
from components.app.backup_policy import backup_writer_policy
from components.platform.addons import custom_resource
from components.shared.private_bucket import private_bucket
from components.shared.workload_role import TOKEN_FILE, Issuer, allow, workload_role

SCRIPTS = Path(__file__).parent / "scripts"
APP_USERNAME = "podium"
BACKUP_USERNAME = "backup"
LOCAL_BACKUP_GB = 5


# The typed classes of the kinds the app uses, by kind.
KINDS: Mapping[str, Any] = {
    "Service": k8s.core.v1.Service,
    "Deployment": k8s.apps.v1.Deployment,
    "StatefulSet": k8s.apps.v1.StatefulSet,
    "HorizontalPodAutoscaler": k8s.autoscaling.v2.HorizontalPodAutoscaler,
    "PodDisruptionBudget": k8s.policy.v1.PodDisruptionBudget,
    "Ingress": k8s.networking.v1.Ingress,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
    "CronJob": k8s.batch.v1.CronJob,
    "Job": k8s.batch.v1.Job,
    "PersistentVolumeClaim": k8s.core.v1.PersistentVolumeClaim,
}


@dataclass(frozen=True)
class BackupTarget:
    """AWS mode: where the backup uploads and with which region."""

    region: str
    protect: bool
    internal_cidrs: Sequence[str]  # the backup's HTTPS egress excludes the VPC and pods
    issuer: Issuer  # the cluster's service-account issuer: the backup's role trusts it


@dataclass(frozen=True)
class AppMonitoring:
    """With observability: who scrapes the app, the exporter's image, and what the
    ServiceMonitors wait for (their CRD, the operator)."""

    scraper: m.Scraper
    exporter_image: str
    selected_labels: Mapping[str, str]  # what the Prometheus selects ServiceMonitors by
    ready: Sequence[pulumi.Resource]


@dataclass(frozen=True)
class AppTls:
    """HTTPS: how the Ingress serves it, what its Certificate waits for (cert-manager and
    the issuer), and, for ACME over HTTP-01, the solver pods Traefik must reach."""

    ingress: m.Tls
    ready: Sequence[pulumi.Resource]
    http01_solver: tuple[Mapping[str, str], int] | None


@dataclass(frozen=True)
class WebAppArgs:
    cluster_name: str
    hostname: str
    url: str
    ingress_class: str
    ingress_namespace: str
    frontend: m.Workload
    api: m.Workload
    db_image: str
    db_storage_class: str
    db_storage_gb: int
    db_node_selector: Mapping[str, str]
    db_tolerations: Sequence[m.Toleration]
    backup_schedule: str
    backup_retention_days: int
    backup_uploader_image: str  # an image with sh and curl (SigV4)
    s3: BackupTarget | None  # None: back up onto a claim (existing clusters)
    protect: bool  # deletionProtection: the data, and what it takes to read it
    depends_on: Sequence[pulumi.Resource] = ()
    guarded: bool = False  # the cluster's guardrails (components/platform/guardrails.py) hold here too
    monitoring: AppMonitoring | None = None
    tls: AppTls | None = None


class WebApp(pulumi.ComponentResource):
    namespace: str
    url: str
    backup_bucket: pulumi.Output[str] | None

    def __init__(self, name: str, args: WebAppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("podium:app:WebApp", name, None, opts)
        self._name = name
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=cast(Any, {"name": m.NAMESPACE, "labels": m.namespace_labels(guarded=args.guarded)}),
            # Deleting the namespace would delete the database's claims with it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on), protect=args.protect),
        )
        self._after = [namespace]

        passwords = {
            # The database keeps the users it was initialised with: a new password locks the app out.
            role: random.RandomPassword(
                f"{name}-{role}-password", length=32, special=False, opts=self._child(protect=args.protect)
            )
            for role in ("db-root", "db-app", "db-backup")
        }
        secret = {role: pulumi.Output.secret(p.result) for role, p in passwords.items()}
        self._secret("db-root", m.DB, {"username": pulumi.Output.secret("root"), "password": secret["db-root"]})
        self._secret(
            "db-users",
            m.DB,
            {
                "app-username": APP_USERNAME,
                "app-password": secret["db-app"],
                "backup-username": BACKUP_USERNAME,
                "backup-password": secret["db-backup"],
            },
        )
        api_db = secret["db-app"].apply(lambda password: m.db_connection(APP_USERNAME, password))
        self._secret("api-db", m.API, {key: api_db.apply(lambda c, k=key: c[k]) for key in m.db_connection("", "")})
        self._secret("backup-db", m.BACKUP, {"mongodump.yaml": secret["db-backup"].apply(m.mongodump_config)})

        frontend_config = self._config_map("frontend-nginx", m.FRONTEND, {"default.conf": m.frontend_nginx_config()})
        db_init = self._config_map("db-init", m.DB, {"users.js": m.db_init_script()})

        api_ports = [("http-metrics", m.API_METRICS_PORT)]
        api_service = self._object("Service", m.API, m.service(m.API, m.API_PORT, m.API_PORT, extra_ports=api_ports))
        frontend_service = self._object("Service", m.FRONTEND, m.service(m.FRONTEND, 80, m.FRONTEND_PORT))
        db_service = self._object(
            "Service", m.DB, m.service(m.DB, m.DB_PORT, m.DB_PORT, headless=True, port_name="mongodb")
        )

        database = self._object(
            "StatefulSet",
            m.DB,
            m.db_statefulset(
                args.db_image,
                storage_class=args.db_storage_class,
                storage_gb=args.db_storage_gb,
                node_selector=args.db_node_selector,
                tolerations=args.db_tolerations,
            ),
            depends_on=[db_service, db_init],
            annotations=m.WORKLOAD_ANNOTATIONS,
            protect=args.protect,
        )
        self._object("PodDisruptionBudget", m.DB, m.disruption_budget(m.DB), depends_on=[database])
        self._deployment(m.API, args.api, m.api_pod(args.api, "api-db"), [api_service])
        self._deployment(
            m.FRONTEND,
            args.frontend,
            m.frontend_pod(args.frontend, "frontend-nginx"),
            [frontend_service, frontend_config, api_service],
        )
        ingress_tls = args.tls.ingress if args.tls else None
        self._object(
            "Ingress",
            m.FRONTEND,
            m.ingress(args.hostname, args.ingress_class, ingress_tls),
            name="podium",
            annotations=m.ingress_annotations(args.hostname, ingress_tls) if ingress_tls else None,
            depends_on=self._https(args.hostname, args.tls) if args.tls else (),
        )
        internet_except = list(args.s3.internal_cidrs) if args.s3 else None
        scraper = args.monitoring.scraper if args.monitoring else None
        policies = m.network_policies(
            args.ingress_namespace,
            internet_except=internet_except,
            scraper=scraper,
            http01_solver=args.tls.http01_solver if args.tls else None,
        )
        for policy_name, spec in policies.items():
            self._object("NetworkPolicy", policy_name, spec, name=policy_name)

        if args.monitoring is not None:
            self._metrics(args, args.monitoring, database, api_service)
        self.backup_bucket = self._backup(args)
        self.namespace = m.NAMESPACE
        self.url = args.url
        self.register_outputs({"namespace": self.namespace, "url": self.url, "backupBucket": self.backup_bucket})

    # -- helpers -----------------------------------------------------------------------

    def _child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _namespaced(self, depends_on: Sequence[pulumi.Resource] = (), **kwargs: Any) -> pulumi.ResourceOptions:
        # Fixed names in a fixed namespace: a replacement must delete the old object first.
        return pulumi.ResourceOptions(
            parent=self, depends_on=[*self._after, *depends_on], delete_before_replace=True, **kwargs
        )

    def _secret(self, secret_name: str, component: str, data: Mapping[str, pulumi.Input[str]]) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            f"{self._name}-{secret_name}",
            metadata=cast(Any, m.object_metadata(component, secret_name)),
            type="Opaque",
            string_data={key: pulumi.Output.secret(value) for key, value in data.items()},
            opts=self._namespaced(),
        )

    def _config_map(self, map_name: str, component: str, data: dict[str, str]) -> k8s.core.v1.ConfigMap:
        return k8s.core.v1.ConfigMap(
            f"{self._name}-{map_name}",
            metadata=cast(Any, m.object_metadata(component, map_name)),
            data=data,
            opts=self._namespaced(),
        )

    def _object(
        self,
        kind: str,
        component: str,
        spec: dict[str, Any],
        *,
        name: str | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        annotations: Mapping[str, str] | None = None,
        protect: bool = False,
    ) -> pulumi.CustomResource:
        object_name = name or component
        metadata = m.object_metadata(component, object_name)
        if annotations:
            metadata["annotations"] = dict(annotations)
        return KINDS[kind](
            f"{self._name}-{kind.lower()}-{object_name}",
            metadata=metadata,
            spec=spec,
            opts=self._namespaced(depends_on, protect=protect),
        )

    def _deployment(
        self, component: str, workload: m.Workload, pod: dict[str, Any], depends_on: Sequence[pulumi.Resource]
    ) -> None:
        deployment = self._object(
            "Deployment",
            component,
            m.deployment(component, pod),
            depends_on=depends_on,
            annotations={**m.WORKLOAD_ANNOTATIONS, **m.replicas_owner(component)},
        )
        self._object("HorizontalPodAutoscaler", component, m.autoscaler(component, workload), depends_on=[deployment])
        self._object("PodDisruptionBudget", component, m.disruption_budget(component))

    # -- HTTPS -------------------------------------------------------------------------

    def _https(self, hostname: str, tls: AppTls) -> list[pulumi.Resource]:
        """The Certificate of the hostname and the Traefik middlewares the Ingress names."""
        made: list[pulumi.Resource] = []
        objects = [m.certificate(hostname, tls.ingress.issuer)] + [
            {
                "apiVersion": "traefik.io/v1alpha1",
                "kind": "Middleware",
                "metadata": m.object_metadata(m.FRONTEND, name),
                "spec": spec,
            }
            for name, spec in m.middlewares(tls.ingress).items()
        ]
        for obj in objects:
            name = f"{self._name}-{obj['kind'].lower()}-{obj['metadata']['name']}"
            made.append(custom_resource(name, obj, self._namespaced(list(tls.ready))))
        return made

    # -- metrics -----------------------------------------------------------------------

    def _metrics(
        self,
        args: WebAppArgs,
        monitoring: AppMonitoring,
        database: pulumi.Resource,
        api_service: pulumi.Resource,
    ) -> None:
        """The database exporter, its user (kept by a Job), and the ServiceMonitors of
        the API's metrics port and the exporter."""
        # Unprotected: a new password only makes the db-users Job set it on the user.
        password = random.RandomPassword(
            f"{self._name}-db-metrics-password", length=32, special=False, opts=self._child()
        )
        metrics_password = pulumi.Output.secret(password.result)
        # A digest, not the password: safe to show, and it changes with the password.
        revision = pulumi.Output.unsecret(metrics_password.apply(lambda p: hashlib.sha256(p.encode()).hexdigest()[:16]))
        exporter = m.deployment(m.DB_METRICS, m.db_metrics_pod(monitoring.exporter_image, "db-metrics"))
        exporter["template"]["metadata"]["annotations"] = {m.PASSWORD_REVISION: revision}
        user_secret = self._secret("db-metrics-user", m.DB_USERS, {"password": metrics_password})
        exporter_secret = self._secret(
            "db-metrics", m.DB_METRICS, {"uri": metrics_password.apply(m.db_metrics_connection)}
        )
        script = self._config_map("db-users-job", m.DB_USERS, {"users.js": m.db_users_script()})
        users = self._object(
            "Job",
            m.DB_USERS,
            m.db_users_job(args.db_image, "db-users-job", revision),
            depends_on=[database, user_secret, script],
            annotations=m.WORKLOAD_ANNOTATIONS,
        )
        service = self._object(
            "Service", m.DB_METRICS, m.service(m.DB_METRICS, m.DB_METRICS_PORT, m.DB_METRICS_PORT, port_name="metrics")
        )
        self._object(
            "Deployment",
            m.DB_METRICS,
            exporter,
            depends_on=[users, exporter_secret],
            annotations=m.DB_METRICS_SKIPS,
        )
        for component, port, target in ((m.API, "http-metrics", api_service), (m.DB_METRICS, "metrics", service)):
            monitor = {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": {
                    **m.object_metadata(component),
                    "labels": {**m.labels(component), **monitoring.selected_labels},
                },
                "spec": m.service_monitor_spec(component, port),
            }
            custom_resource(
                f"{self._name}-servicemonitor-{component}", monitor, self._namespaced([target, *monitoring.ready])
            )

    # -- backup ------------------------------------------------------------------------

    def _backup(self, args: WebAppArgs) -> pulumi.Output[str] | None:
        if args.s3 is None:
            claim = self._object(
                "PersistentVolumeClaim",
                m.BACKUP,
                {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{LOCAL_BACKUP_GB}Gi"}}},
                name="db-backups",
            )
            spec = m.backup_cronjob(
                schedule=args.backup_schedule,
                db_image=args.db_image,
                uploader_image=None,
                upload_script=None,
                local_script=(SCRIPTS / "backup-local.sh").read_text(),
                environment={"RETENTION_DAYS": str(args.backup_retention_days)},
            )
            self._object("CronJob", m.BACKUP, spec, depends_on=[claim], annotations=m.WORKLOAD_ANNOTATIONS)
            return None

        target = args.s3
        prefix = f"mongodump/{args.cluster_name}/"
        bucket, role = self._backup_bucket_and_role(args.cluster_name, prefix, target, args)
        account = k8s.core.v1.ServiceAccount(
            f"{self._name}-serviceaccount-{m.BACKUP}",
            metadata=cast(Any, m.object_metadata(m.BACKUP, m.BACKUP)),
            # Only the projected STS token is mounted, never the API token.
            automount_service_account_token=False,
            opts=self._namespaced([]),
        )
        spec = m.backup_cronjob(
            schedule=args.backup_schedule,
            db_image=args.db_image,
            uploader_image=args.backup_uploader_image,
            upload_script=(SCRIPTS / "backup-upload.sh").read_text(),
            local_script=None,
            environment={
                "AWS_REGION": target.region,
                "AWS_ROLE_ARN": role.arn,
                "AWS_WEB_IDENTITY_TOKEN_FILE": TOKEN_FILE,
                "BACKUP_PREFIX": prefix,
                "BACKUP_BUCKET": bucket.bucket,
            },
        )
        self._object("CronJob", m.BACKUP, spec, depends_on=[account, role], annotations=m.WORKLOAD_ANNOTATIONS)
        return bucket.bucket

    def _backup_bucket_and_role(
        self, cluster: str, prefix: str, target: BackupTarget, args: WebAppArgs
    ) -> tuple[aws.s3.Bucket, aws.iam.Role]:
        """Least privilege: a role only the backup's service account can assume, that
        may only put objects under `prefix`, and a bucket policy under which nobody
        else may put objects at all. No key exists to leak or rotate."""
        name = self._name
        role = workload_role(
            f"{name}-backup",
            issuer=target.issuer,
            namespace=m.NAMESPACE,
            service_account=m.BACKUP,
            description=f"{cluster} database backup: put objects under {prefix}",
            parent=self,
        )
        bucket = private_bucket(
            f"{name}-db-backups",
            bucket_prefix=f"{cluster}-db-backups-",
            expire_prefix="mongodump/",
            expire_days=args.backup_retention_days,
            protect=target.protect,
            parent=self,
            only_writer_arn=role.arn,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self)).partition
        policy = pulumi.Output.all(partition, bucket.bucket).apply(
            lambda v: backup_writer_policy(partition=v[0], bucket=v[1], prefix=prefix)
        )
        allow(f"{name}-backup", role, policy, parent=self)
        return bucket, role

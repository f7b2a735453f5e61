"""Podium: wiring only. Settings -> components -> stack outputs (README: outputs contract)."""

from datetime import date

import pulumi

from components.app import manifests as app_manifests
from components.app.webapp import AppMonitoring, AppTls, BackupTarget, WebApp, WebAppArgs
from components.cluster import kubeadm, termination, version_record
from components.cluster.addon_roles import AddonRoles
from components.cluster.bootstrap import ClusterBootstrap, ClusterBootstrapArgs, cluster_tag
from components.cluster.kubeadm import Taint
from components.cluster.members import ControlPlaneSpec
from components.cluster.node_group import NodeGroup, NodeGroupArgs
from components.cluster.termination_queue import TerminationQueue, TerminationQueueArgs
from components.config import outputs, versions
from components.config import settings as stack_settings
from components.network import cidr
from components.network.network import Network, NetworkArgs
from components.platform import logs, monitoring, tls
from components.platform.addons import ClusterAddons, ClusterAddonsArgs, TerminationHandling, WorkerGate
from components.platform.certificates import KIND_NODE_NAME_PATTERN, ec2_node_name_pattern
from components.platform.edge import Edge, EdgeArgs
from components.platform.ingress import INGRESS_NAMESPACE, LOCAL_HTTP_HOST_PORT, LOCAL_HTTPS_HOST_PORT
from components.platform.observability import CloudWatchLogs, Observability, ObservabilityArgs
from components.platform.provider import cluster_provider
from components.platform.tenants import Tenants, TenantsArgs
from components.shared.aws_provider import aws_provider, default_tags, stack_tag
from components.shared.cost_budget import CostBudget, CostBudgetArgs

settings = stack_settings.load()
observed = settings.observability
logs_to_cloudwatch = settings.log_destination == "cloudwatch"

outputs.export("environment", settings.environment)
outputs.export("clusterName", settings.cluster_name)
outputs.export("kubernetesVersion", settings.kubernetes_version)

if settings.on_aws:
    aws_cloud = aws_provider(settings)
    aws = pulumi.ResourceOptions(providers=[aws_cloud])
    # Before anything is created: the version change the control planes can take.
    version_record.check_version(
        settings.cluster_name,
        settings.kubernetes_version,
        aws_cloud,
        date.today(),
        api_endpoint=settings.cluster.api_endpoint,
    )
    # apiEndpoint natInstance: the NAT instance forwards the API to the lone control plane.
    api_through_nat = settings.cluster.api_endpoint == "natInstance"
    control_plane_address = cidr.control_plane_address(settings.network.cidr) if api_through_nat else None
    network = Network(
        "network",
        NetworkArgs(
            cluster_name=settings.cluster_name,
            region=settings.region,
            cidr=settings.network.cidr,
            az_count=settings.network.az_count,
            nat_mode=settings.network.nat_mode,
            flow_logs=settings.network.flow_logs,
            flow_logs_retention_days=settings.network.flow_logs_retention_days,
            nat_instance_type=settings.network.nat_instance_type,
            launch_tags=default_tags(settings),
            api_forward=f"{control_plane_address}:{kubeadm.API_PORT}" if control_plane_address else None,
            api_allowed_cidrs=settings.cluster.api_allowed_cidrs,
        ),
        opts=aws,
    )
    cp = settings.control_plane
    bootstrap = ClusterBootstrap(
        "cluster",
        ClusterBootstrapArgs(
            cluster_name=settings.cluster_name,
            kubernetes_version=settings.kubernetes_version,
            region=settings.region,
            vpc_id=network.vpc_id,
            vpc_cidr=network.cidr,
            az_count=settings.network.az_count,
            availability_zones=network.availability_zones,
            public_subnet_ids=network.public_subnet_ids,
            private_subnet_ids=network.private_subnet_ids,
            private_egress=network.private_egress,
            pod_cidr=settings.cluster.pod_cidr,
            service_cidr=settings.cluster.service_cidr,
            api_allowed_cidrs=settings.cluster.api_allowed_cidrs,
            api_endpoint=settings.cluster.api_endpoint,
            control_plane_address=control_plane_address,
            nat_public_ip=network.nat_public_ip,
            ami_id=settings.cluster.ami_id,
            control_plane=ControlPlaneSpec(
                count=cp.count,
                instance_type=cp.instance_type,
                root_volume_gb=cp.root_volume_gb,
                etcd_volume_gb=cp.etcd_volume_gb,
                etcd_snapshot_interval_minutes=cp.etcd_snapshot_interval_minutes,
                etcd_snapshot_retention_days=cp.etcd_snapshot_retention_days,
            ),
            deletion_protection=settings.deletion_protection,
            encrypted_log_groups=(
                termination.early_retirement_log_group(settings.cluster_name),
                *((logs.log_group_name(settings.cluster_name),) if logs_to_cloudwatch else ()),
            ),
        ),
        opts=aws,
    )
    node_groups = [
        NodeGroup(
            f"pool-{pool.name}",
            NodeGroupArgs(
                cluster_name=settings.cluster_name,
                kubernetes_version=settings.kubernetes_version,
                region=settings.region,
                pool_name=pool.name,
                instance_type=pool.instance_type,
                min_size=pool.min,
                max_size=pool.max,
                desired_size=pool.desired,
                spot=pool.spot,
                root_volume_gb=pool.root_volume_gb,
                labels=pool.labels,
                taints=[Taint(t.key, t.value, t.effect) for t in pool.taints],
                subnet_ids=network.private_subnet_ids,
                zonal=pool.zonal,
                az_count=settings.network.az_count,
                first_az_slot=pool.first_az_slot,
                security_group_id=bootstrap.node_security_group_id,
                image_id=bootstrap.node_image_id,
                kms_key_arn=bootstrap.kms_key_arn,
                join=bootstrap.join,
                tags=default_tags(settings),
                control_planes=bootstrap.control_planes_upgraded,
            ),
            opts=aws,
        )
        for pool in settings.node_pools
    ]
    roles: AddonRoles | None = bootstrap.addon_roles
    group_names = pulumi.Output.all(*[group.auto_scaling_group_names for group in node_groups]).apply(
        lambda per_pool: [name for names in per_pool for name in names]
    )
    workers: WorkerGate | None = WorkerGate(access=bootstrap.admin_access, group_names=group_names, groups=node_groups)
    termination_queue = TerminationQueue(
        "termination",
        TerminationQueueArgs(
            cluster_name=settings.cluster_name,
            region=settings.region,
            group_names=group_names,
            issuer=bootstrap.issuer,
            kms_key_arn=bootstrap.kms_key_arn,
            log_retention_days=observed.log_retention_days,
        ),
        opts=aws,
    )
    termination_handling: TerminationHandling | None = TerminationHandling(
        queue_url=termination_queue.queue_url, handler_role_arn=termination_queue.handler_role_arn
    )
    if settings.budget.monthly_usd is not None:
        CostBudget(
            "budget",
            CostBudgetArgs(
                name=settings.cluster_name,
                monthly_usd=settings.budget.monthly_usd,
                spend_tags={**stack_tag(settings), **cluster_tag(settings.cluster_name)},
                alert_emails=settings.budget.alert_emails,
            ),
            opts=aws,
        )
    outputs.export("vpcId", network.vpc_id)
    outputs.export("publicSubnetIds", network.public_subnet_ids)
    outputs.export("privateSubnetIds", network.private_subnet_ids)
    outputs.export("clusterEndpoint", bootstrap.endpoint)
    outputs.export("clusterCaCertificate", bootstrap.ca_certificate)
    outputs.export("kubeconfig", bootstrap.kubeconfig)
    outputs.export("nodeSecurityGroupId", bootstrap.node_security_group_id)
    outputs.export("oidcIssuerUrl", bootstrap.issuer.url)
    outputs.export("oidcProviderArn", bootstrap.issuer.provider_arn)
    # Add-ons tied to the version (the cloud controller, the autoscaler) move after the
    # control planes: every Kubernetes object waits for them.
    k8s = cluster_provider(
        settings.cluster_name,
        kubeconfig=bootstrap.kubeconfig,
        depends_on=[bootstrap.ready, bootstrap.control_planes_upgraded],
    )
    node_name_pattern = ec2_node_name_pattern(settings.region)
    node_ip_cidrs: list[pulumi.Input[str]] = [settings.network.cidr]
    cloud_providers: list[pulumi.ProviderResource] = [aws_cloud]
    backup_target: BackupTarget | None = BackupTarget(
        region=settings.region,
        protect=settings.deletion_protection,
        internal_cidrs=[settings.network.cidr, settings.cluster.pod_cidr],
        issuer=bootstrap.issuer,
    )
    service_account_issuer = bootstrap.issuer
    cloudwatch: CloudWatchLogs | None = (
        CloudWatchLogs(
            region=settings.region,
            issuer=bootstrap.issuer,
            kms_key_arn=bootstrap.kms_key_arn,
            retention_days=observed.log_retention_days,
            protect=settings.deletion_protection,
        )
        if logs_to_cloudwatch
        else None
    )
else:
    k8s = cluster_provider(
        settings.cluster_name, kubeconfig=settings.cluster.kubeconfig, context=settings.cluster.context
    )
    node_name_pattern = settings.cluster.node_name_pattern or KIND_NODE_NAME_PATTERN
    node_ip_cidrs = []
    workers = None
    roles = None
    termination_handling = None
    cloud_providers = []
    backup_target = None
    cloudwatch = None
    service_account_issuer = None

addons = ClusterAddons(
    "addons",
    ClusterAddonsArgs(
        cluster_name=settings.cluster_name,
        kubernetes_version=settings.kubernetes_version,
        on_aws=settings.on_aws,
        pod_cidr=settings.cluster.pod_cidr,
        deletion_protection=settings.deletion_protection,
        node_name_pattern=node_name_pattern,
        node_ip_cidrs=node_ip_cidrs,
        chart_versions=settings.addon_versions,
        region=settings.aws_region if settings.on_aws else None,
        workers=workers,
        roles=roles,
        termination=termination_handling,
    ),
    opts=pulumi.ResourceOptions(providers=[k8s]),
)

tls_mode = settings.tls_mode
dns = settings.dns
route53 = (
    tls.Route53(region=settings.region, hosted_zone_id=dns.hosted_zone_id, zone=dns.zone)
    if dns.provider == "route53" and dns.hosted_zone_id and dns.zone
    else None
)
app_tls: AppTls | None = None
if tls_mode != "none" or route53 is not None:
    edge = Edge(
        "edge",
        EdgeArgs(
            cluster_name=settings.cluster_name,
            hostname=settings.app.hostname,
            tls_mode=tls_mode,
            acme_server=settings.app.tls.acme_server,
            email=settings.app.tls.email,
            ingress_class=addons.ingress_class,
            route53=route53,
            issuer=service_account_issuer,
            depends_on=addons.ready,
        ),
        opts=pulumi.ResourceOptions(providers=[k8s, *cloud_providers]),
    )
    if edge.certificate_issuer is not None:
        app_tls = AppTls(
            ingress=app_manifests.Tls(
                issuer=edge.certificate_issuer,
                # Only a certificate browsers trust may be pinned by HSTS.
                hsts=tls_mode == "acme" and settings.app.tls.acme_server == "production",
                https_port=None if settings.on_aws else LOCAL_HTTPS_HOST_PORT,
                dns_record=route53 is not None,
            ),
            ready=edge.ready,
            http01_solver=(tls.HTTP01_SOLVER_LABELS, tls.HTTP01_SOLVER_PORT)
            if tls_mode == "acme" and route53 is None
            else None,
        )
port = "" if settings.on_aws else f":{LOCAL_HTTPS_HOST_PORT if app_tls else LOCAL_HTTP_HOST_PORT}"
app_url = f"{'https' if app_tls else 'http'}://{settings.app.hostname}{port}"

app_monitoring: AppMonitoring | None = None
if observed.enabled:
    observability = Observability(
        "observability",
        ObservabilityArgs(
            cluster_name=settings.cluster_name,
            metrics=monitoring.MetricsParams(
                on_aws=settings.on_aws,
                retention_days=observed.metrics_retention_days,
                storage_gb=observed.metrics_storage_gb,
                storage_class=addons.default_storage_class,
                alert_receiver=settings.alert_webhook_url is not None,
            ),
            alerts=monitoring.AlertParams(
                app_namespace=app_manifests.NAMESPACE,
                api_job=app_manifests.API,
                db_exporter_job=app_manifests.DB_METRICS,
                backup_cronjob=app_manifests.BACKUP,
                backup_schedule=settings.app.db.backup_schedule,
                api_error_percent=observed.api_error_percent,
                api_p99_latency_ms=observed.api_p99_latency_ms,
                etcd_snapshot_interval_minutes=settings.control_plane.etcd_snapshot_interval_minutes
                if settings.on_aws
                else None,
            ),
            logs=settings.log_destination,
            cloudwatch=cloudwatch,
            alert_webhook_url=pulumi.Output.secret(settings.alert_webhook_url) if settings.alert_webhook_url else None,
            protect=settings.deletion_protection,
            depends_on=addons.ready,
        ),
        opts=pulumi.ResourceOptions(providers=[k8s, *cloud_providers]),
    )
    app_monitoring = AppMonitoring(
        scraper=app_manifests.Scraper(observability.scraper_namespace, monitoring.PROMETHEUS_POD_LABELS),
        exporter_image=versions.image("mongodbExporter"),
        selected_labels=monitoring.SELECTED,
        ready=observability.ready,
    )

# The guardrails, before the app they also hold to, and the other teams' namespaces.
tenants = None
if settings.on_aws:
    tenants = Tenants(
        "tenants",
        TenantsArgs(
            cluster_name=settings.cluster_name,
            tenants=settings.tenants,
            server=bootstrap.endpoint,
            ca=bootstrap.pki.cluster_ca,
            ingress_namespace=INGRESS_NAMESPACE,
            domain=settings.dns.zone or settings.app.hostname,
            internal_cidrs=(settings.network.cidr, settings.cluster.pod_cidr, settings.cluster.service_cidr),
            protect=settings.deletion_protection,
            depends_on=addons.ready,
        ),
        opts=pulumi.ResourceOptions(providers=[k8s]),
    )
    outputs.export("tenantKubeconfigs", tenants.kubeconfigs)

db_pool = next((p for p in settings.node_pools if p.name == settings.app.db.node_pool), None)
app = settings.app
webapp = WebApp(
    "app",
    WebAppArgs(
        cluster_name=settings.cluster_name,
        hostname=app.hostname,
        url=app_url,
        ingress_class=addons.ingress_class,
        ingress_namespace=INGRESS_NAMESPACE,
        frontend=app_manifests.Workload(**vars(app.frontend)),
        api=app_manifests.Workload(**vars(app.api)),
        db_image=app.db.image,
        db_storage_class=app.db.storage_class,
        db_storage_gb=app.db.storage_gb,
        db_node_selector=dict(db_pool.labels) if db_pool and settings.on_aws else {},
        db_tolerations=[app_manifests.Toleration(t.key, t.value, t.effect) for t in db_pool.taints]
        if db_pool and settings.on_aws
        else [],
        backup_schedule=app.db.backup_schedule,
        backup_retention_days=app.db.backup_retention_days,
        backup_uploader_image=versions.image("podinfo"),
        s3=backup_target,
        protect=settings.deletion_protection,
        depends_on=[*addons.ready, *(tenants.guardrails if tenants else [])],
        guarded=tenants is not None,
        monitoring=app_monitoring,
        tls=app_tls,
    ),
    opts=pulumi.ResourceOptions(providers=[k8s, *cloud_providers]),
)
outputs.export("appNamespace", webapp.namespace)
outputs.export("appUrl", webapp.url)
if webapp.backup_bucket is not None:
    outputs.export("appBackupBucket", webapp.backup_bucket)

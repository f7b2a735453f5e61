"""The Kubernetes version a cluster's control planes run, and the guard on changing it.

ClusterBootstrap writes the version to SSM (`/podium/<cluster>/kubernetes/version`)
once ControlPlaneUpgrade has brought every member to it. Before anything else, the
program reads it back (preview and up alike) and refuses a change the version-skew
policy forbids, naming the key: a downgrade, or more than one minor at once. A new
cluster (no record yet) may not start on a minor past its end of life; an existing one
on such a minor gets a warning, so that it can still upgrade.
"""

from __future__ import annotations

from datetime import date

import pulumi
import pulumi_aws as aws

from components.cluster.secrets import ParameterNames
from components.config import versions
from components.config.settings import NAMESPACE, SettingsError

KEY = f"{NAMESPACE}:kubernetesVersion"


def recorded_version(cluster_name: str, provider: pulumi.ProviderResource) -> str | None:
    """What the record says, or None when there is none (a new cluster, or one made
    before Podium kept the record)."""
    names = ParameterNames(cluster_name)
    found = aws.ssm.get_parameters_by_path(path=names.version_record, opts=pulumi.InvokeOptions(provider=provider))
    return dict(zip(found.names, found.values, strict=True)).get(names.kubernetes_version)


def check_version(cluster_name: str, requested: str, provider: pulumi.ProviderResource, today: date) -> None:
    running = recorded_version(cluster_name, provider)
    errors, warnings = versions.version_change(running, requested, today)
    for warning in warnings:
        pulumi.log.warn(f"{KEY}: {warning}")
    if errors:
        raise pulumi.RunError(str(SettingsError([f"{KEY}: {error}" for error in errors])))

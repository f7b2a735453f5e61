"""The Kubernetes version a cluster's control planes run, and the guard on changing it.

ClusterBootstrap writes the version to SSM (`/podium/<cluster>/kubernetes/version`)
once ControlPlaneUpgrade has brought every member to it. Before anything else, the
program reads it back (preview and up alike) and refuses a change the version-skew
policy forbids, naming the key: a downgrade, or more than one minor at once. A new
cluster (no record yet) may not start on a minor past its end of life; an existing one
on such a minor gets a warning, so that it can still upgrade.

The same folder records `cluster.apiEndpoint`: a running cluster cannot move to or from
`natInstance` (its nodes' kubeconfigs and its certificate name the other address).
"""

from __future__ import annotations

from datetime import date

import pulumi
import pulumi_aws as aws

from components.cluster.secrets import ParameterNames
from components.config import versions
from components.config.settings import NAMESPACE, SettingsError

KEY = f"{NAMESPACE}:kubernetesVersion"
ENDPOINT_KEY = f"{NAMESPACE}:cluster.apiEndpoint"
NAT_ENDPOINT = "natInstance"


def cluster_record(cluster_name: str, provider: pulumi.ProviderResource) -> dict[str, str]:
    """Every parameter of the record (by name); empty for a new cluster."""
    names = ParameterNames(cluster_name)
    found = aws.ssm.get_parameters_by_path(path=names.version_record, opts=pulumi.InvokeOptions(provider=provider))
    return dict(zip(found.names, found.values, strict=True))


def endpoint_change(running_version: str | None, recorded: str | None, requested: str) -> str | None:
    """Why a running cluster cannot take `requested` as its apiEndpoint, or None. A
    cluster recorded before the endpoint was (version but no endpoint) used a load
    balancer."""
    if running_version is None and recorded is None:
        return None  # a new cluster
    was = recorded or "public or internal"
    if (requested == NAT_ENDPOINT) != (was == NAT_ENDPOINT):
        return (
            f"the running cluster was made with {was} and cannot change to {requested}: every node's "
            "kubeconfig and the API server's certificate name the old address. Keep the setting, or "
            "create the cluster anew (pulumi destroy, then up)"
        )
    return None


def check_version(
    cluster_name: str, requested: str, provider: pulumi.ProviderResource, today: date, *, api_endpoint: str
) -> None:
    names = ParameterNames(cluster_name)
    record = cluster_record(cluster_name, provider)
    running = record.get(names.kubernetes_version)
    errors, warnings = versions.version_change(running, requested, today)
    for warning in warnings:
        pulumi.log.warn(f"{KEY}: {warning}")
    problems = [f"{KEY}: {error}" for error in errors]
    endpoint_error = endpoint_change(running, record.get(names.api_endpoint), api_endpoint)
    if endpoint_error:
        problems.append(f"{ENDPOINT_KEY}: {endpoint_error}")
    if problems:
        raise pulumi.RunError(str(SettingsError(problems)))

"""The one Kubernetes provider every cluster object goes through."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s


def cluster_provider(
    cluster_name: str,
    *,
    kubeconfig: pulumi.Input[str] | None,
    context: str | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.Provider:
    """`cluster_identifier` is the stable cluster name: a new kubeconfig text (a renewed
    client certificate, another endpoint spelling) then updates the provider in place
    instead of replacing it, and with it every object on the cluster. `kubeconfig` is
    the text or a path; None uses the provider's own lookup (KUBECONFIG, ~/.kube/config).

    `delete_unreachable` stays unset: a cluster unreachable only from where `pulumi`
    runs must fail a destroy, not drop its objects from the state while the cluster
    lives on. Unset, the SDK reads PULUMI_K8S_DELETE_UNREACHABLE, with which a user
    destroys a stack whose cluster is really gone (docs/operations.md)."""
    return k8s.Provider(
        "k8s",
        kubeconfig=kubeconfig,
        context=context,
        cluster_identifier=cluster_name,
        opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
    )

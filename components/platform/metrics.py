"""Resource metrics for the HPAs: metrics-server."""

from __future__ import annotations

from typing import Any


def metrics_server_values() -> dict[str, Any]:
    """The chart's defaults: metrics-server verifies kubelet serving certificates
    against the cluster CA, which the certificate approver makes possible; no
    `--kubelet-insecure-tls`."""
    return {}

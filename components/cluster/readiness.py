"""ApiReadiness: a gate that holds everything using the kubeconfig until the API
server answers `/readyz`, verified against the cluster CA.

A Pulumi dynamic resource. Its provider runs only when the resource is created or
updated during `pulumi up`; `pulumi preview` never calls it, so a preview neither
waits nor needs network access to the cluster.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

DEFAULT_TIMEOUT_SECONDS = 20 * 60  # apt, containerd, kubeadm init on a fresh instance
POLL_SECONDS = 10.0


class ApiNotReady(Exception):
    pass


def wait_until_ready(endpoint: str, ca_pem: str, timeout_seconds: float, poll_seconds: float = POLL_SECONDS) -> None:
    """Polls `<endpoint>/readyz` until it returns 200 with body `ok`, trusting only
    the cluster CA. Raises ApiNotReady, naming the endpoint and the last answer, at
    the deadline. Imports stay inside: the provider is pickled into the state."""
    import ssl
    import time
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cadata=ca_pem)
    url = f"{endpoint.rstrip('/')}/readyz"
    deadline = time.monotonic() + timeout_seconds
    last = "no answer yet"
    while True:
        try:
            with urllib.request.urlopen(url, context=context, timeout=min(10.0, timeout_seconds)) as response:
                body = response.read().decode(errors="replace").strip()
                if response.status == 200 and body == "ok":
                    return
                last = f"HTTP {response.status}: {body[:200]}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read().decode(errors='replace')[:200]}"
        except (urllib.error.URLError, OSError) as error:
            last = str(getattr(error, "reason", error))
        if time.monotonic() + poll_seconds > deadline:
            raise ApiNotReady(
                f"the API server at {url} was not ready after {timeout_seconds:.0f} s (last: {last}). "
                "Check the first control plane's console log (/var/log/podium-bootstrap.log) "
                "and that this machine's address is in podium:cluster.apiAllowedCidrs."
            )
        time.sleep(poll_seconds)


class _ReadinessProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        wait_until_ready(props["endpoint"], props["caPem"], float(props["timeoutSeconds"]))
        return dynamic.CreateResult(id_=props["endpoint"], outs=props)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        wait_until_ready(news["endpoint"], news["caPem"], float(news["timeoutSeconds"]))
        return dynamic.UpdateResult(outs=news)


class ApiReadiness(dynamic.Resource):
    endpoint: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        endpoint: pulumi.Input[str],
        ca_pem: pulumi.Input[str],
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _ReadinessProvider(),
            name,
            {"endpoint": endpoint, "caPem": ca_pem, "timeoutSeconds": timeout_seconds},
            opts,
        )

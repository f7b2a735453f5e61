"""The opt-in end-to-end run (`make integration`) through the Pulumi Automation API, for
a sandbox AWS account: an ephemeral stack from a stack file's config, `up`, the API
server's `/readyz` with the kubeconfig output, the app answering through the ingress
load balancer, and always `destroy` and stack removal, even when a step fails."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import yaml

from components.cluster.readiness import wait_for
from components.config.settings import MAX_CLUSTER_NAME
from tools import harness

PREFIX = "it"
APP_TIMEOUT_SECONDS = 15 * 60


def missing_prerequisites(environ: Mapping[str, str] | None = None, home: Path | None = None) -> list[str]:
    """Why the run cannot happen here; empty when the Pulumi CLI and AWS credentials exist."""
    environ = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    reasons = []
    if shutil.which("pulumi", path=environ.get("PATH")) is None:
        reasons.append("the Pulumi CLI is not on PATH")
    credential_variables = (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    )
    if not any(environ.get(v) for v in credential_variables) and not (home / ".aws" / "credentials").exists():
        reasons.append("no AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, web identity or ~/.aws/credentials)")
    return reasons


def ephemeral_stack_name(base: str, run_id: str | None = None) -> str:
    """`it-<base>-<8 hex>`: unique per run, and short enough for the cluster name
    (`podium-<stack>`) to fit AWS's name limits."""
    name = f"{PREFIX}-{base}-{(run_id or uuid.uuid4().hex)[:8]}".lower()
    if len(f"{harness.PROJECT}-{name}") > MAX_CLUSTER_NAME:
        raise ValueError(f"stack name {name!r} is too long for the cluster name limit of {MAX_CLUSTER_NAME}")
    return name


def copied_config(base: str, overrides: Mapping[str, Any] | None = None) -> dict[str, tuple[str, bool]]:
    """The base stack file's config as the CLI stores it: key -> (value text, secret).
    Objects and lists become JSON, which the program reads back as they were written;
    `overrides` replace whole keys (e.g. a sandbox's apiAllowedCidrs)."""
    config = {**harness.load_stack_config(base), **(overrides or {})}
    if any(isinstance(v, dict) and set(v) == {"secure"} for v in config.values()):
        raise ValueError(f"Pulumi.{base}.yaml holds secure values, which only its own stack can decrypt")
    flat, secret_keys = harness.engine_config(config)
    return {key: (value, key in secret_keys) for key, value in flat.items()}


class Stack(Protocol):
    """What the run needs of an Automation API stack (and what the tests fake)."""

    name: str

    def destroy(self, *, on_output: Any = None) -> Any: ...


class Workspace(Protocol):
    def remove_stack(self, stack_name: str) -> None: ...


@contextmanager
def always_cleaned(stack: Stack, workspace: Workspace) -> Iterator[Stack]:
    """Yields the stack; afterwards destroys it and removes it, whatever happened.
    If destroy fails, the stack is kept (removing it would orphan its resources) and
    that failure is raised, with the original one, if any, as its context."""
    try:
        yield stack
    finally:
        stack.destroy(on_output=print)
        workspace.remove_stack(stack.name)


def kubeconfig_parts(kubeconfig: str) -> tuple[str, str, str, str]:
    """(server, CA PEM, client certificate PEM, client key PEM) of the admin kubeconfig."""
    document = yaml.safe_load(kubeconfig)
    cluster = document["clusters"][0]["cluster"]
    user = document["users"][0]["user"]

    def text(value: str) -> str:
        return base64.b64decode(value).decode()

    return (
        cluster["server"],
        text(cluster["certificate-authority-data"]),
        text(user["client-certificate-data"]),
        text(user["client-key-data"]),
    )


def ingress_hostname(kubeconfig: str, namespace: str = "traefik", service: str = "traefik") -> str | None:
    """The DNS name of the load balancer the cloud controller made for the ingress."""
    server, ca, cert, key = kubeconfig_parts(kubeconfig)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        cert_file.write_text(cert)
        key_file.write_text(key)
        context = ssl.create_default_context(cadata=ca)
        context.load_cert_chain(cert_file, key_file)
        url = f"{server}/api/v1/namespaces/{namespace}/services/{service}"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            status = json.load(response).get("status", {})
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    return ingress[0].get("hostname") if ingress else None


def wait_for_app(kubeconfig: str, hostname: str, timeout_seconds: float = APP_TIMEOUT_SECONDS) -> int:
    """Polls the app's front page through the ingress load balancer (Host header set,
    since the sandbox has no DNS for the hostname); returns the HTTP status."""
    deadline = time.monotonic() + timeout_seconds
    last = "no load balancer yet"
    while time.monotonic() < deadline:
        try:
            balancer = ingress_hostname(kubeconfig)
            if balancer:
                request = urllib.request.Request(f"http://{balancer}/", headers={"Host": hostname})
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status
        except OSError as error:
            last = str(error)
        time.sleep(15)
    raise TimeoutError(f"the app at {hostname} did not answer within {timeout_seconds:.0f} s (last: {last})")


def run(base: str = "dev", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole end-to-end run; returns the stack outputs it checked."""
    from pulumi import automation as auto

    stack = auto.create_stack(stack_name=ephemeral_stack_name(base), work_dir=str(harness.ROOT))
    with always_cleaned(stack, stack.workspace):
        stack.set_all_config(
            {
                key: auto.ConfigValue(value=value, secret=secret)
                for key, (value, secret) in copied_config(base, overrides).items()
            }
        )
        result = stack.up(on_output=print)
        outputs = {key: value.value for key, value in result.outputs.items()}
        server, ca, cert, key = kubeconfig_parts(outputs["kubeconfig"])
        for stage in ("control-plane", "workers"):
            wait_for(stage, endpoint=server, ca_pem=ca, client_cert_pem=cert, client_key_pem=key, timeout_seconds=300)
        status = wait_for_app(outputs["kubeconfig"], outputs["appUrl"].split("//", 1)[1].split(":")[0])
        return {**outputs, "appStatus": status}

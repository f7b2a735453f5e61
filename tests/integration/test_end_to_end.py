"""`make integration`: a real `pulumi up` of an ephemeral copy of dev in a sandbox AWS
account, checked and always destroyed. Costs money and about 30 minutes; never part of
`make test`. Skips, saying why, without the Pulumi CLI or AWS credentials."""

from __future__ import annotations

import os

import pytest

from tools import integration

pytestmark = pytest.mark.integration


def test_dev_comes_up_answers_and_is_destroyed() -> None:
    missing = integration.missing_prerequisites()
    if missing:
        pytest.skip("; ".join(missing))
    # The sandbox runner's egress must reach the API; default: the dev stack file's list.
    allowed = os.environ.get("PODIUM_IT_API_ALLOWED_CIDR")
    overrides = None
    if allowed:
        cluster = dict(integration.harness.load_stack_config("dev")["podium:cluster"], apiAllowedCidrs=[allowed])
        overrides = {"podium:cluster": cluster}
    outputs = integration.run("dev", overrides)
    assert outputs["clusterEndpoint"].startswith("https://")
    assert outputs["appStatus"] == 200

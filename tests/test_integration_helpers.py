"""The end-to-end run's helpers (the run itself is `make integration`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import settings
from tools import harness, integration


def test_ephemeral_stack_names_are_unique_valid_and_short() -> None:
    name = integration.ephemeral_stack_name("dev", "0123456789abcdef")
    assert name == "it-dev-01234567"
    assert integration.ephemeral_stack_name("dev") != integration.ephemeral_stack_name("dev")
    config = harness.load_stack_config("dev")
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("podium:")}
    settings.from_config(raw, project="podium", stack=name, aws_region="us-east-1")  # the program accepts it
    with pytest.raises(ValueError, match="too long"):
        integration.ephemeral_stack_name("production-eu")


def test_copied_config_reads_back_as_the_stack_file_wrote_it() -> None:
    copied = integration.copied_config("dev")
    original = harness.load_stack_config("dev")
    assert set(copied) == set(original)
    assert copied["aws:region"] == ("us-east-1", False)
    assert json.loads(copied["podium:network"][0]) == original["podium:network"]
    assert copied["podium:deletionProtection"] == ("false", False)
    overridden = integration.copied_config("dev", {"podium:cluster": {"apiAllowedCidrs": ["192.0.2.7/32"]}})
    assert json.loads(overridden["podium:cluster"][0]) == {"apiAllowedCidrs": ["192.0.2.7/32"]}


def test_copied_config_refuses_values_only_the_base_stack_can_decrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "load_stack_config", lambda _: {"podium:token": {"secure": "AAABAE..."}})
    with pytest.raises(ValueError, match="secure values"):
        integration.copied_config("dev")


class FakeStack:
    def __init__(self, calls: list[str], fail_destroy: bool = False) -> None:
        self.name = "it-dev-00000000"
        self.calls = calls
        self.fail_destroy = fail_destroy

    def destroy(self, *, on_output: Any = None) -> None:
        self.calls.append("destroy")
        if self.fail_destroy:
            raise RuntimeError("destroy failed")


class FakeWorkspace:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def remove_stack(self, stack_name: str) -> None:
        self.calls.append(f"remove {stack_name}")


def test_cleanup_destroys_and_removes_after_success_and_after_failure() -> None:
    calls: list[str] = []
    with integration.always_cleaned(FakeStack(calls), FakeWorkspace(calls)):
        calls.append("up")
    with (
        pytest.raises(RuntimeError, match="up failed"),
        integration.always_cleaned(FakeStack(calls), FakeWorkspace(calls)),
    ):
        raise RuntimeError("up failed")
    assert calls == ["up", "destroy", "remove it-dev-00000000", "destroy", "remove it-dev-00000000"]


def test_a_failed_destroy_keeps_the_stack_and_is_raised() -> None:
    calls: list[str] = []
    with (
        pytest.raises(RuntimeError, match="destroy failed"),
        integration.always_cleaned(FakeStack(calls, fail_destroy=True), FakeWorkspace(calls)),
    ):
        calls.append("up")
    assert calls == ["up", "destroy"]


def test_prerequisites_name_what_is_missing(tmp_path: Path) -> None:
    reasons = integration.missing_prerequisites({"PATH": str(tmp_path)}, home=tmp_path)
    assert reasons == [
        "the Pulumi CLI is not on PATH",
        "no AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, web identity or ~/.aws/credentials)",
    ]
    fake_cli = tmp_path / "pulumi"
    fake_cli.write_text("#!/bin/sh\n")
    fake_cli.chmod(0o755)
    assert integration.missing_prerequisites({"PATH": str(tmp_path), "AWS_PROFILE": "sandbox"}, home=tmp_path) == []


def test_kubeconfig_parts_read_the_admin_kubeconfig() -> None:
    from components.cluster.discovery import render_kubeconfig

    text = render_kubeconfig("podium-dev", "https://api:6443", "CA", "CERT", "KEY")
    assert integration.kubeconfig_parts(text) == ("https://api:6443", "CA", "CERT", "KEY")
    assert base64.b64decode(yaml.safe_load(text)["users"][0]["user"]["client-key-data"]) == b"KEY"

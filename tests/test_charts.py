"""The Helm charts Podium installs: vendored packages locked by digest, rendered by the
real Helm with each stack's values, and what they render checked as the cluster would
get it: no value the chart ignores, built-in kinds through kubernetes-validate, custom
resources against their CRD's schema, and checkov against a reasoned baseline."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components.config import versions
from tests.conftest import STACKS, graph_for, rendered_for, stack_config
from tools import charts, crd_schema, helm_render

BASELINE = Path(__file__).parent / "data" / "checkov-addons-baseline.yaml"


# -- vendored packages ---------------------------------------------------------------------------


def test_every_package_matches_its_lock_and_its_chart() -> None:
    assert charts.problems() == []
    # At least every package the pinned versions install (older ones may stay for overrides).
    pinned = {Path(c.package).name for c in versions.charts().values()}
    assert pinned <= set(charts.lock()) and len(pinned) == 7


def test_a_changed_or_unlocked_package_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copied = tmp_path / "charts"
    shutil.copytree(charts.CHARTS, copied)
    monkeypatch.setattr(charts, "CHARTS", copied)
    monkeypatch.setattr(charts, "LOCK", copied / charts.LOCK.name)
    traefik = copied / "traefik-41.3.0.tgz"
    traefik.write_bytes(traefik.read_bytes() + b"\0")
    (copied / "extra-1.0.0.tgz").write_bytes((copied / "metrics-server-3.13.1.tgz").read_bytes())
    found = charts.problems()
    assert "extra-1.0.0.tgz is not in charts.lock.yaml" in found
    assert any(p.startswith("traefik-41.3.0.tgz: SHA-256 ") for p in found)


# -- the render module, on a chart made here ------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_chart(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A packaged chart: one ConfigMap from `.Values.greeting`, a map left open, a
    schema that wants `replicas` to be an integer."""
    source = tmp_path_factory.mktemp("src") / "tiny"
    (source / "templates").mkdir(parents=True)
    (source / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (source / "values.yaml").write_text("greeting: hello\nreplicas: 1\nlabels: {}\n")
    (source / "values.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"replicas": {"type": "integer"}}})
    )
    (source / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "  labels: {{ toYaml .Values.labels | nindent 4 }}\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
        "  extra: {{ if .Values.hidden }}{{ .Values.hidden.knob | quote }}{{ else }}none{{ end }}\n"
    )
    target = tmp_path_factory.mktemp("pkg")
    subprocess.run(
        [str(helm_render.helm()), "package", str(source), "-d", str(target)], check=True, capture_output=True
    )
    return str(target / "tiny-0.1.0.tgz")


def test_render_gives_the_objects_with_the_values(tiny_chart: str) -> None:
    (configmap,) = helm_render.template(
        tiny_chart, release="demo", namespace="apps", values={"greeting": "hi"}, kube_version="1.35.8"
    )
    assert configmap["metadata"]["name"] == "demo"
    assert configmap["data"]["greeting"] == "hi"


def test_a_value_the_schema_refuses_fails_the_render_loudly(tiny_chart: str) -> None:
    with pytest.raises(helm_render.RenderError, match=r"(?s)helm template demo .*schema.*/replicas': got string"):
        helm_render.template(
            tiny_chart, release="demo", namespace="apps", values={"replicas": "two"}, kube_version="1.35.8"
        )


def test_values_nobody_reads_are_found(tiny_chart: str) -> None:
    values = {"greeting": "hi", "labels": {"team": "a"}, "hidden": {"knob": "x"}, "greting": "typo", "replica": 2}
    # Read: a default, a key under an open map, a path a template names. Not: the typos.
    assert helm_render.unread_values(tiny_chart, values) == ["greting", "replica"]


# -- every stack's releases --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_value_podium_sets_is_one_its_chart_ignores(stack: str) -> None:
    for release in rendered_for(stack).values():
        assert helm_render.unread_values(release.package, release.values) == [], release.release


def test_the_check_catches_traefiks_service_type() -> None:
    # What Podium used to set: the chart reads `service.spec.type`, never `service.type`.
    package = rendered_for("local")["traefik"].package
    assert helm_render.unread_values(package, {"service": {"type": "NodePort"}}) == ["service.type"]


def test_every_free_form_entry_is_still_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    for chart, entries in helm_render.FREE_FORM.items():
        for key in entries:
            monkeypatch.setitem(helm_render.FREE_FORM, chart, {k: v for k, v in entries.items() if k != key})
            flagged = [
                path
                for stack in STACKS
                for release in rendered_for(stack).values()
                for path in helm_render.unread_values(release.package, release.values)
            ]
            assert any(f"{path}.".startswith(f"{key}.") for path in flagged), f"{chart}: {key} is allowed for nothing"
            monkeypatch.setitem(helm_render.FREE_FORM, chart, entries)


def test_the_render_sees_the_api_versions_a_real_cluster_serves() -> None:
    served = set(helm_render.served_api_versions(graph_for("dev")))
    assert {"operator.tigera.io/v1", "operator.tigera.io/v1/Installation", "crd.projectcalico.org/v1"} <= served
    assert {"policy/v1/PodDisruptionBudget", "apps/v1/Deployment", "v1/Service", "v1"} <= served
    assert "policy/v1beta1/PodDisruptionBudget" not in served  # removed in 1.25


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_renders_for_an_api_version_the_cluster_does_not_serve(stack: str) -> None:
    served = set(helm_render.served_api_versions(graph_for(stack)))
    stale = [
        (name, o["apiVersion"], o["kind"])
        for name, release in rendered_for(stack).items()
        for o in release.objects
        if f"{o['apiVersion']}/{o['kind']}" not in served
    ]
    assert stale == []


@pytest.mark.parametrize("stack", STACKS)
def test_what_each_release_renders(stack: str) -> None:
    kinds = {name: {o["kind"] for o in r.objects} for name, r in rendered_for(stack).items()}
    expected = {
        "kubelet-csr-approver": {"Deployment", "ClusterRole", "ServiceAccount"},
        "metrics-server": {"Deployment", "APIService", "Service"},
        "traefik": {"Deployment", "Service", "IngressClass", "CustomResourceDefinition"},
    }
    expected |= {
        "kube-prometheus-stack": {"Prometheus", "Alertmanager", "Deployment", "DaemonSet", "ServiceMonitor"},
        "fluent-bit": {"DaemonSet", "ConfigMap", "ServiceMonitor"},
        "cert-manager": {"Deployment", "CustomResourceDefinition", "ValidatingWebhookConfiguration"},
    }
    if stack != "local":
        expected |= {
            "tigera-operator": {"Deployment", "Installation"},
            "aws-cloud-controller-manager": {"DaemonSet", "ClusterRole"},
            "aws-ebs-csi-driver": {"Deployment", "DaemonSet", "CSIDriver"},
            "external-dns": {"Deployment", "ClusterRole", "ServiceAccount"},
            "cluster-autoscaler": {"Deployment", "ClusterRole", "ServiceAccount", "PodDisruptionBudget"},
            # Queue mode: one Deployment, no DaemonSet polling instance metadata.
            "aws-node-termination-handler": {"Deployment", "ClusterRole", "ServiceAccount"},
        }
    assert set(kinds) == set(expected)
    for name, wanted in expected.items():
        assert wanted <= kinds[name], name


# -- validators over what is rendered ------------------------------------------------------------------


def crd_schemas(stack: str) -> dict[crd_schema.Key, dict[str, Any]]:
    crds = helm_render.stack_crds(graph_for(stack))
    crds += [o for r in rendered_for(stack).values() for o in r.of_kind("CustomResourceDefinition")]
    return crd_schema.schemas(crds)


# (minor, object) already validated: most add-ons render the same objects on every stack.
_VALIDATED: set[tuple[str, str]] = set()


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_built_in_objects_pass_kubernetes_validate_strict(stack: str) -> None:
    known = crd_schemas(stack)
    minor = stack_config(stack)["podium:kubernetesVersion"].rsplit(".", 1)[0]
    checked = 0
    for release in rendered_for(stack).values():
        for manifest in release.objects:
            if (manifest["apiVersion"], manifest["kind"]) in known:
                continue
            key = (minor, json.dumps(manifest, sort_keys=True))
            if key not in _VALIDATED:
                kubernetes_validate.validate(manifest, f"{minor}.0", strict=True)
                _VALIDATED.add(key)
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_custom_resources_match_their_crds(stack: str) -> None:
    known = crd_schemas(stack)
    resources = [
        (release.release, o)
        for release in rendered_for(stack).values()
        for o in crd_schema.custom_resources(release.objects, known)
    ]
    assert [
        (name, o["kind"], crd_schema.problems(o, known)) for name, o in resources if crd_schema.problems(o, known)
    ] == []
    assert ("tigera-operator" in rendered_for(stack)) == any(o["kind"] == "Installation" for _, o in resources)


def test_the_crd_check_is_strict_about_fields_and_types() -> None:
    known = crd_schemas("dev")
    (installation,) = rendered_for("dev")["tigera-operator"].of_kind("Installation")
    broken = copy.deepcopy(installation)
    broken["spec"]["calicoNetwork"]["bgpp"] = "Disabled"
    broken["spec"]["calicoNetwork"]["ipPools"][0]["blockSize"] = "26"
    assert crd_schema.problems(broken, known) == [
        "spec.calicoNetwork: Additional properties are not allowed ('bgpp' was unexpected)",
        "spec.calicoNetwork.ipPools.0.blockSize: '26' is not of type 'integer'",
    ]


def test_the_crd_check_reads_the_kubernetes_extensions() -> None:
    crd = {
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "port": {"x-kubernetes-int-or-string": True},
                                        "note": {"type": "string", "nullable": True},
                                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                    },
                                }
                            },
                        }
                    },
                }
            ],
        }
    }
    known = crd_schema.schemas([crd])
    good = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    good["spec"] = {"port": "http", "note": None, "extra": {"anything": {"goes": 1}}}
    assert crd_schema.problems(good, known) == []
    bad = {**good, "spec": {"port": 1.5, "other": 1}}
    assert crd_schema.problems(bad, known) == [
        "spec: Additional properties are not allowed ('other' was unexpected)",
        "spec.port: 1.5 is not valid under any of the given schemas",
    ]


# -- checkov ----------------------------------------------------------------------------------------------


def addon_findings(report: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(release, check) -> objects, over every stack (Pods named without their labels)."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for check in report["results"].get("failed_checks", []):
        parts = check["file_path"].split("/")  # /addons/<release>/<digest>/<file>
        if parts[1] != "addons":
            continue
        resource = check["resource"]
        if resource.startswith("Pod."):
            resource = ".".join(resource.split(".")[:3])
        found[(parts[2], check["check_id"])].add(resource)
    return found


def test_checkov_finds_only_the_reasoned_baseline_in_the_add_ons(checkov_report: dict[str, Any]) -> None:
    baseline = yaml.safe_load(BASELINE.read_text())
    accepted = {(r, c): set(e["objects"]) for r, checks in baseline.items() for c, e in checks.items()}
    found = addon_findings(checkov_report)
    assert {k: sorted(v) for k, v in found.items() if not v <= accepted.get(k, set())} == {}, "new findings"
    assert {k: sorted(v) for k, v in accepted.items() if not v <= found.get(k, set())} == {}, "stale entries"
    assert all(len(e["reason"]) > 20 for checks in baseline.values() for e in checks.values())
    passed = [c for c in checkov_report["results"]["passed_checks"] if c["file_path"].startswith("/addons/")]
    assert len(passed) > 500


def test_the_helm_package_member_names_are_what_the_lock_says() -> None:
    for name, entry in charts.lock().items():
        with tarfile.open(charts.CHARTS / name) as archive:
            assert archive.getmembers()[0].name.split("/")[0] == entry["chart"], name

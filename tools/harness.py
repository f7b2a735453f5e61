"""Runs Podium's `__main__.py` offline under Pulumi mocks and captures the graph.

Every registration the program makes (components, custom resources, providers) is
recorded with its type, name, parent, provider, dependencies, options, inputs and
which inputs are secret, plus every component's and the stack's registered outputs.
Used by the tests and by `python -m tools.plan`; needs no cloud account and no CLI.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_in_stack

from components.cluster.secrets import ParameterNames
from components.config import settings
from tools import mock_tls

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "podium"
ACCOUNT_ID = "123456789012"
SECRET_SIG = rpc._special_secret_sig
SIG_KEY = rpc._special_sig_key
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    provider: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    delete_before_replace: bool
    retain_on_delete: bool
    ignore_changes: list[str]
    replace_on_changes: list[str]
    additional_secret_outputs: list[str]
    inputs: dict[str, Any]
    secret_inputs: set[str]
    id: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    # Inputs and state with every secret replaced (what a reviewer or log may show).
    public_inputs: dict[str, Any] = field(default_factory=dict)
    public_state: dict[str, Any] = field(default_factory=dict)
    public_outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def provider_urn(self) -> str:
        return self.provider.rsplit("::", 1)[0] if self.provider else ""


@dataclass
class Graph:
    stack: str
    resources: list[Resource]
    exports: dict[str, Any]
    secret_exports: set[str]
    public_exports: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Resource:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def cloud_resources(self, prefix: str = "aws:") -> list[Resource]:
        """Resources a provider would create (not components, not the provider itself)."""
        return [r for r in self.resources if r.custom and r.type.startswith(prefix)]

    def resolve(self, value: Any) -> Resource | None:
        """The resource whose mock id equals `value` (inputs hold ids, not references)."""
        return next((r for r in self.resources if r.id and r.id == value), None)


def unwrap_secrets(value: Any, path: str = "") -> tuple[Any, set[str]]:
    """Plain value plus the dotted paths that were marked secret."""
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
        plain, inner = unwrap_secrets(value.get("value"), path)
        return plain, {path or "."} | inner
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        secrets: set[str] = set()
        for k, v in value.items():
            out[k], found = unwrap_secrets(v, f"{path}.{k}" if path else k)
            secrets |= found
        return out, secrets
    if isinstance(value, list):
        items: list[Any] = []
        secrets = set()
        for i, v in enumerate(value):
            plain, found = unwrap_secrets(v, f"{path}[{i}]")
            items.append(plain)
            secrets |= found
        return items, secrets
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return plain_asset(value), set()
    return _integral(value), set()


# How captured inputs show an archive (a Lambda function's code) or an asset: by what it
# holds, as plain data that compares, hashes and serializes.
ARCHIVE = "archive"


def plain_asset(value: pulumi.Asset | pulumi.Archive) -> Any:
    """{ARCHIVE: {name: asset}} for an archive of assets; a file asset as its path and
    the SHA-256 of its bytes; a string asset as the SHA-256 of its text."""
    if isinstance(value, pulumi.AssetArchive):
        return {ARCHIVE: {name: plain_asset(asset) for name, asset in sorted(value.assets.items())}}
    if isinstance(value, pulumi.FileAsset):
        return {"path": str(value.path), "sha256": hashlib.sha256(Path(str(value.path)).read_bytes()).hexdigest()}
    if isinstance(value, pulumi.StringAsset):
        return {"sha256": hashlib.sha256(str(value.text).encode()).hexdigest()}
    raise TypeError(f"{type(value).__name__}: no plain form in tools/harness.py plain_asset")


REDACTED = "[secret]"


def redact_secrets(value: Any, also: frozenset[str] = frozenset()) -> Any:
    """The value as anyone without the stack's secrets sees it: every secret-marked
    part (and the top-level keys in `also`) replaced by a marker."""
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
        return REDACTED
    if isinstance(value, dict):
        return {k: REDACTED if k in also else redact_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_secrets(v) for v in value]
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return plain_asset(value)
    return _integral(value)


def _integral(value: Any) -> Any:
    """Protobuf carries every number as a float; whole numbers were ints in the program."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _mock_id(type_: str, name: str) -> str:
    prefixes = {
        "aws:ec2/vpc:Vpc": "vpc",
        "aws:ec2/subnet:Subnet": "subnet",
        "aws:ec2/internetGateway:InternetGateway": "igw",
        "aws:ec2/routeTable:RouteTable": "rtb",
        "aws:ec2/natGateway:NatGateway": "nat",
        "aws:ec2/eip:Eip": "eipalloc",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
        "aws:ec2/securityGroup:SecurityGroup": "sg",
        "aws:ec2/flowLog:FlowLog": "fl",
        "aws:ec2/instance:Instance": "i",
        "aws:ebs/volume:Volume": "vol",
        "aws:ec2/launchTemplate:LaunchTemplate": "lt",
        "aws:ec2/networkInterface:NetworkInterface": "eni",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
    }
    digest = hashlib.sha256(f"{type_}/{name}".encode()).hexdigest()[:17]
    return f"{prefixes.get(type_, name)}-{digest}"


MOCK_AMI = "ami-0123456789abcdef0"


def _generated_outputs(type_: str, name: str, resource_id: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """What a provider computes on create: keys, certificates, random values, addresses."""
    digest = hashlib.sha256(f"{type_}/{name}".encode()).hexdigest()
    if type_ == "tls:index/privateKey:PrivateKey":
        private = mock_tls.private_key_pem(name, inputs.get("algorithm", "RSA"), int(inputs.get("rsaBits", 2048)))
        return {
            "privateKeyPem": rpc.wrap_rpc_secret(private),
            "publicKeyPem": mock_tls.public_key_pem(private),
        }
    if type_ == "tls:index/selfSignedCert:SelfSignedCert":
        subject = inputs.get("subject") or {}
        cert = mock_tls.self_signed_cert_pem(
            inputs["privateKeyPem"], subject.get("commonName", name), int(inputs["validityPeriodHours"])
        )
        return {"certPem": cert}
    if type_ == "tls:index/certRequest:CertRequest":
        return {"certRequestPem": mock_tls.cert_request_pem(inputs["privateKeyPem"], inputs.get("subject"))}
    if type_ == "tls:index/locallySignedCert:LocallySignedCert":
        cert = mock_tls.locally_signed_cert_pem(
            inputs["certRequestPem"], inputs["caCertPem"], inputs["caPrivateKeyPem"], int(inputs["validityPeriodHours"])
        )
        return {"certPem": cert}
    if type_ == "random:index/randomPassword:RandomPassword":
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        value = "".join(alphabet[int(digest[i * 2 : i * 2 + 2], 16) % 36] for i in range(int(inputs["length"])))
        return {"result": rpc.wrap_rpc_secret(value)}
    if type_ == "random:index/randomId:RandomId":
        size = int(inputs["byteLength"])
        return {
            "hex": digest[: 2 * size],
            "b64Url": base64.urlsafe_b64encode(bytes.fromhex(digest[: 2 * size])).decode(),
        }
    if type_ == "random:index/randomBytes:RandomBytes":
        raw = hashlib.sha256(digest.encode()).digest()[: int(inputs["length"])]
        return {"base64": rpc.wrap_rpc_secret(base64.b64encode(raw).decode()), "hex": rpc.wrap_rpc_secret(raw.hex())}
    if type_ == "aws:ec2/eip:Eip":
        octets = [int(digest[i : i + 2], 16) for i in (0, 2)]
        ip = f"198.51.{octets[0]}.{octets[1]}"
        dns = f"ec2-{ip.replace('.', '-')}.compute-1.amazonaws.com"
        return {"publicIp": ip, "publicDns": dns, "allocationId": resource_id}
    if type_ == "aws:lb/loadBalancer:LoadBalancer":
        return {"dnsName": f"{inputs.get('name', name)}-{digest[:16]}.elb.{region}.amazonaws.com"}
    if type_ == "aws:ec2/instance:Instance":
        ip = inputs.get("privateIp") or f"10.0.{int(digest[:2], 16)}.{int(digest[2:4], 16) or 1}"
        domain = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
        return {"privateIp": ip, "privateDns": f"ip-{ip.replace('.', '-')}.{domain}"}
    if type_ == "aws:ec2/launchTemplate:LaunchTemplate":
        return {"latestVersion": 1}
    if type_ == "aws:ec2/networkInterface:NetworkInterface":
        return {"macAddress": "0e:" + ":".join(digest[i : i + 2] for i in range(0, 10, 2))}
    if type_ == "aws:kms/key:Key":
        return {"keyId": resource_id, "arn": f"arn:aws:kms:{region}:{ACCOUNT_ID}:key/{resource_id}"}
    if type_ == "aws:s3/bucket:Bucket":
        bucket = f"{inputs.get('bucketPrefix', name)}{digest[:12]}"
        domain = f"{bucket}.s3.{region}.amazonaws.com"
        return {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "bucketRegionalDomainName": domain}
    if type_ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
        host = str(inputs["url"]).removeprefix("https://")
        return {"arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{host}"}
    if type_ == "aws:ssm/parameter:Parameter":
        return {"arn": f"arn:aws:ssm:{region}:{ACCOUNT_ID}:parameter{inputs['name']}"}
    if type_ == "aws:autoscaling/group:Group":
        return {"name": f"{inputs.get('namePrefix', name)}{digest[:12]}"}
    if type_ == "aws:iam/instanceProfile:InstanceProfile":
        return {"name": name}
    if type_ == "aws:sqs/queue:Queue":
        queue = inputs.get("name", name)
        return {
            "url": f"https://sqs.{region}.amazonaws.com/{ACCOUNT_ID}/{queue}",
            "arn": f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue}",
        }
    if type_ == "aws:cloudwatch/eventRule:EventRule":
        return {"arn": f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{inputs.get('name', name)}"}
    if type_ == "aws:budgets/budget:Budget":
        # Budgets is global: its ARNs name no region.
        return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:budgets::{ACCOUNT_ID}:budget/{inputs.get('name', name)}"}
    return {}


class PodiumMocks(pulumi_mocks.Mocks):
    """Realistic provider answers: AWS-shaped ids and ARNs, the region's zones."""

    def __init__(
        self,
        region: str,
        stack_references: Mapping[str, Graph] | None = None,
        *,
        preview: bool = False,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.region = region
        self.stack_references = dict(stack_references or {})
        self.preview = preview
        self.parameters = dict(parameters or {})  # SSM parameters that exist already, by name

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id = _mock_id(args.typ, args.name)
        if args.typ == "pulumi:pulumi:StackReference":
            return self._stack_reference(args)
        if self.preview:
            # As in `pulumi preview`: ids and computed outputs of new resources are unknown.
            return "", dict(args.inputs)
        state = dict(args.inputs)
        plain, _ = unwrap_secrets(args.inputs)
        state.update(_generated_outputs(args.typ, args.name, resource_id, plain, self.region))
        if args.typ.startswith("aws:"):
            service = args.typ.split(":")[1].split("/")[0]
            region = "" if service == "iam" else self.region
            state.setdefault("arn", f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{args.name}/{resource_id}")
        if args.typ == "aws:cloudwatch/logGroup:LogGroup":
            state["arn"] = f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{args.inputs.get('name', args.name)}"
        if args.typ == "aws:iam/role:Role":
            state["arn"] = f"arn:aws:iam::{ACCOUNT_ID}:role/{args.name}"
            state.setdefault("name", args.name)
        return resource_id, state

    def _stack_reference(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        """What the engine answers for a StackReference: the referenced stack's outputs,
        secret ones marked, here from a graph this harness captured."""
        name = str(args.inputs.get("name") or args.name)
        if name not in self.stack_references:
            raise ValueError(f"no captured stack to answer the StackReference {name!r}")
        graph = self.stack_references[name]
        outputs = {
            key: rpc.wrap_rpc_secret(value) if key in graph.secret_exports else value
            for key, value in graph.exports.items()
        }
        return name, {"name": name, "outputs": outputs, "secretOutputNames": sorted(graph.secret_exports)}

    def call(self, args: pulumi_mocks.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abcdef"
            return {
                "names": [f"{self.region}{c}" for c in letters],
                "zoneIds": [f"use1-az{i + 1}" for i in range(len(letters))],
                "id": self.region,
            }
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/podium-plan",
                "userId": "AIDAPODIUMPLAN",
                "id": ACCOUNT_ID,
            }
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws", "reverseDnsPrefix": "com.amazonaws"}
        if args.token == "aws:ssm/getParametersByPath:getParametersByPath":
            path = str(args.args["path"]).rstrip("/") + "/"
            found = {k: v for k, v in sorted(self.parameters.items()) if k.startswith(path)}
            return {
                "path": args.args["path"],
                "names": list(found),
                "values": list(found.values()),
                "types": ["String"] * len(found),
                "arns": [],
                "id": args.args["path"],
            }
        if args.token == "aws:ssm/getParameter:getParameter":
            name = args.args["name"]
            return {"name": name, "value": MOCK_AMI, "insecureValue": MOCK_AMI, "type": "String", "id": name}
        raise NotImplementedError(f"no mock answer for invoke {args.token}")


class CapturingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping what the plain mocks do not see."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.captured: dict[str, Resource] = {}
        self.outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            return response
        raw_inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        inputs, secrets = unwrap_secrets(raw_inputs)
        raw_state = self.resources[response.urn].state if response.urn in self.resources else {}
        state, _ = unwrap_secrets(raw_state)
        # The engine keeps a provider's declared secret outputs secret in the state.
        secret_keys = frozenset(request.additionalSecretOutputs)
        self.captured[response.urn] = Resource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            provider=request.provider,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace),
            retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            additional_secret_outputs=list(request.additionalSecretOutputs),
            inputs=inputs,
            secret_inputs=secrets,
            id=response.id,
            state=state,
            public_inputs=redact_secrets(raw_inputs),
            public_state=redact_secrets(raw_state, secret_keys),
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        self.outputs[request.urn] = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        return super().RegisterResourceOutputs(request)


def stack_file(stack: str) -> Path:
    return ROOT / f"Pulumi.{stack}.yaml"


def stacks() -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def load_stack_config(stack: str) -> dict[str, Any]:
    """The `config:` map of Pulumi.<stack>.yaml, as written (nested objects kept)."""
    document = yaml.safe_load(stack_file(stack).read_text()) or {}
    return dict(document.get("config") or {})


def engine_config(config: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Config as the engine hands it to a program: strings, objects JSON-encoded.
    `secure:` values cannot be decrypted offline; they become marked placeholders."""
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in config.items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            flat[key] = f"offline-placeholder-for-{key}"
            secret_keys.append(key)
        elif isinstance(value, (dict, list)):
            flat[key] = json.dumps(value)
        elif isinstance(value, bool):
            flat[key] = "true" if value else "false"
        else:
            flat[key] = str(value)
    return flat, secret_keys


class ProgramError(Exception):
    """The program stopped; `graph` holds what it had registered by then."""

    def __init__(self, message: str, graph: Graph) -> None:
        super().__init__(message)
        self.graph = graph


def run(
    stack: str,
    config: Mapping[str, Any] | None = None,
    *,
    program: Path | None = None,
    project: str = PROJECT,
    stack_references: Mapping[str, Graph] | None = None,
    preview: bool = False,
    secrets: Mapping[str, str] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> Graph:
    """Runs Podium's program for `stack` (config from its stack file unless given), or
    another `program` of `project`, whose StackReferences are answered from
    `stack_references` (fully qualified stack name -> captured graph). With `preview`,
    new resources' ids and computed outputs stay unknown, as in `pulumi preview`.
    `secrets`: config values as the engine hands over decrypted secrets (the value,
    its key marked secret), for what a stack file's `secure:` placeholders cannot show.
    `parameters`: SSM parameters the account already holds (name -> value); by default
    the Kubernetes version record of a stack that exists, on the version it asks for
    (`{}`: a new stack)."""
    config = load_stack_config(stack) if config is None else config
    region = str(config.get("aws:region") or "us-east-1")
    flat, secret_keys = engine_config(config)
    for key, value in (secrets or {}).items():
        flat[key] = value
        secret_keys.append(key)
    if parameters is None:
        # A stack that exists: its record names the version it asks for (so a stack file
        # pinned to a minor that later reaches its end of life is warned, not refused).
        asked = config.get(f"{settings.NAMESPACE}:kubernetesVersion")
        names = ParameterNames(f"{project}-{stack}")
        endpoint = (config.get(f"{settings.NAMESPACE}:cluster") or {}).get("apiEndpoint", "public")
        parameters = {names.kubernetes_version: str(asked), names.api_endpoint: endpoint} if asked else {}
    monitor = CapturingMonitor(PodiumMocks(region, stack_references, preview=preview, parameters=parameters))
    # The runtime's tasks belong to the loop current at set_mocks time: make it ours.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_all_config(flat, secret_keys)
    pulumi_mocks.set_mocks(monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor)
    # set_mocks installs an empty root stack; the program gets a fresh one, as under the CLI.
    runtime_settings.ROOT.set(None)

    main = program or ROOT / "__main__.py"

    def run_main() -> None:
        runpy.run_path(str(main), run_name="__main__")

    error: BaseException | None = None
    # The SDKs allocate many long-lived objects (typing machinery of every resource
    # class): the collector's repeated passes over them cost more than they free.
    collecting = gc.isenabled()
    gc.disable()
    try:
        loop.run_until_complete(run_in_stack(run_main))
    except Exception as exc:  # noqa: BLE001 - reported with the partial graph
        error = exc
    finally:
        loop.close()
        if collecting:
            gc.enable()
    graph = _graph(project, stack, monitor)
    if error is not None:
        raise ProgramError(str(error), graph) from error
    return graph


def _graph(project: str, stack: str, monitor: CapturingMonitor) -> Graph:
    exports: dict[str, Any] = {}
    public_exports: dict[str, Any] = {}
    secret_exports: set[str] = set()
    resources = list(monitor.captured.values())
    for urn, outputs in monitor.outputs.items():
        plain, secrets = unwrap_secrets(outputs)
        if urn.endswith(f"{STACK_TYPE}::{project}-{stack}"):
            exports = plain
            public_exports = redact_secrets(outputs)
            secret_exports = {s.split(".")[0].split("[")[0] for s in secrets}
        elif urn in monitor.captured:
            monitor.captured[urn].outputs = plain
            monitor.captured[urn].secret_outputs = secrets
            monitor.captured[urn].public_outputs = redact_secrets(outputs)
    return Graph(stack, resources, exports, secret_exports, public_exports)

#!/usr/bin/env python3
"""Checks of deploy/ that general linters cannot know: gcbridge's own rules.

Run by scripts/deploy-check.sh after cfn-lint (CloudFormation), kubernetes-validate (Kubernetes
schemas) and hadolint (Dockerfile). Needs PyYAML. Prints one line per problem and exits 1 if any.

- Every JSON file parses.
- Azure Functions: host.json forwards requests to the custom handler `gcbridge serve` with an
  empty route prefix; each function.json is one anonymous HTTP trigger (gcbridge checks its own
  secret) with methods and a route, and the routes are exactly gcbridge's.
- ARM template: expressions have balanced parentheses and quotes, every parameters()/variables()
  reference exists, secure parameters have no default, secrets reach the app only as Key Vault references.
- AWS template: the DynamoDB key and TTL attribute are the ones the DynamoDB store writes (read
  from crates/store/src/dynamodb_backend.rs), and secrets reach the function only as references.
- Kubernetes: liveness on /healthz, readiness on /readyz, resources, non-root, read-only root.
- Dockerfile: non-root numeric USER and a HEALTHCHECK through `gcbridge healthcheck`.
"""

import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
problems = []

# gcbridge's HTTP routes with their methods (crates/app/src/server.rs and widget.rs).
ROUTES = {
    "genesys/v1/utterance": ["post"],
    "genesys/dbc/bots": ["get"],
    "genesys/dbc/bots/{botId}": ["get"],
    "genesys/dbc/messages": ["post"],
    "healthz": ["get"],
    "readyz": ["get"],
    "metrics": ["get"],
    # The agent-side widget (crates/app/src/widget.rs): its page, its data and its two assets.
    "widget": ["get"],
    "widget/api/transcript": ["get"],
    "widget/assets/{file}": ["get"],
    # The Web Chat token server (crates/app/src/webchat.rs); browsers call it with simple
    # requests (no preflight), and gcbridge itself answers any CORS preflight.
    "webchat/token": ["get", "post"],
}


def problem(where, text):
    problems.append(f"{where.relative_to(ROOT) if isinstance(where, pathlib.Path) else where}: {text}")


def load_json(path):
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        problem(path, f"invalid JSON: {e}")
        return None


def check_json_syntax():
    for path in sorted(DEPLOY.rglob("*.json")):
        load_json(path)


def check_azure_functions():
    azure = DEPLOY / "azure"
    host = load_json(azure / "host.json") or {}
    handler = host.get("customHandler", {})
    if handler.get("description", {}).get("defaultExecutablePath") != "gcbridge":
        problem(azure / "host.json", "customHandler.description.defaultExecutablePath must be `gcbridge`")
    if handler.get("description", {}).get("arguments") != ["serve"]:
        problem(azure / "host.json", "customHandler.description.arguments must be [\"serve\"]")
    if handler.get("enableForwardingHttpRequest") is not True:
        problem(azure / "host.json", "customHandler.enableForwardingHttpRequest must be true")
    if host.get("extensions", {}).get("http", {}).get("routePrefix") != "":
        problem(azure / "host.json", "extensions.http.routePrefix must be empty (gcbridge's paths start at /)")
    seen = {}
    for path in sorted(azure.glob("*/function.json")):
        doc = load_json(path) or {}
        bindings = doc.get("bindings", [])
        triggers = [b for b in bindings if b.get("type") == "httpTrigger"]
        outputs = [b for b in bindings if b.get("type") == "http" and b.get("direction") == "out"]
        if len(triggers) != 1 or len(outputs) != 1:
            problem(path, "needs exactly one httpTrigger and one http output binding")
            continue
        trigger = triggers[0]
        if trigger.get("authLevel") != "anonymous":
            problem(path, "authLevel must be anonymous: gcbridge checks the Genesys secret itself")
        route = trigger.get("route")
        methods = sorted(m.lower() for m in trigger.get("methods", []))
        if route in seen:
            problem(path, f"route {route} is also declared in {seen[route]}")
        seen[route] = path.parent.name
        if route not in ROUTES:
            problem(path, f"route {route!r} is not a gcbridge route")
        elif methods != ROUTES[route]:
            problem(path, f"methods {methods} should be {ROUTES[route]}")
    for route in ROUTES:
        if route not in seen:
            problem(azure, f"no function.json for the route {route}")


EXPRESSION_REF = re.compile(r"\b(parameters|variables)\('([^']+)'\)")


def expressions(value):
    """Every ARM template expression (a string in brackets) in a JSON value."""
    if isinstance(value, str):
        if value.startswith("[") and not value.startswith("[[") and value.endswith("]"):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from expressions(item)


def balanced(expression):
    """Parentheses balance outside single-quoted strings ('' escapes a quote)."""
    depth, quoted = 0, False
    for ch in expression[1:-1]:
        if ch == "'":
            quoted = not quoted
        elif not quoted:
            depth += ch == "("
            depth -= ch == ")"
            if depth < 0:
                return False
    return depth == 0 and not quoted


def check_arm():
    path = DEPLOY / "azure" / "azuredeploy.json"
    template = load_json(path)
    if not template:
        return
    for expression in expressions(template):
        if not balanced(expression):
            problem(path, f"unbalanced parentheses or quotes in {expression[:80]}...")
    params = template.get("parameters", {})
    variables = template.get("variables", {})
    text = json.dumps(template)
    for kind, name in EXPRESSION_REF.findall(text):
        if name not in (params if kind == "parameters" else variables):
            problem(path, f"{kind}('{name}') is not declared")
    for name in params:
        if f"parameters('{name}')" not in text:
            problem(path, f"parameter {name} is never used")
    for name, spec in params.items():
        if spec.get("type") == "securestring" and "defaultValue" in spec:
            problem(path, f"secure parameter {name} must not have a default")
    for resource in template.get("resources", []):
        for key in ("type", "apiVersion", "name"):
            if key not in resource:
                problem(path, f"a resource has no {key}: {resource.get('name', resource.get('type'))}")
    sites = [r for r in template.get("resources", []) if r.get("type") == "Microsoft.Web/sites"]
    settings = {s["name"]: s["value"] for s in sites[0]["properties"]["siteConfig"]["appSettings"]} if sites else {}
    for secret in ("GCBRIDGE_GENESYS_SECRET", "GCBRIDGE_DIRECTLINE_SECRET", "GCBRIDGE_USER_ID_KEY", "AZURE_STORAGE_KEY"):
        if not settings.get(secret, "").startswith("[format('@Microsoft.KeyVault(SecretUri="):
            problem(path, f"app setting {secret} must be a Key Vault reference")
    if settings.get("FUNCTIONS_WORKER_RUNTIME") != "custom":
        problem(path, "FUNCTIONS_WORKER_RUNTIME must be `custom`")
    if not settings.get("GCBRIDGE_STORE", "").startswith("[format('azuretables://"):
        problem(path, "GCBRIDGE_STORE must be the session table")
    if "GCBRIDGE_LISTEN" in settings:
        problem(path, "GCBRIDGE_LISTEN would override FUNCTIONS_CUSTOMHANDLER_PORT: leave it unset")


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Ref, !Sub, ...) read as plain values."""


CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
    ),
)


def store_constant(name):
    source = (ROOT / "crates/store/src/dynamodb_backend.rs").read_text()
    match = re.search(rf'const {name}: &str = "([^"]+)";', source)
    return match.group(1) if match else None


def check_aws():
    path = DEPLOY / "aws" / "template.yaml"
    template = yaml.load(path.read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    tables = [r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        problem(path, "expected exactly one DynamoDB table")
        return
    table = tables[0]["Properties"]
    pk, ttl = store_constant("PK"), store_constant("TTL")
    if pk is None or ttl is None:
        problem("crates/store/src/dynamodb_backend.rs", "constants PK and TTL not found")
        return
    key = table["KeySchema"]
    if key != [{"AttributeName": pk, "KeyType": "HASH"}]:
        problem(path, f"the table's key must be the string attribute `{pk}` alone, as the store writes")
    if table["AttributeDefinitions"] != [{"AttributeName": pk, "AttributeType": "S"}]:
        problem(path, f"attribute `{pk}` must be declared as a string")
    if table.get("TimeToLiveSpecification") != {"AttributeName": ttl, "Enabled": True}:
        problem(path, f"TTL must be enabled on `{ttl}`, the attribute the store writes")
    functions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    for function in functions:
        env = function["Properties"]["Environment"]["Variables"]
        for secret in ("GCBRIDGE_GENESYS_SECRET", "GCBRIDGE_DIRECTLINE_SECRET", "GCBRIDGE_USER_ID_KEY"):
            if secret in env:
                problem(path, f"{secret} must reach the function as {secret}_ARN, not in plain text")
        if not str(env.get("GCBRIDGE_STORE", "")).startswith("dynamodb://"):
            problem(path, "GCBRIDGE_STORE must be the DynamoDB table")
        if function["Properties"].get("Runtime") != "provided.al2023" or function["Properties"].get("Handler") != "bootstrap":
            problem(path, "the function runs the `bootstrap` binary on provided.al2023")
    for name, parameter in template["Parameters"].items():
        if "Secret" in name and parameter.get("Type") == "String" and not parameter.get("NoEcho"):
            if name not in ("GenesysSecretHeader",):
                problem(path, f"parameter {name} holds a secret: set NoEcho")


def check_kubernetes():
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "Deployment":
                continue
            spec = doc["spec"]["template"]["spec"]
            pod_security = spec.get("securityContext", {})
            if not pod_security.get("runAsNonRoot"):
                problem(path, f"{doc['metadata']['name']}: pod must set runAsNonRoot")
            for container in spec["containers"]:
                where = f"{doc['metadata']['name']}/{container['name']}"
                security = container.get("securityContext", {})
                if not security.get("readOnlyRootFilesystem"):
                    problem(path, f"{where}: readOnlyRootFilesystem must be true")
                if security.get("allowPrivilegeEscalation") is not False:
                    problem(path, f"{where}: allowPrivilegeEscalation must be false")
                resources = container.get("resources", {})
                if not resources.get("requests") or not resources.get("limits", {}).get("memory"):
                    problem(path, f"{where}: needs resource requests and a memory limit")
                if doc["metadata"]["name"] == "gcbridge":
                    live = container.get("livenessProbe", {}).get("httpGet", {}).get("path")
                    ready = container.get("readinessProbe", {}).get("httpGet", {}).get("path")
                    if live != "/healthz" or ready != "/readyz":
                        problem(path, f"{where}: liveness must probe /healthz and readiness /readyz")
                    names = {e["name"] for e in container.get("env", [])}
                    if "GCBRIDGE_STORE" not in names or "GCBRIDGE_USER_ID_KEY" not in names:
                        problem(path, f"{where}: replicas need a shared GCBRIDGE_STORE and one GCBRIDGE_USER_ID_KEY")


def check_dockerfile():
    path = DEPLOY / "container" / "Dockerfile"
    lines = [l.strip() for l in path.read_text().splitlines()]
    stages = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    final = lines[stages[-1]:]
    users = [l.split(None, 1)[1] for l in final if l.upper().startswith("USER ")]
    if not users or not re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]):
        problem(path, "the final stage must switch to a numeric non-root USER")
    if not any(l.upper().startswith("HEALTHCHECK") for l in final) or "healthcheck" not in " ".join(final):
        problem(path, "the final stage needs a HEALTHCHECK running `gcbridge healthcheck`")
    if ":latest" in lines[stages[-1]] or ":" not in lines[stages[-1]]:
        problem(path, "pin the runtime base image")


def main():
    check_json_syntax()
    check_azure_functions()
    check_arm()
    check_aws()
    check_kubernetes()
    check_dockerfile()
    for line in problems:
        print(f"FAIL  {line}")
    if problems:
        return 1
    print("ok    deploy/: Azure Functions definitions, ARM and AWS templates, Kubernetes manifests, Dockerfile")
    return 0


if __name__ == "__main__":
    sys.exit(main())

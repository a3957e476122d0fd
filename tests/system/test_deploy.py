"""docker-compose.yml, Grafana provisioning and the Kubernetes manifests: they parse, and every
file, port, variable and path they name exists in the project (no Docker engine needed)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import structlog
import yaml
from prometheus_client import CollectorRegistry

from proxy.cli.main import _parser, _serve_overrides
from proxy.config import load
from proxy.emulator import EMULATOR_PATH
from proxy.web.app import create_app
from tests.support.dockerfile import Dockerfile

ROOT = Path(__file__).resolve().parents[2]
IMAGE_ENV = Dockerfile.read(ROOT / "Dockerfile").final.env()
IMAGE_PORT = int(IMAGE_ENV["PROXY_PORT"])
IMAGE_WORKDIR = Dockerfile.read(ROOT / "Dockerfile").final.last("WORKDIR").args
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
PROXY_SERVICES = ("proxy", "proxy-demo")
K8S_DIR = ROOT / "deploy" / "kubernetes"
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def routes() -> set[str]:
    """The paths the proxy application serves."""
    app = create_app(load(None, {}), registry=CollectorRegistry(), logger=structlog.get_logger("t"))
    return {route.resource.canonical for route in app.router.routes() if route.resource}


def readme_variables() -> set[str]:
    """Environment variables the docs document (backquoted upper-case names)."""
    text = "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))
    return set(re.findall(r"`((?:INWORLD|PROXY)_[A-Z_]+)`", text))


def env_example() -> dict[str, str]:
    """The variables .env.example documents, with their example values."""
    out: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, line
            out[key] = value
    return out


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` interpolation."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group("name", "op", "arg")
        value = env.get(name)
        if (op == ":-" and not value) or (op == "-" and value is None):
            return str(arg)
        assert value or not op or "?" not in op, f"compose requires {name}"
        return value or ""

    return VARIABLE.sub(one, text)


def service_env(name: str, env: dict[str, str]) -> dict[str, str]:
    """A compose service's environment after interpolation with `env`."""
    raw = SERVICES[name].get("environment", {})
    return {key: interpolate(str(value), env) for key, value in raw.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host path with defaults applied, container path) of a service's bind mounts."""
    out = []
    for volume in service.get("volumes", []):
        host, target, *_ = interpolate(volume, {}).split(":")
        out.append((ROOT / host, target))
    return out


# --- docker-compose -------------------------------------------------------------------------


def test_compose_profiles() -> None:
    """Real proxy under `inworld`, emulator + demo proxy under `demo`, never both at once."""
    profiles = {name: set(service.get("profiles", [])) for name, service in SERVICES.items()}
    assert profiles["proxy"] == {"inworld"}
    assert profiles["proxy-demo"] == profiles["emulator"] == {"demo"}
    assert profiles["prometheus"] == profiles["grafana"] == {"observability"}
    assert not profiles["proxy"] & profiles["proxy-demo"]


def test_compose_variables_are_documented_in_env_example() -> None:
    """Every ${VAR} in docker-compose.yml is in .env.example, and .env.example holds no other."""
    text = (ROOT / "docker-compose.yml").read_text()
    used = {match.group("name") for match in VARIABLE.finditer(text)}
    assert used == set(env_example())


def test_proxy_services_use_documented_variables_and_the_image_port() -> None:
    """Proxy containers set only documented variables and publish the image's port."""
    documented = readme_variables()
    for name in PROXY_SERVICES:
        service = SERVICES[name]
        assert set(service["environment"]) <= documented, name
        [published] = [interpolate(p, {}) for p in service["ports"]]
        host_ip, _host_port, container_port = published.split(":")
        assert host_ip == "127.0.0.1"
        assert int(container_port) == IMAGE_PORT
        mounts = dict((target, host) for host, target in bind_mounts(service))
        config_file = mounts[service["environment"]["PROXY_CONFIG"]]
        assert config_file.is_file()
        load(config_file, {})  # the mounted default is a valid configuration


def test_every_bind_mount_exists() -> None:
    """Every host path mounted by any service exists in the repository."""
    for name, service in SERVICES.items():
        for host, _target in bind_mounts(service):
            assert host.exists(), f"{name}: {host}"


def test_inworld_proxy_needs_keys_as_documented() -> None:
    """With .env.example as is, the `inworld` proxy is refused: its listener needs keys."""
    env = IMAGE_ENV | service_env("proxy", env_example())
    env["PROXY_CONFIG"] = ""  # the mounted file is the defaults; read them from the package
    args = _parser().parse_args(["serve"])
    with pytest.raises(ValueError, match="PROXY_API_KEYS"):
        _serve_overrides(load(None, env), args)
    keyed = env | {"PROXY_API_KEYS": "sk-one"}
    assert _serve_overrides(load(None, keyed), args).clients.api_keys == ("sk-one",)


def test_demo_proxy_reaches_the_demo_emulator() -> None:
    """The demo proxy starts with no .env, dials the emulator's service, port and path, and
    presents the credentials the emulator checks."""
    env = IMAGE_ENV | service_env("proxy-demo", {})
    env["PROXY_CONFIG"] = ""
    cfg = _serve_overrides(load(None, env), _parser().parse_args(["serve"]))
    url = urlsplit(cfg.upstream.url)
    emulator = SERVICES["emulator"]
    command = emulator["command"]
    assert command[0] == "emulator"
    assert url.hostname == "emulator"
    assert url.port == int(command[command.index("--port") + 1])
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert url.path == EMULATOR_PATH
    emulator_env = service_env("emulator", {})
    assert emulator_env["INWORLD_API_KEY"] == env["INWORLD_API_KEY"]
    assert emulator_env["INWORLD_API_SECRET"] == env["INWORLD_API_SECRET"]
    assert str(url.port) in " ".join(emulator["healthcheck"]["test"])
    assert SERVICES["proxy-demo"]["depends_on"]["emulator"]["condition"] == "service_healthy"


def test_prometheus_scrapes_a_proxy_service() -> None:
    """config/prometheus.yml (mounted into Prometheus) scrapes a proxy by its compose name,
    on the image's port and the proxy's metrics path."""
    mounts = {target: host for host, target in bind_mounts(SERVICES["prometheus"])}
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    assert config_path == ROOT / "config" / "prometheus.yml"
    scrape = yaml.safe_load(config_path.read_text())["scrape_configs"]
    [job] = scrape
    assert job["metrics_path"] in routes()
    [target] = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert int(port) == IMAGE_PORT
    assert host == "proxy"  # the inworld proxy's name, the demo proxy's alias
    assert host in SERVICES["proxy-demo"]["networks"]["default"]["aliases"]


def test_grafana_provisioning_matches_the_mounts() -> None:
    """The data source is compose's Prometheus; the dashboard provider reads the mounted
    dashboards, whose data source variable picks that Prometheus."""
    grafana = SERVICES["grafana"]
    mounts = {target: host for host, target in bind_mounts(grafana)}
    sources = yaml.safe_load(
        (mounts["/etc/grafana/provisioning/datasources"] / "prometheus.yml").read_text()
    )["datasources"]
    [source] = sources
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus"
    assert url.hostname in SERVICES
    assert f"127.0.0.1:{url.port}:{url.port}" in SERVICES["prometheus"]["ports"]
    assert source["isDefault"] is True
    providers = yaml.safe_load(
        (mounts["/etc/grafana/provisioning/dashboards"] / "inworld-realtime-proxy.yml").read_text()
    )["providers"]
    [provider] = providers
    dashboards = mounts[provider["options"]["path"]]
    assert dashboards == ROOT / "config" / "grafana" / "dashboards"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    home_file = dashboards / Path(home).relative_to(provider["options"]["path"])
    dashboard = json.loads(home_file.read_text())
    [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == source["type"]


# --- Kubernetes -----------------------------------------------------------------------------


def manifests() -> list[dict[str, Any]]:
    """Every document of every manifest in deploy/kubernetes/."""
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == kind]


def secret() -> dict[str, Any]:
    [only] = of_kind("Secret")
    return only


def proxy_container(pod: dict[str, Any]) -> dict[str, Any]:
    """The pod's proxy container (its image is the project's)."""
    containers = pod.get("initContainers", []) + pod["containers"]
    [found] = [c for c in containers if "/inworld-realtime-proxy:" in c["image"]]
    return found


def secret_value(ref: dict[str, Any]) -> str:
    """A made-up value for a secretKeyRef, after checking the Secret example defines it."""
    data = secret()
    assert ref["name"] == data["metadata"]["name"]
    if ref.get("optional"):
        return data["stringData"].get(ref["key"], "")
    assert ref["key"] in data["stringData"], ref["key"]
    portal_key = base64.b64encode(b"k8s-key-id:k8s-secret").decode()  # the portal's form
    if ref["key"] == "PROXY_TOKEN_SECRET":
        return "test-" + "0" * 64  # the proxy refuses a token secret under 32 bytes
    return portal_key if ref["key"] == "INWORLD_API_KEY" else f"test-{ref['key'].lower()}"


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment, secrets replaced by made-up values."""
    out = {}
    for item in container.get("env", []):
        if "value" in item:
            out[item["name"]] = str(item["value"])
        else:
            out[item["name"]] = secret_value(item["valueFrom"]["secretKeyRef"])
    return out


def pods() -> list[tuple[str, dict[str, Any]]]:
    return [(d["metadata"]["name"], d["spec"]["template"]) for d in of_kind("Deployment")]


def test_manifests_parse_into_the_expected_objects() -> None:
    """A Secret example, the sidecar Deployment, and the standalone Deployment + Service."""
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in manifests())
    assert kinds == [
        ("Deployment", "inworld-realtime-proxy"),
        ("Deployment", "voice-agent"),
        ("Secret", "inworld-realtime-proxy"),
        ("Service", "inworld-realtime-proxy"),
    ]
    for doc in of_kind("Deployment"):
        selector = doc["spec"]["selector"]["matchLabels"]
        assert selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()
    assert all(value.startswith("<") for value in secret()["stringData"].values())


@pytest.mark.parametrize("name", ["voice-agent", "inworld-realtime-proxy"])
def test_proxy_container_contract(name: str) -> None:
    """Image port, documented variables from the Secret, probes on real paths and named ports,
    resources, non-root read-only root with the image's WORKDIR writable."""
    template = dict(pods())[name]
    pod = template["spec"]
    proxy = proxy_container(pod)
    ports = {p["name"]: p["containerPort"] for p in proxy["ports"]}
    assert list(ports.values()) == [IMAGE_PORT]
    for port_name in ports:
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", port_name)
        assert len(port_name) <= 15
    env = container_env(proxy)
    assert set(env) <= readme_variables()
    served = routes()
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        action = proxy[probe]["httpGet"]
        assert action["path"] == path
        assert path in served
        assert action["port"] in ports
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(proxy["resources"][kind]), kind
    security = proxy["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in proxy["volumeMounts"]}
    assert IMAGE_WORKDIR in mounts
    assert mounts[IMAGE_WORKDIR] in {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == IMAGE_PORT
    assert annotations["prometheus.io/path"] in served
    # The listener the image opens (0.0.0.0) is accepted with these variables: keys are set.
    cfg = _serve_overrides(load(None, IMAGE_ENV | env), _parser().parse_args(["serve"]))
    assert cfg.clients.api_keys
    assert cfg.tokens.signing_secret, "replicas share the token signing secret"


def test_sidecar_starts_first_and_app_uses_the_loopback_proxy() -> None:
    """Native sidecar with a startup probe; the app's OpenAI base URL and key reach it."""
    pod = dict(pods())["voice-agent"]["spec"]
    proxy = proxy_container(pod)
    assert proxy in pod["initContainers"]
    assert proxy["restartPolicy"] == "Always"
    assert proxy["startupProbe"]["httpGet"]["path"] == "/readyz"
    [app] = pod["containers"]
    env = {item["name"]: item for item in app["env"]}
    url = urlsplit(env["OPENAI_BASE_URL"]["value"])
    assert (url.scheme, url.hostname, url.port, url.path) == (
        "http",
        "127.0.0.1",
        IMAGE_PORT,
        "/v1",
    )
    key_ref = env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"]
    proxy_refs = {
        item["name"]: item["valueFrom"]["secretKeyRef"]
        for item in proxy["env"]
        if "valueFrom" in item
    }
    assert key_ref == proxy_refs["PROXY_API_KEYS"]


def test_standalone_service_and_rollout() -> None:
    """The Service routes to the proxy port; rollouts keep capacity and drain with a preStop
    pause inside the termination grace period."""
    [service] = of_kind("Service")
    template = dict(pods())["inworld-realtime-proxy"]
    proxy = proxy_container(template["spec"])
    [port] = service["spec"]["ports"]
    named = {p["name"]: p["containerPort"] for p in proxy["ports"]}
    assert named[port["targetPort"]] == port["port"] == IMAGE_PORT
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    [deployment] = [
        d for d in of_kind("Deployment") if d["metadata"]["name"] == service["metadata"]["name"]
    ]
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pause = proxy["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    grace = template["spec"]["terminationGracePeriodSeconds"]
    assert grace >= int(pause[1]) + 30, "room for the drain grace period after the pause"


def test_termination_grace_matches_compose() -> None:
    """Kubernetes and compose give the proxy the same time to drain on stop."""
    compose_grace = int(SERVICES["proxy"]["stop_grace_period"].removesuffix("s"))
    sidecar = dict(pods())["voice-agent"]["spec"]["terminationGracePeriodSeconds"]
    assert compose_grace <= sidecar
    assert compose_grace >= 30


# --- the deployment recipes in docs/ ---------------------------------------------------------


def docs_section(page: str, title: str) -> str:
    """The text of one `## ` section of a docs page."""
    text = (ROOT / "docs" / page).read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


RECIPES = (
    docs_section("deploy.md", "Docker Compose")
    + docs_section("deploy.md", "Kubernetes")
    + docs_section("operations.md", "Scaling out")
)


def test_recipe_files_and_profiles_exist() -> None:
    """Every repository file and compose profile the recipes name exists."""
    paths = set(
        re.findall(r"(?<![\w/.:])((?:deploy/kubernetes|config)/[\w./-]*\w|\.env\.example)", RECIPES)
    )
    assert {"deploy/kubernetes/sidecar.yaml", ".env.example"} <= paths
    for path in paths:
        assert (ROOT / path).exists(), path
    profiles = set(re.findall(r"--profile (\w+)", RECIPES))
    declared = {p for service in SERVICES.values() for p in service.get("profiles", [])}
    assert profiles == declared


def test_recipe_compose_snippet_fits_the_compose_file() -> None:
    """The docs' app service snippet parses and points at the proxy service and port."""
    [snippet] = re.findall(r"```yaml\n(.*?)```", RECIPES, flags=re.DOTALL)
    app = yaml.safe_load(snippet)["app"]
    url = urlsplit(app["environment"]["OPENAI_BASE_URL"])
    assert url.hostname in SERVICES
    assert url.port == IMAGE_PORT
    assert set(app["depends_on"]) <= set(SERVICES)
    assert set(app["profiles"]) <= set(SERVICES[url.hostname]["profiles"])

"""The deployment files, checked offline: no Docker, no cluster, no Kafka or MinIO.

- k8s/: every kustomization is built with the real ``kustomize``; every rendered object is
  validated against the Kubernetes OpenAPI schemas (``kubernetes-validate``, strict), KEDA
  ScaledObjects against KEDA's CRD schema (unknown fields rejected, as the API server's strict
  field validation would).
- docker-compose.yml and docker-compose.gpu.yml against the Compose specification's schema.
- Dockerfiles: each installs only its own service package and copies only its own sources.
- Everything that names a topic, consumer group, port, probe path or ``TIKTOK_*`` variable
  agrees with the code (shared/contracts/topics.py, shared/settings.py, the services' pyproject
  files).

Tools and schemas are fetched once at pinned versions (tests/deploy_tools.py) into .cache/infra.
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from deploy_tools import (
    REPO,
    DockerIgnore,
    GoMissing,
    build_kustomization,
    compose_config,
    compose_schema,
    dockerfile_lint,
    env_pairs,
    kafka_scaler_source,
    parse_dockerfile,
    scaledobject_schema,
)
from pydantic_settings import BaseSettings

from tiktok_analyzer.cli import toolchain
from tiktok_analyzer.shared import settings as settings_module
from tiktok_analyzer.shared.contracts import topics
from tiktok_analyzer.shared.contracts.topics import ANALYZER_SERVICES, Service
from tiktok_analyzer.shared.contracts.topics import SERVICES as SPECS
from tiktok_analyzer.shared.settings import IngestSettings

SERVICES = tuple(str(s) for s in SPECS)
ANALYZERS = tuple(str(s) for s in ANALYZER_SERVICES)
CPU_SERVICES = tuple(s for s in SERVICES if s not in ANALYZERS)
OBS_PORTS = {str(s): spec.obs_port for s, spec in SPECS.items()}
OVERLAYS = ("base", "overlays/cpu-only", "overlays/gpu")
# The oldest Kubernetes the manifests claim (PodDisruptionBudget.unhealthyPodEvictionPolicy is
# GA since 1.31) and the newest that kubernetes-validate knows.
K8S_VERSIONS = ("1.31", kubernetes_validate.latest_version())
LIVE, READY = "/healthz/live", "/healthz/ready"
TOPIC_BY_NAME = {t.name: t for t in topics.ALL_TOPICS}
INGEST_HTTP_PORT = IngestSettings.model_fields["http_port"].default


def dashed(service: str) -> str:
    return service.replace("_", "-")


@functools.cache
def settings_env_names() -> frozenset[str]:
    """Every variable a settings class of shared/settings.py reads: env_prefix + field name."""
    names = set()
    for cls in vars(settings_module).values():
        if inspect.isclass(cls) and issubclass(cls, BaseSettings) and cls is not BaseSettings:
            prefix = cls.model_config.get("env_prefix", "")
            names.update(f"{prefix}{name}".upper() for name in cls.model_fields)
    return frozenset(names)


def unknown_tiktok_vars(names: Any) -> list[str]:
    return sorted(n for n in names if n.startswith("TIKTOK_") and n not in settings_env_names())


def _tool(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except GoMissing as exc:
        pytest.skip(str(exc))


# --- Kubernetes -------------------------------------------------------------------------------


@functools.cache
def render(kustomization: str) -> list[dict[str, Any]]:
    return build_kustomization(REPO / "k8s" / kustomization)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, _tool(render, request.param)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def container_env(docs: list[dict[str, Any]], c: dict[str, Any]) -> dict[str, Any]:
    """What a container's environment holds: ConfigMap values by envFrom, then ``env``
    (values, or the valueFrom reference)."""
    configmaps = by_kind(docs, "ConfigMap")
    env: dict[str, Any] = {}
    for source in c.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for item in c.get("env", []):
        env[item["name"]] = item.get("value", item.get("valueFrom"))
    return env


def port_number(c: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in c["ports"] if p["name"] == port]
    return number


@pytest.fixture(autouse=True, scope="module")
def _cached_k8s_schemas() -> Any:
    """kubernetes-validate reads its schema files on every call; the same files serve every
    object here, so read each once."""
    utils = kubernetes_validate.utils
    original = utils.schema_contents
    utils.schema_contents = functools.cache(original)
    yield
    utils.schema_contents = original


def test_kubernetes_objects_match_the_api_schemas(rendered: Any) -> None:
    name, docs = rendered
    assert docs, f"{name} renders nothing"
    failures = []
    for doc in docs:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "ScaledObject":
            validator = jsonschema.Draft4Validator(_tool(scaledobject_schema))
            failures += [f"{what}: {e.json_path}: {e.message}" for e in validator.iter_errors(doc)]
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                failures.append(f"{what} (Kubernetes {version}): {exc.json_path}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_every_service_has_a_deployment_pdb_and_scaledobject(rendered: Any) -> None:
    _, docs = rendered
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {dashed(s) for s in SERVICES}
    pdbs = list(by_kind(docs, "PodDisruptionBudget").values())
    scaled = by_kind(docs, "ScaledObject")
    for service in SERVICES:
        deployment = deployments[dashed(service)]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        covering = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items()
                    <= labels.items()]
        assert len(covering) == 1, f"{service}: {len(covering)} PodDisruptionBudgets"
        assert "replicas" not in deployment["spec"], f"{service}: KEDA owns the replica count"
        assert scaled[dashed(service)]["spec"]["scaleTargetRef"]["name"] == dashed(service)


def test_scaledobjects_scale_on_the_service_consumer_lag(rendered: Any) -> None:
    _, docs = rendered
    deployments = by_kind(docs, "Deployment")
    scaler_source = _tool(kafka_scaler_source)
    for so in by_kind(docs, "ScaledObject").values():
        target = so["spec"]["scaleTargetRef"]["name"]
        service = target.replace("-", "_")
        triggers = so["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert sorted(t["metadata"]["topic"] for t in triggers) == sorted(
            t.name for t in SPECS[Service(service)].inputs)
        env = container_env(docs, container(deployments[target]))
        for trigger in triggers:
            meta = trigger["metadata"]
            assert meta["consumerGroup"] == SPECS[Service(service)].consumer_group
            assert int(meta["lagThreshold"]) > 0
            # The services start a new group at the earliest offset; KEDA must count lag alike.
            assert meta.get("offsetResetPolicy") == "earliest"
            if "bootstrapServersFromEnv" in meta:
                assert isinstance(env.get(meta["bootstrapServersFromEnv"]), str), (
                    f"{target}: {meta['bootstrapServersFromEnv']} is not in its environment")
                assert meta["bootstrapServersFromEnv"] == "TIKTOK_KAFKA_BOOTSTRAP_SERVERS"
            else:
                assert meta["bootstrapServers"] == env["TIKTOK_KAFKA_BOOTSTRAP_SERVERS"]
            unknown = [k for k in meta if f'"{k}"' not in scaler_source]
            assert not unknown, f"{target}: KEDA's kafka scaler reads no {unknown}"
        partitions = min(TOPIC_BY_NAME[t["metadata"]["topic"]].partitions for t in triggers)
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= partitions


def test_deployments_probe_the_observability_port(rendered: Any) -> None:
    _, docs = rendered
    for service in SERVICES:
        deployment = by_kind(docs, "Deployment")[dashed(service)]
        c = container(deployment)
        assert c["image"].split(":")[0].endswith(f"tiktok-analyzer-{dashed(service)}")
        obs = OBS_PORTS[service]
        assert obs in [p["containerPort"] for p in c["ports"]]
        live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
        assert (live["path"], port_number(c, live["port"])) == (LIVE, obs)
        assert (ready["path"], port_number(c, ready["port"])) == (READY, obs)
        if service in ANALYZERS:
            startup = c["startupProbe"]
            assert port_number(c, startup["httpGet"]["port"]) == obs
            assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(obs)
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), f"{service} {kind}"


def test_environment_names_settings_and_credentials(rendered: Any) -> None:
    _, docs = rendered
    assert not by_kind(docs, "Secret"), "Secrets are created by the operator, not the repo"
    for cm in by_kind(docs, "ConfigMap").values():
        assert not unknown_tiktok_vars(cm["data"]), cm["metadata"]["name"]
    workloads = [*by_kind(docs, "Deployment").values(), *by_kind(docs, "Job").values()]
    for workload in workloads:
        for c in workload["spec"]["template"]["spec"]["containers"]:
            env = container_env(docs, c)
            assert not unknown_tiktok_vars(env), workload["metadata"]["name"]
            assert env["TIKTOK_OBS_HOST"] == "0.0.0.0"
            for name in ("TIKTOK_S3_ACCESS_KEY", "TIKTOK_S3_SECRET_KEY"):
                assert set(env[name]) == {"secretKeyRef"}, f"{name} must come from a Secret"
            literal = [i["name"] for i in c.get("env", []) if "value" in i
                       and re.search(r"SECRET|PASSWORD|TOKEN|_KEY$", i["name"])]
            assert not literal, f"{workload['metadata']['name']}: literal credentials {literal}"


def test_ingest_http_api_is_exposed(rendered: Any) -> None:
    _, docs = rendered
    c = container(by_kind(docs, "Deployment")["ingest"])
    env = container_env(docs, c)
    assert env["TIKTOK_INGEST_HTTP_HOST"] == "0.0.0.0"
    http_port = int(env.get("TIKTOK_INGEST_HTTP_PORT", INGEST_HTTP_PORT))
    service = by_kind(docs, "Service")["ingest"]
    assert service["spec"]["selector"].items() <= by_kind(docs, "Deployment")["ingest"][
        "spec"]["template"]["metadata"]["labels"].items()
    targets = {port_number(c, p["targetPort"]) for p in service["spec"]["ports"]}
    assert http_port in targets


def test_model_store_volume_and_gpus(rendered: Any) -> None:
    name, docs = rendered
    claims = by_kind(docs, "PersistentVolumeClaim")
    for service in SERVICES:
        deployment = by_kind(docs, "Deployment")[dashed(service)]
        pod = deployment["spec"]["template"]["spec"]
        c = container(deployment)
        gpus = c["resources"].get("limits", {}).get("nvidia.com/gpu")
        if service in ANALYZERS:
            store = container_env(docs, c)["TIKTOK_MODEL_STORE"]
            (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == store]
            assert mount.get("readOnly") is True
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            assert volume["persistentVolumeClaim"]["claimName"] in claims
        if name == "overlays/gpu" and service in ANALYZERS:
            assert str(gpus) == "1", f"{service}: one GPU per replica"
            assert pod["nodeSelector"] and any(
                t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])
            assert container_env(docs, c)["TIKTOK_MODEL_DEVICE"] == "cuda"
        else:
            assert gpus is None and "nodeSelector" not in pod, f"{name}: {service} needs no GPU"
        if name == "overlays/cpu-only":
            assert container_env(docs, c)["TIKTOK_MODEL_DEVICE"] == "cpu"


def test_init_job_creates_topics_buckets_and_notification(rendered: Any) -> None:
    _, docs = rendered
    (job,) = by_kind(docs, "Job").values()
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["image"].split(":")[0].endswith("tiktok-analyzer-init")
    assert "--register-notify-target" in c["args"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


# --- docker compose ---------------------------------------------------------------------------


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(REPO / "docker-compose.yml")


@pytest.fixture(scope="module")
def compose_gpu() -> dict[str, Any]:
    return load_yaml(REPO / "docker-compose.gpu.yml")


@pytest.mark.parametrize("filename", ["docker-compose.yml", "docker-compose.gpu.yml"])
def test_compose_files_match_the_compose_specification(filename: str) -> None:
    schema = _tool(compose_schema)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{e.json_path}: {e.message}"
              for e in validator.iter_errors(load_yaml(REPO / filename))]
    assert not errors, "\n".join(errors)


COMPOSE_SETUPS = {
    "cpu": (["docker-compose.yml"], ()),
    "gpu": (["docker-compose.yml", "docker-compose.gpu.yml"], ()),
    "gpu+observability": (["docker-compose.yml", "docker-compose.gpu.yml"], ("observability",)),
}


@pytest.mark.parametrize("setup", COMPOSE_SETUPS)
def test_compose_loads_as_docker_compose_would(setup: str) -> None:
    """``docker compose [-f ...] [--profile ...] config`` with .env copied from .env.example."""
    files, profiles = COMPOSE_SETUPS[setup]
    project, complaint = _tool(compose_config, files, ".env.example", profiles)
    assert project is not None, complaint
    services = project["services"]
    expected = set(SERVICES) | {"kafka", "minio", "init"}
    if profiles:
        expected |= {"prometheus", "grafana"}
    assert set(services) == expected
    for name in SERVICES:
        env = services[name]["environment"]
        assert all(env.values()), f"{name}: empty after interpolation: {env}"
        devices = services[name].get("deploy", {}).get("resources", {}).get(
            "reservations", {}).get("devices")
        if name in ANALYZERS and "docker-compose.gpu.yml" in files:
            assert devices and devices[0]["driver"] == "nvidia", name
            assert env["TIKTOK_MODEL_DEVICE"] == "cuda"
        else:
            assert not devices, f"{name} reserves a GPU in the {setup} setup"
        if name in ANALYZERS:
            (store,) = [v for v in services[name]["volumes"] if v["target"] == "/models"]
            assert store["type"] == "bind" and store["read_only"] is True


def test_compose_refuses_to_start_without_the_env_file() -> None:
    project, complaint = _tool(compose_config, ["docker-compose.yml"])
    assert project is None and "copy .env.example to .env" in complaint


def healthcheck_url(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    (url,) = re.findall(r"http://[^'\" ]+", " ".join(test) if isinstance(test, list) else test)
    return url


def test_compose_services_match_the_code(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(SERVICES) | {"kafka", "minio", "init"} <= set(services)
    for name in SERVICES:
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": f"services/{name}/Dockerfile"}
        env = service["environment"]
        assert not unknown_tiktok_vars(env), name
        assert env["TIKTOK_OBS_HOST"] == "0.0.0.0"
        assert healthcheck_url(service) in (f"http://127.0.0.1:{OBS_PORTS[name]}{READY}",
                                            f"http://127.0.0.1:{OBS_PORTS[name]}{LIVE}")
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully"
        assert "container_name" not in service, f"{name}: a fixed name prevents --scale"
        kafka_host, _, kafka_port = env["TIKTOK_KAFKA_BOOTSTRAP_SERVERS"].partition(":")
        assert f"://{kafka_host}:{kafka_port}" in services[kafka_host]["environment"][
            "KAFKA_ADVERTISED_LISTENERS"]
        s3_host, _, s3_port = env["TIKTOK_S3_ENDPOINT"].partition(":")
        assert f":{s3_port}" in services[s3_host]["command"]
        mounts = {v["target"]: v for v in service.get("volumes", []) if isinstance(v, dict)}
        if name in ANALYZERS:
            assert mounts[env["TIKTOK_MODEL_STORE"]]["read_only"] is True
        else:
            assert not mounts
    ingest = services["ingest"]["environment"]
    assert ingest["TIKTOK_INGEST_HTTP_HOST"] == "0.0.0.0"
    http_port = int(ingest.get("TIKTOK_INGEST_HTTP_PORT", INGEST_HTTP_PORT))
    assert any(str(p).endswith(f":{http_port}") for p in services["ingest"]["ports"])


def test_compose_versions_match_the_dev_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"] == f"apache/kafka:{toolchain.KAFKA_VERSION}"
    assert services["minio"]["build"]["args"]["MINIO_VERSION"] == toolchain.MINIO_VERSION
    assert toolchain.MINIO_MODULE in services["minio"]["build"]["dockerfile_inline"]


def test_compose_init_runs_the_project_init(compose: dict[str, Any]) -> None:
    services = compose["services"]
    init = services["init"]
    assert init["build"] == {"context": ".", "dockerfile": "services/ingest/Dockerfile",
                             "target": "init"}
    assert not unknown_tiktok_vars(init["environment"])
    assert "--register-notify-target" in init["command"]
    queue = init["command"][init["command"].index("--notify-queue-dir") + 1]
    assert any(str(v).endswith(f":{queue}") for v in services["minio"]["volumes"])
    for dependency in ("kafka", "minio"):
        assert init["depends_on"][dependency]["condition"] == "service_healthy"


def test_compose_credentials_come_from_the_env_file(compose: dict[str, Any]) -> None:
    text = "\n".join((REPO / f).read_text() for f in ("docker-compose.yml",
                                                        "docker-compose.gpu.yml"))
    example = dict(
        line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#"))
    assert not unknown_tiktok_vars(example)
    for variable, operator in re.findall(r"(?<!\$)\$\{(\w+)(:?[-?+]?)", text):
        if operator not in (":-", "-"):
            assert variable in example, f"${{{variable}}} has no default and no .env.example line"
    for name in SERVICES:
        env = compose["services"][name]["environment"]
        for variable in ("TIKTOK_S3_ACCESS_KEY", "TIKTOK_S3_SECRET_KEY"):
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", env[variable]), (
                f"{name}: {variable} must come from .env")
    minio = compose["services"]["minio"]["environment"]
    assert minio["MINIO_ROOT_PASSWORD"].startswith("${")


def test_compose_gpu_override(compose: dict[str, Any], compose_gpu: dict[str, Any]) -> None:
    assert set(compose_gpu["services"]) == set(ANALYZERS)
    for service in compose_gpu["services"].values():
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        assert not unknown_tiktok_vars(service.get("environment", {}))
    for name, service in compose["services"].items():
        assert "deploy" not in service, f"{name}: the base file must start without a GPU"


def test_compose_observability_profile(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
    sources = [v.split(":")[0] for name in ("prometheus", "grafana")
               for v in services[name]["volumes"] if v.startswith("./")]
    assert "./observability/prometheus.yml" in sources
    missing = [s for s in sources if not (REPO / s).exists()]
    if missing:
        pytest.skip(f"not written yet (observability work): {missing}")
    dashboards = REPO / "observability" / "grafana" / "dashboards" / "tiktok-analyzer.json"
    if not dashboards.exists():
        pytest.skip(f"not written yet (observability work): {dashboards.relative_to(REPO)}")
    scrape = load_yaml(REPO / "observability" / "prometheus.yml")
    targets = {t for job in scrape["scrape_configs"] for sc in job.get("static_configs", [])
               for t in sc["targets"]}
    assert {f"{name}:{OBS_PORTS[name]}" for name in SERVICES} <= targets


# --- Dockerfiles ------------------------------------------------------------------------------


def service_pyproject(name: str) -> dict[str, Any]:
    return tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text())


def workspace_members() -> list[str]:
    return ["shared", *(f"services/{n}" for n in SERVICES)]


INIT_FILES = {f"src/tiktok_analyzer/cli/{f}" for f in ("__init__.py", "stack.py",
                                                         "toolchain.py", "init_infra.py")}


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_installs_only_its_own_package(name: str) -> None:
    dockerfile = parse_dockerfile(REPO / "services" / name / "Dockerfile")
    package = service_pyproject(name)["project"]["name"]
    assert package == f"tiktok-analyzer-{dashed(name)}"
    syncs = [i for i in dockerfile.of("RUN") if "uv sync" in i.args]
    assert len(syncs) == 2, "one sync for the dependency layer, one for the workspace packages"
    for sync in syncs:
        command = sync.args[sync.args.index("uv sync"):]
        assert re.findall(r"--package[ =](\S+)", command) == [package]
        assert "--frozen" in command and "--no-dev" in command
        assert "--all-packages" not in command
    assert "--no-install-workspace" in syncs[0].args
    assert "--no-install-workspace" not in syncs[1].args

    pyprojects = {f"{m}/pyproject.toml" for m in workspace_members()} | {"pyproject.toml"}
    sources_before, sources_after = set(), set()
    for copy in dockerfile.of("COPY"):
        if "--from=" in copy.args:
            continue
        *sources, _ = copy.args.split()
        line = dockerfile.instructions.index(copy)
        first_sync = dockerfile.instructions.index(syncs[0])
        (sources_before if line < first_sync else sources_after).update(
            s.rstrip("/") for s in sources)
    assert sources_before == pyprojects | {"uv.lock"}
    # Exactly its workspace dependencies (the aggregator and sampler read the analyzer plugins).
    workspace = {f"tiktok-analyzer-{dashed(n)}": f"services/{n}" for n in SERVICES}
    deps = {re.split(r"[\[<>=]", d)[0] for d in service_pyproject(name)["project"]["dependencies"]}
    own = {"shared", f"services/{name}"} | {workspace[d] for d in deps if d in workspace}
    extra = INIT_FILES if name == "ingest" else set()
    assert sources_after == own | extra, f"copies beyond its workspace packages: {own}"
    if extra:
        assert {i.stage for i in dockerfile.of("COPY") if set(i.args.split()[:-1]) & extra} \
            == {"init"}


@pytest.mark.parametrize("name", SERVICES)
def test_dockerfile_runtime(name: str) -> None:
    dockerfile = parse_dockerfile(REPO / "services" / name / "Dockerfile")
    base = dockerfile.resolve(dockerfile.stages["service"])
    if name in ANALYZERS:
        assert re.fullmatch(r"nvidia/cuda:12\.[\d.]+-cudnn-runtime-ubuntu(22|24)\.04", base)
    else:
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base)
    script = f"tiktok-analyzer-{dashed(name)}"
    assert script in service_pyproject(name)["project"]["scripts"]
    (entrypoint,) = dockerfile.of("ENTRYPOINT", "service")
    assert entrypoint.args == f'["{script}"]'
    (user,) = dockerfile.of("USER", "service")
    assert user.args.split(":")[0] not in ("0", "root")
    env: dict[str, str] = {}
    for instruction in dockerfile.of("ENV", "service"):
        env.update(env_pairs(instruction.args))
    assert not unknown_tiktok_vars(env)
    assert env["TIKTOK_OBS_HOST"] == "0.0.0.0"
    for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert env[threads] == "1"
    if name == "ingest":
        assert env["TIKTOK_INGEST_HTTP_HOST"] == "0.0.0.0"
    if name in ANALYZERS:
        assert env["TIKTOK_MODEL_STORE"] == "/models"
    (healthcheck,) = dockerfile.of("HEALTHCHECK", "service")
    assert LIVE in healthcheck.args and f"'{OBS_PORTS[name]}'" in healthcheck.args
    assert "curl" not in healthcheck.args and "wget" not in healthcheck.args
    # The final stage, the default build target, is the service.
    final = list(dockerfile.stages)[-1]
    assert final == "service" or dockerfile.stages[final] == "service"


def test_dockerfiles_pass_buildkit_checks(tmp_path: Path, compose: dict[str, Any]) -> None:
    """What ``docker build --check`` reports: parse errors, undefined variables and BuildKit's
    other lint rules, for every service Dockerfile and the MinIO one inlined in compose."""
    minio = tmp_path / "minio.Dockerfile"
    minio.write_text(compose["services"]["minio"]["build"]["dockerfile_inline"].replace(
        "$$", "$"))  # compose's escape of a literal $
    paths = [*(REPO / "services" / n / "Dockerfile" for n in SERVICES), minio]
    verdicts = _tool(dockerfile_lint, paths)
    problems = {path: v for path, v in verdicts.items() if v.get("error") or v["warnings"]}
    assert not problems, problems


def test_dockerignore_keeps_the_context_to_what_the_images_copy() -> None:
    ignore = DockerIgnore((REPO / ".dockerignore").read_text())
    for secret_or_bulk in (".env", ".venv/bin/python", ".cache/infra/minio", ".git/HEAD",
                           "tests/conftest.py", "docs/deploy.md", "out/report.json",
                           "k8s/base/kustomization.yaml", "benchmarks/x.py",
                           "shared/src/tiktok_analyzer/shared/__pycache__/x.cpython-311.pyc"):
        assert ignore.excluded(secret_or_bulk), secret_or_bulk
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    needed = set()
    for name in SERVICES:
        for copy in parse_dockerfile(REPO / "services" / name / "Dockerfile").of("COPY"):
            if "--from=" not in copy.args:
                needed.update(s.rstrip("/") for s in copy.args.split()[:-1])
    for source in sorted(needed):
        files = [f for f in listed if f == source or f.startswith(source + "/")]
        assert files, f"{source} does not exist"
        files = [f for f in files if not f.endswith("/Dockerfile")]  # the recipe, not needed
        left_out = [f for f in files if ignore.excluded(f)]
        assert not left_out, f"COPY {source} needs files .dockerignore leaves out: {left_out}"


def test_init_target_needs_only_the_shared_package() -> None:
    """The init image is the ingest image plus init_infra and stack: they may import only the
    standard library, the shared package and its dependencies (aiokafka, minio)."""
    allowed = {"aiokafka", "minio", "tiktok_analyzer.shared", "tiktok_analyzer.cli.stack",
               "tiktok_analyzer.cli.toolchain", "tiktok_analyzer.cli"}
    for path in INIT_FILES:
        tree = ast.parse((REPO / path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for module in names:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__" or any(
                    module == a or module.startswith(a + ".") for a in allowed), (
                    f"{path} imports {module}, which the ingest image lacks")


def test_docs_point_at_deploy() -> None:
    deploy = (REPO / "docs" / "deploy.md").read_text()
    for needle in ("docker-compose.gpu.yml", "k8s/overlays/gpu", "k8s/overlays/cpu-only",
                   "KEDA", "Strimzi", "MinIO Operator", "GPU memory per replica",
                   "tiktok-analyzer-s3", "--scale"):
        assert needle in deploy, needle
    assert "docs/deploy.md" in (REPO / "README.md").read_text()


def test_the_validators_catch_mistakes(tmp_path: Path) -> None:
    """The checks above are not vacuous: an unknown field, a wrong type, a misspelt trigger
    field each fail."""
    docs = _tool(render, "base")
    deployment = dict(by_kind(docs, "Deployment")["ingest"])
    deployment["spec"] = {**deployment["spec"], "replicaz": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    scaled = dict(by_kind(docs, "ScaledObject")["ingest"])
    validator = jsonschema.Draft4Validator(_tool(scaledobject_schema))
    for spec in ({**scaled["spec"], "maxReplicas": 3},
                 {**scaled["spec"], "maxReplicaCount": "6"},
                 {**scaled["spec"], "triggers": [{"type": "kafka", "metadata": {"lag": 5}}]}):
        assert list(validator.iter_errors({**scaled, "spec": spec})), spec
    schema = _tool(compose_schema)
    compose_validator = jsonschema.validators.validator_for(schema)(schema)
    bad = {"services": {"x": {"image": "a", "healthcheck": {"tset": ["CMD", "true"]}}}}
    assert list(compose_validator.iter_errors(bad))
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nCOPPY a b\n")
    verdict = _tool(dockerfile_lint, [dockerfile])[str(dockerfile)]
    assert "unknown instruction" in verdict["error"]

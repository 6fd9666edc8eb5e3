"""deploy/k8s: every manifest validates offline against a fixed Kubernetes schema, and says what the code expects.

``kubernetes-validate`` ships the Kubernetes JSON schemas inside the package; the validation runs with sockets
disabled, so it proves no schema is fetched. The checks after it tie the manifests to the code: the worker
commands parse with the real CLI, one Deployment per queue, the ConfigMap holds only settings the code reads.
"""

from __future__ import annotations

import socket
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.cli import build_parser
from shared.config import QUEUES, load_settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"  # the schema the manifests are held to: a fixed version, not "latest"


def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def resources() -> list[dict]:
    docs = []
    for name in kustomization()["resources"]:
        docs.extend(doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc)
    return docs


def one(kind: str, name: str) -> dict:
    matches = [d for d in resources() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, (kind, name)
    return matches[0]


def pod_specs() -> list[dict]:
    return [d["spec"]["template"]["spec"] for d in resources() if d["kind"] in ("Deployment", "StatefulSet", "Job")]


def containers() -> list[dict]:
    return [c for spec in pod_specs() for c in spec["containers"]]


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network access during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_the_kustomization_lists_every_manifest_and_pins_the_namespace():
    listed = set(kustomization()["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert kustomization()["namespace"] == "causalmol"


def test_every_resource_validates_offline_against_the_fixed_schema(offline):
    docs = resources()
    assert len(docs) >= 15
    for doc in docs:
        try:
            validated = kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
        assert validated == "1.33"


def test_the_validator_rejects_a_broken_manifest(offline):
    gateway = one("Deployment", "gateway")
    broken = {**gateway, "spec": {**gateway["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    typo = {**gateway, "spec": {**gateway["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):  # strict: unknown fields are errors
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)


def test_images_are_pinned_to_the_release():
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for container in containers():
        image, _, tag = container["image"].rpartition(":")
        assert image and tag and tag != "latest", container["image"]
        if image.startswith("causalmol-"):
            assert tag == version, container["image"]


def test_gateway_probes_liveness_and_readiness_on_its_port():
    pod = one("Deployment", "gateway")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    args = build_parser().parse_args(container["command"][1:])
    assert args.bind == "0.0.0.0:8000"
    service = one("Service", "gateway")
    assert service["spec"]["selector"] == one("Deployment", "gateway")["spec"]["selector"]["matchLabels"]
    backend = one("Ingress", "gateway")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "gateway", "port": {"name": "http"}}


def test_one_worker_deployment_per_queue_running_the_real_worker_command():
    workers = {d["metadata"]["name"]: d for d in resources()
               if d["kind"] == "Deployment" and d["metadata"]["name"].startswith("worker-")}
    assert set(workers) == {f"worker-{q}" for q in QUEUES}
    for queue in QUEUES:
        pod = workers[f"worker-{queue}"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"][0] == "causalmol"
        args = build_parser().parse_args(container["command"][1:])
        assert (args.command, args.service) == ("worker", queue)
        assert container["image"].startswith(f"causalmol-{queue}:")
        assert pod["terminationGracePeriodSeconds"] > load_settings({}).task_time_limit  # warm shutdown fits
        assert f"'{queue}@'" in container["livenessProbe"]["exec"]["command"][2]


def test_every_worker_has_an_autoscaler_on_resources_it_requests():
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d for d in resources() if d["kind"] == "HorizontalPodAutoscaler"}
    assert set(hpas) == {f"worker-{q}" for q in QUEUES}
    for name, hpa in hpas.items():
        (container,) = one("Deployment", name)["spec"]["template"]["spec"]["containers"]
        assert "cpu" in container["resources"]["requests"]
        assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


def test_redis_keeps_an_append_only_file_on_its_own_volume():
    redis = one("StatefulSet", "redis")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    data_dir = args[args.index("--dir") + 1]
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": data_dir} in container["volumeMounts"]
    assert one("Service", "redis")["spec"]["clusterIP"] == "None"


def test_the_configmap_holds_settings_the_code_reads_and_paths_the_pods_mount():
    data = one("ConfigMap", "causalmol-config")["data"]
    read: set[str] = set()

    class Recording(dict):
        def get(self, key: str, default: object = None) -> object:
            read.add(key)
            return super().get(key, default)

    settings = load_settings(Recording(data))
    assert set(data) <= read, set(data) - read
    assert settings.proxy_fix == 1  # the ingress's X-Forwarded-* headers are trusted
    assert not settings.embedded and settings.redis_url == "redis://redis:6379/0"
    assert data["CAUSALMOL_REDIS_URL"].split("//")[1].split(":")[0] == one("Service", "redis")["metadata"]["name"]
    with_models = 0
    for spec in pod_specs():
        (container,) = spec["containers"]
        if {"configMapRef": {"name": "causalmol-config"}} not in container.get("envFrom", []):
            continue
        with_models += any(m["mountPath"] == str(settings.models_dir) for m in container["volumeMounts"])
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
        for path, claim in ((str(settings.models_dir), "causalmol-models"),
                            (str(settings.datasets_dir), "causalmol-datasets")):
            if path in mounts:
                assert claims[mounts[path]] == claim
    assert with_models == 5  # the gateway, the scoring, predictor and causal workers, models-init (not the featurizer)
    assert {d["metadata"]["name"] for d in resources() if d["kind"] == "PersistentVolumeClaim"} == {
        "causalmol-models", "causalmol-datasets"}


def test_only_the_gateway_reads_the_session_secret_and_it_is_optional():
    """The browser sign-in's cookie secret: one optional Secret for every gateway replica, never in a worker."""
    def session_refs(container: dict) -> list[dict]:
        return [s["secretRef"] for s in container.get("envFrom", [])
                if s.get("secretRef", {}).get("name") == "causalmol-session"]

    gateway = one("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert session_refs(gateway) == [{"name": "causalmol-session", "optional": True}]
    assert [c["name"] for c in containers() if session_refs(c)] == ["gateway"]
    assert "CAUSALMOL_SESSION_SECRET" not in one("ConfigMap", "causalmol-config")["data"]
    assert load_settings({"CAUSALMOL_SESSION_SECRET": "x" * 64}).session_secret == "x" * 64

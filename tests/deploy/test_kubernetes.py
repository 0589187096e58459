"""deploy/k8s: valid against the Kubernetes schemas (offline) and true to the serving rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.manifests import (
    K8S,
    MIGRATE_AND_SUPERUSER,
    PACKAGE,
    load,
    load_all,
    unknown_settings,
)

KUBERNETES_VERSION = "1.31"
NAME = PACKAGE


def manifests() -> list[Path]:
    return sorted(path for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")


def component(document: dict[str, Any]) -> str | None:
    labels: dict[str, str] = document["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component")


@pytest.fixture(scope="module")
def by_kind() -> dict[str, dict[str, Any]]:
    """The API's documents by kind (the job worker's are in `worker`)."""
    documents: dict[str, dict[str, Any]] = {}
    for path in manifests():
        for document in load_all(path):
            if component(document) != "worker":
                documents[document["kind"]] = document
    return documents


@pytest.fixture(scope="module")
def worker() -> dict[str, dict[str, Any]]:
    """The job worker's documents by kind."""
    return {
        document["kind"]: document
        for path in manifests()
        for document in load_all(path)
        if component(document) == "worker"
    }


@pytest.fixture(scope="module")
def pod(by_kind: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = by_kind["Deployment"]["spec"]["template"]["spec"]
    return spec


@pytest.mark.parametrize("path", manifests(), ids=lambda path: path.name)
def test_manifest_is_valid_against_the_kubernetes_schema(path: Path) -> None:
    for document in load_all(path):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_misspelt_field_is_caught(by_kind: dict[str, dict[str, Any]]) -> None:
    broken = {**by_kind["Service"], "spec": {**by_kind["Service"]["spec"], "prots": []}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = load(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])

    assert listed == {path.name for path in manifests()} - {"secret.example.yaml"}


def test_probes_use_the_health_endpoints(pod: dict[str, Any]) -> None:
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"


def test_grace_period_outlasts_the_pre_stop_pause_and_gunicorn(
    by_kind: dict[str, dict[str, Any]], pod: dict[str, Any]
) -> None:
    (container,) = pod["containers"]
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    graceful = int(by_kind["ConfigMap"]["data"]["GRACEFUL_TIMEOUT"])

    assert pause >= 5
    assert pod["terminationGracePeriodSeconds"] > pause + graceful


def test_pods_run_as_non_root_on_a_read_only_root(by_kind: dict[str, dict[str, Any]]) -> None:
    for kind in ("Deployment", "Job"):
        spec = by_kind[kind]["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the image's `app` user
        mounts_by_volume = {}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert {"requests", "limits"} <= set(container["resources"])
            mounts_by_volume = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        assert "/tmp" in mounts_by_volume.values()  # noqa: S108
        assert set(mounts_by_volume) <= empty_dirs


def test_metrics_folder_is_a_writable_volume(by_kind: dict[str, dict[str, Any]]) -> None:
    folder = by_kind["ConfigMap"]["data"]["PROMETHEUS_MULTIPROC_DIR"]
    (container,) = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"]

    assert folder in {mount["mountPath"] for mount in container["volumeMounts"]}


def test_settings_names_are_ones_the_service_reads(by_kind: dict[str, dict[str, Any]]) -> None:
    assert unknown_settings(set(by_kind["ConfigMap"]["data"])) == set()
    assert unknown_settings(set(by_kind["Secret"]["stringData"])) == set()
    assert by_kind["ConfigMap"]["data"]["STATUS"] == "prod"


def test_migration_job_and_pods_share_image_and_settings(by_kind: dict[str, Any]) -> None:
    job = by_kind["Job"]["spec"]["template"]["spec"]
    (api,) = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"]
    (migrate,) = job["containers"]

    assert migrate["command"] == ["sh", "-c", MIGRATE_AND_SUPERUSER]
    assert migrate["image"] == api["image"]
    assert migrate["envFrom"] == api["envFrom"]
    assert job["restartPolicy"] == "Never"


def test_service_hpa_and_pdb_select_the_deployment(by_kind: dict[str, Any]) -> None:
    deployment = by_kind["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]

    assert selector.items() <= pod_labels.items()
    assert by_kind["Service"]["spec"]["selector"] == selector
    assert by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    target = by_kind["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", NAME)
    hpa_min = by_kind["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    assert hpa_min > by_kind["PodDisruptionBudget"]["spec"]["minAvailable"]


def test_the_worker_runs_the_api_image_with_its_settings(
    by_kind: dict[str, Any], worker: dict[str, Any]
) -> None:
    (api,) = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"]
    pod = worker["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "app.worker"]
    assert (container["image"], container["envFrom"]) == (api["image"], api["envFrom"])
    assert (
        pod["securityContext"]
        == by_kind["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    )
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    folder = by_kind["ConfigMap"]["data"]["PROMETHEUS_MULTIPROC_DIR"]
    assert folder in {mount["mountPath"] for mount in container["volumeMounts"]}


def test_the_worker_drains_within_its_grace_period_and_is_probed_on_its_metrics(
    by_kind: dict[str, Any], worker: dict[str, Any]
) -> None:
    pod = worker["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    settings = by_kind["ConfigMap"]["data"]
    assert pod["terminationGracePeriodSeconds"] > float(settings["JOBS_DRAIN_SECONDS"]) + 5
    port = int(settings["JOBS_METRICS_PORT"])
    assert container["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    template = worker["Deployment"]["spec"]["template"]["metadata"]
    assert template["annotations"]["prometheus.io/port"] == str(port)


def test_the_worker_pdb_selects_the_worker_pods(worker: dict[str, Any]) -> None:
    deployment = worker["Deployment"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert worker["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert worker["PodDisruptionBudget"]["spec"]["minAvailable"] < deployment["spec"]["replicas"]

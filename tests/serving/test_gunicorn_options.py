"""gunicorn options come from Settings; worker sizing, the metrics folder, the logger class."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from gunicorn.config import Config

from app.core.logging import setup_logging
from app.main import create_app
from app.serving import options as serving
from app.serving.worker import ServiceWorker, graceful_shutdown_seconds
from tests.conftest import SettingsFactory
from tests.core.test_logging import restore_logging  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def test_options_follow_the_settings(make_settings: SettingsFactory) -> None:
    options = serving.gunicorn_options(
        make_settings(
            HOST="0.0.0.0",  # noqa: S104
            PORT=9000,
            WORKERS=3,
            GUNICORN_TIMEOUT=40,
            GRACEFUL_TIMEOUT=25,
            KEEPALIVE=75,
            MAX_REQUESTS=500,
            MAX_REQUESTS_JITTER=50,
            FORWARDED_ALLOW_IPS="10.0.0.1,10.0.0.2",
            LEVEL="WARNING",
        )
    )
    assert options["bind"] == ["0.0.0.0:9000"]
    assert options["workers"] == 3
    assert options["timeout"] == 40
    assert options["graceful_timeout"] == 25
    assert options["keepalive"] == 75
    assert (options["max_requests"], options["max_requests_jitter"]) == (500, 50)
    assert options["forwarded_allow_ips"] == "10.0.0.1,10.0.0.2"
    assert options["worker_class"] == "app.serving.worker.ServiceWorker"
    assert options["loglevel"] == "warning"
    assert options["accesslog"] is None


def test_options_are_valid_gunicorn_settings(make_settings: SettingsFactory) -> None:
    config = Config()
    for name, value in serving.gunicorn_options(make_settings()).items():
        config.set(name, value)
    assert config.worker_class is ServiceWorker
    assert config.preload_app is True
    assert config.control_socket_disable is True


def test_control_socket_only_where_asked(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = tmp_path / "gunicorn.ctl"
    options = serving.gunicorn_options(make_settings(GUNICORN_CONTROL_SOCKET=str(path)))
    assert options["control_socket_disable"] is False
    assert options["control_socket"] == str(path)


def test_no_jitter_without_recycling(make_settings: SettingsFactory) -> None:
    options = serving.gunicorn_options(make_settings(MAX_REQUESTS=0))
    assert (options["max_requests"], options["max_requests_jitter"]) == (0, 0)


def test_ipv6_hosts_are_bracketed() -> None:
    assert serving.bind_address("::", 8000) == "[::]:8000"
    assert serving.bind_address("127.0.0.1", 8000) == "127.0.0.1:8000"


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000\n", None), ("150000 100000\n", 1.5), ("garbage", None)],
)
def test_cgroup_cpu_limit(tmp_path: Path, cpu_max: str, expected: float | None) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert serving.cgroup_cpu_limit(path) == expected


def test_usable_cpus_honour_a_cgroup_quota(tmp_path: Path) -> None:
    path = tmp_path / "cpu.max"
    path.write_text("50000 100000\n")  # half a CPU: still one worker
    assert serving.usable_cpus(path) == 1
    assert serving.usable_cpus(tmp_path / "missing") >= 1


def test_workers_default_to_usable_cpus(make_settings: SettingsFactory) -> None:
    assert serving.worker_count(make_settings(), cpus=6) == 6
    assert serving.worker_count(make_settings(WORKERS=2), cpus=6) == 2


@pytest.mark.parametrize(("graceful", "uvicorn"), [(30, 28.0), (10, 8.0), (3, 1.5), (1, 0.5)])
def test_uvicorn_gets_a_shorter_graceful_timeout(graceful: int, uvicorn: float) -> None:
    assert graceful_shutdown_seconds(graceful) == uvicorn


def test_metrics_folder_is_cleaned_and_exported(
    tmp_path: Path, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old run")
    (folder / "keep.txt").write_text("not ours")
    metrics_folder = serving.MetricsFolder()
    assert metrics_folder.prepare(make_settings(PROMETHEUS_MULTIPROC_DIR=str(folder))) == folder
    assert serving.os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(folder)
    metrics_folder.clean()
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    metrics_folder.remove_if_created()
    assert folder.is_dir()  # given by the operator: never removed


def test_a_made_metrics_folder_is_removed_at_exit(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics_folder = serving.MetricsFolder()
    folder = metrics_folder.prepare(make_settings())
    assert folder.is_dir()
    metrics_folder.remove_if_created()
    assert not folder.exists()


@pytest.mark.usefixtures("restore_logging")
def test_gunicorn_logs_go_through_loguru_as_json(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(JSON_LOG=True)
    monkeypatch.setattr(serving, "get_settings", lambda: settings)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stdout", stream)
    gunicorn_logger = serving.LoguruLogger(Config())
    gunicorn_logger.info("Booting worker with pid: %s", 42)
    gunicorn_logger.setup(Config())  # what a SIGHUP does: nothing doubles
    gunicorn_logger.error("after reload")
    logging.getLogger("uvicorn.access").info("must stay silent")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    messages = [r["message"] for r in records]
    assert messages == ["Booting worker with pid: 42", "after reload"]
    assert records[0]["logger"] == "gunicorn.error"
    assert records[1]["level"] == "ERROR"


@pytest.mark.usefixtures("restore_logging")
def test_setup_logging_twice_does_not_double_lines(make_settings: SettingsFactory) -> None:
    stream = io.StringIO()
    settings = make_settings()
    setup_logging(settings, stream=stream)
    setup_logging(settings, stream=stream)
    logging.getLogger("gunicorn.error").warning("once")
    assert stream.getvalue().count("once") == 1


async def test_creating_the_app_opens_nothing(make_settings: SettingsFactory) -> None:
    """preload_app: the master creates the app, then forks. Nothing may be open by then."""
    application = create_app(make_settings(), configure_logging=False)
    assert not hasattr(application.state, "engine")
    async with LifespanManager(application):
        assert application.state.engine is not None


def test_the_config_file_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PORT", "18199")
    monkeypatch.setenv("WORKERS", "2")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))
    monkeypatch.setattr(serving, "metrics_folder", serving.MetricsFolder())
    namespace: dict[str, object] = {}
    code = (ROOT / "gunicorn.conf.py").read_text()
    exec(compile(code, "gunicorn.conf.py", "exec"), namespace)  # noqa: S102
    serving.get_settings.cache_clear()
    assert namespace["bind"] == ["127.0.0.1:18199"]
    assert namespace["workers"] == 2
    assert namespace["child_exit"] is serving.child_exit
    assert (tmp_path / "metrics").is_dir()


def test_a_dead_worker_leaves_its_counts_but_not_its_live_gauges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    for name in ("gauge_livesum_123.db", "gauge_livemax_123.db", "counter_123.db"):
        (folder / name).write_bytes(b"")
    (folder / "gauge_livesum_456.db").write_bytes(b"")  # a live worker's
    metrics_folder = serving.MetricsFolder()
    metrics_folder.path = folder
    monkeypatch.setattr(serving, "metrics_folder", metrics_folder)

    class DeadWorker:
        pid = 123

    serving.child_exit(None, DeadWorker())
    assert sorted(p.name for p in folder.iterdir()) == ["counter_123.db", "gauge_livesum_456.db"]

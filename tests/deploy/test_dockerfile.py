"""The Dockerfile: hadolint-clean, builds on Docker Engine 20.10 with or without BuildKit, and
its runtime stage holds only what the service runs. `.ci/image.sh` builds and runs it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.manifests import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DEV_DOCKERFILE = ROOT / "deploy" / "docker" / "dev.Dockerfile"
INSTALL_DEPENDENCIES = ROOT / "deploy" / "docker" / "install-dependencies.sh"


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("hadolint is a dev dependency: run `make install`")
    return found


def stages() -> dict[str, list[str]]:
    """Instructions (continuation lines joined) by stage name."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if match := re.match(r"FROM \S+ AS (\S+)", line):
            current = match.group(1)
            result[current] = []
        elif current is not None:
            result[current].append(line)
    return result


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(  # noqa: S603
        [hadolint(), "--no-color", str(DOCKERFILE), str(DEV_DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_line(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install fastapi\n", encoding="utf-8")
    result = subprocess.run(  # noqa: S603
        [hadolint(), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest


def test_stages_build_and_runtime_last() -> None:
    """Only stages the offline build needs: the classic builder builds them all."""
    assert list(stages()) == ["build", "runtime"]


@pytest.mark.parametrize("path", [DOCKERFILE, DEV_DOCKERFILE], ids=lambda path: path.name)
def test_nothing_needs_buildkit_a_registry_or_engine_25(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I)  # BuildKit would pull a frontend
    instructions = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    assert not any("--mount" in line for line in instructions)  # RUN --mount: BuildKit only
    assert not any("--start-interval" in line for line in instructions)  # Engine 25+
    assert not any(re.match(r"(RUN|COPY|ADD)\s+<<", line) for line in instructions)


def test_wheelhouse_build_installs_only_from_the_wheelhouse_with_hashes() -> None:
    script = INSTALL_DEPENDENCIES.read_text(encoding="utf-8")
    wheelhouse = script.split("  wheelhouse)", 1)[1].split(";;", 1)[0]
    assert "--no-index" in wheelhouse
    assert "--require-hashes" in wheelhouse
    assert "--find-links /wheelhouse" in wheelhouse
    assert "uv" not in wheelhouse.replace("python3 -m venv", "")
    build = stages()["build"]
    assert 'RUN sh install-dependencies.sh "${DEPENDENCIES}" "${UV_VERSION}"' in build
    assert "COPY README.md wheelhous[e] /wheelhouse/" in build


def test_runtime_copies_only_the_venv_and_what_runs() -> None:
    copies = [line for line in stages()["runtime"] if line.startswith("COPY")]
    sources = set()
    for line in copies:
        parts = [part for part in line.split()[1:] if not part.startswith("--")]
        sources.update(parts[:-1])
    assert sources == {
        "/opt/venv",
        "/src/app",
        "migrations",
        "alembic.ini",
        "gunicorn.conf.py",
    }


def test_runtime_runs_gunicorn_as_non_root_with_a_healthcheck() -> None:
    runtime = stages()["runtime"]
    users = [line for line in runtime if line.startswith("USER ")]
    assert users[-1] == "USER 10001:10001"
    (healthcheck,) = [line for line in runtime if line.startswith("HEALTHCHECK")]
    assert '"app.deploy", "probe", "/health/live"' in healthcheck
    assert "curl" not in healthcheck
    assert runtime[-1] == 'CMD ["gunicorn", "-c", "gunicorn.conf.py"]'


def test_build_info_is_generated_from_build_args() -> None:
    build = stages()["build"]
    for name in ("GIT_BRANCH", "GIT_REVISION", "BUILD_DATE"):
        assert any(line.startswith(f"ARG {name}") for line in build), name
    assert any("python -m tools.build_info" in line for line in build)
    assert "uv sync --frozen --no-dev --no-install-project" in INSTALL_DEPENDENCIES.read_text()


def test_dev_image_reloads() -> None:
    text = DEV_DOCKERFILE.read_text(encoding="utf-8")
    assert "sh install-dependencies.sh index-dev" in text
    assert text.rstrip().splitlines()[-1].startswith('CMD ["uvicorn", "app.main:app", "--reload"')


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert lines[lines.index("*")] == "*"  # everything is excluded unless listed
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {
        "app",
        "migrations",
        "alembic.ini",
        "gunicorn.conf.py",
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "tools/__init__.py",  # the build stage's build-info step; the runtime copies no tools
        "tools/build_info.py",
        "wheelhouse",  # DEPENDENCIES=wheelhouse
        "deploy/docker/install-dependencies.sh",
    }


def documented_block(name: str) -> str:
    """The docs block `.ci/image.sh` runs (the fenced block after its marker)."""
    text = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    after = text.split(f"<!-- .ci/image.sh: {name} -->\n", 1)[1]
    assert after.startswith("```bash\n"), after[:40]
    return after.removeprefix("```bash\n").split("```", 1)[0]


def test_the_documented_offline_run_is_the_one_ci_runs() -> None:
    run = documented_block("run")
    assert "make image DEPENDENCIES=wheelhouse" in run
    assert "--read-only" in run
    assert "--tmpfs /run/metrics" in run
    assert "alembic upgrade head && python -m app.cli create-superuser" in run
    assert "{{.State.Health.Status}}" in run
    assert documented_block("stop").strip() == 'docker stop "$NAME"'
    script = (ROOT / ".ci" / "image.sh").read_text(encoding="utf-8")
    assert "<(docs_block run)" in script
    assert "<(docs_block stop)" in script


def test_make_image_builds_offline_without_network() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nimage:", 1)[1].split("\n\n", 1)[0]
    assert "$(if $(filter wheelhouse,$(DEPENDENCIES)),--network none)" in recipe
    assert "--build-arg DEPENDENCIES=$(DEPENDENCIES)" in recipe
    assert "--build-arg PYTHON_VERSION=$(PYTHON_VERSION)" in recipe

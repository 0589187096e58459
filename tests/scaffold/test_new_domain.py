"""The domain scaffolder: refusals write nothing, a run registers everything, failures roll back."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.scaffold.domain import new_domain, next_revision
from app.scaffold.render import ScaffoldError, names_for, render, singular_of

ROOT = Path(__file__).resolve().parents[2]


def _copy_project(destination: Path) -> Path:
    """The parts the scaffolder reads and writes, and the dev tools beside them."""
    skip = shutil.ignore_patterns("__pycache__", ".pytest_cache")
    for folder in ("app", "migrations", "tests"):
        shutil.copytree(ROOT / folder, destination / folder, ignore=skip)
    for name in ("pyproject.toml", "alembic.ini"):
        shutil.copy(ROOT / name, destination / name)
    (destination / ".venv").symlink_to(ROOT / ".venv")
    return destination


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and ".venv" not in path.parts
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pristine copy per module; tests that write use `fresh_project`."""
    return _copy_project(tmp_path_factory.mktemp("project"))


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    return _copy_project(tmp_path / "project")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Orders", "not a lowercase Python identifier"),
        ("1orders", "not a lowercase Python identifier"),
        ("purchase-orders", "not a lowercase Python identifier"),
        ("", "not a lowercase Python identifier"),
        ("class", "Python keyword"),
        ("match", "Python keyword"),
        ("orders_", "trailing or doubled underscore"),
        ("o" * 41, "longer than 40"),
        ("items", "exists already"),
        ("users", "exists already"),
        ("core", "reserved"),
        ("main", "reserved"),
        ("models", "reserved"),
        ("cli", "reserved"),
        ("factories", "reserved"),
        ("scaffold", "reserved"),
        ("services", "would shadow"),
    ],
)
def test_refusals_name_the_reason_in_one_line_and_write_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, reason: str
) -> None:
    before = _snapshot(project)
    assert main(["new-domain", name, "--root", str(project)]) == 2
    message = capsys.readouterr().err
    assert reason in message
    assert message.count("\n") == 1
    assert message.endswith("nothing was written\n")
    assert _snapshot(project) == before


def test_refuses_a_table_or_a_path_in_use(fresh_project: Path) -> None:
    versions = fresh_project / "migrations" / "versions"
    (versions / "0003_legacy.py").write_text('op.create_table("widgets")\n')
    (fresh_project / "app" / "extra.py").write_text('router = APIRouter(prefix="/gadgets")\n')
    before = _snapshot(fresh_project)
    with pytest.raises(ScaffoldError, match="a table named 'widgets' exists already"):
        new_domain(fresh_project, "widgets", migration=False)
    with pytest.raises(ScaffoldError, match="the path /gadgets is served"):
        new_domain(fresh_project, "gadgets", migration=False)
    assert _snapshot(fresh_project) == before


def test_refuses_when_an_insertion_point_is_gone(fresh_project: Path) -> None:
    main_py = fresh_project / "app" / "main.py"
    main_py.write_text(main_py.read_text().replace("# new-domain: routers above this line", ""))
    before = _snapshot(fresh_project)
    with pytest.raises(ScaffoldError, match=r"app/main\.py: the line"):
        new_domain(fresh_project, "widgets", migration=False)
    assert _snapshot(fresh_project) == before


def test_refuses_outside_a_project(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="is not the project root"):
        new_domain(tmp_path, "widgets", migration=False)
    assert list(tmp_path.iterdir()) == []


def test_names_and_templates() -> None:
    assert [singular_of(n) for n in ("orders", "categories", "addresses", "news", "data")] == [
        "order",
        "category",
        "addresse",
        "new",
        "data",
    ]
    names = names_for("purchase_orders")
    assert (names.entity, names.Entity, names.url) == (
        "purchase_order",
        "PurchaseOrder",
        "purchase-orders",
    )
    assert names_for("addresses", singular="address").Entity == "Address"
    with pytest.raises(ScaffoldError, match="pass --singular"):
        names_for("ifs")
    assert render('f"{{{entity}}_id}" {{Entity}}', names.as_values()) == (
        'f"{purchase_order_id}" PurchaseOrder'
    )
    with pytest.raises(KeyError, match="nope"):
        render("{{nope}}", names.as_values())


# Near the length limit: every generated line must still fit ruff's 100 columns.
LONG = "purchase_order_line_adjustments_of_q3"


def test_a_run_writes_registers_and_is_ruff_clean(fresh_project: Path) -> None:
    written = new_domain(fresh_project, LONG, migration=False)
    relative = {str(path.relative_to(fresh_project)) for path in written}
    assert {f"app/{LONG}/router.py", f"tests/{LONG}/test_crud.py"} <= relative
    assert {"app/main.py", "app/models.py", "pyproject.toml"} <= relative
    main_py = (fresh_project / "app" / "main.py").read_text()
    assert f"from app.{LONG}.router import" in main_py
    assert f"app.include_router({LONG}_router, prefix=settings.api_prefix)" in main_py
    assert '"PurchaseOrderLineAdjustmentsOfQ3"' in (fresh_project / "app" / "models.py").read_text()
    assert f' | app.{LONG}", "app.users"' in (fresh_project / "pyproject.toml").read_text()
    router = (fresh_project / "app" / LONG / "router.py").read_text()
    assert f'prefix="/{LONG.replace("_", "-")}"' in router
    assert f'"/{{{LONG}_id:int}}"' in router
    assert "{{" not in router
    ruff = Path(sys.executable).with_name("ruff")
    checked = subprocess.run(  # noqa: S603
        [str(ruff), "check", "--no-cache", "app", "tests"],
        cwd=fresh_project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout
    with pytest.raises(ScaffoldError, match="exists already"):
        new_domain(fresh_project, LONG, migration=False)


def test_a_failed_migration_rolls_every_write_back(fresh_project: Path) -> None:
    (fresh_project / "migrations" / "env.py").write_text("raise SystemExit('broken on purpose')\n")
    before = _snapshot(fresh_project)
    with pytest.raises(ScaffoldError, match="alembic upgrade failed"):
        new_domain(fresh_project, "widgets")
    assert _snapshot(fresh_project) == before


def test_the_migration_is_numbered_after_the_last_one(fresh_project: Path) -> None:
    revision = next_revision(fresh_project)
    last = sorted((fresh_project / "migrations" / "versions").glob("[0-9]*_*.py"))[-1]
    assert int(revision) == int(last.name[:4]) + 1
    written = new_domain(fresh_project, "widgets")
    migration = fresh_project / "migrations" / "versions" / f"{revision}_create_widgets.py"
    assert migration in written
    text = migration.read_text()
    assert f'down_revision: str | None = "{last.name[:4]}"' in text
    assert 'op.create_table(\n        "widgets",' in text
    assert next_revision(fresh_project) == f"{int(revision) + 1:04d}"


def test_the_command_lists_what_it_wrote(
    fresh_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["new-domain", "addresses", "--singular", "address", "--no-migration"]
    assert main([*args, "--root", str(fresh_project)]) == 0
    out = capsys.readouterr().out
    assert "wrote app/addresses/router.py\n" in out
    assert "wrote tests/addresses/test_crud.py\n" in out
    assert "wrote app/main.py\n" in out
    assert "class Address(" in (fresh_project / "app" / "addresses" / "models.py").read_text()

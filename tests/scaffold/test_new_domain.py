"""The domain scaffolder: refusals write nothing, a run registers everything, failures roll back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.scaffold.tree import copy_project, snapshot
from tools.errors import ToolError
from tools.new_domain import main
from tools.scaffold import migration
from tools.scaffold.domain import new_domain
from tools.scaffold.names import names_for, singular_of
from tools.scaffold.writing import Undo


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pristine copy per module; tests that write use `fresh_project`."""
    return copy_project(tmp_path_factory.mktemp("project"))


@pytest.fixture
def fresh_project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


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
        ("tools", "reserved"),
        ("data", "the same word"),
        # `item` would become `service`, the module the router calls: one name, two meanings
        ("services", "would both become `service`"),
        ("sessions", "would both become `session`"),
        ("nones", "not valid Python"),
    ],
)
def test_refusals_name_the_reason_in_one_line_and_write_nothing(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, reason: str
) -> None:
    before = snapshot(project)
    assert main([name, "--root", str(project)]) == 2
    message = capsys.readouterr().err
    assert reason in message
    assert message.count("\n") == 1
    assert message.endswith("nothing was written\n")
    assert snapshot(project) == before


def test_refuses_a_table_or_a_path_in_use(fresh_project: Path) -> None:
    (fresh_project / "app" / "extra.py").write_text(
        '__tablename__ = "widgets"\nrouter = APIRouter(prefix="/gadgets")\n'
    )
    before = snapshot(fresh_project)
    with pytest.raises(ToolError, match="a table named 'widgets' exists already"):
        new_domain(fresh_project, "widgets")
    with pytest.raises(ToolError, match="the path /gadgets is served"):
        new_domain(fresh_project, "gadgets")
    assert snapshot(fresh_project) == before


def test_refuses_when_an_insertion_point_is_gone(fresh_project: Path) -> None:
    main_py = fresh_project / "app" / "main.py"
    main_py.write_text(main_py.read_text().replace("# new-domain: routers above this line", ""))
    before = snapshot(fresh_project)
    with pytest.raises(ToolError, match=r"app/main\.py: the line"):
        new_domain(fresh_project, "widgets")
    assert snapshot(fresh_project) == before


def test_refuses_outside_a_project(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="is not the project root"):
        new_domain(tmp_path, "widgets")
    assert list(tmp_path.iterdir()) == []


def test_refuses_an_example_that_leans_on_a_shared_name(fresh_project: Path) -> None:
    """A name outside the example that spells it (in core, say) has no twin to import."""
    service = fresh_project / "app" / "items" / "service.py"
    future = "from __future__ import annotations\n"
    service.write_text(
        service.read_text().replace(future, f"{future}from app.core.db import ItemHelper\n")
    )
    before = snapshot(fresh_project)
    with pytest.raises(ToolError, match=r"imports ItemHelper from app\.core\.db"):
        new_domain(fresh_project, "widgets")
    assert snapshot(fresh_project) == before


def test_refuses_a_forked_history(fresh_project: Path) -> None:
    versions = fresh_project / "migrations" / "versions"
    (versions / "0009_fork.py").write_text('revision = "0009"\ndown_revision = "0001"\n')
    with pytest.raises(ToolError, match="expected one head revision"):
        new_domain(fresh_project, "widgets")


def test_names() -> None:
    assert [singular_of(n) for n in ("orders", "categories", "addresses", "news", "data")] == [
        "order",
        "category",
        "addresse",
        "new",
        "data",
    ]
    names = names_for("purchase_orders")
    assert (names.entity, names.Entity, names.Domain, names.url, names.ENTITY) == (
        "purchase_order",
        "PurchaseOrder",
        "PurchaseOrders",
        "purchase-orders",
        "PURCHASE_ORDER",
    )
    assert names_for("addresses", singular="address").Entity == "Address"
    with pytest.raises(ToolError, match="pass --singular"):
        names_for("ifs")


# Near the length limit, two words: every copied line must still fit ruff's 100 columns.
LONG = "yearly_purchase_order_line_adjustments"


def test_a_run_writes_registers_and_is_ruff_clean(fresh_project: Path) -> None:
    written = new_domain(fresh_project, LONG)
    relative = {str(path) for path in written}
    assert {f"app/{LONG}/router.py", f"tests/{LONG}/test_crud.py"} <= relative
    assert {"app/main.py", "app/models.py", "pyproject.toml"} <= relative
    main_py = (fresh_project / "app" / "main.py").read_text()
    assert f"from app.{LONG}.router import" in main_py
    assert f"app.include_router({LONG}_router, prefix=settings.api_prefix)" in main_py
    models = (fresh_project / "app" / "models.py").read_text()
    assert '"YearlyPurchaseOrderLineAdjustment"' in models
    assert (
        f' | app.{LONG}", "app.jobs", "app.users"' in (fresh_project / "pyproject.toml").read_text()
    )
    router = (fresh_project / "app" / LONG / "router.py").read_text()
    assert f'prefix="/{LONG.replace("_", "-")}"' in router
    assert f'"/{{{LONG.removesuffix("s")}_id:int}}"' in router
    ruff = Path(sys.executable).with_name("ruff")
    for args in (["check"], ["format", "--check"]):
        checked = subprocess.run(  # noqa: S603
            [str(ruff), *args, "--no-cache", *(str(p) for p in written if p.suffix == ".py")],
            cwd=fresh_project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout
    with pytest.raises(ToolError, match="exists already"):
        new_domain(fresh_project, LONG)


def test_a_failure_after_the_first_write_rolls_everything_back(
    fresh_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(self: Undo, path: Path, text: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Undo, "replace", broken_replace)
    before = snapshot(fresh_project)
    with pytest.raises(OSError, match="disk full"):
        new_domain(fresh_project, "widgets")
    assert snapshot(fresh_project) == before


def test_the_command_lists_what_it_wrote(
    fresh_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    revision = migration.next_revision(fresh_project)
    assert main(["addresses", "--singular", "address", "--root", str(fresh_project)]) == 0
    out = capsys.readouterr().out
    assert "wrote app/addresses/router.py\n" in out
    assert "wrote tests/addresses/test_crud.py\n" in out
    assert f"wrote migrations/versions/{revision}_create_addresses.py\n" in out
    assert "wrote app/main.py\n" in out
    assert "class Address(" in (fresh_project / "app" / "addresses" / "models.py").read_text()
    assert migration.next_revision(fresh_project) == f"{int(revision) + 1:04d}"

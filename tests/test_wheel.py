"""The built wheel works on its own: templates, migrations and the demo configuration inside.

Builds the wheel from this checkout, installs it into a new virtual environment outside the
checkout and runs the commands that need the packaged resources against a scratch database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile

import pytest

from tests.paths import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:
    """``{"bin": …, "wheel": …}`` of a fresh environment holding only the built wheel + deps."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), str(REPO)],
        check=True,
        cwd=root,
    )
    (wheel,) = dist.glob("sqlcompiler-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], check=True, cwd=root)
    return {"bin": str(env_dir / "bin"), "wheel": str(wheel), "cwd": str(root)}


def _sqlc(installed, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQLCOMPILER_", "PYTHON"))}
    env["HOME"] = installed["cwd"]  # no embedded cluster is ever needed: every call has --dsn
    return subprocess.run(
        [os.path.join(installed["bin"], "sqlcompiler"), *args],
        capture_output=True,
        text=True,
        cwd=installed["cwd"],  # outside the checkout: nothing can come from it
        env=env,
        timeout=600,
    )


def test_wheel_carries_the_resources(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    for needed in (
        "sqlcompiler/_data/templates/run.sql.j2",
        "sqlcompiler/_data/templates/prologue.sql.j2",
        "sqlcompiler/_data/templates/phones.sql.j2",
        "sqlcompiler/_data/templates/bank_sync_service.sql",
        "sqlcompiler/_data/alembic/env.py",
        "sqlcompiler/_data/alembic/versions/0001_campaign_engine.py",
        "sqlcompiler/_data/examples/demo.yaml",
    ):
        assert needed in names


def test_installed_wheel_migrates_runs_the_demo_and_compiles(installed, empty_dsn):
    located = subprocess.run(
        [os.path.join(installed["bin"], "python"), "-c", "import sqlcompiler; print(sqlcompiler.__file__)"],
        capture_output=True, text=True, cwd=installed["cwd"], check=True,
    ).stdout  # fmt: skip
    assert str(REPO) not in located and "site-packages" in located

    ddl = _sqlc(installed, "db", "sql")
    assert ddl.returncode == 0, ddl.stderr
    assert "CREATE SCHEMA IF NOT EXISTS campaign_engine" in ddl.stdout

    demo = _sqlc(installed, "--dsn", empty_dsn, "demo", "--customers", "1000")
    assert demo.returncode == 0, demo.stderr
    assert "total" in demo.stdout and "succeeded" in demo.stdout

    compiled = _sqlc(installed, "--dsn", empty_dsn, "compile")
    assert compiled.returncode == 0, compiled.stderr
    assert "CREATE TEMPORARY TABLE" in compiled.stdout.upper()
    assert "INSERT INTO campaign_results.assignments_staging" in compiled.stdout

"""`[[migrations]]` against tracking tables written by the real tools: Django's `migrate` and
Alembic's `upgrade`, run in a subprocess on the test's database (PostgreSQL and SQLite).

Django's own migration plan is the oracle: what the gate calls pending must be exactly what
`migrate` would apply next.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from pytest_deploygate.checks.migrations import TOOLS
from pytest_deploygate.checks.migrations.django import Django
from pytest_deploygate.config import DatabaseConfig
from pytest_deploygate.db import Database
from pytest_deploygate.db.url import parse_database_url
from pytest_deploygate.secrets import Redactor

from .conftest import Backend


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def django_database(db: Backend) -> dict[str, str]:
    """Django's DATABASES["default"] for the test's database (its owner: migrate writes)."""
    if db.pg is None:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db.gate.path / "app.db")}
    params = conninfo_to_dict(db.pg.admin_url)
    return {"ENGINE": "django.db.backends.postgresql", "NAME": str(params["dbname"]), "USER": str(params.get("user", "")),
            "HOST": str(params.get("host", "")), "PORT": str(params.get("port", "")),
            "PASSWORD": str(params.get("password", ""))}


# -- django --------------------------------------------------------------------------------------

SETTINGS = """
import json, os
SECRET_KEY = "test"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.contenttypes", "shop", "cms"]
DATABASES = {"default": json.loads(os.environ["DG_TEST_DATABASE"])}
"""
# Django's plan, after any migrate: what `migrate` would apply next, as app.name
PLAN = """
import django
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
django.setup()
executor = MigrationExecutor(connection)
plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
print("PLAN " + json.dumps(sorted(f"{m.app_label}.{m.name}" for m, backwards in plan)))
"""


def migration(app: str, name: str, depends: str | None, operations: str, replaces: str = "") -> str:
    dependencies = f"[('{app}', '{depends}')]" if depends else "[('contenttypes', '0001_initial')]"
    return f"""
from django.db import migrations, models


class Migration(migrations.Migration):
{f"    replaces = {replaces}" if replaces else ""}
    dependencies = {dependencies}
    operations = [{operations}]
"""


AD = "migrations.CreateModel('Ad', [('id', models.BigAutoField(primary_key=True)), ('title', models.CharField(max_length=100))])"
AD_SLUG = "migrations.AddField('ad', 'slug', models.SlugField(default=''))"
AD_BOTH = ("migrations.CreateModel('Ad', [('id', models.BigAutoField(primary_key=True)), "
           "('title', models.CharField(max_length=100)), ('slug', models.SlugField(default=''))])")
PAGE = "migrations.CreateModel('Page', [('id', models.BigAutoField(primary_key=True))])"
PAGE_TITLE = "migrations.AddField('page', 'title', models.CharField(max_length=50, default=''))"
PAGE_SLUG = "migrations.AddField('page', 'slug', models.SlugField(default=''))"


def django_project(root: Path) -> None:
    """Two apps: `shop`, and `cms`, whose AppConfig labels it `cmscore` (as wagtail's `wagtail/`
    is `wagtailcore`): its rows in django_migrations say cmscore, its folder says cms."""
    write(root, {
        "settings.py": SETTINGS,
        "shop/__init__.py": "", "shop/models.py": "", "shop/migrations/__init__.py": "",
        "shop/migrations/0001_initial.py": migration("shop", "0001_initial", None, AD),
        "shop/migrations/0002_ad_slug.py": migration("shop", "0002_ad_slug", "0001_initial", AD_SLUG),
        "cms/__init__.py": "", "cms/models.py": "", "cms/migrations/__init__.py": "",
        "cms/apps.py": """
            from django.apps import AppConfig


            class CmsConfig(AppConfig):
                name = "cms"
                label = "cmscore"
                verbose_name = "CMS"
        """,
        "cms/migrations/0001_initial.py": migration("cmscore", "0001_initial", None, PAGE),
        "cms/migrations/0002_page_title.py": migration("cmscore", "0002_page_title", "0001_initial", PAGE_TITLE),
    })


def manage(root: Path, db: Backend, *args: str) -> list[str]:
    """`manage.py migrate ARGS` (nothing when no args), then Django's plan: what it would apply next."""
    script = "import json, sys\n" + (
        "import django\ndjango.setup()\nfrom django.core.management import call_command\n"
        f"call_command('migrate', *{list(args)!r}, verbosity=0)\n" if args else "") + PLAN
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings", "PYTHONPATH": str(root),
           "DG_TEST_DATABASE": json.dumps(django_database(db))}
    done = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("PLAN "))
    return [name for name in json.loads(line[5:]) if not name.startswith("contenttypes.")]


def gate_pending(db: Backend, directory: Path, tool: str = "django") -> list[str]:
    """What the gate finds pending, through the tool's public reader, on the gate's own connection."""
    from pytest_deploygate.checks.migrations import read_tracking

    database = Database(DatabaseConfig("main", parse_database_url(db.url, db.gate.path), 5, 60), Redactor())
    try:
        with database.session() as session:
            tracking = read_tracking(session, tool)
    finally:
        database.close()
    assert tracking is not None
    return sorted(TOOLS[tool].findings(directory, tracking.rows).pending)


def migrations_gate(db: Backend, tool: str, directory: str) -> None:
    db.config(f'[[migrations]]\ndatabase = "main"\ntool = "{tool}"\ndirectory = "{directory}"\n')


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_django_app_whose_label_is_not_its_folder_is_in_sync_after_migrate(db: Backend) -> None:
    """The false alarm of issue 12: "2 migrations on disk are not applied" right after `migrate`."""
    root = db.gate.path
    django_project(root)
    assert manage(root, db, "--noinput") == []
    migrations_gate(db, "django", ".")
    result = db.gate.run("-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*migrations[[]main:pending[]] PASSED*"])


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_django_new_migration_in_a_labelled_app_is_pending_by_its_label(db: Backend) -> None:
    root = db.gate.path
    django_project(root)
    manage(root, db, "--noinput")
    write(root, {"cms/migrations/0003_page_slug.py": migration("cmscore", "0003_page_slug", "0002_page_title", PAGE_SLUG)})
    assert manage(root, db) == ["cmscore.0003_page_slug"]
    assert gate_pending(db, root) == ["cmscore.0003_page_slug"]
    migrations_gate(db, "django", ".")
    result = db.gate.run()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED *:pending] - 1 migration on disk is not applied to main (django): "
                                 "cmscore.0003_page_slug"])


def squash(root: Path) -> None:
    write(root, {"shop/migrations/0001_squashed_0002_ad_slug.py": migration(
        "shop", "0001_squashed_0002_ad_slug", None, AD_BOTH,
        replaces="[('shop', '0001_initial'), ('shop', '0002_ad_slug')]")})


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("migrated", ["nothing", "half of what the squash replaces", "everything"])
def test_django_squashed_migrations_are_pending_as_django_plans_them(db: Backend, migrated: str) -> None:
    """A squashed migration beside the ones it replaces: when none or all of those are applied it
    stands in for them; when some are, it is set aside and the rest are applied one by one."""
    root = db.gate.path
    django_project(root)
    if migrated == "nothing":
        squash(root)
        manage(root, db, "contenttypes", "--noinput")
    elif migrated == "half of what the squash replaces":
        manage(root, db, "shop", "0001_initial", "--noinput")
        squash(root)
    else:
        squash(root)
        manage(root, db, "--noinput")
    plan = manage(root, db)
    assert gate_pending(db, root) == plan
    expected = {"nothing": ["cmscore.0001_initial", "cmscore.0002_page_title", "shop.0001_squashed_0002_ad_slug"],
                "half of what the squash replaces": ["cmscore.0001_initial", "cmscore.0002_page_title", "shop.0002_ad_slug"],
                "everything": []}[migrated]
    assert plan == expected  # the cases are what they say


def test_django_labels_come_from_apps_py_without_importing_it(tmp_path: Path) -> None:
    write(tmp_path, {
        "a/apps.py": "import sys\nsys.exit('imported!')\nfrom django.apps import AppConfig\n"
                     "class A(AppConfig):\n    name = 'project.a'\n    label = 'alpha'\n",
        "a/migrations/__init__.py": "", "a/migrations/0001_initial.py": "",
        # two configs: Django takes the one marked default
        "b/apps.py": "from django import apps\nclass B1(apps.AppConfig):\n    name = 'b'\n    label = 'one'\n"
                     "class B2(apps.AppConfig):\n    name = 'b'\n    label = 'two'\n    default = True\n",
        "b/migrations/__init__.py": "", "b/migrations/0001_initial.py": "",
        # no label: the last part of its name
        "c/apps.py": "from django.apps import AppConfig\nclass C(AppConfig):\n    name = 'project.c'\n",
        "c/migrations/__init__.py": "", "c/migrations/0001_initial.py": "",
        # an app without apps.py, and one overridden by the config
        "d/migrations/__init__.py": "", "d/migrations/0001_initial.py": "",
        "e/apps.py": "from django.apps import AppConfig\nclass E(AppConfig):\n    name = 'e'\n    label = 'epsilon'\n",
        "e/migrations/__init__.py": "", "e/migrations/0001_initial.py": "",
        # a config marked default = False is not the one Django takes: the folder's name
        "f/apps.py": "from django.apps import AppConfig\nclass F(AppConfig):\n    name = 'f'\n    label = 'other'\n"
                     "    default = False\n",
        "f/migrations/__init__.py": "", "f/migrations/0001_initial.py": "",
    })
    migrations, _, _ = Django({"e": "custom"}).scan(tmp_path)
    assert [m.name for m in migrations] == ["alpha.0001_initial", "c.0001_initial", "custom.0001_initial",
                                            "d.0001_initial", "f.0001_initial", "two.0001_initial"]


def test_app_labels_in_the_config_override_apps_py(db_sqlite: Backend) -> None:
    db = db_sqlite
    root = db.gate.path
    django_project(root)
    manage(root, db, "--noinput")
    (root / "cms/apps.py").write_text("from django.apps import AppConfig\nclass C(AppConfig):\n    label = LABEL\n")
    db.config('[[migrations]]\ndatabase = "main"\ntool = "django"\ndirectory = "."\napp_labels = { cms = "cmscore" }\n')
    db.gate.run().assert_outcomes(passed=3)


def test_app_labels_is_for_django_only(db_sqlite: Backend) -> None:
    db_sqlite.gate.sqlite("CREATE TABLE t (id int);")
    (db_sqlite.gate.path / "migrations").mkdir()
    db_sqlite.config('[[migrations]]\ndatabase = "main"\ntool = "knex"\ndirectory = "migrations"\n'
                     'app_labels = { cms = "cmscore" }\n')
    result = db_sqlite.gate.run()
    assert result.ret != 0
    result.stdout.fnmatch_lines(['*migrations]] #1: key "app_labels": is for tool = "django" only*'])


@pytest.fixture
def db_sqlite(gate: object) -> Backend:
    from .conftest import Gate

    assert isinstance(gate, Gate)
    return Backend("sqlite", gate, "sqlite:///app.db")


# -- alembic -------------------------------------------------------------------------------------

ENV_PY = """
import os
from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["DG_TEST_SQLALCHEMY_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""


def revision(rev: str, down: str | None, body: str) -> str:
    # as `alembic revision` writes them today: annotated module-level assignments
    return f'''
"""{rev}"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "{rev}"
down_revision: Union[str, Sequence[str], None] = {down!r}
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    {body}


def downgrade() -> None:
    pass
'''


def alembic_project(root: Path) -> None:
    """Revisions shipped inside the application's package (`script_location = myapp:migrations`)."""
    write(root, {
        "alembic.ini": "[alembic]\nscript_location = myapp:migrations\n",
        "myapp/__init__.py": "",
        "myapp/migrations/__init__.py": "",
        "myapp/migrations/env.py": ENV_PY,
        "myapp/migrations/versions/__init__.py": "",
        "myapp/migrations/versions/1a2b3c_create_ads.py": revision(
            "1a2b3c", None, 'op.create_table("ads", sa.Column("id", sa.Integer, primary_key=True))'),
        "myapp/migrations/versions/4d5e6f_add_slug.py": revision(
            "4d5e6f", "1a2b3c", 'op.add_column("ads", sa.Column("slug", sa.String(100)))'),
    })


def sqlalchemy_url(db: Backend) -> str:
    if db.pg is None:
        return f"sqlite:///{db.gate.path / 'app.db'}"
    return db.pg.admin_url.replace("postgresql://", "postgresql+psycopg://", 1)


def alembic(root: Path, db: Backend, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(root), "DG_TEST_SQLALCHEMY_URL": sqlalchemy_url(db)}
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", "alembic.ini", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_alembic_upgrade_head_then_a_new_revision_is_pending(db: Backend) -> None:
    root = db.gate.path
    alembic_project(root)
    alembic(root, db, "upgrade", "head")
    migrations_gate(db, "alembic", "myapp/migrations")
    db.gate.run().assert_outcomes(passed=3)

    write(root, {"myapp/migrations/versions/7a8b9c_add_price.py": revision(
        "7a8b9c", "4d5e6f", 'op.add_column("ads", sa.Column("price", sa.Integer))')})
    result = db.gate.run()
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED *:pending] - 1 migration on disk is not applied to main (alembic): 7a8b9c*"])

    alembic(root, db, "upgrade", "head")
    db.gate.run().assert_outcomes(passed=3)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_alembic_revision_applied_but_gone_from_the_package_is_missing(db: Backend) -> None:
    root = db.gate.path
    alembic_project(root)
    alembic(root, db, "upgrade", "head")
    (root / "myapp/migrations/versions/4d5e6f_add_slug.py").unlink()
    migrations_gate(db, "alembic", "myapp/migrations")
    result = db.gate.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["FAILED *:missing] - *4d5e6f*"])

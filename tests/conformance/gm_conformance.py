"""pytest plugin: run Glance's own database tests against our glance-manage binary.

Loaded by run.sh with ``-p gm_conformance``. It

* puts our binary in place of the two ways Glance's tests build a schema:
  ``alembic.command.upgrade(config, REV)`` becomes ``glance-manage --database-url URL db upgrade
  REV`` and ``glance.tests.utils.db_sync()`` becomes ``glance-manage --database-url URL db sync``
  (URL = the engine the oslo.db fixture gave the test, password included);
* makes the DB API suite (``test_sqlalchemy.py``, which upstream runs on an in-memory SQLite
  schema made by ``metadata.create_all``) use one database per process, made once by our
  ``db sync``, emptied of rows before each test;
* keeps only the tests of the backend under test (``GM_BACKEND``), judged by the oslo.db fixture
  a test class declares, not by its name (``TestTrainMigrate01_PySQL`` is a PostgreSQL test);
* turns "backend unavailable" into a failure instead of oslo.db's silent skip;
* writes one JSON line per test (outcome, the Glance file:line that failed, the assertion) to
  ``GM_RESULTS`` for summarize.py.

``GM_MODE=reference`` leaves Glance's own alembic in place (same selection, same DB API setup with
Glance's ``db_sync``): the control run that tells our defects from the tests' own limits.
"""

import json
import os
import re
import subprocess
import sys
import unittest

import pytest

BACKEND = os.environ.get("GM_BACKEND", "sqlite")
SUITE = os.environ.get("GM_SUITE", "")
MODE = os.environ.get("GM_MODE", "ours")
BINARY = os.environ.get("GM_BINARY", "")
RESULTS = os.environ.get("GM_RESULTS", "")
CALL_LOG = os.environ.get("GM_CALL_LOG", "")
BACKENDS = ("sqlite", "postgresql", "mysql")


class GlanceManageFailed(AssertionError):
    """Our binary exited non-zero: the test fails here, with the binary's own message."""


def cli_url(url):
    """The engine's URL as our binary takes it (SQLAlchemy's form, password in clear)."""
    if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
        raise RuntimeError(
            "the test engine is an in-memory SQLite database, which another process cannot "
            "open; run.sh sets OS_TEST_DBAPI_ADMIN_CONNECTION to a sqlite file URL so oslo.db "
            "provisions file databases"
        )
    return url.render_as_string(hide_password=False)


def run_glance_manage(url, *args):
    cmd = [BINARY, "--database-url", cli_url(url), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if CALL_LOG:
        with open(CALL_LOG, "a") as log:
            log.write(json.dumps({"args": list(args), "db": url.database, "rc": proc.returncode})
                      + "\n")
    if proc.returncode != 0:
        raise GlanceManageFailed(
            "glance-manage %s exited %d on %s:\n%s%s"
            % (" ".join(args), proc.returncode, url.get_backend_name(), proc.stdout, proc.stderr)
        )
    return proc.stdout


def _writer_engine():
    from oslo_db.sqlalchemy import enginefacade

    # The engine Glance's alembic env.py would use (env.py: run_migrations_online).
    return enginefacade.writer.get_engine()


def substitute_upgrade(config, revision, sql=False, tag=None):
    """Stands in for alembic.command.upgrade(config, revision)."""
    if sql:
        raise NotImplementedError("offline (--sql) alembic upgrade is not substituted")
    engine = _writer_engine()
    configured = config.get_main_option("sqlalchemy.url") or ""
    if engine.url.database and engine.url.database not in configured:
        raise RuntimeError(
            "alembic config points at %r but the fixture engine is %r"
            % (configured, engine.url.database)
        )
    args = ["db", "upgrade"]
    if revision not in ("heads", "head"):
        args.append(revision)
    run_glance_manage(engine.url, *args)


def substitute_db_sync(version="heads", engine=None):
    """Stands in for glance.tests.utils.db_sync(version, engine)."""
    if engine is None:
        from glance.db.sqlalchemy import api as db_api

        engine = db_api.get_engine()
    args = ["db", "sync"]
    if version not in (None, "heads", "head"):
        args.append(version)
    run_glance_manage(engine.url, *args)


# --- the DB API suite (test_sqlalchemy.py) on a real database ---------------------------------

class DbApiDatabase:
    """One database per test process, its schema made once, its rows emptied before each test."""

    def __init__(self):
        self.url = None
        self.ident = None
        self.backend = None
        self.tables = None

    def create(self):
        from oslo_db.sqlalchemy import provision

        self.backend = provision.Backend.backend_for_database_type(BACKEND)
        self.ident = "gm_conf_dbapi_%d" % os.getpid()
        self.backend.create_named_database(self.ident, conditional=True)
        self.url = self.backend.provisioned_database_url(self.ident)

    def drop(self):
        if self.ident is not None:
            from glance.db.sqlalchemy import api as db_api

            db_api.get_engine().dispose()
            self.backend.drop_named_database(self.ident, conditional=True)

    def make_schema(self, engine):
        if MODE == "ours":
            substitute_db_sync(engine=engine)
        else:
            import glance.tests.utils as test_utils

            test_utils.db_sync(engine=engine)
        import sqlalchemy

        meta = sqlalchemy.MetaData()
        meta.reflect(bind=engine)
        # Children first, so plain DELETEs work where TRUNCATE is not used (SQLite).
        self.tables = [t.name for t in reversed(meta.sorted_tables)
                       if t.name != "alembic_version"]
        if not self.tables:
            raise RuntimeError("db sync left no tables in %s" % self.ident)

    def empty(self, engine):
        dialect = engine.dialect.name
        with engine.begin() as conn:
            if dialect == "postgresql":
                conn.exec_driver_sql(
                    "TRUNCATE %s RESTART IDENTITY CASCADE"
                    % ", ".join('"%s"' % t for t in self.tables))
            elif dialect == "mysql":
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
                for t in self.tables:
                    conn.exec_driver_sql("TRUNCATE TABLE `%s`" % t)
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
            else:
                for t in self.tables:
                    conn.exec_driver_sql('DELETE FROM "%s"' % t)
                has_seq = conn.exec_driver_sql(
                    "SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'").first()
                if has_seq:
                    conn.exec_driver_sql("DELETE FROM sqlite_sequence")


DBAPI_DB = DbApiDatabase()


def dbapi_get_db(config):
    """Replaces test_sqlalchemy.get_db: the same, pointed at our database instead of sqlite://."""
    from oslo_db import options
    from oslo_config import cfg
    import glance.db.sqlalchemy.api

    options.set_defaults(cfg.CONF, connection=DBAPI_DB.url.render_as_string(hide_password=False))
    config(debug=False)
    return glance.db.sqlalchemy.api


def dbapi_reset_db(db_api):
    """Replaces test_sqlalchemy.reset_db / reset_db_metadef (which drop and create_all)."""
    engine = db_api.get_engine()
    if DBAPI_DB.tables is None:
        DBAPI_DB.make_schema(engine)
    DBAPI_DB.empty(engine)


# --- pytest hooks -----------------------------------------------------------------------------

def pytest_configure(config):
    if BACKEND not in BACKENDS:
        raise pytest.UsageError("GM_BACKEND must be one of %s" % ", ".join(BACKENDS))
    if MODE not in ("ours", "reference"):
        raise pytest.UsageError("GM_MODE must be ours or reference")
    if MODE == "ours" and not os.access(BINARY, os.X_OK):
        raise pytest.UsageError("GM_BINARY=%r is not an executable" % BINARY)

    from oslo_db.sqlalchemy import test_fixtures

    # A backend that cannot be reached fails the test rather than skipping it.
    test_fixtures.OpportunisticDBTestMixin.SKIP_ON_UNAVAILABLE_DB = False

    if MODE == "ours":
        import alembic.command
        import glance.tests.utils

        # Glance's tests call these through module attributes at call time
        # (test_migrations.py: alembic_command.upgrade, test_utils.db_sync), so replacing the
        # attributes reaches every call site.
        alembic.command.upgrade = substitute_upgrade
        glance.tests.utils.db_sync = substitute_db_sync

    if SUITE == "dbapi":
        from glance.tests.functional.db import base_metadef
        from glance.tests.functional.db import test_sqlalchemy

        # base_metadef looks for the metadef JSON files at <source tree>/etc/metadefs; an
        # installed Glance has them at <prefix>/etc/glance/metadefs (its wheel's data files).
        installed = os.path.join(sys.prefix, "etc", "glance", "metadefs")
        if not os.path.isdir(base_metadef.METADEFS_DIR) and os.path.isdir(installed):
            base_metadef.METADEFS_DIR = installed

        DBAPI_DB.create()
        test_sqlalchemy.get_db = dbapi_get_db
        test_sqlalchemy.reset_db = dbapi_reset_db
        test_sqlalchemy.reset_db_metadef = dbapi_reset_db


def pytest_unconfigure(config):
    if SUITE == "dbapi":
        DBAPI_DB.drop()


def backend_of(cls):
    """The backend a Glance test class runs on, or None for a test that touches no database."""
    from oslo_db.sqlalchemy import test_fixtures

    if cls is None:
        return None
    if cls.__module__.endswith(".test_sqlalchemy"):
        return BACKEND  # the DB API suite runs on whichever database we point it at
    if issubclass(cls, test_fixtures.OpportunisticDBTestMixin):
        return cls.FIXTURE.DRIVER
    return None


def pytest_collection_modifyitems(session, config, items):
    keep, drop = [], []
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is None or not issubclass(cls, unittest.TestCase):
            drop.append(item)  # e.g. a "Test...Mixin" collected as a plain class
            continue
        backend = backend_of(cls)
        # Tests that need no database run once, with the sqlite group.
        if backend == BACKEND or (backend is None and BACKEND == "sqlite"):
            item.user_properties.append(("gm_backend", backend or "none"))
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


GLANCE_FRAME = re.compile(r'File "([^"]*/glance/tests/[^"]+)", line (\d+), in (\S+)')


EXCEPTION_LINE = re.compile(r"^(E\s+)?[\w.]*(Error|Exception|Failed|Failure)\b.*:")


def _failure_facts(text):
    """(glance test file:line, assertion) from a failure's formatted traceback."""
    where = ""
    for m in GLANCE_FRAME.finditer(text):
        path = m.group(1)
        where = "%s:%s (%s)" % (path[path.rindex("/glance/") + 1:], m.group(2), m.group(3))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    message = ""
    for i, ln in enumerate(lines):
        if EXCEPTION_LINE.match(ln):
            # the exception line and its continuation (testtools puts reference/actual below)
            tail = []
            for nxt in lines[i + 1:i + 4]:
                if nxt.startswith(("File ", "Traceback", "During handling")):
                    break
                tail.append(nxt)
            message = " | ".join([ln] + tail)
    return where, message[:600]


def _record(entry):
    if RESULTS:
        entry.update(suite=SUITE, mode=MODE)
        with open(RESULTS, "a") as out:
            out.write(json.dumps(entry) + "\n")


def pytest_collectreport(report):
    if report.failed:
        where, message = _failure_facts(str(report.longrepr))
        _record({"test": report.nodeid, "backend": BACKEND, "outcome": "error",
                 "where": where or report.nodeid, "message": message or "collection failed"})


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and not report.passed) \
            or (report.when == "teardown" and report.failed):
        if report.when == "teardown":
            outcome = "error"
        elif report.when == "setup":
            outcome = "error" if report.failed else "skipped"
        else:
            outcome = report.outcome
        text = str(report.longrepr) if report.longrepr else ""
        where, message = _failure_facts(text) if report.failed else ("", "")
        if report.skipped and report.longrepr:
            message = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else text
        backend = dict(report.user_properties).get("gm_backend", "")
        _record({"test": report.nodeid, "backend": backend or BACKEND, "outcome": outcome,
                 "where": where, "message": message})

"""Diagnostic only (run.sh --emulate-issue10): approximate issue 10's two fixes around our binary.

The first failing assertion of a Glance test hides everything after it. To see what would still
fail once issue 10 is fixed, this wraps each single-revision ``db upgrade`` of our binary with
what Glance's own revision does differently:

* ``ocata_expand01`` leaves existing rows alone: every ``images.visibility`` back to NULL (the
  column is new, so in Glance every pre-existing row has NULL), and on MySQL Glance's two
  triggers, created from the SQL text in Glance's own revision module;
* ``train_expand01`` changes no row: ``image_locations.meta_data`` restored to what it was;
* ``ocata_contract01`` drops the two triggers on MySQL.

This is not evidence that a fix works: only the real binary, without this module, is.
"""

from glance.db.sqlalchemy.alembic_migrations.versions import (
    ocata_expand01_add_visibility as ocata_expand01,
)


def _glance_trigger_sql():
    msg = ocata_expand01.ERROR_MESSAGE
    return (ocata_expand01.MYSQL_INSERT_TRIGGER % ((msg,) * 3),
            ocata_expand01.MYSQL_UPDATE_TRIGGER % ((msg,) * 4))


def around_upgrade(engine, revision, upgrade):
    """Runs upgrade() (our binary) and undoes/adds what Glance's revision would not/would."""
    saved_locations = None
    if revision == "train_expand01":
        with engine.connect() as conn:
            saved_locations = conn.exec_driver_sql(
                "SELECT id, meta_data FROM image_locations").fetchall()
    upgrade()
    mysql = engine.dialect.name == "mysql"
    with engine.begin() as conn:
        if revision == "ocata_expand01":
            conn.exec_driver_sql("UPDATE images SET visibility = NULL")
            if mysql:
                for sql in _glance_trigger_sql():
                    conn.exec_driver_sql(sql)
        elif revision == "train_expand01":
            for row_id, meta_data in saved_locations:
                conn.exec_driver_sql(
                    "UPDATE image_locations SET meta_data = %s WHERE id = %s"
                    if mysql or engine.dialect.name == "postgresql" else
                    "UPDATE image_locations SET meta_data = ? WHERE id = ?",
                    (meta_data, row_id))
        elif revision == "ocata_contract01" and mysql:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS insert_visibility")
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS update_visibility")

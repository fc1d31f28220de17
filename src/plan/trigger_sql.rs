//! Trigger DDL per dialect. The body is written exactly as the snapshot (or the live
//! database) spells it, so the catalog reports back the same text: MariaDB keeps it from
//! `BEGIN` to `END` in `ACTION_STATEMENT`, SQLite keeps the whole statement, PostgreSQL keeps
//! the function body between the dollar quotes in `prosrc`.
//!
//! A MySQL body with `BEGIN … END` holds semicolons; sent through the driver as one statement
//! it needs no `DELIMITER` (that is a directive of the `mysql` command-line client, which
//! `plan::script` adds to printed scripts).

use crate::schema::model::{Dialect, Trigger};
use crate::sql::quote::quote;

/// `CREATE TRIGGER …`; on PostgreSQL first the trigger function, named after the trigger.
pub fn create_trigger(dialect: Dialect, t: &Trigger) -> Vec<String> {
    let name = quote(dialect, &t.name);
    let table = quote(dialect, &t.table);
    let head = format!(
        "CREATE TRIGGER {name} {} {} ON {table}",
        t.timing.sql(),
        t.event.sql()
    );
    match dialect {
        Dialect::Postgres => {
            let tag = dollar_tag(&t.body);
            vec![
                format!(
                    "CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS {tag}{}{tag}",
                    t.body
                ),
                format!("{head} FOR EACH ROW EXECUTE FUNCTION {name}()"),
            ]
        }
        // Glance's layout: the clauses on their own lines, the body as written.
        Dialect::Mysql | Dialect::Sqlite => vec![format!("{head}\nFOR EACH ROW\n{}", t.body)],
    }
}

/// `DROP TRIGGER …`, and on PostgreSQL the trigger's own function.
pub fn drop_trigger(
    dialect: Dialect,
    table: &str,
    name: &str,
    function: Option<&str>,
) -> Vec<String> {
    match dialect {
        Dialect::Postgres => {
            let mut out = vec![format!(
                "DROP TRIGGER {} ON {}",
                quote(dialect, name),
                quote(dialect, table)
            )];
            if let Some(f) = function {
                out.push(format!("DROP FUNCTION {}()", quote(dialect, f)));
            }
            out
        }
        Dialect::Mysql | Dialect::Sqlite => vec![format!("DROP TRIGGER {}", quote(dialect, name))],
    }
}

/// A dollar-quote tag the body does not contain: `$body$`, else `$body1$`, `$body2$`, …
fn dollar_tag(body: &str) -> String {
    let mut n = 0;
    loop {
        let tag = if n == 0 {
            "$body$".to_string()
        } else {
            format!("$body{n}$")
        };
        if !body.contains(&tag) {
            return tag;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::{TriggerEvent, TriggerTiming};

    fn trigger(body: &str) -> Trigger {
        Trigger::new(
            "set_v",
            "images",
            TriggerTiming::Before,
            TriggerEvent::Insert,
            body,
        )
    }

    #[test]
    fn mysql_and_sqlite_write_the_body_after_for_each_row() {
        let t = trigger("BEGIN\n  SET NEW.v = 1;\nEND");
        assert_eq!(
            create_trigger(Dialect::Mysql, &t),
            vec![
                "CREATE TRIGGER `set_v` BEFORE INSERT ON `images`\nFOR EACH ROW\nBEGIN\n  SET NEW.v = 1;\nEND"
            ]
        );
        assert_eq!(
            drop_trigger(Dialect::Sqlite, "images", "set_v", None),
            vec!["DROP TRIGGER \"set_v\""]
        );
    }

    #[test]
    fn postgres_creates_the_function_first() {
        let t = trigger("BEGIN NEW.v := '$body$'; RETURN NEW; END");
        let sql = create_trigger(Dialect::Postgres, &t);
        assert_eq!(
            sql[0],
            "CREATE OR REPLACE FUNCTION \"set_v\"() RETURNS trigger LANGUAGE plpgsql AS $body1$BEGIN NEW.v := '$body$'; RETURN NEW; END$body1$"
        );
        assert_eq!(
            sql[1],
            "CREATE TRIGGER \"set_v\" BEFORE INSERT ON \"images\" FOR EACH ROW EXECUTE FUNCTION \"set_v\"()"
        );
        assert_eq!(
            drop_trigger(Dialect::Postgres, "images", "set_v", Some("set_v")),
            vec![
                "DROP TRIGGER \"set_v\" ON \"images\"",
                "DROP FUNCTION \"set_v\"()"
            ]
        );
    }
}

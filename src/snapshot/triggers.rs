//! `[[triggers]]`: row triggers, each checked against the tables of the snapshot.

use std::collections::{BTreeMap, HashSet};

use toml::Spanned;

use super::Locations;
use super::error::{Ctx, SnapshotError};
use super::raw::RawTrigger;
use super::table::{check_ident, parse_dialects};
use crate::schema::model::{Dialect, Schema, Trigger, TriggerEvent, TriggerTiming};

/// Parses the triggers of a file whose tables are already in `schema`.
pub(super) fn parse_triggers(
    cx: &Ctx,
    raw: Vec<Spanned<RawTrigger>>,
    schema: &Schema,
    locs: &mut Locations,
) -> Result<Vec<Trigger>, SnapshotError> {
    let mut out: Vec<Trigger> = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for rt in raw {
        let span = rt.span();
        let rt = rt.into_inner();
        let name = rt.name.get_ref().clone();
        check_ident(cx, &name, rt.name.span(), "trigger")?;
        // MySQL and SQLite name triggers per schema (PostgreSQL per table): one name, once.
        if !names.insert(name.clone()) {
            return Err(cx.err_help(
                rt.name.span(),
                format!("trigger name `{name}` is used twice"),
                "trigger names are unique per schema on MySQL and SQLite",
            ));
        }
        locs.insert(format!("triggers.{name}"), span.clone());
        let table = rt.table.get_ref().clone();
        if !schema.tables.contains_key(&table) {
            let known: Vec<&str> = schema.tables.keys().map(String::as_str).collect();
            return Err(cx.err_help(
                rt.table.span(),
                format!("trigger `{name}` is on unknown table `{table}`"),
                format!("tables of this snapshot: {}", known.join(", ")),
            ));
        }
        let timing = TriggerTiming::parse(rt.timing.get_ref()).ok_or_else(|| {
            cx.err_help(
                rt.timing.span(),
                format!("unknown trigger timing `{}`", rt.timing.get_ref()),
                "timing is `before` or `after`",
            )
        })?;
        let event = TriggerEvent::parse(rt.event.get_ref()).ok_or_else(|| {
            cx.err_help(
                rt.event.span(),
                format!("unknown trigger event `{}`", rt.event.get_ref()),
                "event is `insert`, `update` or `delete`",
            )
        })?;
        let dialects = parse_dialects(cx, rt.dialects.as_ref())?;
        let mut bodies = BTreeMap::new();
        for (d, b) in [
            (Dialect::Sqlite, rt.sqlite),
            (Dialect::Postgres, rt.postgresql),
            (Dialect::Mysql, rt.mysql),
        ] {
            let Some(b) = b else { continue };
            if dialects.as_ref().is_some_and(|only| !only.contains(&d)) {
                return Err(cx.err_help(
                    b.span(),
                    format!(
                        "trigger `{name}` gives a `{}` body but `dialects` leaves {d} out",
                        d.key()
                    ),
                    "add the dialect to `dialects`, or remove the body",
                ));
            }
            if b.get_ref().trim().is_empty() {
                return Err(cx.err(b.span(), format!("trigger `{name}` has an empty body")));
            }
            bodies.insert(d, b.into_inner());
        }
        let body = match rt.body {
            Some(b) if b.get_ref().trim().is_empty() => {
                return Err(cx.err(b.span(), format!("trigger `{name}` has an empty body")));
            }
            Some(b) => b.into_inner(),
            None => String::new(),
        };
        let trigger = Trigger {
            name: name.clone(),
            table,
            timing,
            event,
            body,
            bodies,
            dialects,
            function: None,
            canonical: None,
        };
        if let Some(d) = Dialect::ALL
            .into_iter()
            .find(|d| trigger.applies_to(*d) && trigger.body_for(*d).is_empty())
        {
            return Err(cx.err_help(
                span,
                format!("trigger `{name}` has no body for {d}"),
                format!(
                    "give `body` (every dialect) or `{} = '''…'''`, or restrict the trigger with `dialects`",
                    d.key()
                ),
            ));
        }
        out.push(trigger);
    }
    Ok(out)
}

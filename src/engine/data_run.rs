//! Running data migrations: each step whose `pending` query still finds rows, each statement
//! in key-range batches where it can be split ([`crate::exec::batch`]), reported batch by
//! batch (progress) and step by step.

use std::time::Instant;

use super::events::{Event, retried};
use super::rolling::pending_of;
use super::upgrade::DataStep;
use crate::exec::Session;
use crate::exec::batch::{self, DEFAULT_BATCH_ROWS, split_update};
use crate::exec::connection::DbError;
use crate::observe::Observer;
use crate::revisions::RevisionSet;

/// Reports the session's retries as events.
pub(super) fn report_retries(session: &mut Session<'_>, obs: &mut dyn Observer<Event>) {
    for r in session.take_retries() {
        obs.on(&retried(r));
    }
}

/// The one-column primary key of `table` as `revision` declares it.
fn key_of(
    revs: &RevisionSet,
    revision: &str,
    table: &str,
    session: &Session<'_>,
) -> Option<String> {
    let schema = revs.get(revision)?.schema.resolve(session.dialect());
    match schema
        .table(table)?
        .primary_key
        .as_ref()?
        .columns
        .as_slice()
    {
        [k] => Some(k.clone()),
        _ => None,
    }
}

/// Runs the data steps that still have rows to migrate; returns the rows changed.
pub(super) async fn run_data(
    session: &mut Session<'_>,
    revs: &RevisionSet,
    steps: &[DataStep],
    obs: &mut dyn Observer<Event>,
) -> Result<u64, DbError> {
    let mut rows = 0;
    for s in steps {
        let pending = match &s.pending {
            Some(_) => Some(pending_of(session.conn, s).await?.max(0) as u64),
            None => None,
        };
        if pending == Some(0) {
            continue;
        }
        let started = Instant::now();
        let mut n = 0;
        for st in &s.statements {
            let split = split_update(st, session.dialect());
            let key = split
                .as_ref()
                .and_then(|u| key_of(revs, &s.revision, &u.table, session));
            let size = match &split {
                Some(u) => batch::batch_size(session, &u.table, DEFAULT_BATCH_ROWS).await,
                None => DEFAULT_BATCH_ROWS,
            };
            let before = n;
            let result = batch::run(session, st, key.as_deref(), size, &mut |b| {
                obs.on(&Event::DataBatch {
                    revision: s.revision.clone(),
                    name: s.name.clone(),
                    rows: b.rows,
                    done: before + b.total,
                    pending,
                    batch_size: b.size,
                });
            })
            .await;
            report_retries(session, obs);
            n += result?;
        }
        rows += n;
        obs.on(&Event::DataMigrated {
            revision: s.revision.clone(),
            name: s.name.clone(),
            rows: n,
            elapsed: started.elapsed(),
        });
    }
    Ok(rows)
}

//! Writing the model back as a snapshot file in the canonical layout (one inline table per
//! column, index, key and check; one `[[triggers]]` section per trigger), for `revision new`
//! and the schema dumps `db drift` diffs.

use toml_writer::{ToTomlKey, ToTomlValue, TomlKeyBuilder, TomlStringBuilder};

use super::{DataMigration, RevisionMeta};
use crate::schema::model::*;

/// A TOML basic string.
fn q(s: &str) -> String {
    TomlStringBuilder::new(s).as_basic().to_toml_value()
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key(s: &str) -> String {
    TomlKeyBuilder::new(s).as_default().to_toml_key()
}

fn list(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

fn default_toml(d: &DefaultValue) -> String {
    match d {
        DefaultValue::Bool(b) => b.to_string(),
        DefaultValue::Int(i) => i.to_string(),
        DefaultValue::Str(s) => q(s),
        DefaultValue::CurrentTimestamp => "{ expr = \"CURRENT_TIMESTAMP\" }".into(),
        DefaultValue::Expr(e) => format!("{{ expr = {} }}", q(e)),
    }
}

fn dialect_list(d: &Option<Vec<Dialect>>) -> String {
    match d {
        None => String::new(),
        Some(v) => format!(
            ", dialects = {}",
            list(&v.iter().map(|d| d.key().to_string()).collect::<Vec<_>>())
        ),
    }
}

fn column_attrs(ty: &ColumnType, nullable: bool, default: &Option<DefaultValue>) -> String {
    let mut s = format!("type = {}", q(&ty.to_string()));
    if !nullable {
        s.push_str(", nullable = false");
    }
    if let Some(d) = default {
        s.push_str(&format!(", default = {}", default_toml(d)));
    }
    s
}

/// Writes the schema part of a snapshot (enums and tables) in the canonical layout.
pub fn schema_to_toml(schema: &Schema) -> String {
    let mut out = String::new();
    if !schema.enums.is_empty() {
        out.push_str("[enums]\n");
        for e in schema.enums.values() {
            out.push_str(&format!("{} = {}\n", key(&e.name), list(&e.values)));
        }
        out.push('\n');
    }
    for t in schema.tables.values() {
        out.push_str(&table_to_toml(t));
        out.push('\n');
    }
    for t in &schema.triggers {
        out.push_str(&trigger_to_toml(t));
        out.push('\n');
    }
    out
}

/// A TOML multi-line string holding `s` exactly: literal when it can be, so SQL reads as
/// written (quotes and backslashes untouched).
fn ml(s: &str) -> String {
    let b = TomlStringBuilder::new(s);
    b.as_ml_literal()
        .unwrap_or_else(|| b.as_ml_basic())
        .to_toml_value()
}

pub fn trigger_to_toml(t: &Trigger) -> String {
    let mut out = String::from("[[triggers]]\n");
    out.push_str(&format!("name = {}\n", q(&t.name)));
    out.push_str(&format!("table = {}\n", q(&t.table)));
    out.push_str(&format!("timing = {}\n", q(t.timing.key())));
    out.push_str(&format!("event = {}\n", q(t.event.key())));
    if let Some(only) = &t.dialects {
        let keys: Vec<String> = only.iter().map(|d| d.key().to_string()).collect();
        out.push_str(&format!("dialects = {}\n", list(&keys)));
    }
    if !t.body.is_empty() {
        out.push_str(&format!("body = {}\n", ml(&t.body)));
    }
    for (d, b) in &t.bodies {
        out.push_str(&format!("{} = {}\n", d.key(), ml(b)));
    }
    out
}

pub fn table_to_toml(t: &Table) -> String {
    let mut out = format!("[tables.{}]\n", key(&t.name));
    if let Some(r) = &t.renamed_from {
        out.push_str(&format!("renamed_from = {}\n", q(r)));
    }
    if let Some(pk) = &t.primary_key {
        out.push_str(&format!("primary_key = {}\n", list(&pk.columns)));
        if let Some(n) = &pk.name {
            out.push_str(&format!("primary_key_name = {}\n", q(n)));
        }
    }
    if !t.mysql.is_empty() {
        let mut parts = Vec::new();
        if let Some(e) = &t.mysql.engine {
            parts.push(format!("engine = {}", q(e)));
        }
        if let Some(c) = &t.mysql.charset {
            parts.push(format!("charset = {}", q(c)));
        }
        if let Some(c) = &t.mysql.collation {
            parts.push(format!("collation = {}", q(c)));
        }
        out.push_str(&format!("mysql = {{ {} }}\n", parts.join(", ")));
    }
    out.push_str("columns = [\n");
    for c in &t.columns {
        let mut s = format!(
            "  {{ name = {}, {}",
            q(&c.name),
            column_attrs(&c.ty, c.nullable, &c.default)
        );
        if c.autoincrement {
            s.push_str(", autoincrement = true");
        }
        if let Some(r) = &c.renamed_from {
            s.push_str(&format!(", renamed_from = {}", q(r)));
        }
        for (d, ov) in &c.overrides {
            let mut parts = Vec::new();
            if let Some(t) = &ov.ty {
                parts.push(format!("type = {}", q(&t.to_string())));
            }
            if let Some(n) = ov.nullable {
                parts.push(format!("nullable = {n}"));
            }
            if let Some(Some(dv)) = &ov.default {
                parts.push(format!("default = {}", default_toml(dv)));
            }
            if !parts.is_empty() {
                s.push_str(&format!(", {} = {{ {} }}", d.key(), parts.join(", ")));
            }
        }
        s.push_str(" },\n");
        out.push_str(&s);
    }
    out.push_str("]\n");
    if !t.indexes.is_empty() {
        out.push_str("indexes = [\n");
        for i in &t.indexes {
            out.push_str(&format!(
                "  {{ name = {}, columns = {}{}{} }},\n",
                q(&i.name),
                list(&i.columns),
                if i.unique { ", unique = true" } else { "" },
                dialect_list(&i.dialects)
            ));
        }
        out.push_str("]\n");
    }
    if !t.uniques.is_empty() {
        out.push_str("unique = [\n");
        for u in &t.uniques {
            let name = u
                .name
                .as_ref()
                .map(|n| format!("name = {}, ", q(n)))
                .unwrap_or_default();
            out.push_str(&format!("  {{ {name}columns = {} }},\n", list(&u.columns)));
        }
        out.push_str("]\n");
    }
    if !t.foreign_keys.is_empty() {
        out.push_str("foreign_keys = [\n");
        for f in &t.foreign_keys {
            let name = f
                .name
                .as_ref()
                .map(|n| format!("name = {}, ", q(n)))
                .unwrap_or_default();
            let mut s = format!(
                "  {{ {name}columns = {}, ref_table = {}, ref_columns = {}",
                list(&f.columns),
                q(&f.ref_table),
                list(&f.ref_columns)
            );
            if f.on_delete != FkAction::NoAction {
                s.push_str(&format!(
                    ", on_delete = {}",
                    q(&f.on_delete.sql().to_ascii_lowercase())
                ));
            }
            if f.on_update != FkAction::NoAction {
                s.push_str(&format!(
                    ", on_update = {}",
                    q(&f.on_update.sql().to_ascii_lowercase())
                ));
            }
            s.push_str(" },\n");
            out.push_str(&s);
        }
        out.push_str("]\n");
    }
    if !t.checks.is_empty() {
        out.push_str("checks = [\n");
        for c in &t.checks {
            let name = c
                .name
                .as_ref()
                .map(|n| format!("name = {}, ", q(n)))
                .unwrap_or_default();
            out.push_str(&format!(
                "  {{ {name}expr = {}{} }},\n",
                q(&c.expr),
                dialect_list(&c.dialects)
            ));
        }
        out.push_str("]\n");
    }
    out
}

/// Writes a whole revision file.
pub fn snapshot_to_toml(meta: &RevisionMeta, data: &[DataMigration], schema: &Schema) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Revision `{}`: the whole schema at this revision. See docs/snapshot-format.md.\n",
        meta.name
    ));
    out.push_str("[revision]\n");
    out.push_str(&format!("name = {}\n", q(&meta.name)));
    out.push_str(&format!("parents = {}\n", list(&meta.parents)));
    if !meta.depends_on.is_empty() {
        out.push_str(&format!("depends_on = {}\n", list(&meta.depends_on)));
    }
    if let Some(b) = meta.branch {
        out.push_str(&format!("branch = {}\n", q(b.as_str())));
    }
    if let Some(d) = &meta.description {
        out.push_str(&format!("description = {}\n", q(d)));
    }
    if !meta.built_on.is_empty() {
        out.push_str(&built_on_toml(&meta.built_on));
        out.push('\n');
    }
    out.push('\n');
    for dm in data {
        out.push_str("[[data_migrations]]\n");
        out.push_str(&format!(
            "name = {}\nphase = {}\n",
            q(&dm.name),
            q(dm.phase.as_str())
        ));
        if let Some(d) = &dm.description {
            out.push_str(&format!("description = {}\n", q(d)));
        }
        if let Some(p) = &dm.pending {
            out.push_str(&format!("pending = {}\n", q(p)));
        }
        if let Some(t) = &dm.todo {
            out.push_str(&format!("todo = {}\n", q(t)));
        }
        if !dm.sql.is_empty() {
            out.push_str(&format!("sql = {}\n", multiline_list(&dm.sql)));
        }
        for (d, v) in &dm.sql_by_dialect {
            out.push_str(&format!("{} = {}\n", d.key(), multiline_list(v)));
        }
        out.push('\n');
    }
    out.push_str(&schema_to_toml(schema));
    // Exactly one trailing newline.
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn multiline_list(v: &[String]) -> String {
    if v.is_empty() {
        return "[]".to_string();
    }
    let mut s = String::from("[\n");
    for x in v {
        s.push_str(&format!("  {},\n", q(x)));
    }
    s.push(']');
    s
}

/// `built_on = { parent = "sha256:…", … }`: the digests a revision records (no newline).
pub fn built_on_toml(built_on: &std::collections::BTreeMap<String, String>) -> String {
    let parts: Vec<String> = built_on
        .iter()
        .map(|(k, v)| format!("{} = {}", key(k), q(v)))
        .collect();
    format!("built_on = {{ {} }}", parts.join(", "))
}

/// A working schema (`schema/`) as files: `enums.toml` with the enum types, and one file per
/// table holding the table and its triggers, so that a change touches one small file.
pub fn schema_dir_files(schema: &Schema) -> Vec<(String, String)> {
    let mut files = Vec::new();
    if !schema.enums.is_empty() {
        let mut text = String::from(
            "# Enum types of the working schema. Edit, then `glance-manage revision new RELEASE`.\n",
        );
        text.push_str("[enums]\n");
        for e in schema.enums.values() {
            text.push_str(&format!("{} = {}\n", key(&e.name), list(&e.values)));
        }
        files.push(("enums.toml".to_string(), text));
    }
    for t in schema.tables.values() {
        let mut text = format!(
            "# Table `{}` of the working schema. Edit, then `glance-manage revision new RELEASE`.\n",
            t.name
        );
        text.push_str(&table_to_toml(t));
        for tr in schema.triggers.iter().filter(|tr| tr.table == t.name) {
            text.push('\n');
            text.push_str(&trigger_to_toml(tr));
        }
        files.push((format!("{}.toml", t.name), text));
    }
    files
}

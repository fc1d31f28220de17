//! The snapshot loader on arbitrary bytes: never panics; whatever parses round-trips through
//! `schema_to_toml`.
#![no_main]

use glance_manage::snapshot::{FileKind, parse_str, schema_to_toml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_str("fuzz.toml", text, FileKind::WorkingSchema);
    if let Ok(s) = parse_str("r1.toml", text, FileKind::Revision) {
        let out = schema_to_toml(&s.schema);
        let again = parse_str("roundtrip.toml", &out, FileKind::WorkingSchema)
            .expect("schema_to_toml output parses");
        assert_eq!(again.schema, s.schema, "round trip changed the schema");
    }
});

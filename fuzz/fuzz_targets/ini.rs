//! The oslo.config INI reader and URL resolution on arbitrary text: never panics.
#![no_main]

use glance_manage::config::{DbUrl, ini_get, parse_ini};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ini) = parse_ini("fuzz.conf", text) {
        if let Some(v) = ini_get(&ini, "database", "connection") {
            let _ = DbUrl::parse(v);
        }
    }
});

//! The oslo.config INI reader and URL resolution on arbitrary text: never panics.
#![no_main]

use glance_manage::config::{DbUrl, oslo_ini};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ini) = oslo_ini::parse(std::path::Path::new("fuzz.conf"), text) {
        if let Some(e) = ini.get("database", "connection") {
            let _ = DbUrl::parse(&e.value);
        }
    }
});

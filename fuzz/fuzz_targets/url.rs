//! The URL parser on arbitrary text: never panics, and a password given as
//! `scheme://user:PASSWORD@...` never shows in an error, Display or Debug.
#![no_main]

use glance_manage::config::{DbUrl, redact_raw};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = redact_raw(text);
    // Plant a distinctive password after the first `://user:` the input provides, if any.
    let url = match text.split_once("://") {
        Some((scheme, rest)) if !rest.contains('@') => {
            format!("{scheme}://fuzz:Pw-FuzZ-S3cret@{rest}")
        }
        _ => text.to_string(),
    };
    let planted = url != text;
    let shown = match DbUrl::parse(&url) {
        Ok(u) => format!("{u} {u:?}"),
        Err(e) => format!("{e} {e:?}"),
    };
    if planted {
        assert!(!shown.contains("FuzZ-S3cret"), "{url:?} shown as {shown:?}");
        assert!(!redact_raw(&url).contains("FuzZ-S3cret"), "{url:?}");
    }
});

//! Helpers shared by the integration tests.
#![allow(dead_code)]

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};

/// Renders a diagnostic as the user would see it, without colour or Unicode, so tests can
/// assert on the message, the file, the label and the help.
pub fn render_diagnostic(d: &dyn Diagnostic) -> String {
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(200)
        .render_report(&mut out, d)
        .expect("render");
    out
}

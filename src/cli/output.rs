//! Writing to stdout and stderr. Never `print!`/`eprint!`: they panic when the stream is a
//! closed pipe (`glance-manage db plan | head`), which would turn a finished command into exit
//! 101.

use std::io::Write;

use miette::Report;

use super::context::Message;

/// One line on stdout.
pub fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
}

/// Text on stdout as it is (no newline added).
pub fn out_raw(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
}

/// A diagnostic line on stderr.
pub fn note(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
}

/// A value as pretty JSON on stdout.
pub fn json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => out(&s),
        Err(e) => note(&format!("glance-manage: cannot encode the report: {e}")),
    }
}

/// Renders a failure for stderr. Glance's own messages (`sys.exit("...")`) are printed as the
/// bare line, unwrapped, so operators' scripts that grep for them keep working; a help line
/// follows. Everything else is a miette diagnostic.
pub fn render_failure(r: &Report) -> String {
    if let Some(m) = r.downcast_ref::<Message>() {
        let mut s = format!("{}\n", m.message);
        if let Some(h) = &m.help {
            s.push_str(&format!("help: {h}\n"));
        }
        return s;
    }
    format!("{r:?}\n")
}

/// miette's handler for every diagnostic this process prints.
pub fn install_report_handler(color: bool) {
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(
            miette::MietteHandlerOpts::new()
                .color(color)
                .unicode(color)
                .terminal_links(false)
                // Never wrap: messages stay greppable.
                .width(usize::MAX / 2)
                .wrap_lines(false)
                .build(),
        )
    }));
}

/// A unified diff, coloured when `color` (headers bold, additions green, removals red, hunk
/// headers cyan).
pub fn colorize_diff(text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    text.lines()
        .map(|l| {
            if l.starts_with("+++") || l.starts_with("---") {
                format!("\x1b[1m{l}\x1b[0m\n")
            } else if l.starts_with('+') {
                format!("\x1b[32m{l}\x1b[0m\n")
            } else if l.starts_with('-') {
                format!("\x1b[31m{l}\x1b[0m\n")
            } else if l.starts_with("@@") {
                format!("\x1b[36m{l}\x1b[0m\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

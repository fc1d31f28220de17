//! Writing to stdout and stderr. Never `print!`/`eprint!`: they panic when the stream is a
//! closed pipe (`glance-manage db plan | head`), which would turn a finished command into exit
//! 101.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use miette::Report;
use similar::{ChangeTag, TextDiff};

use super::args::ColorChoice;
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

/// The unified diff from `expected` to `live` (3 lines of context), coloured when `color`:
/// file headers bold, hunk headers cyan, removed lines red, added lines green. Lines are styled
/// by what they are (similar's `ChangeTag`), not by how their text starts.
pub fn unified_diff(expected: &str, live: &str, headers: (&str, &str), color: bool) -> String {
    let diff = TextDiff::from_lines(expected, live);
    let mut udiff = diff.unified_diff();
    udiff.context_radius(3).header(headers.0, headers.1);
    if !color {
        return udiff.to_string();
    }
    let bold = Style::new().bold();
    let cyan = AnsiColor::Cyan.on_default();
    let mut out = String::new();
    for (i, hunk) in udiff.iter_hunks().enumerate() {
        if i == 0 {
            out.push_str(&format!("{bold}--- {}{bold:#}\n", headers.0));
            out.push_str(&format!("{bold}+++ {}{bold:#}\n", headers.1));
        }
        out.push_str(&format!("{cyan}{}{cyan:#}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let style = match change.tag() {
                ChangeTag::Delete => AnsiColor::Red.on_default(),
                ChangeTag::Insert => AnsiColor::Green.on_default(),
                ChangeTag::Equal => Style::new(),
            };
            let text = change.to_string_lossy();
            let line = text.strip_suffix('\n').unwrap_or(&text);
            out.push_str(&format!("{style}{}{line}{style:#}\n", change.tag()));
            if change.missing_newline() {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// Whether to colour what goes to `stream` under `--color`: `auto` follows the terminal and
/// the usual variables (`NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`, `TERM=dumb`).
pub fn use_color<S: anstream::stream::RawStream>(choice: ColorChoice, stream: &S) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !matches!(
            anstream::AutoStream::choice(stream),
            anstream::ColorChoice::Never
        ),
    }
}

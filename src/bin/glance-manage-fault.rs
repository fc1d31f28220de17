//! `glance-manage` with fault injection, for the crash tests only: built only with the
//! `fault-injection` feature (which only the test build enables), it stops `db sync` before
//! statement k+1 when `GLANCE_MANAGE_FAIL_AFTER=k`, as if killed. The shipped binary
//! (`src/main.rs`) never reads that variable.
use glance_manage::exec::session::{FAIL_AFTER_ENV, inject_fail_after};

fn main() -> std::process::ExitCode {
    if let Some(k) = std::env::var(FAIL_AFTER_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        inject_fail_after(k);
    }
    glance_manage::cli::main()
}

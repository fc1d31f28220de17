//! `glance-manage` with fault injection, for the crash tests only: built only with the
//! `fault-injection` feature (which only the test build enables), it stops `db sync` before
//! statement k+1 when `GLANCE_MANAGE_FAIL_AFTER=k`, as if killed, and with
//! `GLANCE_MANAGE_TEST_SABOTAGE_VERIFY=1` leaves the last step out of `--verify`'s rehearsal.
//! The shipped binary (`src/main.rs`) reads neither variable.
use glance_manage::engine::verify::{SABOTAGE_VERIFY_ENV, inject_verify_sabotage};
use glance_manage::exec::session::{FAIL_AFTER_ENV, inject_fail_after};

fn main() -> std::process::ExitCode {
    if let Some(k) = std::env::var(FAIL_AFTER_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
    {
        inject_fail_after(k);
    }
    if std::env::var(SABOTAGE_VERIFY_ENV).is_ok_and(|v| v == "1") {
        inject_verify_sabotage();
    }
    glance_manage::cli::main()
}

//! `glance-manage`: see the library crate for everything.
fn main() -> std::process::ExitCode {
    glance_manage::cli::main()
}

//! One way for long-running library code to report what it does: it sends typed events to an
//! [`Observer`], and whoever called it (the CLI, a test, a JSON stream) decides what to show.
//! The upgrade runner (`engine::runner::Event`) and the purge (`purge::Event`) both report
//! this way.

/// Receives the events of a run, in order.
pub trait Observer<E> {
    fn on(&mut self, event: &E);
}

/// An observer that ignores everything.
pub struct Quiet;

impl<E> Observer<E> for Quiet {
    fn on(&mut self, _event: &E) {}
}

/// Any closure taking an event is an observer (handy in tests: collect into a `Vec`).
impl<E, F: FnMut(&E)> Observer<E> for F {
    fn on(&mut self, event: &E) {
        self(event)
    }
}

//! How many rows the next batch takes: sized by time, not rows.
//!
//! The right batch size differs by ~40× between tables and backends (a row of `images` with its
//! FK probes costs ten times a row of `image_tags`; a MariaDB batch costs more than a SQLite
//! one), so a fixed size is either slow (many commits) or holds locks too long. Like
//! pt-online-schema-change's `--chunk-time`, each step starts small and scales the next batch by
//! how long the last one took against the target (`--batch-seconds`), at most ×4 up or ¼ down
//! per batch, never above the cap (`--batch-size`, and under Galera the write-set limits) nor
//! below [`MIN_BATCH`].

/// The first batch of each step, and the floor.
pub const MIN_BATCH: u64 = 100;

/// The largest factor the size moves by after one batch, up or down.
const STEP: f64 = 4.0;

/// The batch-size controller of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Sizer {
    target: f64,
    cap: u64,
    next: u64,
    /// Largest batch asked for so far (for the report).
    pub largest: u64,
    /// Longest batch so far, in seconds (for the report).
    pub slowest: f64,
}

impl Sizer {
    /// A controller aiming at `target_secs` per batch, never above `cap` rows.
    pub fn new(target_secs: f64, cap: u64) -> Sizer {
        let cap = cap.max(1);
        Sizer {
            target: if target_secs > 0.0 { target_secs } else { 0.5 },
            cap,
            next: MIN_BATCH.min(cap),
            largest: 0,
            slowest: 0.0,
        }
    }

    /// Rows to ask for in the next batch.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// The cap in force (lowered by [`Sizer::limit`] and [`Sizer::halve`]).
    pub fn cap(&self) -> u64 {
        self.cap
    }

    /// Lowers the cap (a Galera write-set limit); a cap never rises again.
    pub fn limit(&mut self, cap: u64) {
        self.cap = self.cap.min(cap.max(1));
        self.next = self.next.min(self.cap);
    }

    /// A batch of `asked` rows was too large for the server (a write-set limit): the cap becomes
    /// half of it, and the next batch too.
    pub fn halve(&mut self, asked: u64) {
        self.limit((asked / 2).max(1));
        self.next = self.cap;
    }

    /// Records a batch that asked for `asked` rows, got `got` candidates and took `secs`.
    /// A short batch (the end of the table or a sparse stretch) says nothing about a full one,
    /// so it never grows the size; a slow one shrinks it even so.
    pub fn record(&mut self, asked: u64, got: u64, secs: f64) {
        self.largest = self.largest.max(asked);
        self.slowest = self.slowest.max(secs);
        let factor = if secs <= 0.0 {
            STEP
        } else {
            (self.target / secs).clamp(1.0 / STEP, STEP)
        };
        if got < asked && factor > 1.0 {
            return;
        }
        let n = (asked as f64 * factor).round() as u64;
        self.next = n.clamp(MIN_BATCH.min(self.cap), self.cap);
    }
}

/// Galera's write-set limits as a row cap for one table: `wsrep_max_ws_rows` when set (each
/// deleted row is one row of the write set; Glance's FKs cascade nothing), and
/// `wsrep_max_ws_size / (2 · row_bytes)` (the factor covers keys and the full row image;
/// `row_bytes` floored at 256 so a table InnoDB guesses small does not overshoot).
pub fn galera_cap(max_ws_rows: u64, max_ws_size: u64, row_bytes: u64) -> Option<u64> {
    let rows = (max_ws_rows > 0).then_some(max_ws_rows);
    let bytes = (max_ws_size > 0).then(|| (max_ws_size / (2 * row_bytes.max(256))).max(1));
    match (rows, bytes) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_four_per_fast_batch_up_to_the_cap() {
        let mut s = Sizer::new(0.5, 50_000);
        let mut seen = vec![s.next()];
        for _ in 0..6 {
            let n = s.next();
            s.record(n, n, 0.01);
            seen.push(s.next());
        }
        assert_eq!(seen, [100, 400, 1_600, 6_400, 25_600, 50_000, 50_000]);
        assert_eq!(s.largest, 50_000);
    }

    #[test]
    fn settles_on_the_target() {
        let mut s = Sizer::new(0.5, 1_000_000);
        // 10,000 rows a second: the batch that takes 0.5 s is 5,000 rows.
        for _ in 0..20 {
            let n = s.next();
            s.record(n, n, n as f64 / 10_000.0);
        }
        assert_eq!(s.next(), 5_000);
    }

    #[test]
    fn shrinks_after_a_slow_batch_at_most_fourfold() {
        let mut s = Sizer::new(0.5, 50_000);
        s.record(100, 100, 0.0);
        s.record(400, 400, 0.0);
        assert_eq!(s.next(), 1_600);
        s.record(1_600, 1_600, 1.0);
        assert_eq!(s.next(), 800);
        s.record(800, 800, 60.0);
        assert_eq!(s.next(), 200);
        s.record(200, 200, 60.0);
        assert_eq!(s.next(), MIN_BATCH, "never below the floor");
    }

    #[test]
    fn a_short_batch_does_not_grow_but_a_slow_one_shrinks() {
        let mut s = Sizer::new(0.5, 50_000);
        s.record(100, 100, 0.0);
        assert_eq!(s.next(), 400);
        s.record(400, 7, 0.001);
        assert_eq!(s.next(), 400);
        s.record(400, 7, 2.0);
        assert_eq!(s.next(), 100);
    }

    #[test]
    fn never_exceeds_a_cap_once_lowered() {
        let mut s = Sizer::new(0.5, 50_000);
        s.limit(50);
        assert_eq!(s.next(), 50, "the start is capped too");
        for _ in 0..5 {
            let n = s.next();
            assert!(n <= 50);
            s.record(n, n, 0.0);
        }
        s.limit(1_000);
        assert_eq!(s.cap(), 50, "a cap never rises");
        s.halve(50);
        assert_eq!((s.cap(), s.next()), (25, 25));
        s.record(25, 25, 0.0);
        assert_eq!(s.next(), 25);
        s.halve(1);
        assert_eq!(s.next(), 1, "halving stops at one row");
    }

    #[test]
    fn a_cap_below_the_start() {
        let mut s = Sizer::new(0.5, 1);
        assert_eq!(s.next(), 1);
        s.record(1, 1, 10.0);
        assert_eq!(s.next(), 1);
    }

    #[test]
    fn galera_caps() {
        assert_eq!(galera_cap(0, 0, 100), None);
        assert_eq!(galera_cap(50, 0, 100), Some(50));
        // 1 MiB write sets, rows of ~100 bytes counted as 256 (floor), ×2.
        assert_eq!(galera_cap(0, 1 << 20, 100), Some(2_048));
        assert_eq!(galera_cap(1_000, 1 << 20, 1_024), Some(512));
        assert_eq!(galera_cap(0, 10, 10_000), Some(1));
    }
}

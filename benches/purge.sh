#!/usr/bin/env bash
# Benchmark: purge, ours against Glance's own statements run raw, one raw DELETE per table in one
# transaction, and (with --glance-venv) glance-manage, each on a fresh copy of one seeded
# database per backend (SQLite, PostgreSQL, MariaDB); checks that all deleted the same rows.
# Usage: benches/purge.sh [--glance-venv DIR] [--images N] [--runs R]
#                         [--backends sqlite,postgres,mariadb] [--scenarios unlimited,cron]
#                         [--tasks N] [--batch-size N] [--mariadb-copy select|dump|reseed] [--keep]
# Unlimited runs time ours twice: with its defaults and with --jobs 1 (one table at a time).
# Defaults: 100,000 images (~2.1 M rows, 1.06 M eligible), 3 runs, all backends, both scenarios.
# Builds the release binary and the example first; needs the local servers (see the brief) and
# /usr/bin/time. Prints Markdown tables on stdout, progress on stderr.
# Source and details: examples/purge_bench/main.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin glance-manage --example purge_bench
exec target/release/examples/purge_bench "$@"

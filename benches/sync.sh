#!/usr/bin/env bash
# Benchmark: `db sync` fresh -> head and on an up-to-date database, per backend, next to
# replaying the same final DDL raw through the backend's own client (sqlite3, psql, mariadb),
# and next to replaying Glance's own schema dump at head (fixtures/glance/<backend>/29_*.sql,
# what Glance's `db sync` leaves behind) through the same client; the last column is the
# ratio `db sync` / dump replay (issue 11 target: <= 1.5x on every backend).
# Usage: benches/sync.sh [RUNS]   (builds the release binary first; needs the local servers)
# Prints a Markdown table (median wall time over RUNS, peak RSS of the binary).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
cargo build --release --quiet
BIN=$PWD/target/release/glance-manage
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; psql -qh 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS gm_bench" >/dev/null 2>&1 || true; mysql -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS gm_bench" >/dev/null 2>&1 || true' EXIT

fresh_db() { # backend -> URL of a fresh empty database
  case $1 in
    sqlite) rm -f "$WORK/b.sqlite"; echo "sqlite:///$WORK/b.sqlite" ;;
    postgres) psql -qh 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS gm_bench" -c "CREATE DATABASE gm_bench" >/dev/null 2>&1
              echo "postgresql://postgres@127.0.0.1/gm_bench" ;;
    mariadb) mysql -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS gm_bench; CREATE DATABASE gm_bench"
             echo "mysql+pymysql://root@127.0.0.1/gm_bench?charset=utf8" ;;
  esac
}
raw_replay() { # backend sqlfile
  case $1 in
    sqlite) sqlite3 "$WORK/b.sqlite" < "$2" ;;
    postgres) psql -qh 127.0.0.1 -U postgres -d gm_bench -v ON_ERROR_STOP=1 -1 -f "$2" >/dev/null ;;
    mariadb) mysql -h127.0.0.1 -uroot gm_bench < "$2" ;;
  esac
}
glance_dump() { # backend -> Glance's schema dump at head, replayable by raw_replay
  local dir=fixtures/glance/$1; [ "$1" = postgres ] && dir=fixtures/glance/postgresql
  # The MariaDB dump lists tables alphabetically (a FK may name a later table), as
  # mysqldump output does; like mysqldump's own header, turn FK checks off for the replay.
  if [ "$1" = mariadb ]; then echo "SET foreign_key_checks = 0;"; fi
  cat "$dir/29_2024_1_contract01.sql"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

echo "| backend | db sync fresh → head | peak RSS | raw DDL replay (client) | db sync, up to date | db plan at head | Glance dump replay (client) | sync / dump replay |"
echo "|---|---|---|---|---|---|---|---|"
for b in sqlite postgres mariadb; do
  sync_t=(); rss=(); raw_t=(); noop_t=(); plan_t=(); dump_t=()
  glance_dump $b > "$WORK/glance.sql"
  for _ in $(seq "$RUNS"); do
    url=$(fresh_db $b)
    "$BIN" --database-url "$url" db plan > "$WORK/plan.sql"
    # The final DDL, without our version bookkeeping: the same statements a raw replay runs.
    url=$(fresh_db $b)
    s=$(now); raw_replay $b "$WORK/plan.sql"; e=$(now); raw_t+=("$(echo "$e - $s" | bc)")
    url=$(fresh_db $b)
    s=$(now); raw_replay $b "$WORK/glance.sql"; e=$(now); dump_t+=("$(echo "$e - $s" | bc)")
    url=$(fresh_db $b)
    # Wall time to the nanosecond (time's %e has 10 ms steps); /usr/bin/time for the peak RSS.
    s=$(now); /usr/bin/time -f "%M" -o "$WORK/time" "$BIN" --database-url "$url" db sync >/dev/null; e=$(now)
    sync_t+=("$(echo "$e - $s" | bc)"); rss+=("$(tail -1 "$WORK/time")")
    s=$(now); "$BIN" --database-url "$url" db sync >/dev/null; e=$(now); noop_t+=("$(echo "$e - $s" | bc)")
    s=$(now); "$BIN" --database-url "$url" db plan >/dev/null; e=$(now); plan_t+=("$(echo "$e - $s" | bc)")
  done
  sync_m=$(printf '%s\n' "${sync_t[@]}" | median); dump_m=$(printf '%s\n' "${dump_t[@]}" | median)
  printf '| %s | %.3f s | %d MiB | %.3f s | %.3f s | %.3f s | %.3f s | %.2f× |\n' "$b" \
    "$sync_m" "$(( $(printf '%s\n' "${rss[@]}" | median) / 1024 ))" \
    "$(printf '%s\n' "${raw_t[@]}" | median)" "$(printf '%s\n' "${noop_t[@]}" | median)" \
    "$(printf '%s\n' "${plan_t[@]}" | median)" "$dump_m" "$(echo "$sync_m / $dump_m" | bc -l)"
done

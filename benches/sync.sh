#!/usr/bin/env bash
# Benchmark: `db sync` fresh -> head and on an up-to-date database, per backend, next to
# replaying the same final DDL raw through the backend's own client (sqlite3, psql, mariadb).
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
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

echo "| backend | db sync fresh → head | peak RSS | raw DDL replay (client) | db sync, up to date | db plan at head |"
echo "|---|---|---|---|---|---|"
for b in sqlite postgres mariadb; do
  sync_t=(); rss=(); raw_t=(); noop_t=(); plan_t=()
  for _ in $(seq "$RUNS"); do
    url=$(fresh_db $b)
    "$BIN" --database-url "$url" db plan > "$WORK/plan.sql"
    # The final DDL, without our version bookkeeping: the same statements a raw replay runs.
    url=$(fresh_db $b)
    s=$(now); raw_replay $b "$WORK/plan.sql"; e=$(now); raw_t+=("$(echo "$e - $s" | bc)")
    url=$(fresh_db $b)
    /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" --database-url "$url" db sync >/dev/null
    read -r wall kb < "$WORK/time"; sync_t+=("$wall"); rss+=("$kb")
    s=$(now); "$BIN" --database-url "$url" db sync >/dev/null; e=$(now); noop_t+=("$(echo "$e - $s" | bc)")
    s=$(now); "$BIN" --database-url "$url" db plan >/dev/null; e=$(now); plan_t+=("$(echo "$e - $s" | bc)")
  done
  printf '| %s | %.3f s | %d MiB | %.3f s | %.3f s | %.3f s |\n' "$b" \
    "$(printf '%s\n' "${sync_t[@]}" | median)" "$(( $(printf '%s\n' "${rss[@]}" | median) / 1024 ))" \
    "$(printf '%s\n' "${raw_t[@]}" | median)" "$(printf '%s\n' "${noop_t[@]}" | median)" \
    "$(printf '%s\n' "${plan_t[@]}" | median)"
done

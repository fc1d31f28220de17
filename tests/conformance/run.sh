#!/usr/bin/env bash
# Runs Glance 33.0.0's own database test suites against our glance-manage binary.
# See tests/conformance/README.md. Dev tool: not part of .ci/run.
#
#   tests/conformance/run.sh [--reference]
#                            [--backend sqlite|postgresql|mysql]...
#                            [--suite migrations|revisions|dbapi]... [-- PYTEST_ARGS...]
#
# Exit status: 0 when every selected test passed or failed only as known_failures.py lists,
# 1 when a test failed or errored, 2 on a setup problem.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

venv=${GM_CONFORMANCE_VENV:-/work/venv-glance}
pg_host=${GM_CONFORMANCE_PG_HOST:-127.0.0.1}
pg_port=${GM_CONFORMANCE_PG_PORT:-5432}
pg_admin=${GM_CONFORMANCE_PG_ADMIN:-postgres}
my_host=${GM_CONFORMANCE_MYSQL_HOST:-127.0.0.1}
my_port=${GM_CONFORMANCE_MYSQL_PORT:-3306}
my_admin=${GM_CONFORMANCE_MYSQL_ADMIN:-root}
out=${GM_CONFORMANCE_OUT:-$repo/target/conformance}

mode=ours
backends=()
suites=()
pytest_extra=()
while (($#)); do
    case $1 in
        --reference) mode=reference ;;
        --backend) backends+=("$2"); shift ;;
        --suite) suites+=("$2"); shift ;;
        --) shift; pytest_extra=("$@"); break ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
((${#backends[@]})) || backends=(sqlite postgresql mysql)
((${#suites[@]})) || suites=(migrations revisions dbapi)
for b in "${backends[@]}"; do
    [[ $b == sqlite || $b == postgresql || $b == mysql ]] ||
        { echo "run.sh: unknown backend '$b'" >&2; exit 2; }
done
for s in "${suites[@]}"; do
    [[ $s == migrations || $s == revisions || $s == dbapi ]] ||
        { echo "run.sh: unknown suite '$s'" >&2; exit 2; }
done

say() { printf '== %s\n' "$*" >&2; }

# --- 1. the venv: Glance 33.0.0 + drivers + what its tests import -----------------------------
if [[ ! -e $venv/.ready ]]; then
    if [[ -d $venv ]]; then
        # Someone (the lead's setup) is still building it: wait rather than race it.
        say "waiting for $venv/.ready"
        for _ in $(seq 1 180); do [[ -e $venv/.ready ]] && break; sleep 5; done
        [[ -e $venv/.ready ]] || { echo "run.sh: $venv/.ready never appeared" >&2; exit 2; }
    else
        say "creating $venv with glance==33.0.0"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q glance==33.0.0 PyMySQL psycopg2-binary
        touch "$venv/.ready"
    fi
fi
py=$venv/bin/python
if ! "$py" -c 'import testtools, fixtures, oslotest, testscenarios, testresources, ddt, pytest' \
        2>/dev/null; then
    say "installing Glance's test requirements into $venv"
    "$venv/bin/pip" install -q -r "$here/requirements.txt"
fi
site=$("$py" -c 'import glance, os; print(os.path.dirname(os.path.dirname(glance.__file__)))')
glance_version=$("$py" -c 'import importlib.metadata as m; print(m.version("glance"))')
[[ $glance_version == 33.0.0 ]] ||
    { echo "run.sh: $venv has glance $glance_version, expected 33.0.0" >&2; exit 2; }

# --- 2. the openstack_citest logins oslo.db's opportunistic fixtures use -----------------------
# oslo.db (provision.py) connects as openstack_citest/openstack_citest to the `postgres` database
# on PostgreSQL and to no database on MySQL, then CREATEs and DROPs a randomly named database per
# test: the login needs CREATEDB / global privileges, not a database of its own.
needs_pg=0; needs_my=0
for b in "${backends[@]}"; do
    [[ $b == postgresql ]] && needs_pg=1
    [[ $b == mysql ]] && needs_my=1
done
if ((needs_pg)); then
    psql -X -q -v ON_ERROR_STOP=1 -h "$pg_host" -p "$pg_port" -U "$pg_admin" -d postgres <<'SQL' ||
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'openstack_citest') THEN
    CREATE ROLE openstack_citest LOGIN CREATEDB PASSWORD 'openstack_citest';
  END IF;
END $$;
SQL
        { echo "run.sh: cannot reach PostgreSQL at $pg_host:$pg_port as $pg_admin" >&2; exit 2; }
fi
if ((needs_my)); then
    # '%' for TCP clients (the server may skip name resolution), 'localhost' for socket clients.
    mysql -h "$my_host" -P "$my_port" -u "$my_admin" <<'SQL' ||
CREATE USER IF NOT EXISTS 'openstack_citest'@'%' IDENTIFIED BY 'openstack_citest';
CREATE USER IF NOT EXISTS 'openstack_citest'@'localhost' IDENTIFIED BY 'openstack_citest';
GRANT ALL PRIVILEGES ON *.* TO 'openstack_citest'@'%';
GRANT ALL PRIVILEGES ON *.* TO 'openstack_citest'@'localhost';
SQL
        { echo "run.sh: cannot reach MariaDB at $my_host:$my_port as $my_admin" >&2; exit 2; }
fi

# Explicit backend URLs: the same logins, on the servers above, and a *file* SQLite base URL so
# oslo.db provisions /tmp/<random>.db files (with its default `sqlite://` every test database is
# in-memory, which our binary, another process, cannot open).
mkdir -p "$out"
sqlite_base=$out/sqlite-base.db
export OS_TEST_DBAPI_ADMIN_CONNECTION="sqlite:///$sqlite_base;postgresql+psycopg2://openstack_citest:openstack_citest@$pg_host:$pg_port/postgres;mysql+pymysql://openstack_citest:openstack_citest@$my_host:$my_port/"

# --- 3. our binary ---------------------------------------------------------------------------
binary=
if [[ $mode == ours ]]; then
    say "cargo build"
    (cd "$repo" && cargo build --quiet)
    target_dir=$(cd "$repo" && cargo metadata --format-version 1 --no-deps |
        "$py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    binary=$target_dir/debug/glance-manage
    [[ -x $binary ]] || { echo "run.sh: no binary at $binary" >&2; exit 2; }
fi

# --- 4. the suites, one pytest run per backend and suite ---------------------------------------
suite_paths() {
    case $1 in
        migrations) echo glance/tests/functional/db/test_migrations.py ;;
        revisions) (cd "$site" && ls glance/tests/functional/db/migrations/test_*.py) ;;
        dbapi) echo glance/tests/functional/db/test_sqlalchemy.py ;;
    esac
}

stamp=$mode
rm -f "$out/$stamp"-*.jsonl
for backend in "${backends[@]}"; do
    for suite in "${suites[@]}"; do
        mapfile -t paths < <(suite_paths "$suite")
        results=$out/$stamp-$backend-$suite.jsonl
        log=$out/$stamp-$backend-$suite.log
        say "$stamp: $backend / $suite (log: $log)"
        # cwd = site-packages: Glance's BaseTestCase copies glance/tests/etc/* by relative path.
        (cd "$site" && env GM_BACKEND="$backend" GM_SUITE="$suite" GM_MODE="$mode" \
            GM_BINARY="$binary" GM_RESULTS="$results" GM_CALL_LOG="$out/$stamp-calls.jsonl" \
            PYTHONPATH="$here" PYTHONDONTWRITEBYTECODE=1 \
            "$py" -m pytest -p gm_conformance -p no:cacheprovider -o python_classes=_gm_none_ \
            -q -rfEs --tb=long "${paths[@]}" "${pytest_extra[@]}") >"$log" 2>&1 || true
        tail -n 1 "$log" >&2
    done
done

# --- 5. counts and failures --------------------------------------------------------------------
"$py" "$here/summarize.py" "$out" "$stamp" "${backends[@]}" -- "${suites[@]}"

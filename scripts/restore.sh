#!/usr/bin/env bash
# Restores a dump made by scripts/backup.sh into a fresh database with pg_restore. See
# storage/postgres/README.md.
#
# Usage: scripts/restore.sh [--jobs N] DUMP_FILE TARGET_DATABASE_URL
#   --jobs N   restore N tables at once (default 1: the whole restore is then one transaction,
#              so a failure leaves the target empty)
# The target database is created when it does not exist (through the server's `postgres`
# database). A target that already holds tables is refused: restoring over live data is never
# what a recovery wants, and a fresh database makes the result exactly the dump.
# Settings (environment):
#   PG_BIN     folder with pg_restore and psql (default: the newest /usr/lib/postgresql/*/bin, else PATH)
#
# Roles and grants are not part of the dump's restore (--no-owner --no-privileges): the objects
# belong to whoever runs the restore, which is what a new server wants. The phone encryption
# secret is not in the database at all: keep it with the backups, apart from them.
set -euo pipefail

say() { printf '%s\n' "$*" >&2; }
die() {
  say "restore: $*"
  exit 1
}
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; }

find_pg_tool() {
  local tool="$1" d v best="" best_version=0
  if [[ -n "${PG_BIN:-}" ]]; then
    [[ -x "$PG_BIN/$tool" ]] || die "$PG_BIN/$tool not found (PG_BIN)"
    printf '%s' "$PG_BIN/$tool"
    return
  fi
  for d in /usr/lib/postgresql/*/bin; do
    v="${d#/usr/lib/postgresql/}"
    v="${v%/bin}"
    if [[ "$v" =~ ^[0-9]+$ && -x "$d/$tool" ]] && ((v > best_version)); then
      best="$d/$tool"
      best_version="$v"
    fi
  done
  [[ -n "$best" ]] && printf '%s' "$best" && return
  command -v "$tool" >/dev/null || die "$tool not found: install the PostgreSQL client (postgresql-client-15 or newer)"
  command -v "$tool"
}

jobs=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jobs)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"
      jobs="$2"
      shift 2
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[[ $# -eq 2 ]] || {
  usage
  exit 2
}
dump="$1"
url="$2"
[[ -r "$dump" ]] || die "cannot read $dump"

# postgres://user:pass@host:port/dbname?params -> the server part, the database, the parameters.
[[ "$url" =~ ^(postgres(ql)?://[^/?]*)/([^/?]+)(\?.*)?$ ]] ||
  die "TARGET_DATABASE_URL must be postgres://.../DBNAME"
server="${BASH_REMATCH[1]}"
dbname="${BASH_REMATCH[3]}"
params="${BASH_REMATCH[4]}"
[[ "$dbname" =~ ^[A-Za-z0-9_-]+$ ]] || die "database name '$dbname': use letters, digits, _ and - only"
maintenance="$server/postgres$params"

pg_restore="$(find_pg_tool pg_restore)"
psql="$(find_pg_tool psql)"
q() { "$psql" -X -q -v ON_ERROR_STOP=1 -tA "$@"; }

"$pg_restore" --list "$dump" >/dev/null || die "$dump is not a pg_dump custom-format archive"

exists="$(q "$maintenance" -c "SELECT 1 FROM pg_database WHERE datname = '$dbname'")" ||
  die "cannot reach the server at ${server#*@}"
if [[ "$exists" == "1" ]]; then
  tables="$(q "$url" -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'")"
  [[ "$tables" == "0" ]] || die "database $dbname already holds $tables tables: restore into a fresh database"
else
  q "$maintenance" -c "CREATE DATABASE \"$dbname\"" || die "cannot create database $dbname"
  say "restore: created database $dbname"
fi

start=$SECONDS
txn=(--single-transaction)
((jobs > 1)) && txn=(--jobs "$jobs")
"$pg_restore" --exit-on-error --no-owner --no-privileges "${txn[@]}" --dbname="$url" "$dump" ||
  die "pg_restore failed"
# Fresh statistics, so the first queries after a recovery get sensible plans.
q "$url" -c "ANALYZE" || die "ANALYZE failed"
say "restore: $dump restored into $dbname in $((SECONDS - start))s"

#!/usr/bin/env bash
# Backs up the dispatch database with pg_dump in its custom format (compressed, restorable table
# by table, in parallel, into a newer server). See storage/postgres/README.md.
#
# Usage: scripts/backup.sh [--schema NAME] DATABASE_URL OUTPUT_FILE
#   --schema NAME   dump only this schema (default: the whole database)
# Settings (environment):
#   PG_BIN          folder with pg_dump (default: the newest /usr/lib/postgresql/*/bin, else PATH)
#
# The dump is written beside OUTPUT_FILE and renamed into place only when pg_dump succeeded, so a
# failed run never leaves a truncated file under the backup's name. pg_dump takes one consistent
# snapshot (a repeatable-read transaction) while the service keeps running.
set -euo pipefail

say() { printf '%s\n' "$*" >&2; }
die() {
  say "backup: $*"
  exit 1
}
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; }

# The newest PostgreSQL client tools: pg_dump must be at least the server's version.
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

schema_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --schema)
      [[ $# -ge 2 ]] || die "--schema needs a name"
      schema_args=(--schema "$2")
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
url="$1"
out="$2"
[[ "$url" =~ ^postgres(ql)?:// ]] || die "DATABASE_URL must be a postgres:// URL"

pg_dump="$(find_pg_tool pg_dump)"
pg_restore="$(find_pg_tool pg_restore)"
mkdir -p "$(dirname "$out")"
tmp="$(mktemp "$out.partial.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

start=$SECONDS
"$pg_dump" --format=custom --compress=6 --no-password "${schema_args[@]}" --file="$tmp" "$url" ||
  die "pg_dump failed (nothing written to $out)"
# A dump that pg_restore cannot read is no backup: list its table of contents before keeping it.
entries="$("$pg_restore" --list "$tmp" | grep -c 'TABLE DATA' || true)"
mv "$tmp" "$out"
trap - EXIT
say "backup: wrote $out ($(du -h "$out" | cut -f1), $entries tables with data) in $((SECONDS - start))s"

#!/usr/bin/env bash
# Starts and stops the real services the integration tests and benches need, all on 127.0.0.1 at
# fixed non-default ports, with their state under one temp folder:
#
#   Redis, PostgreSQL 15, Apache Kafka 4.x (KRaft, one node), the Firebase Auth emulator.
#
# Usage: scripts/services.sh up|down|status|env|clean [SERVICE...]
#   up      start what is not running yet (idempotent), wait until each answers; non-zero if any fails
#   down    stop what `up` started, by PID: a polite signal, then SIGKILL after a grace period
#   status  say what runs; exit 0 only when every named service runs and answers
#   env     print `export ...` lines for eval: REDIS_URL DATABASE_URL KAFKA_BROKERS
#           FIREBASE_AUTH_EMULATOR_HOST FIREBASE_PROJECT_ID
#   clean   down, then delete the state folder (data of PostgreSQL and Kafka)
# SERVICE is any of redis postgres kafka firebase (default: all of them).
#
# Settings (environment):
#   DISPATCH_SERVICES_DIR           state: data, logs, pid files    (/tmp/dispatch-services)
#   DISPATCH_REDIS_PORT             16379
#   DISPATCH_PG_PORT                15432
#   DISPATCH_KAFKA_PORT             19092
#   DISPATCH_KAFKA_CONTROLLER_PORT  19093
#   DISPATCH_FIREBASE_AUTH_PORT     19099   (the emulator hub takes 19400, its logging port 19500:
#   DISPATCH_FIREBASE_HUB_PORT, DISPATCH_FIREBASE_LOGGING_PORT)
#   DISPATCH_KAFKA_VERSION          4.1.1   (jars from Maven Central, cached in DISPATCH_CACHE_DIR)
#   DISPATCH_CACHE_DIR              ${XDG_CACHE_HOME:-~/.cache}/dispatch
#   DISPATCH_PG_BIN                 folder with initdb and pg_ctl (found under /usr/lib/postgresql)
# Missing programs are installed: redis-server with apt-get, the Kafka jars with mvn.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${DISPATCH_SERVICES_DIR:-/tmp/dispatch-services}"
CACHE="${DISPATCH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dispatch}"
REDIS_PORT="${DISPATCH_REDIS_PORT:-16379}"
PG_PORT="${DISPATCH_PG_PORT:-15432}"
KAFKA_PORT="${DISPATCH_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${DISPATCH_KAFKA_CONTROLLER_PORT:-19093}"
FIREBASE_AUTH_PORT="${DISPATCH_FIREBASE_AUTH_PORT:-19099}"
FIREBASE_HUB_PORT="${DISPATCH_FIREBASE_HUB_PORT:-19400}"
FIREBASE_LOGGING_PORT="${DISPATCH_FIREBASE_LOGGING_PORT:-19500}"
KAFKA_VERSION="${DISPATCH_KAFKA_VERSION:-4.1.1}"
FIREBASE_PROJECT="demo-dispatch" # a demo- project never reaches Google
PG_DB="dispatch"
ALL_SERVICES=(redis postgres kafka firebase)

# Readiness timeouts in seconds, counted after any download or install.
REDIS_TIMEOUT=30
PG_TIMEOUT=60
KAFKA_TIMEOUT=120
FIREBASE_TIMEOUT=120
# Grace periods between the polite signal and SIGKILL.
STOP_GRACE=20

say() { printf '%s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# The port a service was started on (recorded by `up`), else the configured one.
port_of() {
  local svc="$1" configured="$2"
  if [[ -s "$STATE/$svc/port" ]] && is_running "$svc"; then cat "$STATE/$svc/port"; else printf '%s' "$configured"; fi
}

# What /proc/PID/cmdline must contain for a pid file to still be ours: guards against PID reuse and
# against another state folder's services (several checkouts may run side by side on other ports).
cmd_pattern() {
  case "$1" in
    redis) printf 'redis-server 127.0.0.1:%s' "$(cat "$STATE/redis/port" 2>/dev/null || true)" ;;
    postgres) printf '%s' "-D $STATE/postgres/data" ;;
    kafka) printf '%s' "kafka.Kafka $STATE/kafka/server.properties" ;;
    firebase) printf '%s' "--config $STATE/firebase/firebase.json" ;;
  esac
}

# A live process (a zombie is dead: nobody may reap it for a while).
pid_alive() {
  local pid="$1" state
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ -n "$state" && "$state" != "Z" ]]
}

# Prints the PID of the service if its pid file names a live process of the right program.
running_pid() {
  local svc="$1" pidfile="$STATE/$1/pid" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(cmd_pattern "$svc")" || return 1
  printf '%s' "$pid"
}
is_running() { running_pid "$1" >/dev/null; }

# True if anything accepts TCP connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_ok() {
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"
}

# Health checks: one quick attempt each.
healthy() {
  case "$1" in
    redis) [[ "$(redis-cli -h 127.0.0.1 -p "$(port_of redis "$REDIS_PORT")" ping 2>/dev/null)" == "PONG" ]] ;;
    postgres)
      find_pg_bin >/dev/null &&
        "$(find_pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$(port_of postgres "$PG_PORT")" -d "$PG_DB" -U postgres
      ;;
    kafka) node "$ROOT/scripts/kafka/ready.mjs" "127.0.0.1:$(port_of kafka "$KAFKA_PORT")" 2>/dev/null ;;
    firebase) http_ok "http://127.0.0.1:$(port_of firebase "$FIREBASE_AUTH_PORT")/emulator/v1/projects/$FIREBASE_PROJECT/config" ;;
  esac
}

log_of() {
  case "$1" in
    redis) printf '%s' "$STATE/redis/redis.log" ;;
    postgres) printf '%s' "$STATE/postgres/postgres.log" ;;
    kafka) printf '%s' "$STATE/kafka/kafka.log" ;;
    firebase) printf '%s' "$STATE/firebase/firebase.log" ;;
  esac
}

# Reports a failed service with its log (default: the service's log; "" for none) and exits non-zero.
fail() {
  local svc="$1" why="$2" log="${3-$(log_of "$1")}"
  say "FAILED: $svc: $why"
  [[ -n "$log" ]] && say "log: $log"
  if [[ -n "$log" && -s "$log" ]]; then
    say "--- last lines of $log ---"
    tail -n 30 "$log" >&2 || true
    say "---"
  fi
  exit 1
}

# Waits until the service answers; fails early when its process died.
wait_ready() {
  local svc="$1" timeout="$2" start=$SECONDS
  while ! healthy "$svc"; do
    is_running "$svc" || fail "$svc" "the process exited during startup"
    ((SECONDS - start < timeout)) || fail "$svc" "not ready within ${timeout}s"
    sleep 0.5
  done
}

# apt-get install, one at a time on this machine, waiting for the dpkg lock instead of failing.
apt_install() {
  [[ "$(id -u)" -eq 0 ]] || die "need root to apt-get install $*"
  say "installing $* with apt-get"
  (
    flock 9
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@"
  ) 9>"$STATE/.apt.lock" >"$STATE/apt.log" 2>&1 || {
    say "apt-get install $* failed; log: $STATE/apt.log"
    tail -n 20 "$STATE/apt.log" >&2 || true
    return 1
  }
}

# Starts CMD... detached (own session, no terminal, no inherited lock fd), output to LOG; records PID.
launch() {
  local svc="$1" log="$2"
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null 8>&- &
  printf '%s' "$!" >"$STATE/$svc/pid"
}

# Common prologue of up_*: returns 0 ("leave it") when it already runs on the wanted port.
already_up() {
  local svc="$1" port="$2" timeout="$3"
  if is_running "$svc"; then
    if [[ "$(cat "$STATE/$svc/port" 2>/dev/null || true)" == "$port" ]]; then
      wait_ready "$svc" "$timeout"
      say "already running (pid $(running_pid "$svc")) on 127.0.0.1:$port"
      return 0
    fi
    say "running on another port than $port: restarting"
    stop_service "$svc"
  fi
  rm -f "$STATE/$svc/pid"
  if port_busy "$port"; then
    fail "$svc" "127.0.0.1:$port is taken by a process not started by this script (set the port variable to move)" ""
  fi
  return 1
}

# ---------------------------------------------------------------------------------------------
# Redis

up_redis() {
  mkdir -p "$STATE/redis"
  already_up redis "$REDIS_PORT" "$REDIS_TIMEOUT" && return 0
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server redis-tools || fail redis "could not install redis-server" "$STATE/apt.log"
  fi
  printf '%s' "$REDIS_PORT" >"$STATE/redis/port"
  launch redis "$STATE/redis/redis.log" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
    --save '' --appendonly no --daemonize no --protected-mode yes --dir "$STATE/redis"
  wait_ready redis "$REDIS_TIMEOUT"
  say "ready on 127.0.0.1:$REDIS_PORT after ${SECONDS}s"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

find_pg_bin() {
  local d
  for d in "${DISPATCH_PG_BIN:-}" /usr/lib/postgresql/15/bin; do
    if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
      printf '%s' "$d"
      return 0
    fi
  done
  if command -v pg_ctl >/dev/null; then
    d="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
    [[ -x "$d/initdb" ]] && printf '%s' "$d" && return 0
  fi
  return 1
}

up_postgres() {
  local dir="$STATE/postgres" bin pid
  mkdir -p "$dir"
  already_up postgres "$PG_PORT" "$PG_TIMEOUT" && return 0
  if ! bin="$(find_pg_bin)"; then
    apt_install postgresql-15 || fail postgres "could not install postgresql-15" "$STATE/apt.log"
    bin="$(find_pg_bin)" || fail postgres "no initdb/pg_ctl found after installing postgresql-15" ""
  fi
  id postgres >/dev/null 2>&1 || fail postgres "there is no postgres user (initdb refuses to run as root)" ""
  # initdb and the server refuse root: the postgres user owns the data, the socket and the log.
  mkdir -p "$dir/data" "$dir/run"
  chown -R postgres:postgres "$dir"
  chmod 700 "$dir/data"
  runuser -u postgres -- test -w "$dir/data" ||
    fail postgres "user postgres cannot write $dir (is a parent folder private?)" ""
  if [[ ! -f "$dir/initialized" ]]; then
    find "$dir/data" -mindepth 1 -delete
    runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
      --no-locale --no-sync >"$dir/initdb.log" 2>&1 || fail postgres "initdb failed" "$dir/initdb.log"
  fi
  printf '%s' "$PG_PORT" >"$dir/port"
  # A throwaway test database: durability settings off, the socket in our own folder.
  local opts="-c listen_addresses=127.0.0.1 -p $PG_PORT -k '$dir/run' -c fsync=off"
  opts+=" -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
  setsid runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "$opts" \
    -w -t "$PG_TIMEOUT" start >"$dir/pg_ctl.log" 2>&1 </dev/null 8>&- ||
    fail postgres "pg_ctl start failed (see also $dir/pg_ctl.log)"
  pid="$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || fail postgres "no PID in $dir/data/postmaster.pid"
  printf '%s' "$pid" >"$dir/pid"
  wait_ready postgres "$PG_TIMEOUT"
  if [[ ! -f "$dir/initialized" ]]; then
    if [[ "$("$bin/psql" -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != "1" ]]; then
      "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$PG_DB" >>"$dir/initdb.log" 2>&1 ||
        fail postgres "createdb $PG_DB failed" "$dir/initdb.log"
    fi
    touch "$dir/initialized"
  fi
  say "ready on 127.0.0.1:$PG_PORT (database $PG_DB) after ${SECONDS}s"
}

# ---------------------------------------------------------------------------------------------
# Kafka

kafka_home() { printf '%s' "$CACHE/kafka-$KAFKA_VERSION"; }

# The broker's jars from Maven Central (kafka_2.13 and what it pulls in), fetched once per version.
ensure_kafka_libs() {
  local home tmp
  home="$(kafka_home)"
  [[ -f "$home/.complete" ]] && return 0
  command -v java >/dev/null || fail kafka "java not found (Kafka needs a JRE 17+)" ""
  command -v mvn >/dev/null || fail kafka "mvn not found (needed once to fetch the Kafka jars)" ""
  mkdir -p "$CACHE"
  (
    flock 9
    [[ -f "$home/.complete" ]] && exit 0
    say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $home"
    tmp="$(mktemp -d "$CACHE/kafka-$KAFKA_VERSION.tmp.XXXXXX")"
    if ! mvn -B -q -f "$ROOT/scripts/kafka/pom.xml" "-Dkafka.version=$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$tmp/libs" \
      >"$STATE/kafka/mvn.log" 2>&1; then
      rm -rf "$tmp"
      exit 1
    fi
    rm -rf "$home"
    mv "$tmp" "$home"
    touch "$home/.complete"
  ) 9>"$CACHE/kafka-$KAFKA_VERSION.lock" || fail kafka "mvn could not fetch the Kafka jars" "$STATE/kafka/mvn.log"
}

# java with the broker's classpath, a capped heap and our log4j2 config (stdout only).
kafka_java() {
  KAFKA_JAVA=(java -Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$ROOT/scripts/kafka/log4j2.properties" -cp "$(kafka_home)/libs/*")
}

up_kafka() {
  local dir="$STATE/kafka" cluster_id
  mkdir -p "$dir"
  already_up kafka "$KAFKA_PORT" "$KAFKA_TIMEOUT" && return 0
  port_busy "$KAFKA_CONTROLLER_PORT" &&
    fail kafka "controller port 127.0.0.1:$KAFKA_CONTROLLER_PORT is taken (set DISPATCH_KAFKA_CONTROLLER_PORT)" ""
  ensure_kafka_libs
  kafka_java
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
    -e "s|@DATA_DIR@|$dir/data|g" "$ROOT/scripts/kafka/server.properties.template" >"$dir/server.properties"
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    rm -rf "$dir/data"
    # A cluster id is 16 random bytes in URL-safe base64 without padding.
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      >"$dir/format.log" 2>&1 || fail kafka "formatting the KRaft storage failed" "$dir/format.log"
  fi
  printf '%s' "$KAFKA_PORT" >"$dir/port"
  launch kafka "$dir/kafka.log" "${KAFKA_JAVA[@]}" kafka.Kafka "$dir/server.properties"
  wait_ready kafka "$KAFKA_TIMEOUT"
  say "ready on 127.0.0.1:$KAFKA_PORT (Kafka $KAFKA_VERSION, controller on $KAFKA_CONTROLLER_PORT) after ${SECONDS}s"
}

# ---------------------------------------------------------------------------------------------
# Firebase Auth emulator

up_firebase() {
  local dir="$STATE/firebase" cli="$ROOT/node_modules/.bin/firebase"
  mkdir -p "$dir"
  already_up firebase "$FIREBASE_AUTH_PORT" "$FIREBASE_TIMEOUT" && return 0
  [[ -x "$cli" ]] || fail firebase "$cli not found: run npm install (firebase-tools is a devDependency)" ""
  # The config lives with the state so the ports can be overridden; the hub and logging ports are
  # pinned too, else the CLI takes its defaults (4400, 4500) and may meet another emulator there.
  cat >"$dir/firebase.json" <<EOF
{
  "emulators": {
    "singleProjectMode": true,
    "auth": { "host": "127.0.0.1", "port": $FIREBASE_AUTH_PORT },
    "hub": { "host": "127.0.0.1", "port": $FIREBASE_HUB_PORT },
    "logging": { "host": "127.0.0.1", "port": $FIREBASE_LOGGING_PORT },
    "ui": { "enabled": false }
  }
}
EOF
  printf '%s' "$FIREBASE_AUTH_PORT" >"$dir/port"
  # cwd and TMPDIR in the state folder: firebase-debug.log and the hub locator file land there,
  # not in the checkout or in a /tmp shared with other emulators.
  (
    cd "$dir"
    launch firebase "$dir/firebase.log" env TMPDIR="$dir" NO_UPDATE_NOTIFIER=1 "$cli" emulators:start \
      --only auth --project "$FIREBASE_PROJECT" --config "$dir/firebase.json" --non-interactive
  )
  wait_ready firebase "$FIREBASE_TIMEOUT"
  say "ready on 127.0.0.1:$FIREBASE_AUTH_PORT (project $FIREBASE_PROJECT) after ${SECONDS}s"
}

# ---------------------------------------------------------------------------------------------
# Stopping

# Polite signal per service: SIGINT is PostgreSQL's "fast" shutdown (SIGTERM would wait for clients).
stop_signal() { if [[ "$1" == postgres ]]; then printf 'INT'; else printf 'TERM'; fi; }

stop_service() {
  local svc="$1" pid start
  if ! pid="$(running_pid "$svc")"; then
    [[ -e "$STATE/$svc/pid" ]] && say "not running (stale pid file removed)"
    rm -f "$STATE/$svc/pid"
    return 0
  fi
  say "stopping pid $pid"
  kill -s "$(stop_signal "$svc")" "$pid" 2>/dev/null || true
  start=$SECONDS
  while pid_alive "$pid" && ((SECONDS - start < STOP_GRACE)); do sleep 0.2; done
  if pid_alive "$pid"; then
    say "still alive after ${STOP_GRACE}s, sending SIGKILL"
    kill -s KILL "$pid" 2>/dev/null || true
    start=$SECONDS
    while pid_alive "$pid" && ((SECONDS - start < 10)); do sleep 0.2; done
  fi
  if pid_alive "$pid"; then
    say "pid $pid survived SIGKILL"
    return 1
  fi
  rm -f "$STATE/$svc/pid"
  say "stopped"
}

# ---------------------------------------------------------------------------------------------
# Commands

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2; }

# Runs FN SERVICE for each service at once, output prefixed with the service name; fails if any did.
# Each runs in a new bash (`_run`): called under `||`, a function would run with `set -e` ignored.
for_each_parallel() {
  local fn="$1" svc failed=()
  shift
  local -A pids=()
  for svc in "$@"; do
    (bash "${BASH_SOURCE[0]}" _run "$fn" "$svc" 2>&1 | sed -u "s/^/[$svc] /" >&2) &
    pids[$svc]=$!
  done
  for svc in "$@"; do
    wait "${pids[$svc]}" || failed+=("$svc")
  done
  if ((${#failed[@]})); then
    say "failed: ${failed[*]}"
    return 1
  fi
}

cmd_up() {
  local t0=$SECONDS
  for_each_parallel up "$@" || {
    say "services up FAILED after $((SECONDS - t0))s (state in $STATE; 'scripts/services.sh down' stops the rest)"
    return 1
  }
  say "services up: $* ready in $((SECONDS - t0))s"
}

cmd_down() { for_each_parallel stop "$@"; }

cmd_status() {
  local svc pid ok=0 port
  for svc in "$@"; do
    if pid="$(running_pid "$svc")"; then
      port="$(cat "$STATE/$svc/port" 2>/dev/null || printf '?')"
      if healthy "$svc"; then
        printf '%-9s running  pid %-8s 127.0.0.1:%s\n' "$svc" "$pid" "$port"
      else
        printf '%-9s running  pid %-8s 127.0.0.1:%s  NOT ANSWERING (log: %s)\n' "$svc" "$pid" "$port" "$(log_of "$svc")"
        ok=1
      fi
    else
      printf '%-9s stopped\n' "$svc"
      ok=1
    fi
  done
  return "$ok"
}

cmd_env() {
  printf 'export REDIS_URL=%q\n' "redis://127.0.0.1:$(port_of redis "$REDIS_PORT")"
  printf 'export DATABASE_URL=%q\n' "postgres://postgres@127.0.0.1:$(port_of postgres "$PG_PORT")/$PG_DB"
  printf 'export KAFKA_BROKERS=%q\n' "127.0.0.1:$(port_of kafka "$KAFKA_PORT")"
  printf 'export FIREBASE_AUTH_EMULATOR_HOST=%q\n' "127.0.0.1:$(port_of firebase "$FIREBASE_AUTH_PORT")"
  printf 'export FIREBASE_PROJECT_ID=%q\n' "$FIREBASE_PROJECT"
}

main() {
  local cmd="${1:-help}" svc
  if [[ "$cmd" == _run ]]; then
    # Internal: one service's part of up or down, in its own process (see for_each_parallel).
    case "$2" in
      up) "up_$3" ;;
      stop) stop_service "$3" ;;
    esac
    return
  fi
  shift || true
  local services=("$@")
  ((${#services[@]})) || services=("${ALL_SERVICES[@]}")
  for svc in "${services[@]}"; do
    [[ " ${ALL_SERVICES[*]} " == *" $svc "* ]] || die "unknown service '$svc' (one of: ${ALL_SERVICES[*]})"
  done
  # pg_ctl -o passes its options through a shell; keep the state path plain.
  [[ "$STATE" =~ ^[A-Za-z0-9_./-]+$ ]] || die "DISPATCH_SERVICES_DIR must be a plain path: $STATE"

  case "$cmd" in
    up | down | clean)
      mkdir -p "$STATE"
      # One up/down at a time per state folder; launch() keeps fd 8 out of the services.
      exec 8>"$STATE/.lock"
      flock 8
      case "$cmd" in
        up) cmd_up "${services[@]}" ;;
        down) cmd_down "${services[@]}" ;;
        clean)
          cmd_down "${ALL_SERVICES[@]}"
          rm -rf "$STATE"
          say "removed $STATE"
          ;;
      esac
      ;;
    status) cmd_status "${services[@]}" ;;
    env) cmd_env ;;
    help | -h | --help) usage ;;
    *)
      usage
      exit 2
      ;;
  esac
}

main "$@"

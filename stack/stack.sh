#!/usr/bin/env bash
# kmarket native server stack: Kafka (KRaft), Apicurio Registry, QuestDB, PostgreSQL, Prometheus
# as plain local processes -- no Docker. See stack/README.md.
#
#   bash stack/stack.sh up [service...]     install what is missing, start, wait until healthy
#   bash stack/stack.sh down [service...]   stop what this script started (by pid file)
#   bash stack/stack.sh status              one line per server
#   bash stack/stack.sh env                 export lines for the services/tests (eval "$(... env)")
#   bash stack/stack.sh logs <service>      last 100 lines of a server's log
#   bash stack/stack.sh reset               down, then delete all state (data, logs, configs)
set -euo pipefail

STACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$STACK_DIR")"
STACK_HOME="${KMARKET_STACK_HOME:-$REPO_DIR/.stack}"
[[ $STACK_HOME == /* ]] || STACK_HOME="$PWD/$STACK_HOME"
STACK_HOME="${STACK_HOME%/}"
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kmarket"

# ---- ports (all on 127.0.0.1) -------------------------------------------------------------------
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REGISTRY_PORT="${REGISTRY_PORT:-8081}"
REGISTRY_MANAGEMENT_PORT="${REGISTRY_MANAGEMENT_PORT:-9001}"
QUESTDB_HTTP_PORT="${QUESTDB_HTTP_PORT:-9000}"
QUESTDB_MIN_HTTP_PORT="${QUESTDB_MIN_HTTP_PORT:-9003}"
QUESTDB_PG_PORT="${QUESTDB_PG_PORT:-8812}"
QUESTDB_ILP_TCP_PORT="${QUESTDB_ILP_TCP_PORT:-9009}"
POSTGRES_PORT="${POSTGRES_PORT:-5433}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"

# ---- versions -----------------------------------------------------------------------------------
KAFKA_VERSION=4.3.1
APICURIO_VERSION=3.3.3
QUESTDB_VERSION=9.3.4
# Pinned so a warm ~/.m2 needs no plugin-metadata lookup.
MVN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:2.8

KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
APICURIO_HOME="$CACHE_DIR/apicurio-registry-$APICURIO_VERSION"
QUESTDB_JAR="$CACHE_DIR/questdb-$QUESTDB_VERSION/questdb-$QUESTDB_VERSION.jar"

# ---- Kafka cluster size ------------------------------------------------------------------------
# KAFKA_NODES=3 runs a three-node KRaft cluster (each node broker and controller, replication factor 3,
# min.insync.replicas 2), to try what a production cluster does when a broker dies. Node i listens on
# KAFKA_PORT + 2(i-1) and KAFKA_CONTROLLER_PORT + 2(i-1) (9092/9093, 9094/9095, 9096/9097); nodes 2
# and 3 are the services kafka2 and kafka3. The size is remembered in the state dir on first `up`.
KAFKA_NODES_FILE="$STACK_HOME/kafka/nodes"
if [[ -z ${KAFKA_NODES:-} ]]; then
  KAFKA_NODES="$(cat "$KAFKA_NODES_FILE" 2>/dev/null || echo 1)"
fi
[[ $KAFKA_NODES == 1 || $KAFKA_NODES == 3 ]] || { printf 'stack: KAFKA_NODES must be 1 or 3, not %s\n' "$KAFKA_NODES" >&2; exit 2; }
KAFKA_EXTRA_NODES=()
for ((n = 2; n <= KAFKA_NODES; n++)); do KAFKA_EXTRA_NODES+=("kafka$n"); done

ALL_SERVICES=(postgres kafka "${KAFKA_EXTRA_NODES[@]}" questdb registry prometheus)   # start order; stop order is the reverse

# Timeouts (s) for a server to become healthy after launch. Kafka's start time grows with the
# partitions on disk (a long-used dev stack holds thousands of test topics: 47 s at load 8), and a
# start cut short is killed and tried again by the next caller, so Kafka gets the most time.
declare -A TIMEOUT=([postgres]=30 [kafka]=180 [kafka2]=180 [kafka3]=180 [questdb]=60 [registry]=90 [prometheus]=30)

# kafka_node <service> -> the node number (kafka = 1, kafka2 = 2, ...)
kafka_node() { local n=${1#kafka}; echo "${n:-1}"; }
kafka_port() { echo $((KAFKA_PORT + 2 * ($(kafka_node "$1") - 1))); }
kafka_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($(kafka_node "$1") - 1))); }
kafka_bootstrap() {
  local s out="127.0.0.1:$KAFKA_PORT"
  for s in "${KAFKA_EXTRA_NODES[@]}"; do out+=",127.0.0.1:$(kafka_port "$s")"; done
  echo "$out"
}
KAFKA_BOOTSTRAP="$(kafka_bootstrap)"

# ---- small helpers ------------------------------------------------------------------------------
say() { printf '%s\n' "$*"; }
err() { printf 'stack: %s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }
# secs_since <start_us> -> "4.8"
secs_since() {
  local d=$(( ($(now_us) - $1) / 100000 ))
  printf '%d.%d' $((d / 10)) $((d % 10))
}

is_root() { [[ $(id -u) -eq 0 ]]; }

svc_dir() { echo "$STACK_HOME/$1"; }
svc_log() { if [[ $1 == postgres ]]; then echo "$(pg_home)/postgres.log"; else echo "$STACK_HOME/$1/$1.log"; fi; }

# Where the Postgres cluster lives (data, socket, log). Postgres refuses to run as root, so as root it
# runs as the postgres OS user, which must be able to enter every parent folder of its files. A clone
# in a folder closed to other users (root's home is 0700, the most common place there is) keeps its
# cluster under /var/lib/kmarket/<hash of the state dir> instead: the same place on every run, so the
# data survives restarts, and `reset` removes it with the rest.
pg_home() {
  local home="$STACK_HOME/postgres"
  if is_root && id postgres >/dev/null 2>&1 && ! runuser -u postgres -- test -x "$STACK_HOME" 2>/dev/null; then
    home="/var/lib/kmarket/$(printf '%s' "$STACK_HOME" | sha256sum | cut -c1-16)/postgres"
  fi
  echo "$home"
}
svc_pidfile() { echo "$STACK_HOME/$1/$1.pid"; }

svc_addr() {
  case $1 in
    postgres)   echo "127.0.0.1:$POSTGRES_PORT" ;;
    kafka*)     echo "127.0.0.1:$(kafka_port "$1")" ;;
    questdb)    echo "127.0.0.1:$QUESTDB_HTTP_PORT" ;;
    registry)   echo "127.0.0.1:$REGISTRY_PORT" ;;
    prometheus) echo "127.0.0.1:$PROMETHEUS_PORT" ;;
  esac
}

# Ports a server binds (checked for conflicts before launching it).
svc_ports() {
  case $1 in
    postgres)   echo "$POSTGRES_PORT" ;;
    kafka*)     echo "$(kafka_port "$1") $(kafka_controller_port "$1")" ;;
    questdb)    echo "$QUESTDB_HTTP_PORT $QUESTDB_MIN_HTTP_PORT $QUESTDB_PG_PORT $QUESTDB_ILP_TCP_PORT" ;;
    registry)   echo "$REGISTRY_PORT $REGISTRY_MANAGEMENT_PORT" ;;
    prometheus) echo "$PROMETHEUS_PORT" ;;
  esac
}

is_service() { local s; for s in "${ALL_SERVICES[@]}"; do [[ $s == "$1" ]] && return 0; done; return 1; }

# alive <pid>: the process exists and is not a zombie (a server that died while this script, its
# parent, is still running stays a zombie until the script exits, and kill -0 succeeds on it).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local st; st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ $st != Z && $st != X ]]
}

port_open() { timeout 1 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null; }

http_ok() { curl -sf -o /dev/null --max-time 2 "$1" 2>/dev/null; }

# render <template> <output>: replaces ${NAME} for the variables listed in TEMPLATE_VARS.
TEMPLATE_VARS=(KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_DATA_DIR KAFKA_NODE_ID KAFKA_NODE_PORT KAFKA_NODE_CONTROLLER_PORT
               KAFKA_QUORUM_VOTERS KAFKA_REPLICATION KAFKA_MIN_ISR KAFKA_BOOTSTRAP
               REGISTRY_PORT REGISTRY_MANAGEMENT_PORT QUESTDB_MIN_HTTP_PORT PROMETHEUS_TARGETS_DIR)
render() {
  local content v
  content="$(<"$1")"
  for v in "${TEMPLATE_VARS[@]}"; do
    content="${content//"\${$v}"/"${!v-}"}"
  done
  printf '%s\n' "$content" >"$2.tmp"
  mv -f "$2.tmp" "$2"
}

# Start a long-running server detached from this shell (own session, stdin closed, output to its
# log). Sets LAUNCHED_PID. The previous run's log is kept as <log>.prev.
launch() {
  local name=$1; shift
  local log; log="$(svc_log "$name")"
  [[ -f $log ]] && mv -f "$log" "$log.prev"
  : >"$log"
  # 9>&-: the server must not inherit the lock fd (it would hold the lock for as long as it runs).
  setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
  LAUNCHED_PID=$!
  echo "$LAUNCHED_PID" >"$(svc_pidfile "$name")"
}

# The pid in a server's pid file if that process is alive and is ours (its command line or working
# directory mentions the state dir), else nothing.
our_pid() {
  local name=$1 pidfile pid mark=$STACK_HOME
  pidfile="$(svc_pidfile "$name")"
  if [[ $name == postgres ]]; then
    # postgres writes its own pid file; ours mirrors its first line.
    mark="$(pg_home)"
    [[ -f $mark/data/postmaster.pid ]] || return 0
    pid="$(head -n1 "$mark/data/postmaster.pid" 2>/dev/null || true)"
  else
    [[ -f $pidfile ]] || return 0
    pid="$(<"$pidfile")"
  fi
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  alive "$pid" || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$mark" \
     || [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$mark"* ]]; then
    echo "$pid"
  fi
}

# ---- health checks ------------------------------------------------------------------------------
healthy() {
  case $1 in
    postgres)
      "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 2 >/dev/null 2>&1 ;;
    kafka*)
      # Ready line of the current run (the log is rotated at every launch) and the port answering.
      grep -qF 'Transition from STARTING to STARTED' "$(svc_log "$1")" 2>/dev/null \
        && port_open "$(kafka_port "$1")" ;;
    questdb)
      # Never GET / on the main HTTP port: it answers a 301 without a length and curl hangs.
      http_ok "http://127.0.0.1:$QUESTDB_HTTP_PORT/exec?query=select%201" ;;
    registry)
      http_ok "http://127.0.0.1:$REGISTRY_MANAGEMENT_PORT/health/ready" ;;
    prometheus)
      http_ok "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" ;;
  esac
}

show_log_tail() {
  local name=$1 log; log="$(svc_log "$name")"
  err "---- last 40 lines of $log ----"
  tail -n 40 "$log" >&2 2>/dev/null || true
  err "---- end of $name log ----"
}

# wait_healthy <name> <pid>: poll until healthy; fail fast if the process dies or time runs out.
wait_healthy() {
  local name=$1 pid=$2 limit=${TIMEOUT[$1]} t0; t0=$(now_us)
  while true; do
    if healthy "$name"; then return 0; fi
    if ! alive "$pid"; then
      err "$name exited while starting (pid $pid)"
      show_log_tail "$name"
      return 1
    fi
    if (( $(now_us) - t0 > limit * 1000000 )); then
      err "$name not healthy after ${limit}s; stopping it (pid $pid)"
      show_log_tail "$name"
      stop_pid "$name" "$pid"
      return 1
    fi
    sleep 0.1
  done
}

check_ports_free() {
  local name=$1 p
  for p in $(svc_ports "$name"); do
    if port_open "$p"; then
      die "$name: port 127.0.0.1:$p is already in use by another process (not started by this script); stop it or set another port"
    fi
  done
}

# ---- installation (cached outside the repo) -----------------------------------------------------
need_cmd() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

APT_UPDATED=0
apt_install() {
  is_root || die "need to install Debian packages ($*) but not running as root: sudo apt-get install -y $*"
  local noservice=0
  # Never let the package start its own system service (Prometheus would take port 9090).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && noservice=1
  fi
  local rc=0 log="$STACK_HOME/apt.log"
  {
    if [[ $APT_UPDATED -eq 0 ]]; then DEBIAN_FRONTEND=noninteractive apt-get update && APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
  } >"$log" 2>&1 || rc=$?
  [[ $noservice -eq 1 ]] && rm -f /usr/sbin/policy-rc.d
  if [[ $rc -ne 0 ]]; then tail -n 40 "$log" >&2; die "apt-get install $* failed (log: $log)"; fi
}

# mvn_run <logname> <args...>: run Maven quietly, show its output only if it fails.
mvn_run() {
  local log="$CACHE_DIR/$1.mvn.log"; shift
  command -v mvn >/dev/null 2>&1 || apt_install maven
  if ! mvn -B -q "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "maven failed: mvn $* (log: $log)"
  fi
}

install_kafka() {
  [[ -f $KAFKA_LIBS/.complete ]] && return 0
  local tmp="$CACHE_DIR/kafka-$KAFKA_VERSION/libs.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  # Run Maven on a copy of the pom outside the repo so nothing (target/) is written into the clone.
  cp "$STACK_DIR/kafka/pom.xml" "$CACHE_DIR/kafka-$KAFKA_VERSION/pom.xml"
  mvn_run kafka -f "$CACHE_DIR/kafka-$KAFKA_VERSION/pom.xml" "$MVN_DEP_PLUGIN:copy-dependencies" \
    -DoutputDirectory="$tmp" -DincludeScope=runtime
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null || die "kafka jars missing after maven copy"
  touch "$tmp/.complete"
  rm -rf "$KAFKA_LIBS"; mv "$tmp" "$KAFKA_LIBS"
  INSTALLED+=("kafka")
}

install_questdb() {
  [[ -f $QUESTDB_JAR ]] && return 0
  local dir; dir="$(dirname "$QUESTDB_JAR")"
  local tmp="$dir.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  (cd "$tmp" && mvn_run questdb "$MVN_DEP_PLUGIN:copy" \
    -Dartifact="org.questdb:questdb:$QUESTDB_VERSION" -DoutputDirectory="$tmp")
  [[ -f $tmp/questdb-$QUESTDB_VERSION.jar ]] || die "questdb jar missing after maven copy"
  rm -rf "$dir"; mv "$tmp" "$dir"
  INSTALLED+=("questdb")
}

install_registry() {
  [[ -f $APICURIO_HOME/.complete ]] && return 0
  local tmp="$APICURIO_HOME.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp/dl"
  (cd "$tmp" && mvn_run registry "$MVN_DEP_PLUGIN:copy" \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory="$tmp/dl")
  tar -xzf "$tmp/dl/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$tmp"
  rm -rf "$tmp/dl"
  [[ -f $tmp/quarkus-run.jar ]] || die "apicurio: quarkus-run.jar missing after untar"
  touch "$tmp/.complete"
  rm -rf "$APICURIO_HOME"; mv "$tmp" "$APICURIO_HOME"
  INSTALLED+=("registry")
}

pg_bin() {
  local d
  if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then echo /usr/lib/postgresql/15/bin; return; fi
  d="$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n1 || true)"
  echo "${d:-/usr/lib/postgresql/15/bin}"
}

install_postgres() {
  compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && return 0
  apt_install postgresql postgresql-client
  INSTALLED+=("postgres")
}

install_prometheus() {
  command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && return 0
  apt_install prometheus
  INSTALLED+=("prometheus")
}

# A JDK >= 21 for Apicurio: Temurin 25 if present, else the newest suitable one in /usr/lib/jvm.
registry_java() {
  if [[ -n ${REGISTRY_JAVA:-} ]]; then echo "$REGISTRY_JAVA"; return; fi
  local pref=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java
  if [[ -x $pref ]]; then echo "$pref"; return; fi
  local best="" bestv=0 rel v d
  for d in /usr/lib/jvm/*/; do
    rel="$d/release"; [[ -f $rel && -x $d/bin/java ]] || continue
    v="$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$rel")"
    [[ $v =~ ^[0-9]+$ ]] || continue
    if (( v >= 21 && v > bestv )); then bestv=$v; best="${d%/}/bin/java"; fi
  done
  [[ -n $best ]] || die "Apicurio Registry needs Java >= 21: none found in /usr/lib/jvm (install temurin-25-jdk or openjdk-21, or set REGISTRY_JAVA=/path/to/java)"
  echo "$best"
}

# ---- postgres helpers ---------------------------------------------------------------------------
# as_pg <cmd...>: run as the postgres OS user when root (initdb refuses root), else as ourselves.
as_pg() {
  if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_password() {
  if [[ -n ${POSTGRES_PASSWORD:-} ]]; then printf '%s' "$POSTGRES_PASSWORD"; return; fi
  # Beside the cluster it belongs to: a relocated cluster outlives the clone's state dir.
  local f; f="$(pg_home)/password"
  if [[ ! -s $f ]]; then
    mkdir -p "$(dirname "$f")"
    (umask 077; openssl rand -hex 16 2>/dev/null >"$f.tmp" || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f.tmp")
    chmod 600 "$f.tmp"; mv -f "$f.tmp" "$f"
  fi
  tr -d '\n' <"$f"
}

# Superuser password (separate from kmarket's, never printed; only used by this script).
pg_super_password() {
  local f; f="$(pg_home)/superuser-password"
  mkdir -p "$(dirname "$f")"
  if [[ ! -s $f ]]; then
    (umask 077; openssl rand -hex 16 2>/dev/null >"$f.tmp" || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$f.tmp")
    chmod 600 "$f.tmp"; mv -f "$f.tmp" "$f"
  fi
  tr -d '\n' <"$f"
}

urlencode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [a-zA-Z0-9.~_-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

# ---- start functions (each sets STARTED_PID) ----------------------------------------------------
start_postgres() {
  local dir; dir="$(pg_home)"
  local data="$dir/data" sock="$dir/run"
  local bin; bin="$(pg_bin)"
  local log; log="$(svc_log postgres)"
  mkdir -p "$dir"
  if is_root; then
    id postgres >/dev/null 2>&1 || die "postgres OS user missing (install the postgresql package)"
    [[ $dir == "$STACK_HOME/postgres" ]] || say "postgres    the postgres OS user cannot enter $STACK_HOME; its cluster lives in $dir"
    runuser -u postgres -- test -x "$dir" \
      || die "the postgres OS user cannot reach $dir: every parent directory needs o+x (or set KMARKET_STACK_HOME elsewhere)"
    install -d -o postgres -g postgres -m 0700 "$data"
    install -d -o postgres -g postgres -m 0755 "$sock"
  else
    install -d -m 0700 "$data"; install -d -m 0755 "$sock"
  fi
  if [[ ! -f $data/PG_VERSION ]]; then
    local pw="$dir/.initdb-pw.$$"
    (umask 077; pg_super_password >"$pw")
    is_root && chown postgres "$pw"
    if ! as_pg "$bin/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$pw" \
         -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
      rm -f "$pw"; tail -n 40 "$dir/initdb.log" >&2; die "postgres initdb failed (log: $dir/initdb.log)"
    fi
    rm -f "$pw"
  fi
  [[ -f $log ]] && mv -f "$log" "$log.prev"
  : >"$log"; is_root && chown postgres "$log"
  # postgres' own log goes to $log; pg_ctl -w waits until it accepts connections.
  if ! as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t "${TIMEOUT[postgres]}" \
       -o "-p $POSTGRES_PORT -k $sock -c listen_addresses=127.0.0.1" start >"$dir/pg_ctl.log" 2>&1 9>&-; then
    cat "$dir/pg_ctl.log" >&2
    show_log_tail postgres
    as_pg "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    die "postgres failed to start"
  fi
  STARTED_PID="$(head -n1 "$data/postmaster.pid")"
  echo "$STARTED_PID" >"$(svc_pidfile postgres)"
}

# Role + database kmarket (idempotent; also applies a changed POSTGRES_PASSWORD).
setup_postgres_db() {
  local bin; bin="$(pg_bin)"
  local out
  if ! out="$(KM_PW="$(pg_password)" PGPASSWORD="$(pg_super_password)" PGCONNECT_TIMEOUT=5 \
      "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres 2>&1 <<'SQL'
\getenv km_pw KM_PW
SELECT format('CREATE ROLE kmarket LOGIN PASSWORD %L', :'km_pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kmarket') \gexec
SELECT format('ALTER ROLE kmarket LOGIN PASSWORD %L', :'km_pw') \gexec
SELECT 'CREATE DATABASE kmarket OWNER kmarket'
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'kmarket') \gexec
SQL
  )"; then
    # psql echoes the failing statement; keep the password out of the output.
    err "postgres: creating role/database kmarket failed: ${out//"$(pg_password)"/***}"
    return 1
  fi
}

# start_kafka_node <service>: formats the node's storage once (one cluster id for every node) and launches it.
start_kafka_node() {
  local name=$1 dir="$STACK_HOME/$1"
  KAFKA_NODE_ID="$(kafka_node "$name")"
  KAFKA_NODE_PORT="$(kafka_port "$name")"
  KAFKA_NODE_CONTROLLER_PORT="$(kafka_controller_port "$name")"
  KAFKA_DATA_DIR="$dir/data"
  KAFKA_QUORUM_VOTERS="" ; local i
  for ((i = 1; i <= KAFKA_NODES; i++)); do
    KAFKA_QUORUM_VOTERS+="${KAFKA_QUORUM_VOTERS:+,}$i@127.0.0.1:$((KAFKA_CONTROLLER_PORT + 2 * (i - 1)))"
  done
  KAFKA_REPLICATION=$KAFKA_NODES
  KAFKA_MIN_ISR=$(( KAFKA_NODES > 1 ? 2 : 1 ))
  mkdir -p "$KAFKA_DATA_DIR"
  render "$STACK_DIR/kafka/server.properties.tmpl" "$dir/server.properties"
  local java; java="$(command -v java)" || die "java (17) not found on PATH"
  if [[ ! -f $KAFKA_DATA_DIR/meta.properties ]]; then
    local id idfile="$STACK_HOME/kafka/cluster.id"
    mkdir -p "$STACK_HOME/kafka"
    if [[ -s $idfile ]]; then
      id="$(<"$idfile")"
    else
      # A Kafka cluster id is a base64url UUID of 22 chars; Kafka's own generator avoids a leading '-'.
      id="-"
      while [[ $id == -* ]]; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
      done
      echo "$id" >"$idfile"
    fi
    if ! "$java" -Xmx256m -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.yaml" -cp "$KAFKA_LIBS/*" \
         kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" >"$dir/format.log" 2>&1; then
      cat "$dir/format.log" >&2; die "kafka storage format failed (log: $dir/format.log)"
    fi
  fi
  launch "$name" "$java" -Xms256m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$STACK_DIR/kafka/log4j2.yaml" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties"
  STARTED_PID=$LAUNCHED_PID
}

start_kafka() {
  local recorded; recorded="$(cat "$KAFKA_NODES_FILE" 2>/dev/null || true)"
  if [[ -n $recorded && $recorded != "$KAFKA_NODES" && -f $STACK_HOME/kafka/data/meta.properties ]]; then
    die "kafka: the state dir holds a $recorded-node cluster; KAFKA_NODES=$KAFKA_NODES needs 'stack.sh reset' first"
  fi
  mkdir -p "$STACK_HOME/kafka"; echo "$KAFKA_NODES" >"$KAFKA_NODES_FILE"
  # A multi-node quorum elects a leader only when most voters run: launch the other nodes too (each
  # with its own pid file, as the services kafka2, kafka3) before anyone waits for node 1.
  local s
  for s in "${KAFKA_EXTRA_NODES[@]}"; do
    if [[ -z $(our_pid "$s") ]]; then check_ports_free "$s"; start_kafka_node "$s"; fi
  done
  start_kafka_node kafka
}
start_kafka2() { start_kafka_node kafka2; }
start_kafka3() { start_kafka_node kafka3; }
install_kafka2() { install_kafka; }
install_kafka3() { install_kafka; }

# The page sizes: every test makes its own tables (about sixty a run), and QuestDB's default 16 MB
# per column and partition filled 7-10 GB of disk a run with a few thousand rows; CI died of a full
# disk. 128K is QuestDB's own advice for many tables; each one can still be set in the environment.
start_questdb() {
  local root="$STACK_HOME/questdb/data"
  mkdir -p "$root"
  local java; java="$(command -v java)" || die "java (17) not found on PATH"
  local step=128K
  # The settings every deployment shares (compose reads the same file); the environment overrides.
  local -a shared=() key line
  while IFS= read -r line; do
    [[ $line =~ ^(QDB_[A-Z0-9_]+)=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]}
    shared+=("$key=${!key:-${BASH_REMATCH[2]}}")
  done < "$STACK_DIR/questdb/server.env"
  launch questdb env "${shared[@]}" \
    QDB_HTTP_NET_BIND_TO="127.0.0.1:$QUESTDB_HTTP_PORT" \
    QDB_HTTP_MIN_NET_BIND_TO="127.0.0.1:$QUESTDB_MIN_HTTP_PORT" \
    QDB_PG_NET_BIND_TO="127.0.0.1:$QUESTDB_PG_PORT" \
    QDB_LINE_TCP_NET_BIND_TO="127.0.0.1:$QUESTDB_ILP_TCP_PORT" \
    QDB_LINE_UDP_ENABLED=false \
    QDB_TELEMETRY_ENABLED=false \
    QDB_METRICS_ENABLED=true \
    QDB_CAIRO_WRITER_DATA_APPEND_PAGE_SIZE="${QDB_CAIRO_WRITER_DATA_APPEND_PAGE_SIZE:-$step}" \
    QDB_CAIRO_SYSTEM_WRITER_DATA_APPEND_PAGE_SIZE="${QDB_CAIRO_SYSTEM_WRITER_DATA_APPEND_PAGE_SIZE:-$step}" \
    QDB_CAIRO_WRITER_DATA_INDEX_KEY_APPEND_PAGE_SIZE="${QDB_CAIRO_WRITER_DATA_INDEX_KEY_APPEND_PAGE_SIZE:-$step}" \
    QDB_CAIRO_WRITER_DATA_INDEX_VALUE_APPEND_PAGE_SIZE="${QDB_CAIRO_WRITER_DATA_INDEX_VALUE_APPEND_PAGE_SIZE:-$step}" \
    QDB_CAIRO_O3_COLUMN_MEMORY_SIZE="${QDB_CAIRO_O3_COLUMN_MEMORY_SIZE:-$step}" \
    "$java" -p "$QUESTDB_JAR" -m io.questdb/io.questdb.ServerMain -d "$root"
  STARTED_PID=$LAUNCHED_PID
}

start_registry() {
  local dir="$STACK_HOME/registry" java
  java="$(registry_java)"
  mkdir -p "$dir/data" "$dir/work/config"
  render "$STACK_DIR/registry/application.properties.tmpl" "$dir/work/config/application.properties"
  # Quarkus reads ./config/application.properties: run with cwd = the work dir under the state dir.
  (cd "$dir/work" && launch registry "$java" -XX:+UseSerialGC -Xmx256m -XX:TieredStopAtLevel=1 \
      -Dkmarket.stack="$STACK_HOME" \
      -jar "$APICURIO_HOME/quarkus-run.jar")
  STARTED_PID="$(<"$(svc_pidfile registry)")"
}

start_prometheus() {
  local dir="$STACK_HOME/prometheus"
  PROMETHEUS_TARGETS_DIR="$dir/targets"   # written by scripts/pipeline.sh
  mkdir -p "$dir/data" "$PROMETHEUS_TARGETS_DIR"
  render "$STACK_DIR/prometheus/prometheus.yml.tmpl" "$dir/prometheus.yml"
  if ! promtool check config "$dir/prometheus.yml" >"$dir/promtool.log" 2>&1; then
    cat "$dir/promtool.log" >&2; die "prometheus config invalid: $dir/prometheus.yml"
  fi
  launch prometheus prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
  STARTED_PID=$LAUNCHED_PID
}

# ---- stop ---------------------------------------------------------------------------------------
# stop_pid <name> <pid>: SIGTERM, wait up to 15 s, then SIGKILL.
stop_pid() {
  local name=$1 pid=$2 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    err "$name (pid $pid) did not stop in 15s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    # Until it is really gone: its ports stay bound while the kernel tears a large JVM down.
    for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$(svc_pidfile "$name")"
}

stop_service() {
  local name=$1 pid t0; t0=$(now_us)
  pid="$(our_pid "$name")"
  if [[ -z $pid ]]; then
    rm -f "$(svc_pidfile "$name")"
    printf '%-11s not running\n' "$name"
    return 0
  fi
  if [[ $name == postgres ]]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$(pg_home)/data" -m fast -w -t 15 stop >/dev/null 2>&1 \
      || stop_pid postgres "$pid"
    rm -f "$(svc_pidfile postgres)"
  else
    stop_pid "$name" "$pid"
  fi
  printf '%-11s stopped in %ss (pid %s)\n' "$name" "$(secs_since "$t0")" "$pid"
}

# ---- commands -----------------------------------------------------------------------------------
# Serialises up/down/reset. Every server is launched with fd 9 closed so it never holds this lock.
lock() {
  mkdir -p "$STACK_HOME"
  exec 9>"$STACK_HOME/.lock"
  flock -w 300 9 || die "another stack.sh up/down is running (lock $STACK_HOME/.lock)"
}

parse_services() {
  SERVICES=()
  local s
  if [[ $# -eq 0 ]]; then SERVICES=("${ALL_SERVICES[@]}"); return; fi
  for s in "$@"; do is_service "$s" || die "unknown service '$s' (one of: ${ALL_SERVICES[*]})"; done
  # Keep the canonical order whatever order they were given in.
  local a
  for s in "${ALL_SERVICES[@]}"; do
    for a in "$@"; do
      if [[ $a == "$s" ]]; then SERVICES+=("$s"); break; fi
    done
  done
  return 0
}

# Kafka takes a log dir offline (and a broker with none left stops) and QuestDB fails its commits
# when the disk fills: a run that starts short of space fails far from the cause, so say it here.
warn_low_disk() {
  mkdir -p "$STACK_HOME"
  local free_kb min_gb=${STACK_MIN_FREE_GB:-5}
  [[ $min_gb =~ ^[0-9]+$ ]] || die "STACK_MIN_FREE_GB must be a whole number of GB (got '$min_gb'): e.g. 5, or 0 to switch the low-disk warning off"
  free_kb="$(df -Pk "$STACK_HOME" 2>/dev/null | awk 'NR == 2 { print $4 }')"
  if [[ $free_kb =~ ^[0-9]+$ ]] && (( free_kb < min_gb * 1024 * 1024 )); then
    err "warning: $((free_kb / 1024)) MB free under $STACK_HOME (less than STACK_MIN_FREE_GB=$min_gb): Kafka and QuestDB stop writing when the disk fills. Free some space or set KMARKET_STACK_HOME to a roomier disk"
  fi
}

cmd_up() {
  parse_services "$@"
  warn_low_disk
  # The registry stores its data in Kafka.
  if [[ " ${SERVICES[*]} " == *" registry "* && " ${SERVICES[*]} " != *" kafka "* && " ${SERVICES[*]} " != *" kafka2 "* ]]; then
    parse_services kafka "${SERVICES[@]}"
  fi
  lock
  local total0; total0=$(now_us)

  # 1. install what is missing (cached in ~/.m2 and $CACHE_DIR, never in the repo)
  INSTALLED=()
  mkdir -p "$CACHE_DIR"
  local s t0
  for s in "${SERVICES[@]}"; do
    t0=$(now_us)
    "install_$s"
    if [[ " ${INSTALLED[*]} " == *" $s "* ]]; then
      printf '%-11s installed in %ss\n' "$s" "$(secs_since "$t0")"
    fi
  done
  [[ " ${SERVICES[*]} " == *" registry "* ]] && registry_java >/dev/null

  # 2. start, in order, each one waiting for health before the next
  local pid
  for s in "${SERVICES[@]}"; do
    mkdir -p "$STACK_HOME/$s"
    t0=$(now_us)
    pid="$(our_pid "$s")"
    if [[ -n $pid ]]; then
      if ! healthy "$s"; then
        # Ours and alive but not (yet) healthy, e.g. still starting: wait for it like a fresh start.
        wait_healthy "$s" "$pid" || exit 1
      fi
      [[ $s == postgres ]] && { setup_postgres_db || exit 1; }
      printf '%-11s already running (pid %s, %s)\n' "$s" "$pid" "$(svc_addr "$s")"
      continue
    fi
    rm -f "$(svc_pidfile "$s")"
    check_ports_free "$s"
    STARTED_PID=""
    "start_$s"
    wait_healthy "$s" "$STARTED_PID" || exit 1
    [[ $s == postgres ]] && { setup_postgres_db || exit 1; }
    printf '%-11s started in %ss (pid %s, %s)\n' "$s" "$(secs_since "$t0")" "$STARTED_PID" "$(svc_addr "$s")"
  done
  printf '%-11s %ss\n' "total" "$(secs_since "$total0")"
}

cmd_down() {
  parse_services "$@"
  lock
  local i s pid
  # The nodes of a multi-node cluster stop together: one left alone waits for a quorum that is gone.
  for s in "${SERVICES[@]}"; do
    if [[ $s == kafka* ]]; then pid="$(our_pid "$s")"; [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null; fi
  done
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    stop_service "${SERVICES[i]}"
  done
}

cmd_status() {
  local s pid state h
  for s in "${ALL_SERVICES[@]}"; do
    pid="$(our_pid "$s")"
    if [[ -n $pid ]]; then
      state=running
      if healthy "$s"; then h=yes; else h=no; fi
    else
      state=stopped; pid=-; h=no
    fi
    printf '%-11s %-8s pid %-8s %-16s healthy %s\n' "$s" "$state" "$pid" "$(svc_addr "$s")" "$h"
  done
}

sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

cmd_env() {
  local pw; pw="$(pg_password)"
  echo "export KAFKA_BROKERS=$(sq "$(kafka_bootstrap)")"
  echo "export SCHEMA_REGISTRY_URL=$(sq "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7")"
  echo "export QUESTDB_HTTP_URL=$(sq "http://127.0.0.1:$QUESTDB_HTTP_PORT")"
  echo "export QUESTDB_PG_URL=$(sq "postgres://admin:quest@127.0.0.1:$QUESTDB_PG_PORT/qdb")"
  echo "export POSTGRES_URL=$(sq "postgres://kmarket:$(urlencode "$pw")@127.0.0.1:$POSTGRES_PORT/kmarket")"
  echo "export PROMETHEUS_URL=$(sq "http://127.0.0.1:$PROMETHEUS_PORT")"
}

cmd_logs() {
  [[ $# -eq 1 ]] || die "usage: stack.sh logs <service> (one of: ${ALL_SERVICES[*]})"
  is_service "$1" || die "unknown service '$1' (one of: ${ALL_SERVICES[*]})"
  local log; log="$(svc_log "$1")"
  [[ -f $log ]] || die "no log yet: $log"
  tail -n 100 "$log"
}

cmd_reset() {
  cmd_down
  local s
  # Only what this script creates: never rm -rf an arbitrary KMARKET_STACK_HOME.
  for s in "${ALL_SERVICES[@]}"; do rm -rf "${STACK_HOME:?}/$s"; done
  local pg; pg="$(pg_home)"
  [[ $pg == /var/lib/kmarket/* ]] && rm -rf "$(dirname "$pg")"
  rm -f "$STACK_HOME/apt.log"
  say "reset: removed state under $STACK_HOME"
}

usage() {
  cat <<EOF
usage: bash stack/stack.sh <command> [args]
  up [service...]     install if missing, start and wait until healthy (services: ${ALL_SERVICES[*]})
  down [service...]   stop servers started by this script
  status              running/healthy per server
  env                 export lines: eval "\$(bash stack/stack.sh env)"
  logs <service>      last 100 lines of a server's log
  reset               down, then delete all state under $STACK_HOME
EOF
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    up) cmd_up "$@" ;;
    down|stop) cmd_down "$@" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    logs) cmd_logs "$@" ;;
    reset) cmd_reset ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"

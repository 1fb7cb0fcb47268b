#!/usr/bin/env bash
# The whole pipeline on the native stack: `npm run pipeline` (= up), `npm run pipeline -- down|status|logs <svc>`.
# Starts Kafka, the registry, QuestDB, Postgres and Prometheus (stack/stack.sh), then the services,
# each as its own process: the market simulator (or the KIS producer when KIS_APP_KEYS is set), the
# candle processor, roll-ups, indicators and order-book features, the QuestDB and Postgres sinks, and the KRX poller (against
# the fake KRX server unless KRX_ID/KRX_PW or KRX_AUTH_KEY are set). Services keep running in the background, each
# under a supervisor that restarts it when it exits unexpectedly (see supervise below).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
STATE="${KMARKET_STACK_HOME:-$REPO/.stack}/services"
mkdir -p "$STATE"

# name:entry:metrics port (the supervisor lists each running one for Prometheus, see write_target;
# "-": no metrics, e.g. the fake KRX server)
SERVICES=(
  "candle-processor:stream-processors/candles/main.js:9466"
  "candle-rollups:stream-processors/rollups/main.js:9470"
  "indicators:stream-processors/indicators/main.js:9471"
  "orderbook-features:stream-processors/orderbook-features/main.js:9472"
  "questdb-sink:sinks/questdb/main.js:9467"
  "postgres-sink:sinks/postgres/main.js:9469"
  "krx-poller:producers/krx/main.js:9468"
)
if [ -n "${KIS_APP_KEYS:-}" ]; then
  SERVICES=("kis-producer:producers/kis/main.js:9465" "${SERVICES[@]}")
else
  SERVICES=("simulator:producers/simulator/main.js:9464" "${SERVICES[@]}")
fi
# Without KRX credentials the KRX poller reads the fake KRX server, which serves the simulator's market.
if [ -z "${KRX_ID:-}" ] && [ -z "${KRX_AUTH_KEY:-}" ]; then
  SERVICES=("krx-fake:test/fakes/krx/main.js:-" "${SERVICES[@]}")
fi

STACK_HOME_DIR="${KMARKET_STACK_HOME:-$REPO/.stack}"
# Prometheus (stack/prometheus/prometheus.yml.tmpl) scrapes what is listed here, one file per running
# service, so a healthy pipeline shows every target up and nothing else.
TARGETS="$STACK_HOME_DIR/prometheus/targets"
RESTART_MAX_BACKOFF_S="${PIPELINE_RESTART_MAX_BACKOFF_S:-60}"
EX_CONFIG=78 # a configuration error: restarting cannot help

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }
say() { printf '%s pipeline: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$STATE/$1.log"; }

write_target() {
  mkdir -p "$TARGETS"
  printf '[{"targets":["127.0.0.1:%s"],"labels":{"service":"%s"}}]\n' "$3" "$1" >"$TARGETS/$1.json.tmp"
  mv -f "$TARGETS/$1.json.tmp" "$TARGETS/$1.json"
}

# supervise <name> <entry> <port>: runs one service and restarts it when it exits unexpectedly, the way
# systemd (Restart=on-failure) or Kubernetes would: back-off from 1 s doubling to
# PIPELINE_RESTART_MAX_BACKOFF_S, reset once a run lasted a minute. A clean exit (0, a bounded run) or a
# configuration error (78) is not restarted. The count is in <service>.restarts and `status`.
supervise() {
  local name=$1 entry=$2 port=$3 backoff=1 child="" rc started restarts=0 stopping=0
  trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
  echo 0 >"$STATE/$name.restarts"
  [ "$port" != "-" ] && write_target "$name" "$entry" "$port"
  while :; do
    started=$SECONDS
    METRICS_PORT="${port/-/0}" node "dist/$entry" >>"$STATE/$name.log" 2>&1 &
    child=$!
    # `wait` returns early when the trap runs; wait again until the service has really ended.
    while :; do
      rc=0; wait "$child" || rc=$?
      kill -0 "$child" 2>/dev/null || break
    done
    child=""
    [ "$stopping" = 1 ] && break
    if [ "$rc" = 0 ]; then say "$name" "$name exited normally; not restarting"; break; fi
    if [ "$rc" = "$EX_CONFIG" ]; then say "$name" "$name stopped on a configuration error (exit $EX_CONFIG); fix it and run the pipeline again"; break; fi
    [ $((SECONDS - started)) -ge 60 ] && backoff=1
    restarts=$((restarts + 1))
    echo "$restarts" >"$STATE/$name.restarts"
    say "$name" "$name exited unexpectedly (status $rc); restart $restarts in ${backoff}s"
    sleep "$backoff" & wait $! || true
    [ "$stopping" = 1 ] && break
    backoff=$((backoff * 2 > RESTART_MAX_BACKOFF_S ? RESTART_MAX_BACKOFF_S : backoff * 2))
  done
  rm -f "$TARGETS/$name.json"
}

up() {
  bash scripts/ensure-deps.sh
  bash stack/stack.sh up
  eval "$(bash stack/stack.sh env)"
  export KAFKA_BROKERS SCHEMA_REGISTRY_URL QUESTDB_HTTP_URL POSTGRES_URL
  # A lively demo default; override with SIM_SYMBOLS / SIM_TICKS_PER_SECOND / SIM_SESSION.
  export SIM_SYMBOLS="${SIM_SYMBOLS:-300}" SIM_TICKS_PER_SECOND="${SIM_TICKS_PER_SECOND:-2000}" SIM_ORDERBOOKS="${SIM_ORDERBOOKS:-true}"
  # Every table the dashboards read.
  local intervals="1s 1m 5m 15m 1h 1d" topics="market.ticks.v1,market.orderbook.v1,market.orderbook-features.v1,krx.daily-bars.v1" iv
  for iv in $intervals; do topics+=",market.candles.$iv.v1,market.indicators.$iv.v1,market.features.$iv.v1"; done
  export SINK_TOPICS="${SINK_TOPICS:-$topics}"
  if [ -z "${KRX_ID:-}" ] && [ -z "${KRX_AUTH_KEY:-}" ]; then
    export KRX_DATA_URL="http://127.0.0.1:${FAKE_KRX_PORT:-19480}" KRX_ID=fake-member KRX_PW=fake-password
  fi
  for spec in "${SERVICES[@]}"; do
    IFS=: read -r name entry port <<<"$spec"
    if alive "$name"; then
      echo "$name already running (supervisor pid $(cat "$STATE/$name.pid"))"
      continue
    fi
    : >"$STATE/$name.log"
    setsid nohup bash scripts/pipeline.sh supervise "$name" "$entry" "$port" </dev/null >/dev/null 2>&1 &
    echo $! >"$STATE/$name.pid"
    echo "$name started (metrics http://127.0.0.1:$port/metrics, log $STATE/$name.log)"
  done
  for spec in "${SERVICES[@]}"; do
    IFS=: read -r name _ port <<<"$spec"
    [ "$port" = "-" ] && continue
    for _ in $(seq 1 60); do
      curl -sf --max-time 1 "http://127.0.0.1:$port/health" >/dev/null && break
      if [ "$(cat "$STATE/$name.restarts" 2>/dev/null || echo 0)" != 0 ] || ! alive "$name"; then
        echo "$name exited; last lines of its log:"; tail -n 30 "$STATE/$name.log"; exit 1
      fi
      sleep 0.5
    done
  done
  echo
  echo "Waiting for the first candles in QuestDB..."
  for _ in $(seq 1 60); do
    n=$(curl -sf --max-time 2 "$QUESTDB_HTTP_URL/exec?query=select%20count()%20from%20${QUESTDB_TABLE_PREFIX:-}candles_1s%20where%20is_final" | sed -n 's/.*"dataset":\[\[\([0-9]*\)\]\].*/\1/p' || true)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then echo "candles_1s has $n final candles and counting."; break; fi
    sleep 1
  done
  cat <<MSG

The pipeline is running. Where to look:
  QuestDB console   $QUESTDB_HTTP_URL        (try: select * from candles_1s latest on ts partition by symbol)
  Prometheus        ${PROMETHEUS_URL:-http://127.0.0.1:9090}   (try: rate(sink_rows_written_total[10s]))
  Service metrics   http://127.0.0.1:9464/metrics (simulator), :9466 (candles), :9470 (roll-ups), :9471 (indicators), :9472 (order-book features), :9467 (QuestDB sink), :9469 (Postgres sink), :9468 (KRX poller)
  Service logs      $STATE/<service>.log
  Grafana           docker compose up grafana (dashboards in grafana/dashboards/)
Stop the services with: npm run pipeline -- down   (and the servers with: npm run stack -- down)
MSG
}

down() {
  for spec in "${SERVICES[@]}" "kis-producer:x:0" "simulator:x:0" "krx-fake:x:0"; do
    IFS=: read -r name _ _ <<<"$spec"
    if alive "$name"; then
      # The supervisor passes SIGTERM on to the service (a graceful stop) and does not restart it.
      kill -TERM "$(cat "$STATE/$name.pid")"
      for _ in $(seq 1 70); do alive "$name" || break; sleep 0.5; done
      alive "$name" && pkill -KILL -s "$(cat "$STATE/$name.pid")"
      echo "$name stopped"
    fi
    rm -f "$STATE/$name.pid" "$TARGETS/$name.json"
  done
}

status() {
  for spec in "${SERVICES[@]}"; do
    IFS=: read -r name _ port <<<"$spec"
    if alive "$name"; then
      health='(no health endpoint)'
      [ "$port" != "-" ] && health=$(curl -s --max-time 1 "http://127.0.0.1:$port/health" || echo '{"status":"starting or restarting"}')
      printf '%-18s running  restarts %-3s %s\n' "$name" "$(cat "$STATE/$name.restarts" 2>/dev/null || echo 0)" "$health"
    else
      printf '%-18s stopped\n' "$name"
    fi
  done
}

case "${1:-up}" in
  up) up ;;
  supervise) shift; supervise "$@" ;;
  down) down ;;
  status) status ;;
  logs) tail -n "${3:-100}" "$STATE/${2:?usage: pipeline logs <service>}.log" ;;
  *) echo "usage: npm run pipeline -- [up|down|status|logs <service>]" >&2; exit 2 ;;
esac

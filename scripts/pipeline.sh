#!/usr/bin/env bash
# The whole pipeline on the native stack: `npm run pipeline` (= up), `npm run pipeline -- down|status|logs <svc>`.
# Starts Kafka, the registry, QuestDB, Postgres and Prometheus (stack/stack.sh), then the services,
# each as its own process: the market simulator (or the KIS producer when KIS_APP_KEYS is set),
# the 1-second candle processor and the QuestDB sink. Services keep running in the background.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
STATE="${KMARKET_STACK_HOME:-$REPO/.stack}/services"
mkdir -p "$STATE"

# name:entry:metrics port (the ports Prometheus scrapes, see stack/prometheus)
SERVICES=(
  "candle-processor:stream-processors/candles/main.js:9466"
  "questdb-sink:sinks/questdb/main.js:9467"
)
if [ -n "${KIS_APP_KEYS:-}" ]; then
  SERVICES=("kis-producer:producers/kis/main.js:9465" "${SERVICES[@]}")
else
  SERVICES=("simulator:producers/simulator/main.js:9464" "${SERVICES[@]}")
fi

alive() { [ -f "$STATE/$1.pid" ] && kill -0 "$(cat "$STATE/$1.pid")" 2>/dev/null; }

up() {
  bash scripts/ensure-deps.sh
  bash stack/stack.sh up
  eval "$(bash stack/stack.sh env)"
  export KAFKA_BROKERS SCHEMA_REGISTRY_URL QUESTDB_HTTP_URL POSTGRES_URL
  # A lively demo default; override with SIM_SYMBOLS / SIM_TICKS_PER_SECOND / SIM_SESSION.
  export SIM_SYMBOLS="${SIM_SYMBOLS:-300}" SIM_TICKS_PER_SECOND="${SIM_TICKS_PER_SECOND:-2000}" SIM_ORDERBOOKS="${SIM_ORDERBOOKS:-true}"
  for spec in "${SERVICES[@]}"; do
    IFS=: read -r name entry port <<<"$spec"
    if alive "$name"; then
      echo "$name already running (pid $(cat "$STATE/$name.pid"))"
      continue
    fi
    METRICS_PORT="$port" nohup node "dist/$entry" >"$STATE/$name.log" 2>&1 &
    echo $! >"$STATE/$name.pid"
    echo "$name started (pid $!, metrics http://127.0.0.1:$port/metrics, log $STATE/$name.log)"
  done
  for spec in "${SERVICES[@]}"; do
    IFS=: read -r name _ port <<<"$spec"
    for _ in $(seq 1 60); do
      curl -sf --max-time 1 "http://127.0.0.1:$port/health" >/dev/null && break
      if ! alive "$name"; then echo "$name exited; last lines of its log:"; tail -n 30 "$STATE/$name.log"; exit 1; fi
      sleep 0.5
    done
  done
  echo
  echo "Waiting for the first candles in QuestDB..."
  for _ in $(seq 1 60); do
    n=$(curl -sf --max-time 2 "$QUESTDB_HTTP_URL/exec?query=select%20count()%20from%20candles_1s%20where%20is_final" | sed -n 's/.*"dataset":\[\[\([0-9]*\)\]\].*/\1/p' || true)
    if [ -n "$n" ] && [ "$n" -gt 0 ]; then echo "candles_1s has $n final candles and counting."; break; fi
    sleep 1
  done
  cat <<MSG

The pipeline is running. Where to look:
  QuestDB console   $QUESTDB_HTTP_URL        (try: select * from candles_1s latest on ts partition by symbol)
  Prometheus        ${PROMETHEUS_URL:-http://127.0.0.1:9090}   (try: rate(sink_rows_written_total[10s]))
  Service metrics   http://127.0.0.1:9464/metrics (simulator), :9466 (candles), :9467 (QuestDB sink)
  Service logs      $STATE/<service>.log
  Grafana           docker compose up grafana (dashboards in grafana/dashboards/)
Stop the services with: npm run pipeline -- down   (and the servers with: npm run stack -- down)
MSG
}

down() {
  for spec in "${SERVICES[@]}" "kis-producer:x:0" "simulator:x:0"; do
    IFS=: read -r name _ _ <<<"$spec"
    if alive "$name"; then
      kill -TERM "$(cat "$STATE/$name.pid")"
      for _ in $(seq 1 60); do alive "$name" || break; sleep 0.5; done
      alive "$name" && kill -KILL "$(cat "$STATE/$name.pid")"
      echo "$name stopped"
    fi
    rm -f "$STATE/$name.pid"
  done
}

status() {
  for spec in "${SERVICES[@]}"; do
    IFS=: read -r name _ port <<<"$spec"
    if alive "$name"; then
      health=$(curl -s --max-time 1 "http://127.0.0.1:$port/health" || echo '{"status":"?"}')
      printf '%-18s running  pid %-8s %s\n' "$name" "$(cat "$STATE/$name.pid")" "$health"
    else
      printf '%-18s stopped\n' "$name"
    fi
  done
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  logs) tail -n "${3:-100}" "$STATE/${2:?usage: pipeline logs <service>}.log" ;;
  *) echo "usage: npm run pipeline -- [up|down|status|logs <service>]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Start a local Prefect server (SQLite, 127.0.0.1:${PORT:-4200}) unless one answers, then serve the
# vaearr deployments in the foreground. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
PORT=${PORT:-4200}
export PREFECT_HOME=${PREFECT_HOME:-$PWD/.prefect}
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_API_URL=http://127.0.0.1:$PORT/api
mkdir -p "$PREFECT_HOME"
server_pid=
if ! curl -sf "$PREFECT_API_URL/health" >/dev/null 2>&1; then
  "$BIN/prefect" server start --host 127.0.0.1 --port "$PORT" >"$PREFECT_HOME/server.log" 2>&1 &
  server_pid=$!
  trap '[[ -n $server_pid ]] && kill $server_pid 2>/dev/null' EXIT
  for _ in $(seq 120); do curl -sf "$PREFECT_API_URL/health" >/dev/null 2>&1 && break; sleep 1; done
  curl -sf "$PREFECT_API_URL/health" >/dev/null || { echo "prefect server did not start; see $PREFECT_HOME/server.log" >&2; exit 1; }
fi
echo "Prefect server: http://127.0.0.1:$PORT  (export PREFECT_API_URL=$PREFECT_API_URL to run deployments)"
"$BIN/python" flows/serve.py

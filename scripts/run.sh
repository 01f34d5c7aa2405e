#!/usr/bin/env bash
# The main job on the embedded default: ingest corpus/, start the service on 127.0.0.1:8000, answer a question,
# then keep serving until Ctrl-C.
set -euo pipefail
BIN="${1:-.venv/bin}"
export KB_STORE__PATH="${KB_STORE__PATH:-data/store}"
HOST="${KB_SERVER__HOST:-127.0.0.1}"
PORT="${KB_SERVER__PORT:-8000}"
URL="http://$HOST:$PORT"

if curl -fsS "$URL/healthz" >/dev/null 2>&1; then
  echo "A service already answers on $URL; ingesting through it."
  "$BIN/kb" ingest corpus || true
  exit 0
fi

"$BIN/kb" ingest corpus || echo "(some files were not ingested; see the table above)"

"$BIN/kb" serve --host "$HOST" --port "$PORT" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 120); do
  curl -fsS "$URL/healthz" >/dev/null 2>&1 && break
  sleep 1
done

QUESTION="Wie viele GPUs soll der gemeinsame KI-Cluster mindestens haben?"
echo
echo "Frage: $QUESTION"
"$BIN/kb" ask "$QUESTION"
cat <<MSG

The service runs on $URL — chat in the browser at $URL/ (OpenAPI docs: $URL/docs).
Ask more questions with
  $BIN/kb ask "Welche Frist gilt für kritische Sicherheitsupdates?"
or
  curl -s $URL/v1/answers -H 'content-type: application/json' \\
       -d '{"question": "Welches Pilotbudget hat der AK KI beschlossen?"}'
Press Ctrl-C to stop.
MSG
wait $SERVER

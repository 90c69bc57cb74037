#!/usr/bin/env bash
# Local AWS for tests and the demo, on loopback only.
#   scripts/local-aws.sh install        create .venv and install moto (idempotent)
#   scripts/local-aws.sh run CMD...     start moto on a free port, export IDC_GUARD_MOTO_URL,
#                                       run CMD, stop moto (also on failure or Ctrl-C)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
requirements="$root/scripts/requirements-local-aws.txt"

install() {
  if [ -x "$venv/bin/moto_server" ] && cmp -s "$requirements" "$venv/.requirements" 2>/dev/null; then
    return 0
  fi
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    echo "python3 venv support missing: installing python3-venv (Debian)" >&2
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/.requirements"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

run() {
  install
  # Globals, not locals: the EXIT trap runs after this function has returned.
  port="$(free_port)"
  moto_log="$(mktemp -t moto.XXXXXX.log)"
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
  moto_pid=$!
  trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT
  trap 'exit 130' INT TERM
  ready=""
  for _ in $(seq 1 150); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      ready=1
      break
    fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
      echo "moto_server exited early:" >&2; cat "$moto_log" >&2; exit 1
    fi
    sleep 0.2
  done
  if [ -z "$ready" ]; then
    echo "moto_server did not answer on port $port within 30 s:" >&2; cat "$moto_log" >&2; exit 1
  fi
  export IDC_GUARD_MOTO_URL="http://127.0.0.1:$port"
  echo "local AWS (moto) at $IDC_GUARD_MOTO_URL" >&2
  "$@"
}

case "${1:-}" in
  install) install ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 install | run CMD..." >&2; exit 2 ;;
esac

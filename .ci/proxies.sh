#!/usr/bin/env bash
# Installs and starts two real proxies on loopback for tests/proxy/proxy_interop_test.ts:
#   tinyproxy  HTTP proxy with Basic authentication   http://127.0.0.1:18888
#   danted     SOCKS5 proxy with username/password     socks5://127.0.0.1:11080
# and writes their addresses and credentials to $NETACCESS_PROXIES_FILE
# (default /tmp/netaccess-proxies.env), one NAME=value per line.
#
# Idempotent: packages are installed only when missing, the credentials of an earlier run are
# kept, and a proxy already answering on its port is restarted only when its config changed.
# Needs root (or sudo) for apt-get, for the SOCKS user (dante's "username" method checks the
# system's users) and for danted, which reads /etc/shadow.
set -euo pipefail

ENV_FILE="${NETACCESS_PROXIES_FILE:-/tmp/netaccess-proxies.env}"
STATE_DIR="${NETACCESS_PROXIES_DIR:-/tmp/netaccess-proxies}"
HOST=127.0.0.1
TINYPROXY_PORT="${NETACCESS_TINYPROXY_PORT:-18888}"
DANTE_PORT="${NETACCESS_DANTE_PORT:-11080}"
TINYPROXY_USER=netaccess
DANTE_USER=netaccess-socks

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "proxies.sh: needs root or sudo" >&2
    exit 1
  fi
fi

log() { echo "proxies.sh: $*"; }

listening() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_for() { # name port pidfile logfile
  for _ in $(seq 1 100); do
    if listening "$2"; then return 0; fi
    sleep 0.1
  done
  echo "proxies.sh: $1 is not accepting connections on $HOST:$2" >&2
  [ -f "$4" ] && tail -n 20 "$4" >&2
  exit 1
}

stop_pidfile() {
  if [ -f "$1" ]; then
    local pid
    pid="$(cat "$1" 2>/dev/null || true)"
    if [ -n "$pid" ] && $SUDO kill -0 "$pid" 2>/dev/null; then
      $SUDO kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do $SUDO kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    $SUDO rm -f "$1"
  fi
}

# --- packages ------------------------------------------------------------------------------
missing=()
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/bin/tinyproxy ] || [ -x /usr/sbin/tinyproxy ] ||
  missing+=(tinyproxy)
[ -x /usr/sbin/danted ] || missing+=(dante-server)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  # Keep the packages' own services (default configs, default ports) from starting.
  policy_created=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    policy_created=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -qq update >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends \
    "${missing[@]}" >/dev/null
  [ -n "$policy_created" ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
TINYPROXY_BIN="$(command -v tinyproxy || echo /usr/bin/tinyproxy)"

# --- credentials ---------------------------------------------------------------------------
TINYPROXY_PASSWORD=""
DANTE_PASSWORD=""
if [ -f "$ENV_FILE" ]; then
  TINYPROXY_PASSWORD="$(sed -n 's/^NETACCESS_TINYPROXY_PASSWORD=//p' "$ENV_FILE")"
  DANTE_PASSWORD="$(sed -n 's/^NETACCESS_DANTE_PASSWORD=//p' "$ENV_FILE")"
fi
new_password() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
[ -n "$TINYPROXY_PASSWORD" ] || TINYPROXY_PASSWORD="$(new_password)"
[ -n "$DANTE_PASSWORD" ] || DANTE_PASSWORD="$(new_password)"

if ! id "$DANTE_USER" >/dev/null 2>&1; then
  log "creating system user $DANTE_USER for dante"
  $SUDO useradd --system --no-create-home --shell /usr/sbin/nologin "$DANTE_USER"
fi
echo "$DANTE_USER:$DANTE_PASSWORD" | $SUDO chpasswd

mkdir -p "$STATE_DIR"
chmod 755 "$STATE_DIR"

# --- tinyproxy -----------------------------------------------------------------------------
TINYPROXY_CONF="$STATE_DIR/tinyproxy.conf"
TINYPROXY_PID="$STATE_DIR/tinyproxy.pid"
TINYPROXY_LOG="$STATE_DIR/tinyproxy.log"
tinyproxy_conf="$(
  cat <<EOF
User nobody
Group nogroup
Port $TINYPROXY_PORT
Listen $HOST
Timeout 30
MaxClients 64
Allow 127.0.0.1
BasicAuth $TINYPROXY_USER $TINYPROXY_PASSWORD
DisableViaHeader No
LogLevel Info
LogFile "$TINYPROXY_LOG"
PidFile "$TINYPROXY_PID"
EOF
)"
if ! listening "$TINYPROXY_PORT" || [ "$(cat "$TINYPROXY_CONF" 2>/dev/null)" != "$tinyproxy_conf" ]; then
  stop_pidfile "$TINYPROXY_PID"
  printf '%s\n' "$tinyproxy_conf" >"$TINYPROXY_CONF"
  chmod 644 "$TINYPROXY_CONF"
  touch "$TINYPROXY_LOG" "$TINYPROXY_PID"
  $SUDO chown nobody:nogroup "$TINYPROXY_LOG" "$TINYPROXY_PID"
  log "starting tinyproxy on $HOST:$TINYPROXY_PORT"
  $SUDO "$TINYPROXY_BIN" -c "$TINYPROXY_CONF"
  wait_for tinyproxy "$TINYPROXY_PORT" "$TINYPROXY_PID" "$TINYPROXY_LOG"
else
  log "tinyproxy already listening on $HOST:$TINYPROXY_PORT"
fi

# --- dante ---------------------------------------------------------------------------------
DANTE_CONF="$STATE_DIR/danted.conf"
DANTE_PID="$STATE_DIR/danted.pid"
DANTE_LOG="$STATE_DIR/danted.log"
dante_conf="$(
  cat <<EOF
logoutput: $DANTE_LOG
internal: $HOST port = $DANTE_PORT
external: $HOST
clientmethod: none
socksmethod: username
user.privileged: root
user.unprivileged: nobody
client pass {
  from: 127.0.0.0/8 to: 0.0.0.0/0
}
socks pass {
  from: 127.0.0.0/8 to: 127.0.0.0/8
  command: connect
  socksmethod: username
}
socks block {
  from: 0.0.0.0/0 to: 0.0.0.0/0
}
EOF
)"
if ! listening "$DANTE_PORT" || [ "$(cat "$DANTE_CONF" 2>/dev/null)" != "$dante_conf" ]; then
  stop_pidfile "$DANTE_PID"
  printf '%s\n' "$dante_conf" >"$DANTE_CONF"
  chmod 644 "$DANTE_CONF"
  log "starting danted on $HOST:$DANTE_PORT"
  $SUDO /usr/sbin/danted -D -f "$DANTE_CONF" -p "$DANTE_PID"
  wait_for danted "$DANTE_PORT" "$DANTE_PID" "$DANTE_LOG"
else
  log "danted already listening on $HOST:$DANTE_PORT"
fi

# --- the file tests read -------------------------------------------------------------------
umask 077
cat >"$ENV_FILE.tmp" <<EOF
NETACCESS_TINYPROXY_URL=http://$HOST:$TINYPROXY_PORT
NETACCESS_TINYPROXY_USER=$TINYPROXY_USER
NETACCESS_TINYPROXY_PASSWORD=$TINYPROXY_PASSWORD
NETACCESS_DANTE_URL=socks5://$HOST:$DANTE_PORT
NETACCESS_DANTE_USER=$DANTE_USER
NETACCESS_DANTE_PASSWORD=$DANTE_PASSWORD
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"
chmod 644 "$ENV_FILE"
log "wrote $ENV_FILE"

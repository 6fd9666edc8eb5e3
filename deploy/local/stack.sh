#!/usr/bin/env bash
# Run the whole distributed causalmol topology on one machine, without Docker:
# a private redis-server, one Celery worker per queue (featurizer and scoring: the online path; predictor and causal:
# training and the offline causal work) and the gunicorn gateway.
#
#   deploy/local/stack.sh up | down | status | stop-workers | start-workers
#
# up is idempotent (it starts only what is not running) and waits for GET /readyz; status always exits 0.
# The ports and models dir a stack was started with are saved in <state dir>/run/stack.env and win over the
# environment until `down`, so later commands act on the running stack whatever the calling shell exports.
#
# Environment (all optional):
#   CAUSALMOL_VENV                 virtualenv holding the causalmol console script   (default <repo>/.venv)
#   CAUSALMOL_STACK_DIR            state: pid files, logs, redis data                 (default <repo>/var/stack)
#   CAUSALMOL_STACK_REDIS_PORT     port of the private redis                          (default 6390; 6379 is the system one)
#   CAUSALMOL_STACK_PORT           gateway port on 127.0.0.1                          (default 8000)
#   CAUSALMOL_STACK_CONCURRENCY    Celery processes per worker                        (default 1)
#   CAUSALMOL_STACK_POOL           Celery pool: prefork, solo or threads              (default prefork)
#   CAUSALMOL_STACK_READY_TIMEOUT  seconds to wait for /readyz after starting         (default 90)
#   CAUSALMOL_STACK_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL when stopping  (default 30)
#   CAUSALMOL_MODELS_DIR           model store                                        (default <state dir>/models)
#   CAUSALMOL_SESSION_SECRET       signs the pages' browser sign-in cookie            (default: made once, kept in
#                                  <state dir>/session-secret, mode 600)
# Other CAUSALMOL_* settings (log level, chunk size, result TTL...) pass through to every service.
set -euo pipefail
# No job control, even if the caller asked for it: background jobs then stay in this script's process group, so
# setsid (below) does not need to fork and $! is the service's own pid.
set +m

# Resolve everything from the script's own location so it works from any cwd.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$(realpath -m "${CAUSALMOL_VENV:-$REPO/.venv}")"
CAUSALMOL="$VENV/bin/causalmol"
STATE="${CAUSALMOL_STACK_DIR:-$REPO/var/stack}"
REDIS_PORT="${CAUSALMOL_STACK_REDIS_PORT:-6390}"
PORT="${CAUSALMOL_STACK_PORT:-8000}"
CONCURRENCY="${CAUSALMOL_STACK_CONCURRENCY:-1}"
POOL="${CAUSALMOL_STACK_POOL:-prefork}"
READY_TIMEOUT="${CAUSALMOL_STACK_READY_TIMEOUT:-90}"
STOP_TIMEOUT="${CAUSALMOL_STACK_STOP_TIMEOUT:-30}"
WORKERS=(featurizer scoring predictor causal)  # the queues of shared/config.py QUEUES

STATE="$(realpath -m "$STATE")"  # absolute: the services run with the state dir as their cwd
RUN="$STATE/run"
LOGS="$STATE/logs"
REDIS_DIR="$STATE/redis"
CONFIG="$RUN/stack.env"
CAUSALMOL_HOME="$(realpath -m "${CAUSALMOL_HOME:-$STATE}")"
CAUSALMOL_MODELS_DIR="$(realpath -m "${CAUSALMOL_MODELS_DIR:-$STATE/models}")"

log() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

require_tools() {
    # redis-cli ships in redis-tools, which the redis-server package depends on.
    command -v redis-server >/dev/null || die "redis-server not found. Install it (Debian/Ubuntu package): sudo apt-get install redis-server"
    command -v redis-cli >/dev/null || die "redis-cli not found. Install it (Debian/Ubuntu package): sudo apt-get install redis-server"
    command -v curl >/dev/null || die "curl not found. Install it (Debian/Ubuntu package): sudo apt-get install curl"
    [[ -x "$CAUSALMOL" ]] || die "no causalmol console script at $CAUSALMOL (set CAUSALMOL_VENV, or create it:
    python3.11 -m venv $REPO/.venv && $REPO/.venv/bin/pip install -e '${REPO}[all]')"
}

# --- process bookkeeping ----------------------------------------------------------------------------------------

pidfile() { echo "$RUN/$1.pid"; }

# A pattern (ERE) a component's command line must match: guards against a stale pid file whose pid was reused.
# The gateway shows up as "causalmol gateway" until it execs gunicorn.
marker() {
    case "$1" in
        redis) echo "redis-server" ;;
        gateway) echo "gunicorn|causalmol gateway" ;;
        *) echo "causalmol worker $1|$1@" ;;
    esac
}

# Print the pid of a component if it is running, else nothing (and return 1).
running_pid() {
    local file pid
    file="$(pidfile "$1")"
    [[ -f "$file" ]] || return 1
    pid="$(<"$file")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq -- "$(marker "$1")" || return 1
    echo "$pid"
}

# Start a component in the background unless it already runs. It gets its own session (setsid) so a Ctrl-C on
# this script does not reach it, and so its whole process group (Celery pool children, gunicorn workers) can be
# killed together if need be. The subshell execs nohup, which execs setsid, which execs the command: $! is the
# component's own pid.
launch() {
    local name="$1" pid i
    shift
    if pid="$(running_pid "$name")"; then
        log "$name already running (pid $pid)"
        return 0
    fi
    printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >>"$LOGS/$name.log"
    (cd "$STATE" && exec nohup setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1) &
    pid=$!
    echo "$pid" >"$(pidfile "$name")"
    # Wait for the exec chain to reach the command, so later checks see its real command line.
    for ((i = 0; i < 50; i++)); do
        running_pid "$name" >/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    log "$name started (pid $pid), log $LOGS/$name.log"
}

# True while any process of the group is alive (zombies do not count: they are merely waiting to be reaped).
group_alive() {
    ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# SIGTERM the main process (Celery warm shutdown / gunicorn graceful stop finish what they are doing),
# then SIGKILL its whole process group if anything is left after the timeout.
stop_many() {
    local name pid waited=0
    local -a pids=()
    for name in "$@"; do
        if pid="$(running_pid "$name")"; then
            log "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        else
            log "$name not running"
        fi
        rm -f "$(pidfile "$name")"
    done
    ((${#pids[@]})) || return 0
    while ((waited < STOP_TIMEOUT * 10)); do
        local left=0
        for pid in "${pids[@]}"; do group_alive "$pid" && left=1; done
        ((left)) || return 0
        sleep 0.1
        waited=$((waited + 1))
    done
    for pid in "${pids[@]}"; do
        if group_alive "$pid"; then
            log "pid $pid still alive after ${STOP_TIMEOUT}s: SIGKILL to its process group"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done
}

# Print an error, the end of the named components' logs (all of them when none is named), and exit 1.
fail() {
    local message="$1" name
    shift
    (($#)) || set -- redis models "${WORKERS[@]}" gateway
    for name in "$@"; do
        [[ -f "$LOGS/$name.log" ]] || continue
        printf '\n----- last lines of %s -----\n' "$LOGS/$name.log" >&2
        tail -n 25 "$LOGS/$name.log" >&2
    done
    die "$message"
}

# --- components -------------------------------------------------------------------------------------------------

start_redis() {
    mkdir -p "$REDIS_DIR"
    running_pid redis >/dev/null && { log "redis already running (pid $(running_pid redis))"; return 0; }
    # AOF (fsync every second) keeps queued jobs across restarts; noeviction because an evicted key would be a
    # lost task or job. --daemonize no: we background it ourselves and own the pid file.
    launch redis redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" \
        --appendonly yes --appendfsync everysec --maxmemory-policy noeviction --daemonize no
    local pid i
    pid="$(<"$(pidfile redis)")"
    for ((i = 0; i < 100; i++)); do
        # Check our own pid too: another redis already on this port would also answer PONG.
        kill -0 "$pid" 2>/dev/null || fail "redis-server exited at startup (port $REDIS_PORT taken?)" redis
        if [[ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; then
            sleep 0.2
            kill -0 "$pid" 2>/dev/null || fail "redis-server exited at startup (port $REDIS_PORT taken?)" redis
            return 0
        fi
        sleep 0.1
    done
    fail "redis-server on port $REDIS_PORT did not answer PING within 10 s" redis
}

build_model() {
    # Trains only when no version exists yet (~35 s); the scoring worker needs a model to serve.
    log "models in $CAUSALMOL_MODELS_DIR (building the reference model if missing, log $LOGS/models.log)"
    mkdir -p "$CAUSALMOL_MODELS_DIR"
    printf '\n===== %s build-reference --if-missing =====\n' "$(date -Is)" >>"$LOGS/models.log"
    if ! (cd "$STATE" && "$CAUSALMOL" models build-reference --if-missing) >>"$LOGS/models.log" 2>&1; then
        fail "building the reference model failed" models
    fi
}

start_workers() {
    local svc
    for svc in "${WORKERS[@]}"; do
        launch "$svc" "$CAUSALMOL" worker "$svc" --concurrency "$CONCURRENCY" --pool "$POOL"
    done
}

# The browser sign-in's cookie secret (a distributed gateway has sign-in only with one): the caller's, else one made
# on the first `up` and kept in the state dir, so browser sessions outlive a restart. Only the gateway gets it.
session_secret() {
    local file="$STATE/session-secret"
    if [[ ! -s "$file" ]]; then
        (umask 077 && "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))' >"$file.tmp") &&
            mv -f "$file.tmp" "$file" || die "could not write $file"
    fi
    cat "$file"
}

start_gateway() {
    local secret="${CAUSALMOL_SESSION_SECRET:-}"
    [[ -n "$secret" ]] || secret="$(session_secret)"
    CAUSALMOL_SESSION_SECRET="$secret" launch gateway "$CAUSALMOL" gateway --bind "127.0.0.1:$PORT" --workers 2
}

http_status() { curl -s -o /dev/null -m 5 -w '%{http_code}' "$READY_URL" 2>/dev/null || true; }

# Poll /readyz until 200; fail fast if a component died, and give up after READY_TIMEOUT seconds.
wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT)) name
    log "waiting for $READY_URL (up to ${READY_TIMEOUT}s)"
    while :; do
        [[ "$(http_status)" == 200 ]] && { log "ready: $READY_URL"; return 0; }
        for name in redis "${WORKERS[@]}" gateway; do
            running_pid "$name" >/dev/null || fail "$name is not running (see $LOGS/$name.log)" "$name"
        done
        if ((SECONDS >= deadline)); then
            fail "not ready after ${READY_TIMEOUT}s: $(curl -s -m 5 "$READY_URL" 2>&1 || true)"
        fi
        sleep 1
    done
}

all_running() {
    local name
    for name in redis "${WORKERS[@]}" gateway; do running_pid "$name" >/dev/null || return 1; done
}

# --- configuration ----------------------------------------------------------------------------------------------

any_running() {
    local name
    for name in redis "${WORKERS[@]}" gateway; do running_pid "$name" >/dev/null && return 0; done
    return 1
}

# A running stack keeps the ports and models dir it was started with (saved by `up` in $CONFIG), so that
# status/stop-workers/start-workers/down from another shell, with another environment, act on the same stack.
load_config() {
    if [[ -f "$CONFIG" ]] && any_running; then
        # shellcheck source=/dev/null
        source "$CONFIG"
        # Only worth a word when this shell explicitly asked for other ports.
        if [[ "${CAUSALMOL_STACK_REDIS_PORT:-$REDIS_PORT} ${CAUSALMOL_STACK_PORT:-$PORT}" != "$REDIS_PORT $PORT" ]]; then
            log "note: the running stack uses redis port $REDIS_PORT and gateway port $PORT (saved in $CONFIG);" \
                "run 'down' first to change them"
        fi
    fi
    READY_URL="http://127.0.0.1:$PORT/readyz"
    # Every service gets the same settings; the stack always talks to its own redis, never to an inherited URL.
    export CAUSALMOL_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" CAUSALMOL_HOME CAUSALMOL_MODELS_DIR
}

save_config() {
    mkdir -p "$RUN"
    printf '%s=%q\n' REDIS_PORT "$REDIS_PORT" PORT "$PORT" CAUSALMOL_MODELS_DIR "$CAUSALMOL_MODELS_DIR" \
        CAUSALMOL_HOME "$CAUSALMOL_HOME" >"$CONFIG"
}

# --- commands ---------------------------------------------------------------------------------------------------

cmd_up() {
    require_tools
    if all_running && [[ "$(http_status)" == 200 ]]; then
        log "already up: gateway http://127.0.0.1:$PORT, redis 127.0.0.1:$REDIS_PORT, logs in $LOGS"
        return 0
    fi
    mkdir -p "$RUN" "$LOGS"
    save_config
    start_redis
    build_model
    start_workers
    start_gateway
    wait_ready
    log "up: gateway http://127.0.0.1:$PORT, redis 127.0.0.1:$REDIS_PORT, logs in $LOGS"
    # Every /v1 route needs an API key; keys live in the stack's database (SQLite under its home by default).
    log "keys: CAUSALMOL_HOME=$CAUSALMOL_HOME causalmol keys create --project <name> --scopes predict,train"
}

cmd_down() {
    # Gateway first (no new jobs), then the workers, then redis last so in-flight acks still land.
    stop_many gateway
    stop_many "${WORKERS[@]}"
    local pid
    if pid="$(running_pid redis)"; then
        log "stopping redis (pid $pid); data stays in $REDIS_DIR"
        # SHUTDOWN flushes the AOF before exiting; fall back to signals if redis does not answer.
        redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
        local i=0
        while group_alive "$pid" && ((i++ < STOP_TIMEOUT * 10)); do sleep 0.1; done
    else
        log "redis not running"
    fi
    running_pid redis >/dev/null && stop_many redis  # SHUTDOWN did not work: signals
    rm -f "$RUN"/*.pid "$CONFIG"
    log "down (logs kept in $LOGS)"
}

cmd_status() {
    local name pid code
    for name in redis "${WORKERS[@]}" gateway; do
        if pid="$(running_pid "$name")"; then
            printf '%-11s running  pid %s\n' "$name" "$pid"
        else
            printf '%-11s stopped\n' "$name"
        fi
    done
    code="$(http_status)"
    printf 'readyz      HTTP %s %s\n' "${code:-000}" "$(curl -s -m 5 "$READY_URL" 2>/dev/null || echo '(gateway not answering)')"
    echo "logs in $LOGS"
}

cmd_stop_workers() {
    stop_many "${WORKERS[@]}"
}

cmd_start_workers() {
    require_tools
    running_pid redis >/dev/null || die "redis is not running; use '$0 up'"
    mkdir -p "$RUN" "$LOGS"
    start_workers
    # Only a running gateway can say whether the workers are consuming.
    if running_pid gateway >/dev/null; then wait_ready; fi
}

case "${1:-}" in
    up | down | status | stop-workers | start-workers) load_config ;;
esac
case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    stop-workers) cmd_stop_workers ;;
    start-workers) cmd_start_workers ;;
    *)
        echo "usage: $0 up|down|status|stop-workers|start-workers" >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# Local test services for Upare: PostgreSQL, Redis and a single-node Kafka (KRaft),
# all bound to 127.0.0.1. Installs what is missing (apt, Maven Central).
#
#   scripts/services.sh up|down|status|env|SERVICE-start|SERVICE-stop
#   (SERVICE: postgres, redis, kafka; the outage tests stop and start each one)
#
# up is idempotent: a service that already answers is reused. State (Kafka jars and
# data, Redis pid/log) lives in $UPARE_SERVICES_DIR (default ~/.cache/upare-services).
# PostgreSQL uses the distro's cluster "main" (pg_ctlcluster), reconfigured to listen
# on 127.0.0.1:5432 only, because the server refuses to run as root and root's home
# is not readable by the postgres user.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${UPARE_SERVICES_DIR:-${HOME:-/root}/.cache/upare-services}"
TIMEOUT="${UPARE_SERVICES_TIMEOUT:-60}"           # seconds, per service (Kafka: 2x)
KAFKA_VERSION="4.3.1"
LOG4J_VERSION="2.25.4"                             # matches kafka-server 4.3.1's log4j-core
PG_URL="postgresql://upare:upare@127.0.0.1:5432/upare_test"
REDIS_URL="redis://127.0.0.1:6379/0"
KAFKA_BOOTSTRAP="127.0.0.1:9092"
KDIR="$STATE/kafka"
KLIB="$KDIR/lib-$KAFKA_VERSION"
export DEBIAN_FRONTEND=noninteractive

log() { echo "[services] $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }
SUDO=""; [[ $EUID -eq 0 ]] || SUDO="sudo"

# apt-get install, running `apt-get update` first when lists are empty or the install fails.
APT_UPDATED=0
apt_install() {
  log "installing $* (apt)"
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    $SUDO apt-get update -q >&2; APT_UPDATED=1
  fi
  $SUDO apt-get install -y -q "$@" >&2 && return 0
  [[ $APT_UPDATED -eq 0 ]] || die "apt-get install $* failed"
  $SUDO apt-get update -q >&2; APT_UPDATED=1
  $SUDO apt-get install -y -q "$@" >&2 || die "apt-get install $* failed"
}

# wait_for NAME SECONDS CHECK...: poll CHECK every 0.5s until it succeeds or time runs out.
wait_for() {
  local name=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
  log "$name is up"
}

# ---------------------------------------------------------------- PostgreSQL
pg_version() {  # newest installed server version (the client alone also creates /usr/lib/postgresql/N)
  local b; for b in /usr/lib/postgresql/*/bin/postgres; do if [[ -x $b ]]; then basename "$(dirname "$(dirname "$b")")"; fi; done | sort -V | tail -n1
}
pg_ready() { command -v pg_isready >/dev/null && timeout 10 pg_isready -q -h 127.0.0.1 -p 5432; }
pg_login() { timeout 10 psql "$PG_URL" -XAtqc 'select 1' >/dev/null 2>&1; }
as_postgres() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

pg_up() {
  if ! command -v pg_ctlcluster >/dev/null || [[ -z "$(pg_version)" ]]; then apt_install postgresql; fi
  local v; v=$(pg_version)
  if ! pg_ready; then
    [[ -f /etc/postgresql/$v/main/postgresql.conf ]] || { log "creating cluster $v/main"; $SUDO pg_createcluster -p 5432 "$v" main >&2; }
    # loopback only, so no TLS: Debian's cluster turns it on, and psycopg would negotiate it.
    # WAL of 4 GB between checkpoints (the default 1 GB: one every 30 s while a rebuild loads a
    # million events, and each page first written after one goes whole into the WAL again);
    # 2 GB of shared buffers (Debian's 128 MB do not hold a million people's keys, 214 MB: a
    # page of the log read 10,000 of them from the OS in 274 ms, 35-40 ms from the buffers);
    # 64 MB of WAL buffers (the default, 1/32 of the shared buffers, stops at 16 MB): two
    # backends deriving a rebuild's counts side by side then wait less to write the WAL
    # (recommendations' two parts 0.67-0.71 s each, against 0.80-0.81).
    printf "listen_addresses = '127.0.0.1'\nport = 5432\nmax_connections = 200\nssl = off\nmax_wal_size = 4GB\nshared_buffers = 2GB\nwal_buffers = 64MB\n" | $SUDO tee "/etc/postgresql/$v/main/conf.d/upare.conf" >/dev/null
    log "starting postgres $v/main on 127.0.0.1:5432"
    $SUDO pg_ctlcluster "$v" main start >&2 || true   # "already running" is fine; readiness decides
    wait_for postgres "$TIMEOUT" pg_ready \
      || die "postgres did not answer on 127.0.0.1:5432 within ${TIMEOUT}s (see /var/log/postgresql/postgresql-$v-main.log)"
  else
    log "postgres already answers on 127.0.0.1:5432, reusing it"
  fi
  pg_login && return 0
  log "creating role upare / database upare_test"
  as_postgres psql -X -q -v ON_ERROR_STOP=1 -p 5432 -d postgres >&2 <<'SQL' || die "could not create role/database as postgres"
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'upare') THEN CREATE ROLE upare; END IF;
END $$;
ALTER ROLE upare WITH LOGIN SUPERUSER PASSWORD 'upare';
SELECT 'CREATE DATABASE upare_test OWNER upare' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'upare_test')\gexec
SQL
  pg_login || die "cannot connect to $PG_URL"
}

pg_down() {
  local v; v=$(pg_version)
  if [[ -n "$v" ]] && pg_lsclusters -h 2>/dev/null | awk -v v="$v" '$1==v && $2=="main" && $4=="online"' | grep -q .; then
    log "stopping postgres $v/main"; $SUDO pg_ctlcluster "$v" main stop -m fast >&2
  elif pg_ready; then log "postgres on 5432 is not cluster $v/main; leaving it alone"; fi
}

# ---------------------------------------------------------------- Redis
redis_ready() { [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; }

redis_up() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then apt_install redis-server; fi
  if redis_ready; then log "redis already answers on 127.0.0.1:6379, reusing it"; return 0; fi
  mkdir -p "$STATE/redis"
  log "starting redis on 127.0.0.1:6379 (no persistence)"
  redis-server --bind 127.0.0.1 --port 6379 --protected-mode yes --save '' --appendonly no \
    --daemonize yes --dir "$STATE/redis" --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log"
  wait_for redis "$TIMEOUT" redis_ready || die "redis did not answer within ${TIMEOUT}s (see $STATE/redis/redis.log)"
}

redis_down() {
  redis_ready || return 0
  log "stopping redis"
  redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true
  local deadline=$((SECONDS + TIMEOUT)); while redis_ready; do ((SECONDS < deadline)) || die "redis did not stop"; sleep 0.2; done
  rm -f "$STATE/redis/redis.pid"
}

# ---------------------------------------------------------------- Kafka
py() { if [[ -x "$REPO/.venv/bin/python" ]]; then "$REPO/.venv/bin/python" "$@"; else python3 "$@"; fi; }

# Kafka answers when a Metadata v4 request lists at least one (registered) broker.
kafka_ready() {
  py - <<'PY' 2>/dev/null
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", 9092), timeout=3)
cid = b"upare-services"
body = struct.pack(">hhih", 3, 4, 7, len(cid)) + cid + struct.pack(">ib", -1, 0)
s.sendall(struct.pack(">i", len(body)) + body)
def rd(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
(n,) = struct.unpack(">i", rd(4))
corr, _throttle, brokers = struct.unpack(">iii", rd(n)[:12])
sys.exit(0 if corr == 7 and brokers > 0 else 1)
PY
}

kafka_pid() {  # pid of our broker if it is running
  local pid; pid=$(cat "$KDIR/kafka.pid" 2>/dev/null) || return 1
  [[ -n "$pid" ]] && grep -qa 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

kafka_install() {
  command -v java >/dev/null || apt_install default-jre-headless
  [[ -f "$KLIB/.complete" ]] && return 0
  command -v mvn >/dev/null || apt_install maven
  mkdir -p "$KDIR"
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central"
  cat >"$KDIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>upare.local</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
  rm -rf "$KLIB.tmp"
  mvn -B -q -f "$KDIR/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$KLIB.tmp" >"$KDIR/mvn.log" 2>&1 \
    || { tail -n 30 "$KDIR/mvn.log" >&2; die "mvn could not resolve the Kafka jars (log: $KDIR/mvn.log)"; }
  rm -rf "$KLIB"; mv "$KLIB.tmp" "$KLIB"; touch "$KLIB/.complete"
}

kafka_config() {
  mkdir -p "$KDIR/data"
  cat >"$KDIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://127.0.0.1:9092
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KDIR/data
num.partitions=6
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$KDIR/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $KDIR/kafka.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
EOF
}

KJAVA=(java -Xms128m -Xmx512m -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
       -Dlog4j2.configurationFile="$KDIR/log4j2.properties" -cp "$KLIB/*")

kafka_start() {
  if kafka_ready; then log "kafka already answers on $KAFKA_BOOTSTRAP, reusing it"; return 0; fi
  kafka_install
  kafka_config
  if [[ ! -f "$KDIR/data/meta.properties" ]]; then
    local cid; cid=$("${KJAVA[@]}" kafka.tools.StorageTool random-uuid | tail -n1)
    log "formatting kafka storage (cluster id $cid)"
    "${KJAVA[@]}" kafka.tools.StorageTool format --cluster-id "$cid" --config "$KDIR/server.properties" \
      >"$KDIR/format.log" 2>&1 || { cat "$KDIR/format.log" >&2; die "kafka storage format failed"; }
  fi
  if ! kafka_pid >/dev/null; then
    log "starting kafka $KAFKA_VERSION (KRaft) on $KAFKA_BOOTSTRAP, controller 127.0.0.1:9093"
    # bash -c writes its own pid, then execs the JVM: the pid file is right even if setsid forks.
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1/kafka.pid"; shift; exec "$@"' _ "$KDIR" \
      "${KJAVA[@]}" kafka.Kafka "$KDIR/server.properties" </dev/null >>"$KDIR/kafka.out" 2>&1 &
    sleep 0.5
  fi
  local deadline=$((SECONDS + 2 * TIMEOUT))
  until kafka_ready; do
    kafka_pid >/dev/null || { tail -n 20 "$KDIR/kafka.out" "$KDIR/kafka.log" >&2 2>/dev/null; die "kafka exited during startup"; }
    ((SECONDS < deadline)) || die "kafka did not answer on $KAFKA_BOOTSTRAP within $((2 * TIMEOUT))s (see $KDIR/kafka.log)"
    sleep 0.5
  done
  log "kafka is up"
}

kafka_stop() {
  local pid
  if ! pid=$(kafka_pid); then
    kafka_ready && log "kafka on $KAFKA_BOOTSTRAP was not started by this script; leaving it alone"
    return 0
  fi
  log "stopping kafka (pid $pid), keeping its data"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 2 * TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then log "kafka ignored SIGTERM, killing it"; kill -KILL "$pid"; sleep 1; break; fi
    sleep 0.3
  done
  rm -f "$KDIR/kafka.pid"
}

# ---------------------------------------------------------------- commands
case "${1:-}" in
  up)          pg_up; redis_up; kafka_start; log "all services up" ;;
  down)        kafka_stop; redis_down; pg_down; log "all services down" ;;
  status)      rc=0
               for s in postgres:pg_ready redis:redis_ready kafka:kafka_ready; do
                 if "${s#*:}" >/dev/null 2>&1; then echo "${s%%:*}: up"; else echo "${s%%:*}: down"; rc=3; fi
               done
               exit $rc ;;
  env)         echo "export UPARE_DATABASE_URL=$PG_URL"
               echo "export UPARE_REDIS_URL=$REDIS_URL"
               echo "export UPARE_KAFKA_BOOTSTRAP=$KAFKA_BOOTSTRAP"
               echo "export UPARE_SERVICES_SCRIPT=$REPO/scripts/services.sh" ;;
  kafka-start) kafka_start ;;
  kafka-stop)  kafka_stop ;;
  postgres-start) pg_up ;;
  postgres-stop)  pg_down ;;
  redis-start) redis_up ;;
  redis-stop)  redis_down ;;
  bench-tools) command -v wrk >/dev/null || apt_install wrk ;;  # bench_requests' load generator
  *)           echo "usage: $0 up|down|status|env|bench-tools|{postgres,redis,kafka}-{start,stop}" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Test services for falmigrate: a private Docker engine, two local registries and a base image.
#
#   scripts/services.sh start   install what is missing, start everything, write .services/env
#   scripts/services.sh stop    stop what `start` started (by PID file) and remove its state
#   scripts/services.sh env     print `export` lines for the running services (eval "$(… env)")
#   scripts/services.sh status  exit 0 when the services recorded in .services/env answer
#   scripts/services.sh stop-if-owner TOKEN   stop, but only if `start` ran with
#                               FALMIGRATE_SERVICES_OWNER=TOKEN and was the one that started dockerd
#
# Everything lives under $FALMIGRATE_STATE (default /tmp/falmigrate-services-<checksum of the repo
# path>): dockerd's data and exec roots and socket, registry storage, logs, TLS material, PID files. The Debian+Python base
# rootfs is cached in ~/.cache/falmigrate/ between runs. `start` is idempotent and serialised by a
# lock, so several callers can run it at once. FALMIGRATE_KEEP_STATE=1 makes `stop` keep the
# engine's data root (faster next start).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# One state dir per checkout, so two clones (a developer tree and a clean CI clone) never share
# or stop each other's services.
STATE="${FALMIGRATE_STATE:-/tmp/falmigrate-services-$(printf %s "$REPO" | cksum | cut -d' ' -f1)}"
CACHE="${FALMIGRATE_CACHE:-$HOME/.cache/falmigrate}"
ENV_DIR="$REPO/.services"
ENV_FILE="$ENV_DIR/env"
BASE_TAG="falmigrate-test/base:bookworm"
TINY_TAG="falmigrate-test/busybox:latest"
SOCK="$STATE/docker.sock"
# A short exec root: containerd's socket path inside it must stay under 108 bytes.
EXEC_ROOT="$STATE/x"

log() { echo "services: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- packages
need_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  command -v skopeo >/dev/null || missing+=(skopeo)
  command -v umoci >/dev/null || missing+=(umoci)
  command -v podman >/dev/null || missing+=(podman)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v zstd >/dev/null || missing+=(zstd)
  command -v strace >/dev/null || missing+=(strace)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v curl >/dev/null || missing+=(curl)
  # the OCI image-spec JSON schemas the oci tests validate our manifests/index/config against
  [ -f /usr/share/gocode/src/github.com/opencontainers/image-spec/schema/image-manifest-schema.json ] ||
    missing+=(golang-github-opencontainers-image-spec-dev)
  [ -x /usr/bin/docker ] || missing+=(docker.io)
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages ${missing[*]} and not root: install them first"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # wait_for DESC SECONDS CMD...
  local desc=$1 limit=$2; shift 2
  local i
  for ((i = 0; i < limit * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$desc did not come up within ${limit}s"
}

dk() { DOCKER_HOST="unix://$SOCK" /usr/bin/docker "$@"; }

# ---------------------------------------------------------------- engine
# overlay2 when this kernel can mount an overlay on the state dir's file system: layers are shared,
# not copied as with vfs, so test builds are several times faster and take a fraction of the disk.
# FALMIGRATE_STORAGE_DRIVER=vfs|overlay2 forces one.
storage_driver() {
  if [ -n "${FALMIGRATE_STORAGE_DRIVER:-}" ]; then echo "$FALMIGRATE_STORAGE_DRIVER"; return; fi
  local probe="$STATE/overlay-probe" driver=vfs
  rm -rf "$probe"; mkdir -p "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" \
      "$probe/merged" 2>/dev/null; then
    umount "$probe/merged"; driver=overlay2
  fi
  rm -rf "$probe"
  echo "$driver"
}

start_dockerd() {
  if alive "$STATE/dockerd.pid" && dk version >/dev/null 2>&1; then
    log "dockerd already running (pid $(cat "$STATE/dockerd.pid"))"; return
  fi
  mkdir -p "$STATE/docker-data" "$EXEC_ROOT"
  local driver; driver=$(storage_driver)
  echo "$driver" >"$STATE/storage-driver"
  log "starting dockerd on $SOCK (storage driver $driver)"
  setsid dockerd --storage-driver "$driver" --bridge=none --iptables=false --ip6tables=false \
    --data-root "$STATE/docker-data" --exec-root "$EXEC_ROOT" --pidfile "$STATE/dockerd.pid" \
    --host "unix://$SOCK" >"$STATE/dockerd.log" 2>&1 </dev/null 9>&- &
  wait_for dockerd 60 dk version || { tail -20 "$STATE/dockerd.log" >&2; exit 1; }
}

# ---------------------------------------------------------------- registries
make_tls() {
  local d="$STATE/tls"
  [ -f "$d/server.pem" ] && return
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=falmigrate test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" \
    -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
    >"$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 30 -extfile "$d/ext.cnf" -out "$d/server.pem" 2>/dev/null
}

start_registry() {  # start_registry NAME tls|plain
  local name=$1 kind=$2 dir="$STATE/$1"
  if alive "$dir/pid" && [ -f "$dir/port" ]; then
    log "registry $name already running on port $(cat "$dir/port")"; return
  fi
  mkdir -p "$dir/storage"
  local port; port=$(free_port)
  {
    echo "version: 0.1"
    echo "log:"
    echo "  level: debug"
    echo "  formatter: text"
    echo "  accesslog:"
    echo "    disabled: false"
    echo "storage:"
    echo "  filesystem:"
    echo "    rootdirectory: $dir/storage"
    echo "  delete:"
    echo "    enabled: true"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    echo "  secret: $(openssl rand -hex 16)"
    if [ "$kind" = tls ]; then
      echo "  tls:"
      echo "    certificate: $STATE/tls/server.pem"
      echo "    key: $STATE/tls/server.key"
      echo "auth:"
      echo "  htpasswd:"
      echo "    realm: falmigrate-test"
      echo "    path: $dir/htpasswd"
    fi
  } >"$dir/config.yml"
  log "starting registry $name on 127.0.0.1:$port"
  setsid docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/pid"
  echo "$port" >"$dir/port"
  if [ "$kind" = tls ]; then
    wait_for "registry $name" 30 curl -sf --cacert "$STATE/tls/ca.pem" \
      -u "$(cat "$dir/user"):$(cat "$dir/password")" "https://127.0.0.1:$port/v2/"
  else
    wait_for "registry $name" 30 curl -sf "http://127.0.0.1:$port/v2/"
  fi
}

make_htpasswd() {
  local dir="$STATE/registry-tls"
  mkdir -p "$dir"
  [ -f "$dir/htpasswd" ] && return
  echo falmigrate >"$dir/user"
  openssl rand -hex 12 >"$dir/password"
  chmod 600 "$dir/password"
  htpasswd -Bbn "$(cat "$dir/user")" "$(cat "$dir/password")" >"$dir/htpasswd" 2>/dev/null
}

# ---------------------------------------------------------------- images
load_base_image() {
  if dk image inspect "$BASE_TAG" >/dev/null 2>&1; then return; fi
  # Extra CAs the host trusts (e.g. a TLS-intercepting egress proxy) go into the image too, so
  # `pip install` in test builds reaches PyPI the same way the host does. The cache name carries
  # their hash: a different set of CAs makes a new rootfs.
  local extra_cas=(/usr/local/share/ca-certificates/*.crt) cahash=none
  [ -e "${extra_cas[0]}" ] || extra_cas=()
  [ ${#extra_cas[@]} -gt 0 ] && cahash=$(cat "${extra_cas[@]}" | sha256sum | cut -c1-12)
  local tar="$CACHE/base-bookworm-$cahash.tar"
  if [ ! -s "$tar" ]; then
    mkdir -p "$CACHE"
    log "making the Debian bookworm + python3 rootfs with mmdebstrap (about 30 s)"
    local hook='true'
    if [ ${#extra_cas[@]} -gt 0 ]; then
      hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" && chroot "$1" update-ca-certificates'
    fi
    mmdebstrap --quiet --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates \
      --customize-hook="$hook" bookworm "$CACHE/partial-$$.tar" >&2  # the .tar suffix picks the format
    mv "$CACHE/partial-$$.tar" "$tar"
  fi
  log "importing $BASE_TAG"
  dk import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' "$tar" "$BASE_TAG" >/dev/null
}

load_tiny_image() {
  if dk image inspect "$TINY_TAG" >/dev/null 2>&1; then return; fi
  local root="$STATE/tiny-rootfs"
  rm -rf "$root"; mkdir -p "$root/bin" "$root/tmp" "$root/etc"
  cp /bin/busybox "$root/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  log "importing $TINY_TAG"
  tar -C "$root" -c . | dk import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$TINY_TAG" >/dev/null
  rm -rf "$root"
}

# ---------------------------------------------------------------- env file
write_env() {
  mkdir -p "$ENV_DIR"
  local tmp="$ENV_FILE.tmp.$$"
  {
    echo "FALMIGRATE_TEST_DOCKER_HOST=unix://$SOCK"
    echo "FALMIGRATE_TEST_REGISTRY=127.0.0.1:$(cat "$STATE/registry-plain/port")"
    echo "FALMIGRATE_TEST_REGISTRY_LOG=$STATE/registry-plain/registry.log"
    echo "FALMIGRATE_TEST_REGISTRY_TLS=127.0.0.1:$(cat "$STATE/registry-tls/port")"
    echo "FALMIGRATE_TEST_REGISTRY_TLS_LOG=$STATE/registry-tls/registry.log"
    echo "FALMIGRATE_TEST_REGISTRY_CA=$STATE/tls/ca.pem"
    echo "FALMIGRATE_TEST_REGISTRY_USER=$(cat "$STATE/registry-tls/user")"
    echo "FALMIGRATE_TEST_REGISTRY_PASSWORD=$(cat "$STATE/registry-tls/password")"
    echo "FALMIGRATE_TEST_BASE_IMAGE=$BASE_TAG"
    echo "FALMIGRATE_TEST_TINY_IMAGE=$TINY_TAG"
    echo "FALMIGRATE_TEST_STATE=$STATE"
    echo "FALMIGRATE_TEST_STORAGE_DRIVER=$(cat "$STATE/storage-driver" 2>/dev/null || echo vfs)"
  } >"$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$ENV_FILE"
  cp "$ENV_FILE" "$STATE/env"
}

# ---------------------------------------------------------------- commands
cmd_start() {
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock -w 300 9 || die "timed out waiting for the lock on $STATE"
  # Whoever brings the engine up owns the set: only the owner's `stop-if-owner` stops it, so a
  # test run that found (or raced another caller to) running services never stops them under others.
  if ! alive "$STATE/dockerd.pid"; then
    printf '%s\n' "${FALMIGRATE_SERVICES_OWNER:-}" >"$STATE/owner"
  fi
  need_packages
  start_dockerd
  make_tls
  make_htpasswd
  start_registry registry-plain plain
  start_registry registry-tls tls
  load_base_image
  load_tiny_image
  write_env
  log "ready; variables in $ENV_FILE"
}

stop_pid() {  # stop_pid PIDFILE NAME
  local f=$1 name=$2 pid i
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cmd_stop() {
  [ -d "$STATE" ] || return 0
  exec 9>"$STATE/.lock"
  flock -w 300 9 || die "timed out waiting for the lock on $STATE"
  stop_pid "$STATE/registry-plain/pid" "registry-plain"
  stop_pid "$STATE/registry-tls/pid" "registry-tls"
  if alive "$STATE/dockerd.pid"; then
    # Containers left running by tests would keep dockerd's shutdown waiting.
    dk ps -q 2>/dev/null | xargs -r env DOCKER_HOST="unix://$SOCK" /usr/bin/docker kill >/dev/null 2>&1 || true
  fi
  stop_pid "$STATE/dockerd.pid" "dockerd"
  # Unmount anything dockerd left behind before removing its directories.
  { grep -o " $STATE/[^ ]*" /proc/mounts 2>/dev/null || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  if [ "${FALMIGRATE_KEEP_STATE:-0}" = 1 ]; then
    rm -rf "$STATE/registry-plain" "$STATE/registry-tls" "$STATE/tls" "$EXEC_ROOT"
  else
    find "$STATE" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} + 2>/dev/null || true
  fi
  # The repo's env file only if it describes these services (another state dir may own it).
  if [ -f "$ENV_FILE" ] && grep -qx "FALMIGRATE_TEST_STATE=$STATE" "$ENV_FILE"; then rm -f "$ENV_FILE"; fi
  rm -f "$STATE/env"
  log "stopped"
}

cmd_status() {
  [ -f "$ENV_FILE" ] || return 1
  alive "$STATE/dockerd.pid" && alive "$STATE/registry-plain/pid" && alive "$STATE/registry-tls/pid" \
    && dk version >/dev/null 2>&1
}

cmd_env() {
  [ -f "$ENV_FILE" ] || die "no $ENV_FILE: run scripts/services.sh start"
  sed 's/^/export /' "$ENV_FILE"
}

cmd_stop_if_owner() {  # stop-if-owner TOKEN: stop only the set that `start` with this token brought up
  local token=${1:-}
  [ -n "$token" ] && [ -f "$STATE/owner" ] && [ "$(cat "$STATE/owner")" = "$token" ] || return 0
  cmd_stop
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  stop-if-owner) cmd_stop_if_owner "${2:-}" ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|stop-if-owner TOKEN|env|status" >&2; exit 2 ;;
esac

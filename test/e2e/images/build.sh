#!/usr/bin/env bash
# Build the e2e tier's stand-in images, once, cached by the content of their build inputs:
#
#   housing-portal-e2e/postgis:15   Debian postgresql-15 + postgresql-15-postgis-3, entrypoint
#                                   postgis-entrypoint.sh (the official image's behaviour)
#   housing-portal-e2e/nginx:1      Debian nginx-light, nginx -g 'daemon off;'
#   housing-portal-e2e/backend:1    python3 + backend.py (exports + X-Accel-Redirect)
#   housing-portal-e2e/backend:2    the same, another build: an image change of the backend
#   housing-portal-e2e/nginx:2      the same nginx, another build: an image change of nginx
#   housing-portal-e2e/caddy:2      Debian caddy, the edge (its command comes from the program; wget for its healthcheck, as busybox in caddy:2)
#
# One rootfs is made with `debootstrap --variant=minbase bookworm` from the Debian mirror that apt
# is configured with (/etc/apt/sources.list*), imported with `docker import` as
# housing-portal-e2e/rootfs:<hash>, and the three images are committed from it with their own
# ENTRYPOINT/CMD/ENV. <hash> covers every file in this directory, so editing any of them
# rebuilds; when all three images carry the current hash (label housing-portal-e2e.build) this
# script does nothing. Nothing is pulled from a registry.
#
# Settings (environment):
#   DOCKER      default docker.
#   BUILD_DIR   default /var/tmp. Where the temporary rootfs is made (removed afterwards).
#   MIRROR      default: the bookworm "main" URI of apt's configuration.
set -euo pipefail

readonly PROG=e2e-images
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DOCKER="${DOCKER:-docker}"
BUILD_DIR="${BUILD_DIR:-/var/tmp}"
SUITE=bookworm
PACKAGES=postgresql-15,postgresql-15-postgis-3,nginx-light,python3,caddy,wget
readonly REPO=housing-portal-e2e

HASH="$(cd "$HERE" && sha256sum -- * | sha256sum | cut -c1-16)"
BASE="$REPO/rootfs:$HASH"
declare -A TAGS=([postgis]="$REPO/postgis:15" [nginx]="$REPO/nginx:1" [backend]="$REPO/backend:1" [backend2]="$REPO/backend:2" [nginx2]="$REPO/nginx:2" [caddy]="$REPO/caddy:2")

built_hash() { "$DOCKER" image inspect -f '{{ index .Config.Labels "housing-portal-e2e.build" }}' "$1" 2>/dev/null || true; }

up_to_date=1
for role in "${!TAGS[@]}"; do
  [[ "$(built_hash "${TAGS[$role]}")" == "$HASH" ]] || up_to_date=0
done
if ((up_to_date)); then
  log "images are current (build $HASH): ${TAGS[*]}"
  exit 0
fi

mirror_from_apt() {
  # deb822 (.sources) first, then one-line lists: the first URI that serves $SUITE main.
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f "$f" ]] || continue
    awk -v suite="$SUITE" '
      function flush() { if (uri != "" && suites ~ ("(^| )" suite "( |$)") && comps ~ /(^| )main( |$)/ && types ~ /(^| )deb( |$)/) { print uri; found = 1; exit } uri = suites = comps = types = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/ { uri = $2 } /^Suites:/ { $1 = ""; suites = $0 } /^Components:/ { $1 = ""; comps = $0 } /^Types:/ { $1 = ""; types = $0 }
      END { if (!found) flush() }' "$f"
  done | head -n1
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f "$f" ]] || continue
    awk -v suite="$SUITE" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == suite) { for (j = i+2; j <= NF; j++) if ($j == "main") { print $i; exit } } }' "$f"
  done | head -n1
}

if [[ "$(built_hash "$BASE")" != "$HASH" ]]; then
  command -v debootstrap >/dev/null || die "debootstrap is not installed (test/e2e/setup.sh installs it)"
  MIRROR="${MIRROR:-$(mirror_from_apt | head -n1)}"
  [[ -n "$MIRROR" ]] || die "no Debian mirror for $SUITE main found in /etc/apt/sources.list*"
  root="$(mktemp -d "$BUILD_DIR/hp-e2e-build.XXXXXX")"
  cleanup() {
    local mp
    for mp in $(awk -v r="$root" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done
    rm -rf --one-file-system "$root"
  }
  trap cleanup EXIT
  log "debootstrap --variant=minbase $SUITE from $MIRROR with $PACKAGES (about a minute)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root/rootfs" "$MIRROR" >"$root/debootstrap.log" 2>&1 ||
    { tail -n 40 "$root/debootstrap.log" >&2; [[ -f "$root/rootfs/debootstrap/debootstrap.log" ]] && tail -n 40 "$root/rootfs/debootstrap/debootstrap.log" >&2; die "debootstrap failed"; }
  r="$root/rootfs"
  # PostgreSQL: no packaged "main" cluster; /var/lib/postgresql and its data/ as in the official image.
  rm -rf "$r/etc/postgresql/15/main" "$r/var/lib/postgresql/15"
  chroot "$r" install -d -o postgres -g postgres -m 0755 /var/lib/postgresql
  chroot "$r" install -d -o postgres -g postgres -m 1777 /var/lib/postgresql/data
  chroot "$r" install -d -o postgres -g postgres -m 3775 /var/run/postgresql
  install -m 0755 "$HERE/postgis-entrypoint.sh" "$r/usr/local/bin/docker-entrypoint.sh"
  install -d -m 0755 "$r/srv" "$r/exports"
  install -m 0755 "$HERE/backend.py" "$r/srv/backend.py"
  # The rendered nginx.conf serves the frontend from /usr/share/nginx/html (part of the real image).
  install -d -m 0755 "$r/usr/share/nginx/html"
  install -m 0644 "$HERE/index.html" "$r/usr/share/nginx/html/index.html"
  [[ -f "$r/etc/nginx/mime.types" ]] || die "nginx-light left no /etc/nginx/mime.types"
  # As in the caddy:2 image, whose binary carries the capability to bind low ports: the edge's
  # bounding set must keep NET_BIND_SERVICE, or the kernel refuses to execute it.
  command -v setcap >/dev/null || die "setcap is not installed (libcap2-bin)"
  setcap cap_net_bind_service=+ep "$r/usr/bin/caddy" || die "cannot set the file capability of caddy"
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/debootstrap
  log "docker import as $BASE"
  tar --numeric-owner --xattrs -C "$r" --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -c . |
    "$DOCKER" import --change "LABEL housing-portal-e2e.build=$HASH" - "$BASE" >/dev/null
  trap - EXIT
  cleanup
fi

commit() { # ROLE CHANGE...: commit the base with these Dockerfile changes as the role's tag
  local role="$1" cid
  shift
  local changes=(--change "LABEL housing-portal-e2e.build=$HASH" --change "LABEL housing-portal-e2e.role=$role")
  local c
  for c in "$@"; do changes+=(--change "$c"); done
  cid="$("$DOCKER" create "$BASE" /bin/true)"
  "$DOCKER" commit "${changes[@]}" "$cid" "${TAGS[$role]}" >/dev/null
  "$DOCKER" rm "$cid" >/dev/null
  log "built ${TAGS[$role]}"
}

PGPATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
commit postgis \
  "ENV PATH=$PGPATH" "ENV PGDATA=/var/lib/postgresql/data" "ENV LANG=C.UTF-8" \
  'VOLUME /var/lib/postgresql/data' 'EXPOSE 5432' \
  'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' 'CMD ["postgres"]'
commit nginx 'EXPOSE 80' 'ENTRYPOINT []' 'CMD ["nginx", "-g", "daemon off;"]'
commit nginx2 'EXPOSE 80' 'ENV NGINX_BUILD=2' 'ENTRYPOINT []' 'CMD ["nginx", "-g", "daemon off;"]'
commit backend 'ENV PYTHONUNBUFFERED=1' 'WORKDIR /srv' 'EXPOSE 8000' 'ENTRYPOINT []' 'CMD ["python3", "/srv/backend.py"]'
commit backend2 'ENV PYTHONUNBUFFERED=1' 'ENV BACKEND_BUILD=2' 'WORKDIR /srv' 'EXPOSE 8000' 'ENTRYPOINT []' 'CMD ["python3", "/srv/backend.py"]'
# Like the caddy:2 image: caddy as root with its file capability (the program runs it as its own user), data in /data.
commit caddy 'ENV XDG_CONFIG_HOME=/config' 'ENV XDG_DATA_HOME=/data' 'EXPOSE 80 443' 'WORKDIR /srv' 'ENTRYPOINT []' \
  'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]'

# Older builds of the base are a cache of nothing now.
"$DOCKER" image ls --format '{{.Repository}}:{{.Tag}}' "$REPO/rootfs" | while read -r ref; do
  [[ "$ref" == "$BASE" ]] || "$DOCKER" image rm "$ref" >/dev/null 2>&1 || true
done
log "images built (build $HASH)"

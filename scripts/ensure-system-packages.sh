#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (redis, docker engine, prometheus,
# rclone and fuse3 for the rclone plugin, busybox for test images, debootstrap for the node base
# image, filesystem tools, openssl for the https plugin test's certificates), when missing. Not root or no apt-get: prints one line naming what to
# install and exits 1.
#
# It never kills anything by name. The tests start private instances on free ports and their own
# sockets, so a system Redis, Prometheus or Docker that is already running does not matter and is
# left alone. Only the services of packages this script has just installed (apt starts them on
# its own) are stopped again, through the service manager, so that a fresh test machine does not
# carry daemons nobody asked for.
set -euo pipefail
declare -A need=(
  [redis-server]=redis-server [redis-sentinel]=redis-sentinel [dockerd]=docker.io
  [prometheus]=prometheus [promtool]=prometheus [busybox]=busybox-static
  [debootstrap]=debootstrap [mkfs.ext4]=e2fsprogs [mkfs.xfs]=xfsprogs [losetup]=mount
  [ip]=iproute2 [findmnt]=util-linux [rclone]=rclone [fusermount3]=fuse3 [openssl]=openssl
)
# The services each package's maintainer scripts may start.
declare -A services=(
  [redis-server]=redis-server [redis-sentinel]=redis-sentinel [docker.io]="docker containerd"
  [prometheus]="prometheus prometheus-node-exporter"
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || [ -x "/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "dvdi-sidecar tests need these Debian packages: ${pkgs[*]} (run as root: apt-get install -y ${pkgs[*]})" >&2
  exit 1
fi
echo "installing test dependencies: ${pkgs[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
for pkg in "${pkgs[@]}"; do
  for svc in ${services[$pkg]:-}; do
    if [ -d /run/systemd/system ]; then
      systemctl stop "$svc" 2>/dev/null || true
    elif [ -x "/etc/init.d/$svc" ] && command -v service >/dev/null 2>&1; then
      service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
done
exit 0

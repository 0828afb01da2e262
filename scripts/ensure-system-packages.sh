#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (redis, docker engine, prometheus,
# busybox for test images, debootstrap for the node base image, filesystem tools, rclone + fuse3 for a second real volume plugin), when missing.
# Not root or no apt-get: prints one line naming what to install and exits 1.
set -euo pipefail
declare -A need=(
  [redis-server]=redis-server [redis-sentinel]=redis-sentinel [dockerd]=docker.io
  [prometheus]=prometheus [promtool]=prometheus [busybox]=busybox-static
  [debootstrap]=debootstrap [mkfs.ext4]=e2fsprogs [mkfs.xfs]=xfsprogs [losetup]=mount
  [ip]=iproute2 [findmnt]=util-linux [rclone]=rclone [fusermount3]=fuse3
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
# The packaged services must not run on their own: the tests start private instances.
for svc in redis-server redis-sentinel docker containerd prometheus prometheus-node-exporter; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
done
pkill -x redis-server 2>/dev/null || true
pkill -x prometheus 2>/dev/null || true
exit 0

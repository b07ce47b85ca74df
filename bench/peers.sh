#!/bin/sh
# Installs the tools etcd-dr is compared with (make bench), when missing:
# Debian's pssh (binary parallel-ssh) and ansible. Needs root or sudo.
set -e
command -v parallel-ssh >/dev/null 2>&1 && command -v ansible >/dev/null 2>&1 && exit 0
SUDO=
[ "$(id -u)" = 0 ] || SUDO="sudo -n"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends pssh ansible

#!/usr/bin/env bash
# Installs the Debian packages the lab and the tests need, once. Idempotent.
set -euo pipefail

need=()
command -v knotd >/dev/null || need+=(knot)
command -v kdig >/dev/null || need+=(knot-dnsutils)
[ -x /usr/sbin/postfix ] || need+=(postfix)
command -v swaks >/dev/null || need+=(swaks)
command -v nmap >/dev/null || need+=(nmap)
command -v openssl >/dev/null || need+=(openssl)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-system-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  echo "install-system-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix must not configure itself for this host: the lab writes its own config.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts installed daemons when it can; the lab runs its own instances.
  (systemctl disable --now knot postfix 2>/dev/null || true)
  (service postfix stop 2>/dev/null || true)
  (pkill -x knotd 2>/dev/null || true)
fi

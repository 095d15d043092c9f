#!/usr/bin/env bash
# Installs the Debian packages the lab and the tests need, once. Idempotent.
#   knot, knot-dnsutils  authoritative DNS of the lab (knotd) and kdig for poking at it
#   postfix              the real MTA the lab runs (its own config in a temp dir)
#   swaks, nmap          manual probing of lab servers
#   openssl              inspecting lab certificates by hand
#   python3-venv         `make setup` creates .venv with it
set -euo pipefail

need=()
command -v knotd >/dev/null || [ -x /usr/sbin/knotd ] || need+=(knot)
command -v kdig >/dev/null || need+=(knot-dnsutils)
[ -x /usr/sbin/postfix ] && [ -x /usr/lib/postfix/sbin/master ] || need+=(postfix)
command -v swaks >/dev/null || need+=(swaks)
# swaks needs these for --tls (Debian lists them as Recommends only).
perl -MNet::SSLeay -MIO::Socket::SSL -e1 2>/dev/null || need+=(libnet-ssleay-perl libio-socket-ssl-perl)
command -v nmap >/dev/null || need+=(nmap)
command -v openssl >/dev/null || need+=(openssl)
if ! command -v python3 >/dev/null; then
  need+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  need+=(python3-venv)
fi

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
  # Debian starts installed daemons when it can; the lab runs its own instances, and a
  # system Postfix on 0.0.0.0:25 would keep the lab from binding 127.A.B.x:25.
  for service in knot postfix; do
    (systemctl disable --now "$service" 2>/dev/null || true)
    (service "$service" stop 2>/dev/null || true)
  done
fi

# The lab's Postfix runs as these (the package creates them; a broken install may not).
getent passwd postfix >/dev/null || { echo "install-system-deps: user postfix missing" >&2; exit 1; }
getent group postdrop >/dev/null || { echo "install-system-deps: group postdrop missing" >&2; exit 1; }

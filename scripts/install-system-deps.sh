#!/usr/bin/env bash
# System packages the test suite needs: Debian's Dovecot (a real IMAP server the tests start privately),
# Debian's PostgreSQL (a real database server the tests start privately, as a throwaway cluster of their own) and
# Chromium (the inbox page is tested in a real browser). Installs only what is missing.
set -euo pipefail

missing=()
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run=(sudo)
else
  echo "error: the tests need ${missing[*]} (Debian packages); run as root or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [[ " ${missing[*]} " == *" postgresql "* ]]; then
  # The tests run clusters of their own: no system-wide "main" cluster (nor a server on port 5432) from the package.
  "${run[@]}" mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | "${run[@]}" tee /etc/postgresql-common/createcluster.d/mockserver-tests.conf >/dev/null
fi
"${run[@]}" apt-get update -qq
"${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Installs what the benchmark needs besides the project's venv, only when missing (idempotent, no network
# on a second run): wrk from Debian, Debian's PostgreSQL (the `ours-1w-pg` target runs on a private cluster, as
# the tests do; installed by the project's system-deps script), and Stoplight Prism pinned by
# bench/package-lock.json into bench/node_modules.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "bench/setup.sh: need root (or sudo) to run: $*" >&2; return 1
  fi
}

if ! command -v wrk >/dev/null; then
  echo "bench/setup.sh: installing wrk (apt)"
  # A fresh container often has empty package lists; only then pay for an update.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 || {
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk >/dev/null
  }
fi

compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || "$HERE/../scripts/install-system-deps.sh"

if ! command -v npm >/dev/null; then
  echo "bench/setup.sh: npm is missing; install Node.js 18+ (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
fi

# Reinstall only when the lock file changed since the last install: the stamp holds the lock's checksum.
stamp="$HERE/node_modules/.bench-installed"
want=$(cksum < "$HERE/package-lock.json")
if [[ ! -x "$HERE/node_modules/.bin/prism" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "bench/setup.sh: installing Prism (npm ci)"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
  printf '%s\n' "$want" > "$stamp"
fi

echo "bench/setup.sh: wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), prism $("$HERE/node_modules/.bin/prism" --version)"

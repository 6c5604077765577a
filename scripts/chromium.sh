#!/usr/bin/env bash
# chromium.sh prints the path of a headless-capable Chromium for the
# console's browser tests: $NUXARI_CHROMIUM, else Debian's
# /usr/bin/chromium, which it installs with apt-get (package chromium)
# when it is missing and the script runs as root. It fails when none can
# be had.
set -euo pipefail
if [ -n "${NUXARI_CHROMIUM:-}" ]; then
	echo "$NUXARI_CHROMIUM"
	exit 0
fi
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "chromium.sh: Chromium not found: installing Debian's chromium package with apt-get" >&2
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x /usr/bin/chromium ]; then
	echo "chromium.sh: no Chromium: install Debian's chromium package or set NUXARI_CHROMIUM" >&2
	exit 1
fi
echo /usr/bin/chromium

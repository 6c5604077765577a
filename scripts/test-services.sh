#!/usr/bin/env bash
# test-services.sh starts the services the tests need, runs a command with
# their addresses in the environment, and stops them again:
#
#   scripts/test-services.sh go test ./...
#
# Services:
#   S3 with Object Lock: Versity Gateway (posix backend, with versioning) on
#   a free loopback port, with a bucket with Object Lock and one without.
#
#   cosign: the standard sigstore tool, to check manifest signatures the
#   way auditors do.
#
# Environment given to the command:
#   NUXARI_TEST_S3_ENDPOINT        host:port (plain HTTP)
#   NUXARI_TEST_S3_ACCESS_KEY      root access key (random per run)
#   NUXARI_TEST_S3_SECRET_KEY      root secret key (random per run)
#   NUXARI_TEST_S3_BUCKET          bucket with Object Lock (and versioning)
#   NUXARI_TEST_S3_BUCKET_NOLOCK   bucket without Object Lock
#   NUXARI_TEST_COSIGN             path of the cosign binary
#
# The gateway and cosign are installed, pinned by version, into .tools/ on
# first use.
# Its data lives in a temporary directory that is removed on exit, and the
# gateway is stopped on exit, whatever the command's outcome. The script
# exits with the command's status.
set -euo pipefail

GO=${GO:-go}
VERSITYGW_VERSION=v1.8.0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSITYGW=$ROOT/.tools/versitygw-$VERSITYGW_VERSION/versitygw
COSIGN_VERSION=v2.6.5
COSIGN=$ROOT/.tools/cosign-$COSIGN_VERSION/cosign
START_TIMEOUT=${NUXARI_TEST_SERVICES_START_TIMEOUT:-30} # seconds

if [ $# -eq 0 ]; then
	echo "usage: $0 command [args...]" >&2
	exit 2
fi

say() { echo "test-services: $*" >&2; }

if [ ! -x "$VERSITYGW" ]; then
	say "installing versitygw $VERSITYGW_VERSION into ${VERSITYGW%/*}"
	GOBIN=${VERSITYGW%/*} "$GO" install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
fi

if [ ! -x "$COSIGN" ]; then
	say "installing cosign $COSIGN_VERSION into ${COSIGN%/*} (a few minutes, once)"
	GOBIN=${COSIGN%/*} "$GO" install "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
fi
export NUXARI_TEST_COSIGN=$COSIGN

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nuxari-test-services.XXXXXX")
GW_PID=
cleanup() {
	if [ -n "$GW_PID" ] && kill -0 "$GW_PID" 2>/dev/null; then
		kill "$GW_PID" 2>/dev/null || true
		wait "$GW_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
CMD_PID=
# On INT or TERM, pass the signal on to the command and exit, which runs
# cleanup. (The command runs in the background, with this script waiting
# for it, so that the trap runs at once rather than after the command.)
on_signal() {
	if [ -n "$CMD_PID" ]; then kill -"$1" "$CMD_PID" 2>/dev/null || true; fi
	exit "$2"
}
trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

randhex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# The helper that creates buckets; built first, so that its compile time
# does not count against the gateway's start-up.
(cd "$ROOT" && "$GO" build -o "$TMP/mkbucket" ./scripts/mkbucket)

mkdir -m 0700 "$TMP/s3" "$TMP/s3/root" "$TMP/s3/versions"
GW_LOG=$TMP/versitygw.log
ACCESS_KEY=nuxari$(randhex 8)
SECRET_KEY=$(randhex 24)

# port_taken reports whether something accepts connections on the port.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# healthy reports whether the gateway answers its health check with 200.
healthy() {
	local status
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
	IFS= read -r -t 2 status <&3 || status=
	exec 3<&- 3>&-
	[[ $status == "HTTP/1."?" 200"* ]]
}

# start_gateway starts the gateway on a free port and waits until it
# answers. It fails if the gateway exits or does not answer in time.
start_gateway() {
	local port=$1 deadline=$((SECONDS + START_TIMEOUT))
	ROOT_ACCESS_KEY=$ACCESS_KEY ROOT_SECRET_KEY=$SECRET_KEY \
		"$VERSITYGW" --port "127.0.0.1:$port" --health /health --quiet \
		posix --versioning-dir "$TMP/s3/versions" "$TMP/s3/root" >"$GW_LOG" 2>&1 &
	GW_PID=$!
	until healthy "$port" 2>/dev/null; do
		if ! kill -0 "$GW_PID" 2>/dev/null; then
			wait "$GW_PID" 2>/dev/null || true
			GW_PID=
			return 1
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			say "versitygw did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s; its log:"
			cat "$GW_LOG" >&2
			exit 1
		fi
		sleep 0.1
	done
}

PORT=
for _ in 1 2 3 4 5; do
	candidate=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
	port_taken "$candidate" && continue
	if start_gateway "$candidate"; then
		PORT=$candidate
		break
	fi
	# Lost the port to another process between the check and the bind:
	# try another one; any other failure is final.
	grep -q 'address already in use' "$GW_LOG" || break
done
if [ -z "$PORT" ]; then
	say "versitygw did not start; its log:"
	cat "$GW_LOG" >&2
	exit 1
fi

export NUXARI_TEST_S3_ENDPOINT=127.0.0.1:$PORT
export NUXARI_TEST_S3_ACCESS_KEY=$ACCESS_KEY
export NUXARI_TEST_S3_SECRET_KEY=$SECRET_KEY
export NUXARI_TEST_S3_BUCKET=nuxari-test-locked
export NUXARI_TEST_S3_BUCKET_NOLOCK=nuxari-test-nolock
"$TMP/mkbucket" -lock "$NUXARI_TEST_S3_BUCKET"
"$TMP/mkbucket" "$NUXARI_TEST_S3_BUCKET_NOLOCK"
say "versitygw $VERSITYGW_VERSION on $NUXARI_TEST_S3_ENDPOINT, buckets $NUXARI_TEST_S3_BUCKET (object lock) and $NUXARI_TEST_S3_BUCKET_NOLOCK"

status=0
"$@" <&0 &
CMD_PID=$!
wait "$CMD_PID" || status=$?
CMD_PID=
if ! kill -0 "$GW_PID" 2>/dev/null; then
	say "versitygw exited while the command ran; its log:"
	cat "$GW_LOG" >&2
	[ "$status" -ne 0 ] || status=1
fi
exit "$status"

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
#   PostgreSQL: a cluster made for the run (initdb as the postgres user,
#   or as the current user when not root) in the temporary directory,
#   listening on 127.0.0.1 on a free port (its socket in that directory),
#   scram-sha-256 authentication with a random superuser password, TLS
#   with a CA made for the run, fsync off. initdb and pg_ctl are taken from
#   PATH or /usr/lib/postgresql/*/bin (the newest); when missing and
#   running as root, the Debian package is installed with apt-get. Without
#   them, under CI=true the script fails; otherwise it says so and sets no
#   NUXARI_TEST_PG_* variable, and the tests that need PostgreSQL skip.
#
# Environment given to the command:
#   NUXARI_TEST_S3_ENDPOINT        host:port (plain HTTP)
#   NUXARI_TEST_S3_ACCESS_KEY      root access key (random per run)
#   NUXARI_TEST_S3_SECRET_KEY      root secret key (random per run)
#   NUXARI_TEST_S3_BUCKET          bucket with Object Lock (and versioning)
#   NUXARI_TEST_S3_BUCKET_NOLOCK   bucket without Object Lock
#   NUXARI_TEST_COSIGN             path of the cosign binary
#   NUXARI_TEST_PG_HOST            127.0.0.1
#   NUXARI_TEST_PG_PORT            the server's port
#   NUXARI_TEST_PG_USER            superuser role
#   NUXARI_TEST_PG_PASSWORD        its password (random per run)
#   NUXARI_TEST_PG_DATABASE        a database to connect to (postgres)
#   NUXARI_TEST_PG_TLS_CA          path of the CA's certificate (PEM); the
#                                  server's certificate is for "localhost"
#   NUXARI_TEST_PG_TLS_CLIENT_USER a role name (not created) that may log
#                                  in over TLS with the client certificate
#                                  alone (pg_hba "cert")
#   NUXARI_TEST_PG_TLS_CLIENT_CERT path of that client certificate (PEM)
#   NUXARI_TEST_PG_TLS_CLIENT_KEY  path of its private key (PEM)
#
# The gateway and cosign are installed, pinned by version, into .tools/ on
# first use.
# Their data lives in a temporary directory that is removed on exit, and
# the gateway and PostgreSQL are stopped on exit, whatever the command's
# outcome. The script exits with the command's status.
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

# find_pg sets PG_BIN to a directory with initdb and pg_ctl: the one of
# initdb on PATH, or the newest /usr/lib/postgresql/*/bin.
PG_BIN=
find_pg() {
	local dir candidates=()
	if command -v initdb >/dev/null 2>&1; then
		candidates+=("$(dirname "$(command -v initdb)")")
	fi
	while IFS= read -r dir; do
		candidates+=("$dir")
	done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r)
	for dir in ${candidates[@]+"${candidates[@]}"}; do
		if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
			PG_BIN=$dir
			return 0
		fi
	done
	return 1
}
# PG_OS_USER runs the server: postgres when this script runs as root
# (initdb refuses root), the current user otherwise.
PG_OS_USER=
if [ "$(id -u)" -eq 0 ]; then PG_OS_USER=postgres; fi
PG_WHY=
if ! find_pg && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	say "PostgreSQL not found: installing the postgresql package with apt-get"
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; then
		say "apt-get install postgresql failed"
	fi
	find_pg || true
fi
if [ -z "$PG_BIN" ]; then
	PG_WHY="initdb and pg_ctl not found (on PATH or in /usr/lib/postgresql/*/bin)"
elif [ -n "$PG_OS_USER" ] && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
	PG_WHY="running as root, and there is no $PG_OS_USER user to run the server as"
fi
if [ -n "$PG_WHY" ]; then
	if [ "${CI:-}" = true ]; then
		say "PostgreSQL is needed under CI=true: $PG_WHY"
		exit 1
	fi
	say "notice: no PostgreSQL for the tests ($PG_WHY): the tests that need it skip"
fi

# as_pg runs a command as the server's user.
as_pg() {
	if [ -n "$PG_OS_USER" ]; then
		runuser -u "$PG_OS_USER" -- "$@"
	else
		"$@"
	fi
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/nuxari-test-services.XXXXXX")
GW_PID=
PG_INIT_PID=
PG_DATA=
cleanup() {
	if [ -n "$GW_PID" ] && kill -0 "$GW_PID" 2>/dev/null; then
		kill "$GW_PID" 2>/dev/null || true
		wait "$GW_PID" 2>/dev/null || true
	fi
	if [ -n "$PG_INIT_PID" ]; then
		kill "$PG_INIT_PID" 2>/dev/null || true
		wait "$PG_INIT_PID" 2>/dev/null || true
	fi
	stop_pg
	rm -rf "$TMP"
}
# stop_pg stops the server if it runs: fast (immediate mode, no
# checkpoint: the cluster is thrown away), and with SIGKILL if pg_ctl
# fails.
stop_pg() {
	local pid
	if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
		pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) || pid=
		as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
			{ [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null; } || true
	fi
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

PG_DIR=$TMP/pg
PG_PASSWORD=$(randhex 24)
PG_SUPERUSER=nuxari_test
PG_CLIENT_USER=nuxari_tls_client
if [ -z "$PG_WHY" ]; then
	# The server's user must reach its directory inside $TMP.
	chmod 0711 "$TMP"
	mkdir -m 0700 "$PG_DIR"
	[ -z "$PG_OS_USER" ] || chown "$PG_OS_USER" "$PG_DIR"
	PG_DATA=$PG_DIR/data
	(umask 077 && printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pwfile")
	[ -z "$PG_OS_USER" ] || chown "$PG_OS_USER" "$PG_DIR/pwfile"
	# initdb runs while the helpers build and the gateway starts.
	as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U "$PG_SUPERUSER" --pwfile="$PG_DIR/pwfile" \
		--auth=scram-sha-256 --encoding=UTF8 --locale=C --no-sync >"$TMP/initdb.log" 2>&1 &
	PG_INIT_PID=$!
fi

# The helpers that create buckets and TLS files; built first, so that
# their compile time does not count against the services' start-up.
mkdir -m 0700 "$TMP/bin"
(cd "$ROOT" && "$GO" build -o "$TMP/bin/" ./scripts/mkbucket ./scripts/mkpgtls)

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
"$TMP/bin/mkbucket" -lock "$NUXARI_TEST_S3_BUCKET"
"$TMP/bin/mkbucket" "$NUXARI_TEST_S3_BUCKET_NOLOCK"
say "versitygw $VERSITYGW_VERSION on $NUXARI_TEST_S3_ENDPOINT, buckets $NUXARI_TEST_S3_BUCKET (object lock) and $NUXARI_TEST_S3_BUCKET_NOLOCK"

# start_pg starts the server on the port and waits until it accepts
# connections. It fails if the server does not start.
start_pg() {
	as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/server.log" -w -t "$START_TIMEOUT" \
		-o "-p $1" start >/dev/null 2>&1
}

if [ -n "$PG_INIT_PID" ]; then
	status=0
	wait "$PG_INIT_PID" || status=$?
	PG_INIT_PID=
	rm -f "$PG_DIR/pwfile"
	if [ "$status" -ne 0 ]; then
		say "initdb failed; its output:"
		cat "$TMP/initdb.log" >&2
		exit 1
	fi
	mkdir -m 0700 "$TMP/pgtls" "$PG_DIR/socket"
	[ -z "$PG_OS_USER" ] || chown "$PG_OS_USER" "$PG_DIR/socket"
	"$TMP/bin/mkpgtls" -client-user "$PG_CLIENT_USER" "$TMP/pgtls"
	cp "$TMP/pgtls/server.pem" "$TMP/pgtls/server.key" "$TMP/pgtls/ca.pem" "$PG_DATA/"
	# Certificate authentication for one role, before the password rules.
	{ echo "hostssl all $PG_CLIENT_USER 127.0.0.1/32 cert"; cat "$PG_DATA/pg_hba.conf"; } >"$PG_DIR/pg_hba.conf"
	mv "$PG_DIR/pg_hba.conf" "$PG_DATA/pg_hba.conf"
	cat >>"$PG_DATA/postgresql.conf" <<-EOF

		# scripts/test-services.sh
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$PG_DIR/socket'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		ssl = on
		ssl_cert_file = 'server.pem'
		ssl_key_file = 'server.key'
		ssl_ca_file = 'ca.pem'
	EOF
	if [ -n "$PG_OS_USER" ]; then
		chown "$PG_OS_USER" "$PG_DATA/server.pem" "$PG_DATA/server.key" "$PG_DATA/ca.pem" "$PG_DATA/pg_hba.conf"
	fi
	chmod 0600 "$PG_DATA/server.key"

	PG_PORT=
	for _ in 1 2 3 4 5; do
		candidate=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		port_taken "$candidate" && continue
		if start_pg "$candidate"; then
			PG_PORT=$candidate
			break
		fi
		# Lost the port to another process between the check and the
		# bind: try another one; any other failure is final.
		grep -q 'could not bind\|Address already in use' "$PG_DIR/server.log" || break
		stop_pg
	done
	if [ -z "$PG_PORT" ]; then
		say "PostgreSQL did not start; its log:"
		cat "$PG_DIR/server.log" >&2
		exit 1
	fi
	export NUXARI_TEST_PG_HOST=127.0.0.1
	export NUXARI_TEST_PG_PORT=$PG_PORT
	export NUXARI_TEST_PG_USER=$PG_SUPERUSER
	export NUXARI_TEST_PG_PASSWORD=$PG_PASSWORD
	export NUXARI_TEST_PG_DATABASE=postgres
	export NUXARI_TEST_PG_TLS_CA=$TMP/pgtls/ca.pem
	export NUXARI_TEST_PG_TLS_CLIENT_USER=$PG_CLIENT_USER
	export NUXARI_TEST_PG_TLS_CLIENT_CERT=$TMP/pgtls/client.pem
	export NUXARI_TEST_PG_TLS_CLIENT_KEY=$TMP/pgtls/client.key
	say "PostgreSQL $("$PG_BIN/pg_ctl" --version | awk '{print $3}') on $NUXARI_TEST_PG_HOST:$NUXARI_TEST_PG_PORT"
fi

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
if [ -n "${PG_PORT:-}" ] && ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
	say "PostgreSQL exited while the command ran; its log:"
	cat "$PG_DIR/server.log" >&2
	[ "$status" -ne 0 ] || status=1
fi
exit "$status"

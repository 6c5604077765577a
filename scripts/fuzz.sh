#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the given packages for FUZZTIME each:
#
#   FUZZTIME=5s scripts/fuzz.sh ./...
#
# A target fails the run when it finds an input that fails: the fuzzer
# then writes the input to the package's testdata/fuzz/<target>/, and
# this script names the file. Go 1.26's fuzz coordinator can also fail a
# target with a bare "context deadline exceeded" at the end of -fuzztime
# having found nothing (golang/go#75804, fixed in Go 1.27): that result,
# with no input written, is reported as such and does not fail the run.
# Any other failure does.
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
status=0
for pkg in $("$GO" list "$@"); do
	dir=$("$GO" list -f '{{.Dir}}' "$pkg")
	for f in $("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz $pkg $f ($FUZZTIME)"
		corpus=$dir/testdata/fuzz/$f
		before=$(ls "$corpus" 2>/dev/null | sort || true)
		out=$(mktemp)
		if "$GO" test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1 | tee "$out"; then
			rm -f "$out"
			continue
		fi
		after=$(ls "$corpus" 2>/dev/null | sort || true)
		found=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d')
		if [ -z "$found" ] && grep -q '^    context deadline exceeded$' "$out" && [ "$(grep -c -- '--- FAIL' "$out")" = 1 ]; then
			echo "fuzz: $f ended with the Go fuzz coordinator's deadline race (golang/go#75804) and found no failing input"
		else
			for x in $found; do echo "fuzz: $f: failing input $corpus/$x"; done
			status=1
		fi
		rm -f "$out"
	done
done
exit $status

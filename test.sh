#!/usr/bin/env bash
# The test command: formatting, vet, then every test with the race detector.
# Interop tests skip clients that are missing; BOOTSRV_E2E=1 makes a missing
# client a failure (CI sets it). Extra arguments go to go test (e.g. -run TFTP).
set -euo pipefail
cd "$(dirname "$0")"
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 25m "$@" ./...

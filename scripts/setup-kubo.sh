#!/usr/bin/env bash
# Builds the pinned Kubo (the reference IPFS implementation: CIDs, interop tests, benchmarks; never a dependency of
# the product) into .tools/bin (git-ignored) from the Go module proxy. Kubo's go.mod has a replace directive, which
# `go install pkg@version` refuses, so the module is downloaded (`go mod download`, checksummed by the Go sum
# database) and built in its own module directory, exactly as `go install` would build it otherwise. Does nothing when
# .tools/bin/ipfs already is that version. Needs Go (`go` on PATH). The version is pinned here and read by
# test/ipfs/kubo.ts (KUBO_VERSION must match).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v0.43.1
BIN="$PWD/.tools/bin/ipfs"
if [ -x "$BIN" ] && [ "v$("$BIN" version --number 2>/dev/null)" = "$VERSION" ]; then
  echo "setup:kubo: $BIN is $VERSION"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "setup:kubo: Go is needed to build Kubo $VERSION (go install); install Go and run again" >&2
  exit 1
fi
mkdir -p "$PWD/.tools/bin"
echo "setup:kubo: building Kubo $VERSION into .tools/bin (go build of the downloaded module; takes several minutes)"
SRC=$(cd "${TMPDIR:-/tmp}" && go mod download -json "github.com/ipfs/kubo@$VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
if [ -z "$SRC" ] || [ ! -d "$SRC" ]; then
  echo "setup:kubo: go mod download github.com/ipfs/kubo@$VERSION gave no module directory" >&2
  exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/setup-kubo.XXXXXX")
trap 'chmod -R u+w "$WORK"; rm -rf "$WORK"' EXIT
cp -r "$SRC/." "$WORK/"
chmod -R u+w "$WORK"
# v0.43.1 replaces go-libp2p with a personal fork that the module proxy does not serve (403). Its go.mod says why:
# "drop once a go-libp2p release requires quic-go >= v0.62.0 and webtransport-go >= v0.13.0". go-libp2p v0.50.0 is
# that release (it requires exactly those two), so the replace points there instead.
go mod edit -replace github.com/libp2p/go-libp2p=github.com/libp2p/go-libp2p@v0.50.0 "$WORK/go.mod"
(cd "$WORK" && go build -mod=mod -trimpath -o "$BIN.tmp" ./cmd/ipfs)
mv "$BIN.tmp" "$BIN"
echo "setup:kubo: ipfs $("$BIN" version --number)"

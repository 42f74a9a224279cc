#!/usr/bin/env bash
# Builds the pinned CometBFT (the consensus engine of issue 14) into .tools/bin (git-ignored) with
# `go install` from the Go module proxy; no CometBFT source enters the repository. Does nothing when
# .tools/bin/cometbft already is that version. Needs Go (`go` on PATH); npm start does not need this.
# The version is pinned here and read by src/chain/node/abci/cometbft.ts (COMETBFT_VERSION must match).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v0.38.26
BIN="$PWD/.tools/bin/cometbft"
if [ -x "$BIN" ] && [ "v$("$BIN" version 2>/dev/null)" = "$VERSION" ]; then
  echo "setup:cometbft: $BIN is $VERSION"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "setup:cometbft: Go is needed to build CometBFT $VERSION (go install); install Go and run again" >&2
  exit 1
fi
mkdir -p "$PWD/.tools/bin"
echo "setup:cometbft: building CometBFT $VERSION into .tools/bin (go install; takes a few minutes)"
GOBIN="$PWD/.tools/bin" go install "github.com/cometbft/cometbft/cmd/cometbft@$VERSION"
echo "setup:cometbft: $("$BIN" version)"

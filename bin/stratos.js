#!/usr/bin/env node
// The `stratos` command: `npm link` (or `npm install -g .`) puts a symlink to this file on PATH. Node resolves
// the symlink, so `tsx` and `../src/cli/main.ts` are found next to this checkout whatever the current folder is.
// It registers tsx in this very process and loads the TypeScript CLI: no build step and no second process
// (signals and exit codes are the CLI's own).
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')

#!/usr/bin/env node
// Launcher for `npx stratos` / `npm link`: registers tsx in this very process and loads the
// TypeScript CLI, so there is no build step and no second process (signals and exit codes are the CLI's own).
import { register } from 'tsx/esm/api'

register()
await import('../src/cli/main.ts')

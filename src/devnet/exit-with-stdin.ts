/**
 * The environment variable a devnet sets on its children (and bench harnesses on a devnet): `1` makes the process
 * stop gracefully when its stdin ends, so it never outlives its parent. Its own module, without child.ts's imports:
 * every CLI command's signal handling (src/cli/signals.ts) reads it, and a short command need not load
 * node:child_process for a name.
 */
export const EXIT_WITH_STDIN_ENV = 'STRATOS_EXIT_WITH_STDIN'

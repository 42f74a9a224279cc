/**
 * Meta node tests, one process for all of them: the cases live in ./cases (one module per concern, each a list of
 * node:test tests) and run here in order. Each case module costs ~1 s of process start and TypeScript loading when
 * run as its own test file, which would be most of this suite's time; run one concern with --test-name-pattern.
 *
 *   placement     pure placement (weights, distinctness, exclusions, NOT_ENOUGH_NODES)
 *   record-cache  the read path's cache of record JSON (bounds, LRU)
 *   registry      heartbeats, liveness, stale/forged heartbeats, reservations, corrupt reports, repeated delete acks
 *   uploads       create → plan → replace → commit/abort, receipts, nonces, dedup, refcounts, sweeper, validation
 *   files         delete and delete acks, listing, read tickets, restart on the same dataDir
 *   server        routing (404/405), validation (400), body limit (413), status, stop()
 *   crash         kill -9 of a meta process, then restart on its dataDir
 */
import './cases/placement.ts'
import './cases/record-cache.ts'
import './cases/registry.ts'
import './cases/uploads.ts'
import './cases/files.ts'
import './cases/server.ts'
import './cases/crash.ts'

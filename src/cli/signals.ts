/**
 * Signal handling for the CLI.
 *  - Short commands (put, get, cat…): the first Ctrl-C aborts the operation through its
 *    AbortSignal (the command then exits 130); a second one exits at once.
 *  - Long-running roles (node, devnet): SIGINT/SIGTERM ask for a graceful stop (exit 0); so does
 *    the end of stdin when the process was started by a devnet (STRATOS_EXIT_WITH_STDIN=1), so
 *    children never outlive a devnet that was killed.
 */
import { EXIT_WITH_STDIN_ENV } from '../devnet/exit-with-stdin.ts'
import { SIGNAL_REPEAT_WINDOW_MS } from '../limits.ts'

export interface Interrupt {
  signal: AbortSignal
  dispose(): void
}

export function interruptOnSignals(): Interrupt {
  const controller = new AbortController()
  let firstAt = 0
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      if (Date.now() - firstAt >= SIGNAL_REPEAT_WINDOW_MS) process.exit(130)
      return
    }
    firstAt = Date.now()
    controller.abort(new Error(`interrupted by ${sig}`))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

/** Resolves with the reason the process should stop: a signal, or 'stdin' when the parent devnet went away. */
export function shutdownRequested(): Promise<string> {
  return new Promise((resolve) => {
    const done = (reason: string) => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      resolve(reason)
    }
    const onInt = () => done('SIGINT')
    const onTerm = () => done('SIGTERM')
    process.on('SIGINT', onInt)
    process.on('SIGTERM', onTerm)
    if (process.env[EXIT_WITH_STDIN_ENV] === '1') {
      process.stdin.on('end', () => done('stdin closed'))
      process.stdin.on('error', () => done('stdin closed'))
      process.stdin.resume()
    }
  })
}

/**
 * After the first stop request, another SIGINT/SIGTERM exits at once — unless it comes within
 * SIGNAL_REPEAT_WINDOW_MS, when it is the first one relayed again (`npm start` forwards the
 * terminal's Ctrl-C to its child, which got it from the terminal already).
 */
export function exitOnSecondSignal(code = 1): void {
  const since = Date.now()
  const onSignal = () => {
    if (Date.now() - since >= SIGNAL_REPEAT_WINDOW_MS) process.exit(code)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

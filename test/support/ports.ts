/**
 * Ports for test servers that a child process (or a server started later) binds itself.
 *
 * A port the OS hands out with `listen(0)` lies in the kernel's ephemeral range (32768–60999 here). Between closing
 * that probe and the real bind, any outgoing connection on the machine (CometBFT peers dialling each other, HTTP
 * clients) can take the port as its source port, and the child fails with EADDRINUSE — it happened in CI to a
 * restarted validator's REST port. So these ports come from below the ephemeral range and below the e2e harness's
 * port bases (10250 and up, test/e2e/harness.ts), and are never handed out twice by one test process.
 */
import { isPortFree } from '../../src/devnet/child.ts'

/** First and last port handed out: no Fetch-standard "bad port" lies in between (6697 and 10080 are outside). */
export const TEST_PORT_FIRST = 7_000
export const TEST_PORT_LAST = 10_000

const handedOut = new Set<number>()

/** A port outside the ephemeral range that is free now and was not handed out before by this process. */
export async function freePort(): Promise<number> {
  const span = TEST_PORT_LAST - TEST_PORT_FIRST + 1
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = TEST_PORT_FIRST + Math.floor(Math.random() * span)
    if (handedOut.has(port)) continue
    handedOut.add(port)
    if (await isPortFree(port)) return port
  }
  throw new Error(`no free port in ${TEST_PORT_FIRST}–${TEST_PORT_LAST}`)
}

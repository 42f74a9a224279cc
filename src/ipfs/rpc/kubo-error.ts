/**
 * Errors as Kubo's RPC API writes them: `{"Message": "...", "Code": n, "Type": "error"}` (go-ipfs-cmds).
 *
 * Code 0 (ErrNormal) is a failure while running a command and answers 500; Code 1 (ErrClient) is a bad
 * request (missing argument, wrong option value, bad multipart body) and answers 400. A few limits of
 * ours have no Kubo equivalent and keep their HTTP meaning (413 for an oversized body) with Code 1.
 * A storage network short of nodes or space (NOT_ENOUGH_NODES, INSUFFICIENT_STORAGE, NODE_UNAVAILABLE) is not a
 * broken command: 503 with Code 0 and a message that says what is missing and that a retry can succeed.
 * An error after the response has started streaming goes in the `X-Stream-Error` trailer, as Kubo does.
 */
import type { ServerResponse } from 'node:http'
import { StratosError, toStratosError, type ErrorCode } from '../../errors.ts'

/** go-ipfs-cmds ErrorType values. */
export const KUBO_ERR_NORMAL = 0
export const KUBO_ERR_CLIENT = 1

export interface KuboErrorBody {
  Message: string
  Code: number
  Type: 'error'
}

/** A request error of the RPC layer itself (arguments, options, multipart framing): 400, Code 1. */
export function clientError(message: string, details?: Record<string, unknown>): StratosError {
  return new StratosError('BAD_REQUEST', message, { ...details, kuboClient: true })
}

/** A command failure with Kubo's message: 500, Code 0 (e.g. "path is not pinned"). */
export function commandError(
  message: string,
  code: ErrorCode = 'BAD_REQUEST',
  details?: Record<string, unknown>,
): StratosError {
  return new StratosError(code, message, { ...details, kuboClient: false })
}

/** Capacity failures of the network (503), keyed by code (a misspelt code does not compile): what a Kubo user reads before our detail. */
const CAPACITY_ERRORS: { readonly [C in ErrorCode]?: string } = {
  NOT_ENOUGH_NODES: 'not enough storage nodes online to place the data; retry once more resource nodes are online',
  INSUFFICIENT_STORAGE: 'the storage nodes are out of space; retry once nodes with free space are online',
  NODE_UNAVAILABLE: 'a storage node is unavailable; retry shortly',
}

/** HTTP status and Kubo Code for an error. */
export function kuboStatus(e: StratosError): { status: number; code: number } {
  if (e.details?.kuboClient === true) return { status: 400, code: KUBO_ERR_CLIENT }
  if (e.code === 'PAYLOAD_TOO_LARGE') return { status: 413, code: KUBO_ERR_CLIENT }
  if (e.code === 'ABORTED') return { status: 499, code: KUBO_ERR_NORMAL }
  if (CAPACITY_ERRORS[e.code] !== undefined) return { status: 503, code: KUBO_ERR_NORMAL }
  return { status: 500, code: KUBO_ERR_NORMAL }
}

/** The message a Kubo client shows: ours, led by a plain explanation (and our code) for capacity failures. */
export function kuboMessage(e: StratosError): string {
  const capacity = CAPACITY_ERRORS[e.code]
  return capacity === undefined ? e.message : `${capacity} (${e.code}: ${e.message})`
}

export function kuboBody(e: StratosError): KuboErrorBody {
  return { Message: kuboMessage(e), Code: kuboStatus(e).code, Type: 'error' }
}

/** Answers an error: a JSON body before the head is sent, the X-Stream-Error trailer after. */
export function sendKuboError(res: ServerResponse, e: unknown): void {
  const err = toStratosError(e)
  if (res.headersSent) {
    if (!res.writableEnded && !res.destroyed) {
      res.addTrailers({ 'X-Stream-Error': kuboMessage(err).replace(/[\r\n]+/g, ' ') })
      res.end()
    }
    return
  }
  const { status } = kuboStatus(err)
  const text = JSON.stringify(kuboBody(err)) + '\n'
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'access-control-allow-headers': 'X-Stream-Output, X-Chunked-Output, X-Content-Length',
    'access-control-expose-headers': 'X-Stream-Output, X-Chunked-Output, X-Content-Length',
  })
  res.end(text)
}

/** Kubo answers these outside go-ipfs-cmds, as text/plain (http.Error). */
export function sendPlain(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  const body = text + '\n'
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(body),
    ...headers,
  })
  res.end(body)
}

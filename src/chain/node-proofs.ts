/**
 * Statements signed by node keys (ed25519) that travel inside transactions:
 *  - the ownership proof of a node registration: the node agrees that `owner` registers it;
 *  - the meta node's volume report.
 * Each is signed over `signingBytes(domain, payload)` (domain tag + canonical JSON), like every
 * other signed message of the system, so a signature for one kind is never valid for another.
 * Keys and signatures travel as lowercase hex inside transactions.
 */
import { canonicalJson, signingBytes, type CanonicalValue } from '../crypto/canonical.ts'
import { fromHex, toHex } from '../crypto/hash.ts'
import { nodeAddressFromPublicKey, verifyNodeSignature, type NodeKey } from '../crypto/node-key.ts'
import type { VolumeReport } from './msgs.ts'

export const NODE_PROOF_DOMAIN = {
  nodeOwner: 'stratos/node-owner/v1',
  volumeReport: 'stratos/volume-report/v1',
} as const

export type NodeKind = 'resource' | 'meta'

export interface NodeOwnershipPayload {
  chainId: string
  kind: NodeKind
  node: string
  owner: string
}

/** What a node operator puts into create_resource_node / create_meta_node. */
export function signNodeOwnership(
  key: NodeKey,
  chainId: string,
  kind: NodeKind,
  owner: string,
): { node: string; publicKey: string; proof: string } {
  const payload: NodeOwnershipPayload = { chainId, kind, node: key.address, owner }
  return {
    node: key.address,
    publicKey: toHex(key.publicKey),
    proof: toHex(key.sign(signingBytes(NODE_PROOF_DOMAIN.nodeOwner, payload as unknown as CanonicalValue))),
  }
}

/** True when `publicKey` is the key of `payload.node` and `proof` is its signature over the payload. */
export function verifyNodeOwnership(payload: NodeOwnershipPayload, publicKeyHex: string, proofHex: string): boolean {
  const publicKey = fromHex(publicKeyHex)
  if (nodeAddressFromPublicKey(publicKey) !== payload.node) return false
  return verifyNodeSignature(
    publicKey,
    signingBytes(NODE_PROOF_DOMAIN.nodeOwner, payload as unknown as CanonicalValue),
    fromHex(proofHex),
  )
}

/** The `volume_report` message body a meta node's owner submits. */
export function signVolumeReport(
  key: NodeKey,
  report: VolumeReport,
): { type: 'volume_report'; report: VolumeReport; publicKey: string; signature: string } {
  if (report.metaNode !== key.address) throw new RangeError('report.metaNode must be the signing key')
  const signature = key.sign(volumeReportSigningBytes(report))
  return { type: 'volume_report', report, publicKey: toHex(key.publicKey), signature: toHex(signature) }
}

/** True when `publicKey` belongs to report.metaNode and `signature` is its signature over the report. */
export function verifyVolumeReport(report: VolumeReport, publicKeyHex: string, signatureHex: string): boolean {
  const publicKey = fromHex(publicKeyHex)
  if (nodeAddressFromPublicKey(publicKey) !== report.metaNode) return false
  return verifyNodeSignature(publicKey, volumeReportSigningBytes(report), fromHex(signatureHex))
}

const encoder = new TextEncoder()

export function volumeReportSigningBytes(report: VolumeReport): Uint8Array {
  return encoder.encode(`${NODE_PROOF_DOMAIN.volumeReport}\n${canonicalVolumeReportJson(report)}`)
}

/** Canonical JSON of each decoded (frozen) report, computed once. */
const reportJson = new WeakMap<VolumeReport, string>()

/**
 * The canonical JSON of a volume report (exactly `canonicalJson(report)`, which a test checks),
 * built by direct concatenation: the generic encoder sorts the keys of each of the 10,000 entry
 * objects, which makes it the largest cost of applying a big report.
 */
export function canonicalVolumeReportJson(report: VolumeReport): string {
  let json = reportJson.get(report)
  if (json !== undefined) return json
  const wallets = report.wallets.map((w) => `{"bytes":"${w.bytes}","wallet":${JSON.stringify(w.wallet)}}`)
  const nodes = report.nodes.map((n) => `{"bytes":"${n.bytes}","node":${JSON.stringify(n.node)}}`)
  json = `{"chainId":${JSON.stringify(report.chainId)},"epoch":${canonicalJson(report.epoch)},"metaNode":${JSON.stringify(report.metaNode)},"nodes":[${nodes.join(',')}],"wallets":[${wallets.join(',')}]}`
  if (Object.isFrozen(report)) reportJson.set(report, json) // decoded reports are frozen; others may still change
  return json
}

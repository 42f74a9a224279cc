/** Signed message aliases used across roles (kept apart so api.ts and clients import types only). */
import type { NodeSigned } from './signing.ts'
import type { Heartbeat, HeartbeatReply } from './messages.ts'
export type {
  SignedCreateUpload,
  SignedCommit,
  SignedDelete,
  SignedTicket,
  SignedReceipt,
  Ticket,
  Receipt,
  Heartbeat,
  HeartbeatReply,
} from './messages.ts'
export type SignedHeartbeatT = NodeSigned<Heartbeat>
export type SignedHeartbeatReplyT = NodeSigned<HeartbeatReply>

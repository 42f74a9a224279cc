/** Client SDK: Kubo-compatible CIDs, erasure-coded parallel uploads and verified streaming reads. */
export { StratosClient } from './client.ts'
export type {
  ProgressEvent,
  StratosClientOptions,
  PutOptions,
  PutResult,
  ReadOptions,
  UploadSource,
  TransferComponents,
} from './types.ts'
export type { FileRecordView, FileSummary, NetworkStatus, ShareView } from '../protocol/api.ts'
// What an application needs around the client: typed errors with stable codes, and wallet keys.
export { StratosError, isStratosError, type ErrorCode } from '../../errors.ts'
export { WalletKey } from '../../crypto/wallet-key.ts'
// A network can have several meta nodes (each with its own files): list them from the chain, and turn a meta node's
// stsds1… address into the URL to give StratosClient.connect({ metaUrl }).
export {
  listMetaNodes,
  reachableMetaNodes,
  resolveMetaUrl,
  type MetaNodeJson,
} from '../../chain-client/meta-nodes.ts'
export { upload, type UploadAuthority, type CommitParts, type UploadParameters, type UploadResult } from './upload.ts'
export { readFile, type ReadParameters } from './download.ts'
export { ErasureCode } from './erasure.ts'
export {
  UnixFsFileBuilder,
  fileCid,
  buildDirectory,
  listDirectory,
  resolveCidOptions,
  type CidOptions,
  type FileDagResult,
  type DirectoryEntry,
  type DirectoryDagResult,
  type DagBlock,
} from './unixfs.ts'

/** Kubo-compatible IPFS RPC API (`/api/v0/…`): see docs/ipfs-api.md. */
export { IpfsRpcApi, startIpfsRpcApi, API_PREFIX, type IpfsRpcApiOptions } from './server.ts'
export { PinStore, type Pin, type PinType } from './pins.ts'
export { parseMultipart, boundaryOf, type MultipartPart } from './multipart.ts'
export { parseRequest, type CommandSpec, type ParsedRequest } from './params.ts'
export { COMMANDS } from './commands.ts'

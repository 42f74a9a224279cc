/** Meta node: file index, node registry, placement and tickets (see node.ts). */
export { MetaNode, startMetaNode, type MetaNodeOptions } from './node.ts'
export { MetaStore } from './store.ts'
export {
  placeShards,
  weightedOrder,
  placementWeight,
  type PlacementCandidate,
  type PlacementRequest,
} from './placement.ts'

/** Repair, drain and auto-scaling replication of the meta node (see service.ts). */
export { RepairService, type RepairOptions, type RepairServiceComponents, type RepairStats } from './service.ts'
export { LocationHealth, type NodeHealth, type NodeCondition } from './health.ts'
export { Replicas, type ReadRouter } from './replicas.ts'
export { HotTracker } from './hot.ts'
export { SegmentRepairer } from './repairer.ts'
export { RepairTransfers, repairPayer } from './transfer.ts'

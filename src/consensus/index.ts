export {
  type ApplyLagReport,
  decideThrottle,
  type ThrottleDecision,
  type ThrottleLimits,
} from './apply-lag-throttle.js';
export { assert, InvariantError, unreachable } from './assert.js';
export type * from './command.js';
export {
  Engine,
  type EngineOptions,
  type EngineStatus,
  type FollowerProgress,
  type HardState,
  type RecoveredState,
} from './engine.js';
export { defaultEngineConfig, type EngineConfig } from './engine-config.js';
export type { EngineEvent } from './engine-event.js';
export type * from './input.js';
export { emptyLogId, formatLogId, isAtLeastAsUpToDate, type LogId } from './log-id.js';
export { LogIds, type TermStart } from './log-ids.js';
export {
  decodeMembership,
  encodeMembership,
  hasMember,
  type Member,
  type Membership,
  quorumSize,
  sortMembers,
} from './membership.js';
export type * from './message.js';
export { compareNodeIds, type NodeId, sortNodeIds } from './node-id.js';
export type { NodeStatus, Role } from './node-status.js';
export { Prng } from './prng.js';
export { purgeBeforeIndex, type RetentionInput, retentionFloor } from './retention.js';

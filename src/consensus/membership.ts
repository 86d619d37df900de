import { assert } from './assert.js';
import { compareNodeIds, type NodeId } from './node-id.js';

/** One voting member. `neverLeader` members replicate and vote but never campaign or receive leadership. */
export interface Member {
  readonly id: NodeId;
  readonly neverLeader: boolean;
}

/** The voting members in effect from `index` on (0 = the bootstrap configuration, not in the log). */
export interface Membership {
  readonly index: number;
  readonly members: readonly Member[];
}

/** Every member is a voter; quorum is a strict majority of them. */
export function quorumSize(memberCount: number): number {
  return Math.floor(memberCount / 2) + 1;
}

export function sortMembers(members: readonly Member[]): Member[] {
  return [...members].sort((a, b) => compareNodeIds(a.id, b.id));
}

export function hasMember(members: readonly Member[], id: NodeId): boolean {
  return members.some((member) => member.id === id);
}

const membershipFormatVersion = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Payload of a `configuration` entry: UTF-8 JSON
 * `{"v":1,"members":[{"id":"n1","neverLeader":false},…]}`, members sorted by node ID. JSON because
 * configuration entries are rare and operators read them in WAL dumps; the version field lets a
 * later format coexist.
 */
export function encodeMembership(members: readonly Member[]): Uint8Array {
  const sorted = sortMembers(members).map((member) => ({ id: member.id, neverLeader: member.neverLeader }));
  return encoder.encode(JSON.stringify({ v: membershipFormatVersion, members: sorted }));
}

export function decodeMembership(payload: Uint8Array): Member[] {
  const value: unknown = JSON.parse(decoder.decode(payload));
  assert(typeof value === 'object' && value !== null, 'configuration entry: not an object');
  const record = value as { v?: unknown; members?: unknown };
  assert(record.v === membershipFormatVersion, `configuration entry: unknown version ${String(record.v)}`);
  assert(Array.isArray(record.members), 'configuration entry: members is not a list');
  const members = record.members.map((item: unknown) => {
    const member = item as { id?: unknown; neverLeader?: unknown };
    assert(typeof member.id === 'string' && member.id.length > 0, 'configuration entry: bad member id');
    assert(typeof member.neverLeader === 'boolean', 'configuration entry: bad neverLeader');
    return { id: member.id, neverLeader: member.neverLeader };
  });
  assert(new Set(members.map((m) => m.id)).size === members.length, 'configuration entry: duplicate member');
  return members;
}

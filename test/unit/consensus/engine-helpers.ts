import {
  type Command,
  Engine,
  type EngineConfig,
  type Input,
  type Member,
  type Message,
  type RecoveredState,
} from '../../../src/consensus/index.js';
import type { LogEntry } from '../../../src/wal/entry.js';

export const three: Member[] = [
  { id: 'n1', neverLeader: false },
  { id: 'n2', neverLeader: false },
  { id: 'n3', neverLeader: false },
];

export function engine(
  id: string,
  options: {
    members?: readonly Member[];
    config?: Partial<EngineConfig>;
    recovered?: RecoveredState;
    healthy?: boolean;
  } = {},
): Engine {
  return new Engine({
    id,
    initialMembers: options.members ?? three,
    seed: 1,
    healthy: options.healthy ?? true,
    config: options.config ?? {},
    ...(options.recovered === undefined ? {} : { recovered: options.recovered }),
  });
}

export function ticks(e: Engine, count: number): Command[] {
  const out: Command[] = [];
  for (let i = 0; i < count; i++) out.push(...e.step({ kind: 'tick' }));
  return out;
}

export function receive(e: Engine, message: Message): Command[] {
  return e.step({ kind: 'receive', message });
}

export function step(e: Engine, input: Input): Command[] {
  return e.step(input);
}

export function sent(commands: readonly Command[]): Message[] {
  return commands.flatMap((command) => (command.kind === 'send' ? [command.message] : []));
}

export function kinds(commands: readonly Command[]): string[] {
  return commands.map((command) => (command.kind === 'send' ? `send:${command.message.kind}` : command.kind));
}

export function entry(term: number, index: number, kind: LogEntry['kind'] = 'transaction'): LogEntry {
  return { term, index, kind, payload: new TextEncoder().encode(kind === 'noop' ? '' : `e${index}`) };
}

/** An engine recovered with a log of the given terms (index 1 = terms[0]) and a hard state. */
export function recovered(
  terms: readonly number[],
  term: number,
  votedFor: string | null = null,
): RecoveredState {
  const termStarts: { term: number; index: number }[] = [];
  terms.forEach((t, i) => {
    if (termStarts[termStarts.length - 1]?.term !== t) termStarts.push({ term: t, index: i + 1 });
  });
  return {
    hardState: { term, votedFor },
    log: { purged: { term: 0, index: 0 }, termStarts, lastIndex: terms.length },
    memberships: [],
    appliedIndex: 0,
  };
}

/** Drives `e` (n1 of three) to leadership in term 1 and acknowledges its no-op; returns the leader. */
export function leader(
  options: { config?: Partial<EngineConfig>; members?: readonly Member[] } = {},
): Engine {
  const e = engine('n1', options);
  ticks(e, 11); // the election timeout (10) and one tick past the peers' leases
  const peers = (options.members ?? three).filter((m) => m.id !== 'n1');
  for (const peer of peers) {
    receive(e, { kind: 'preVoteResponse', from: peer.id, to: 'n1', term: 0, proposedTerm: 1, granted: true });
  }
  for (const peer of peers) {
    receive(e, { kind: 'voteResponse', from: peer.id, to: 'n1', term: 1, granted: true });
  }
  if (e.status().role !== 'LEADER') throw new Error('setup: n1 did not become leader');
  step(e, { kind: 'appended', logId: { term: 1, index: 1 } });
  for (const peer of peers) receive(e, ack(peer.id, 1, 1));
  return e;
}

export function ack(
  from: string,
  term: number,
  matchIndex: number,
  healthy = true,
  applyCaughtUp = true,
): Message {
  return {
    kind: 'appendEntriesResponse',
    from,
    to: 'n1',
    term,
    success: true,
    matchIndex,
    rejectedPrevIndex: 0,
    conflict: null,
    diverged: false,
    healthy,
    applyCaughtUp,
    lastLogId: { term, index: matchIndex },
    firstIndex: 1,
  };
}

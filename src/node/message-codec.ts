import type { LogId, Message } from '../consensus/index.js';
import { ByteReader } from '../protocol/byte-reader.js';
import { ByteWriter } from '../protocol/byte-writer.js';
import { type Decoded, decodeSafely, unreachable } from '../protocol/decoded.js';
import type { EntryKind, LogEntry } from '../wal/entry.js';

/**
 * The engine's messages on the wire between nodes. Pure. Binary, because appendEntries carries
 * raw binlog bytes; terms and indexes are 48-bit (2.8·10^14: a million transactions a second for
 * nine years), checked on encode.
 *
 *   u8 version (2) · u8 kind · str from · str to · u48 term · kind-specific fields
 *   str = u8 length + UTF-8; LogId = u48 term + u48 index; entry = u48 term · u48 index · u8 kind
 *   · u32 payload length · payload
 */
/** 2: responses carry `applyCaughtUp` (appendEntriesResponse flag 16; heartbeatResponse flags). */
const codecVersion = 2;
const idBytesMax = 255;
/** Entries per appendEntries accepted from a peer; the engine sends far fewer. */
const entriesPerMessageMax = 100_000;
const u48Max = 2 ** 48 - 1;

const kinds = [
  'preVote',
  'preVoteResponse',
  'vote',
  'voteResponse',
  'appendEntries',
  'appendEntriesResponse',
  'heartbeat',
  'heartbeatResponse',
  'timeoutNow',
] as const satisfies readonly Message['kind'][];
const kindCode = new Map<string, number>(kinds.map((kind, code) => [kind, code + 1]));

const entryKinds = ['transaction', 'configuration', 'noop'] as const satisfies readonly EntryKind[];

function u48(writer: ByteWriter, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > u48Max) {
    throw new RangeError(`${field} ${value} does not fit the cluster message format (0…2^48-1)`);
  }
  writer.u48(value);
}

function id(writer: ByteWriter, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > idBytesMax) throw new RangeError(`node id longer than ${idBytesMax} bytes`);
  writer.u8(bytes.length).bytes(bytes);
}

function logId(writer: ByteWriter, value: LogId): void {
  u48(writer, value.term, 'term');
  u48(writer, value.index, 'index');
}

function entry(writer: ByteWriter, value: LogEntry): void {
  u48(writer, value.term, 'entry term');
  u48(writer, value.index, 'entry index');
  writer.u8(entryKinds.indexOf(value.kind) + 1);
  writer.u32(value.payload.byteLength).bytes(value.payload);
}

export function encodeMessage(message: Message): Buffer {
  const payloadBytes =
    message.kind === 'appendEntries'
      ? message.entries.reduce((sum, e) => sum + e.payload.byteLength + 17, 0)
      : 0;
  const writer = new ByteWriter(64 + payloadBytes);
  writer.u8(codecVersion).u8(kindCode.get(message.kind) ?? 0);
  id(writer, message.from);
  id(writer, message.to);
  u48(writer, message.term, 'term');
  switch (message.kind) {
    case 'preVote':
      logId(writer, message.lastLogId);
      break;
    case 'preVoteResponse':
      u48(writer, message.proposedTerm, 'proposed term');
      writer.u8(message.granted ? 1 : 0);
      break;
    case 'vote':
      logId(writer, message.lastLogId);
      writer.u8(message.transfer ? 1 : 0);
      break;
    case 'voteResponse':
      writer.u8(message.granted ? 1 : 0);
      break;
    case 'appendEntries':
      logId(writer, message.prevLogId);
      u48(writer, message.leaderCommit, 'leader commit');
      writer.u32(message.entries.length);
      for (const e of message.entries) entry(writer, e);
      break;
    case 'appendEntriesResponse':
      writer.u8(
        (message.success ? 1 : 0) |
          (message.diverged ? 2 : 0) |
          (message.healthy ? 4 : 0) |
          (message.conflict === null ? 0 : 8) |
          (message.applyCaughtUp ? 16 : 0),
      );
      u48(writer, message.matchIndex, 'match index');
      u48(writer, message.rejectedPrevIndex, 'rejected index');
      logId(writer, message.lastLogId);
      u48(writer, message.firstIndex, 'first index');
      if (message.conflict !== null) logId(writer, message.conflict);
      break;
    case 'heartbeat':
      u48(writer, message.commitIndex, 'commit index');
      break;
    case 'heartbeatResponse':
      writer.u8((message.healthy ? 1 : 0) | (message.applyCaughtUp ? 2 : 0));
      logId(writer, message.lastLogId);
      u48(writer, message.firstIndex, 'first index');
      break;
    case 'timeoutNow':
      writer.u8(message.byOperator ? 1 : 0);
      break;
    default:
      unreachable(message);
  }
  return writer.finish();
}

function readId(reader: ByteReader, field: string): string {
  const length = reader.u8(`${field} length`);
  return reader.string(length, field);
}

function readLogId(reader: ByteReader, field: string): LogId {
  return { term: reader.u48(`${field} term`), index: reader.u48(`${field} index`) };
}

function readFlag(reader: ByteReader, field: string): boolean {
  const value = reader.u8(field);
  if (value > 1) reader.fail(`${field} is ${value}, not 0 or 1`);
  return value === 1;
}

function readEntry(reader: ByteReader): LogEntry {
  const term = reader.u48('entry term');
  const index = reader.u48('entry index');
  const kind = entryKinds[reader.u8('entry kind') - 1];
  if (kind === undefined) return reader.fail('unknown entry kind');
  const length = reader.u32('entry payload length');
  return { term, index, kind, payload: reader.bytes(length, 'entry payload') };
}

/** Decodes one message; malformed or truncated bytes give an error value, never an exception. */
export function decodeMessage(bytes: Uint8Array): Decoded<Message> {
  return decodeSafely(() => {
    const reader = new ByteReader(bytes, 'cluster message');
    const version = reader.u8('version');
    if (version !== codecVersion) {
      reader.fail(
        `message format ${version} is not understood (this node speaks ${codecVersion}): run the same WolfScale version on every node`,
      );
    }
    const kind = kinds[reader.u8('kind') - 1];
    if (kind === undefined) return reader.fail('unknown message kind');
    const envelope = { from: readId(reader, 'from'), to: readId(reader, 'to'), term: reader.u48('term') };
    const message = decodeBody(kind, envelope, reader);
    if (!reader.atEnd) reader.fail(`${reader.remaining} unexpected trailing bytes`);
    return message;
  });
}

function decodeBody(
  kind: Message['kind'],
  envelope: { from: string; to: string; term: number },
  reader: ByteReader,
): Message {
  switch (kind) {
    case 'preVote':
      return { kind, ...envelope, lastLogId: readLogId(reader, 'last log id') };
    case 'preVoteResponse':
      return {
        kind,
        ...envelope,
        proposedTerm: reader.u48('proposed term'),
        granted: readFlag(reader, 'granted'),
      };
    case 'vote':
      return {
        kind,
        ...envelope,
        lastLogId: readLogId(reader, 'last log id'),
        transfer: readFlag(reader, 'transfer'),
      };
    case 'voteResponse':
      return { kind, ...envelope, granted: readFlag(reader, 'granted') };
    case 'appendEntries': {
      const prevLogId = readLogId(reader, 'prev log id');
      const leaderCommit = reader.u48('leader commit');
      const count = reader.u32('entry count');
      if (count > entriesPerMessageMax) reader.fail(`${count} entries exceed ${entriesPerMessageMax}`);
      const entries: LogEntry[] = [];
      for (let i = 0; i < count; i++) entries.push(readEntry(reader));
      return { kind, ...envelope, prevLogId, leaderCommit, entries };
    }
    case 'appendEntriesResponse': {
      const flags = reader.u8('flags');
      if (flags > 31) reader.fail(`unknown flags ${flags}`);
      const matchIndex = reader.u48('match index');
      const rejectedPrevIndex = reader.u48('rejected index');
      const lastLogId = readLogId(reader, 'last log id');
      const firstIndex = reader.u48('first index');
      const conflict = (flags & 8) === 0 ? null : readLogId(reader, 'conflict');
      return {
        kind,
        ...envelope,
        success: (flags & 1) !== 0,
        diverged: (flags & 2) !== 0,
        healthy: (flags & 4) !== 0,
        applyCaughtUp: (flags & 16) !== 0,
        matchIndex,
        rejectedPrevIndex,
        lastLogId,
        firstIndex,
        conflict,
      };
    }
    case 'heartbeat':
      return { kind, ...envelope, commitIndex: reader.u48('commit index') };
    case 'heartbeatResponse': {
      const flags = reader.u8('flags');
      if (flags > 3) reader.fail(`unknown flags ${flags}`);
      return {
        kind,
        ...envelope,
        healthy: (flags & 1) !== 0,
        applyCaughtUp: (flags & 2) !== 0,
        lastLogId: readLogId(reader, 'last log id'),
        firstIndex: reader.u48('first index'),
      };
    }
    case 'timeoutNow':
      return { kind, ...envelope, byOperator: readFlag(reader, 'by operator') };
    default:
      return unreachable(kind);
  }
}

/**
 * Several encoded messages (engine messages or node reports) to one peer in one transport frame:
 * the runtime gathers what one event-loop turn sends to a peer, so a burst of appends and
 * responses costs one socket write instead of one each (measured: socket writes were the
 * leader's largest CPU cost under a 16-thread load).
 *
 *   u8 version (1) · u8 kind (99) · u32 count · count × (u32 length · bytes)
 */
const batchKind = 99;
/** Messages per batch accepted from a peer. */
const batchPartsMax = 100_000;

export function isMessageBatch(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === codecVersion && bytes[1] === batchKind;
}

export function encodeMessageBatch(parts: readonly Uint8Array[]): Buffer {
  let total = 6;
  for (const part of parts) total += 4 + part.byteLength;
  const writer = new ByteWriter(total);
  writer.u8(codecVersion).u8(batchKind).u32(parts.length);
  for (const part of parts) writer.u32(part.byteLength).bytes(part);
  return writer.finish();
}

/** The messages of a batch, as views into `bytes`; an error value for malformed input. */
export function decodeMessageBatch(bytes: Uint8Array): Decoded<Uint8Array[]> {
  return decodeSafely(() => {
    const reader = new ByteReader(bytes, 'message batch');
    if (reader.u8('version') !== codecVersion || reader.u8('kind') !== batchKind)
      reader.fail('not a message batch');
    const count = reader.u32('message count');
    if (count > batchPartsMax) reader.fail(`${count} messages exceed ${batchPartsMax}`);
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const part = reader.bytes(reader.u32('message length'), 'message');
      if (isMessageBatch(part)) reader.fail('a batch inside a batch');
      parts.push(part);
    }
    if (!reader.atEnd) reader.fail(`${reader.remaining} unexpected trailing bytes`);
    return parts;
  });
}

import { open, rm } from 'node:fs/promises';
import { binlogEventHeaderBytes } from '../protocol/binlog/binlog-event-header.js';
import { binlogFileMagic } from '../protocol/binlog/binlog-file.js';
import type { Gtid } from '../protocol/gtid.js';

/** Where a transaction's raw events are: in memory, or spilled to a file when it was large. */
export type TransactionEvents =
  | { readonly kind: 'memory'; readonly events: readonly Buffer[] }
  /** A binlog-format file (magic + events) of `eventCount` events; deleted by `releaseTransaction`. */
  | { readonly kind: 'spilled'; readonly path: string; readonly eventCount: number };

/**
 * One complete transaction (event group) of the source's binlog, as the capture hands it out.
 * `events` are the raw event bytes as the source stored them, checksums included, from the GTID
 * event to the commit event (XID, COMMIT query, or the single statement of a standalone group),
 * TABLE_MAP events included. `formatDescription` is the FORMAT_DESCRIPTION event of the binlog
 * file they came from: replaying them with `BINLOG '...'` needs it first.
 */
export interface CapturedTransaction {
  readonly gtid: Gtid;
  /** `domain-server-seq`. */
  readonly gtidText: string;
  /** GTID event flags (FL_STANDALONE, FL_DDL, FL_TRANSACTIONAL...). */
  readonly gtidFlags: number;
  readonly events: TransactionEvents;
  readonly eventBytes: number;
  readonly formatDescription: Buffer;
  /** The binlog file holding the commit event, and the position right after it (what semi-sync acks). */
  readonly binlogFile: string;
  readonly binlogPosition: number;
  /** Header timestamp of the commit event, seconds since the epoch (the source's clock). */
  readonly timestampSeconds: number;
}

/** Reads a transaction's events in order, from memory or from its spill file. */
export async function* transactionEvents(transaction: CapturedTransaction): AsyncGenerator<Buffer> {
  const events = transaction.events;
  if (events.kind === 'memory') {
    yield* events.events;
    return;
  }
  const file = await open(events.path, 'r');
  try {
    let position = binlogFileMagic.length;
    const header = Buffer.alloc(binlogEventHeaderBytes);
    for (let i = 0; i < events.eventCount; i += 1) {
      await readExactly(file, header, position);
      const size = header.readUInt32LE(9);
      const event = Buffer.alloc(size);
      await readExactly(file, event, position);
      position += size;
      yield event;
    }
  } finally {
    await file.close();
  }
}

async function readExactly(
  file: Awaited<ReturnType<typeof open>>,
  into: Buffer,
  position: number,
): Promise<void> {
  const { bytesRead } = await file.read(into, 0, into.length, position);
  if (bytesRead !== into.length)
    throw new Error(`spill file ended early at ${position}: it was changed or truncated`);
}

/** Frees what a transaction holds: deletes its spill file. Call once the WAL holds it. */
export async function releaseTransaction(transaction: CapturedTransaction): Promise<void> {
  if (transaction.events.kind === 'spilled') await rm(transaction.events.path, { force: true });
}

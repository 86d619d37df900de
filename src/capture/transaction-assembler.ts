import type { BinlogEvent } from '../protocol/binlog/binlog-event.js';
import { FL_STANDALONE } from '../protocol/binlog/gtid-event.js';
import { formatGtid, type Gtid } from '../protocol/gtid.js';
import type { CapturedTransaction } from './captured-transaction.js';
import { TransactionBuffer } from './transaction-buffer.js';

/** MariaDB's XA_PREPARE_LOG_EVENT ends an `XA PREPARE` group. */
const xaPrepareEventType = 38;

export interface TransactionAssemblerOptions {
  readonly transactionBytesMax: number;
  readonly spillDir: string;
  /** Unique per assembler: spill files are named `${spillPrefix}-${n}.binlog`. */
  readonly spillPrefix: string;
}

interface OpenGroup {
  readonly gtid: Gtid;
  readonly flags: number;
  readonly buffer: TransactionBuffer;
}

export type AssemblerOutput =
  | { readonly kind: 'none' }
  | { readonly kind: 'transaction'; readonly transaction: CapturedTransaction }
  /** A group that never ended (a new GTID arrived first); its spill file, if any, must be deleted. */
  | { readonly kind: 'abandoned'; readonly gtidText: string; readonly spillPath: string | undefined };

/**
 * Groups the events of a binlog stream into transactions: a MariaDB GTID event opens a group;
 * XID, a COMMIT/ROLLBACK query, an XA PREPARE event or — for a standalone group (DDL and other
 * non-transactional statements) — its first statement closes it. Events outside a group (ROTATE,
 * FORMAT_DESCRIPTION, GTID_LIST, checkpoints, heartbeats) are the caller's business and must not
 * be pushed here.
 */
export class TransactionAssembler {
  readonly #options: TransactionAssemblerOptions;
  #group: OpenGroup | undefined;
  #spillCount = 0;

  constructor(options: TransactionAssemblerOptions) {
    this.#options = options;
  }

  get inGroup(): boolean {
    return this.#group !== undefined;
  }

  push(
    raw: Buffer,
    event: BinlogEvent,
    position: { readonly binlogFile: string; readonly formatDescription: Buffer },
  ): AssemblerOutput[] {
    const outputs: AssemblerOutput[] = [];
    if (event.body.kind === 'gtid') {
      const abandoned = this.discard();
      if (abandoned !== undefined) outputs.push(abandoned);
      this.#spillCount += 1;
      const buffer = new TransactionBuffer({
        transactionBytesMax: this.#options.transactionBytesMax,
        spillDir: this.#options.spillDir,
        spillName: `${this.#options.spillPrefix}-${this.#spillCount}.binlog`,
      });
      buffer.append(raw);
      const gtid = {
        domainId: event.body.domainId,
        serverId: event.header.serverId,
        sequenceNumber: event.body.sequenceNumber,
      };
      this.#group = { gtid, flags: event.body.flags, buffer };
      return outputs;
    }
    const group = this.#group;
    if (group === undefined) return [{ kind: 'none' }];
    group.buffer.append(raw);
    if (!endsGroup(event, group.flags)) return outputs;
    this.#group = undefined;
    const events = group.buffer.finish();
    outputs.push({
      kind: 'transaction',
      transaction: {
        gtid: group.gtid,
        gtidText: formatGtid(group.gtid),
        gtidFlags: group.flags,
        events,
        eventBytes: group.buffer.bytes,
        formatDescription: position.formatDescription,
        binlogFile: position.binlogFile,
        binlogPosition: event.header.nextPosition,
        timestampSeconds: event.header.timestampSeconds,
      },
    });
    return outputs;
  }

  /** Drops an open group (the stream broke mid-transaction); returns what must be cleaned up. */
  discard(): AssemblerOutput | undefined {
    const group = this.#group;
    if (group === undefined) return undefined;
    this.#group = undefined;
    return { kind: 'abandoned', gtidText: formatGtid(group.gtid), spillPath: group.buffer.discard() };
  }
}

function endsGroup(event: BinlogEvent, gtidFlags: number): boolean {
  const body = event.body;
  if (body.kind === 'xid') return true;
  if (body.kind === 'opaque') return body.typeCode === xaPrepareEventType;
  if (body.kind !== 'query') return false;
  if ((gtidFlags & FL_STANDALONE) !== 0) return true;
  // A group on non-transactional tables ends in a COMMIT (or ROLLBACK) query; an XA group is
  // completed by XA COMMIT/ROLLBACK. `XA END` and `BEGIN` are inside groups.
  const statement = body.query.subarray(0, 16).toString('latin1').trim().toUpperCase();
  return (
    statement === 'COMMIT' ||
    statement.startsWith('ROLLBACK') ||
    statement.startsWith('XA COMMIT') ||
    statement.startsWith('XA ROLLBACK')
  );
}

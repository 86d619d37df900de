import type { BinlogChecksumAlgorithm } from '../protocol/binlog/binlog-checksum.js';
import { appendChecksum, binlogChecksumBytes, binlogCrc32 } from '../protocol/binlog/binlog-checksum.js';
import { decodeBinlogEvent, encodeBinlogEvent } from '../protocol/binlog/binlog-event.js';
import {
  binlogEventHeaderBytes,
  LOG_EVENT_ARTIFICIAL_F,
  LOG_EVENT_BINLOG_IN_USE_F,
} from '../protocol/binlog/binlog-event-header.js';
import { BinlogEventType } from '../protocol/binlog/binlog-event-type.js';
import type { FormatDescriptionEvent } from '../protocol/binlog/format-description-event.js';
import type { Gtid } from '../protocol/gtid.js';
import type { ApplierTransaction } from './applier-transaction.js';

/**
 * The WAL's transactions as the binlog stream a MariaDB replica's IO thread reads (PURE).
 *
 * WolfScale serves committed transactions to the follower's own MariaDB as if it were its
 * primary, so the follower's replication (IO thread, parallel SQL threads, its binlog group
 * commit) applies them. The stream is a synthetic binlog: files `<base>.000001`, `.000002`, …
 * whose positions exist only in this stream. Each connection starts its own file sequence at
 * `.000001` position 4; positions are consistent inside a connection (every header's `log_pos`
 * is where the next event starts), which is what the replica checks (heartbeats, rotates).
 * Because the stream is a pure function of the start state and the committed transactions, a
 * replica that reconnects from the same GTID state gets the same events at the same positions
 * (MariaDB's IO thread skips the events it already queued by counting them).
 *
 * Per connection: an artificial ROTATE (log_pos 0), the FORMAT_DESCRIPTION (`created` 0, so the
 * SQL thread does not take it for a primary restart and drop its temporary tables; checksum
 * algorithm = the stream's), a GTID_LIST naming the start state, then the transactions not
 * covered by the start state (same domain, sequence number ≤ the state's: the rule of
 * `gtid_strict_mode`), each event re-stamped: header `log_pos`, CRC32 recomputed (or dropped)
 * for the stream's checksum. When the source's FORMAT_DESCRIPTION changes, or the file would
 * pass `fileBytesMax` (log_pos is 32 bits), a ROTATE to the next file and a new opening follow.
 * ANNOTATE_ROWS events are sent only when the replica asked for them.
 */
export interface BinlogStreamOptions {
  /** Synthetic file name without the sequence suffix, e.g. `wolfscale-bin`. */
  readonly baseName: string;
  /** Server id written into the events this stream creates (ROTATE, FDE, GTID_LIST, heartbeats). */
  readonly serverId: number;
  readonly checksum: BinlogChecksumAlgorithm;
  /** The replica's `@slave_connect_state`: transactions it covers are not sent. */
  readonly startState: readonly Gtid[];
  readonly annotateRows: boolean;
  /** Rotate to a new synthetic file before it reaches this size. Default 1 GiB. */
  readonly fileBytesMax?: number;
  /** Header timestamp of created events, seconds (time is injected: the caller's clock). */
  readonly nowSeconds: () => number;
}

const fileBytesMaxDefault = 1024 * 1024 * 1024;

/**
 * Post-header lengths of MariaDB 10.11.19 (read from the FORMAT_DESCRIPTION of its binlog): the
 * stream's opening event when no transaction is known yet. Replaced by the source's own as soon
 * as the first transaction is sent.
 */
const mariadb1011PostHeaderLengths = [
  56,
  13,
  0,
  8,
  0,
  18,
  0,
  4,
  4,
  4,
  4,
  18,
  0,
  0,
  228,
  0,
  4,
  26,
  8,
  0,
  0,
  0,
  8,
  8,
  8,
  2,
  0,
  0,
  0,
  10,
  10,
  10,
  0,
  0,
  0,
  0,
  0,
  0,
  10,
  10,
  10,
  ...Array.from({ length: 119 }, () => 0),
  4,
  19,
  4,
  0,
  13,
  8,
  8,
  8,
  10,
  10,
  10,
];

export function defaultFormatDescription(): Uint8Array {
  return encodeBinlogEvent(
    {
      header: {
        timestampSeconds: 0,
        typeCode: BinlogEventType.formatDescription,
        serverId: 0,
        eventBytes: 0,
        nextPosition: 0,
        flags: 0,
      },
      body: {
        kind: 'format_description',
        binlogVersion: 4,
        serverVersion: '10.11.19-MariaDB-WolfScale',
        createTimestampSeconds: 0,
        headerBytes: binlogEventHeaderBytes,
        postHeaderLengths: mariadb1011PostHeaderLengths,
        checksumAlgorithm: 'crc32',
      },
    },
    'crc32',
  );
}

interface SourceFormat {
  readonly raw: Uint8Array;
  readonly event: FormatDescriptionEvent;
  readonly timestampSeconds: number;
}

function decodeFormat(raw: Uint8Array): SourceFormat {
  const decoded = decodeBinlogEvent(raw, { checksum: 'none' });
  if (!decoded.ok || decoded.value.body.kind !== 'format_description') {
    throw new Error(
      `the transaction's format description does not decode (${decoded.ok ? decoded.value.body.kind : decoded.error.message}); the WAL is damaged`,
    );
  }
  return { raw, event: decoded.value.body, timestampSeconds: decoded.value.header.timestampSeconds };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

export class BinlogStreamEncoder {
  readonly #options: BinlogStreamOptions;
  readonly #fileBytesMax: number;
  /** Last GTID per domain the replica has (start state, then what was sent). */
  readonly #covered = new Map<number, bigint>();
  /** Last GTID per (domain, server) sent or in the start state: the next file's GTID_LIST. */
  readonly #state = new Map<string, Gtid>();
  #fileNumber = 0;
  #position = 0;
  #format: SourceFormat | undefined;
  #opened = false;

  constructor(options: BinlogStreamOptions) {
    this.#options = options;
    this.#fileBytesMax = options.fileBytesMax ?? fileBytesMaxDefault;
    for (const gtid of options.startState) {
      this.#covered.set(gtid.domainId, gtid.sequenceNumber);
      this.#state.set(`${gtid.domainId}-${gtid.serverId}`, gtid);
    }
  }

  get fileName(): string {
    return `${this.#options.baseName}.${String(this.#fileNumber).padStart(6, '0')}`;
  }

  /** Where the next event starts in the current synthetic file. */
  get position(): number {
    return this.#position;
  }

  /** True when the replica's start state (or an earlier transaction of this stream) covers `gtid`. */
  covers(gtid: Gtid): boolean {
    const seen = this.#covered.get(gtid.domainId);
    return seen !== undefined && seen >= gtid.sequenceNumber;
  }

  /**
   * The events that open the stream: artificial ROTATE, FORMAT_DESCRIPTION, GTID_LIST.
   * `formatDescription`: of the first transaction to come, or `defaultFormatDescription()`.
   */
  opening(formatDescription: Uint8Array): Buffer[] {
    if (this.#opened) throw new Error('the stream is already open');
    this.#opened = true;
    this.#fileNumber = 1;
    this.#format = decodeFormat(formatDescription);
    return this.#openFile(true);
  }

  /** The transaction's events re-stamped for the stream, preceded by a rotation when needed; [] when covered. */
  transaction(transaction: ApplierTransaction): Buffer[] {
    if (!this.#opened) throw new Error('opening() must come first');
    if (this.covers(transaction.gtid)) return [];
    const out: Buffer[] = [];
    const format = this.#format;
    const size = transaction.events.reduce((sum, event) => sum + event.byteLength + binlogChecksumBytes, 0);
    if (format === undefined || !sameBytes(format.raw, transaction.formatDescription)) {
      const next = decodeFormat(transaction.formatDescription);
      out.push(...this.#rotate(next));
    } else if (this.#position + size > this.#fileBytesMax && this.#position > 4096) {
      out.push(...this.#rotate(format));
    }
    const sourceChecksum = this.#format?.event.checksumAlgorithm ?? 'none';
    for (const event of transaction.events) {
      if (event[4] === BinlogEventType.annotateRows && !this.#options.annotateRows) continue;
      out.push(this.#restamp(event, sourceChecksum));
    }
    const { gtid } = transaction;
    this.#covered.set(gtid.domainId, gtid.sequenceNumber);
    this.#state.set(`${gtid.domainId}-${gtid.serverId}`, gtid);
    return out;
  }

  /** A HEARTBEAT naming the current file and position (what the replica checks it against). */
  heartbeat(): Buffer {
    const name = Buffer.from(this.fileName, 'utf8');
    const bare = Buffer.alloc(binlogEventHeaderBytes + name.length);
    this.#header(bare, BinlogEventType.heartbeat, 0, LOG_EVENT_ARTIFICIAL_F);
    name.copy(bare, binlogEventHeaderBytes);
    return this.#finish(bare, this.#position, false);
  }

  #openFile(artificialRotate: boolean): Buffer[] {
    const format = this.#format;
    if (format === undefined) throw new Error('no format description');
    const out: Buffer[] = [];
    if (artificialRotate) {
      out.push(this.#rotateEvent(LOG_EVENT_ARTIFICIAL_F, 0));
    }
    this.#position = 4;
    const fde = encodeBinlogEvent(
      {
        header: {
          timestampSeconds: format.timestampSeconds,
          typeCode: BinlogEventType.formatDescription,
          serverId: this.#options.serverId,
          eventBytes: 0,
          nextPosition: 0,
          flags: 0,
        },
        body: { ...format.event, createTimestampSeconds: 0, checksumAlgorithm: this.#options.checksum },
      },
      this.#options.checksum,
    );
    // encodeBinlogEvent computed the FDE's CRC32 without log_pos; stamp it and recompute (an
    // FDE always carries its CRC32, whatever the algorithm: MariaDB does the same).
    fde.writeUInt32LE(this.#position + fde.length, 13);
    fde.writeUInt32LE(binlogCrc32(fde.subarray(0, fde.length - binlogChecksumBytes)), fde.length - 4);
    this.#position += fde.length;
    out.push(fde);
    out.push(this.#gtidList());
    return out;
  }

  /** A ROTATE to the next file at the end of this one, then the next file's opening. */
  #rotate(format: SourceFormat): Buffer[] {
    const out: Buffer[] = [];
    if (this.#format !== undefined && this.#position > 0) {
      this.#fileNumber += 1;
      out.push(this.#rotateEvent(0, this.#position));
    }
    this.#format = format;
    out.push(...this.#openFile(false));
    return out;
  }

  /** ROTATE naming the current `fileName` at 4; `at` is where it sits (0: artificial, no position). */
  #rotateEvent(flags: number, at: number): Buffer {
    const name = Buffer.from(this.fileName, 'utf8');
    const bare = Buffer.alloc(binlogEventHeaderBytes + 8 + name.length);
    this.#header(bare, BinlogEventType.rotate, 0, flags);
    bare.writeBigUInt64LE(4n, binlogEventHeaderBytes);
    name.copy(bare, binlogEventHeaderBytes + 8);
    return at === 0 ? this.#finish(bare, 0, false) : this.#finish(bare, at, true);
  }

  #gtidList(): Buffer {
    const gtids = [...this.#state.values()].sort((a, b) =>
      a.domainId !== b.domainId ? a.domainId - b.domainId : a.serverId - b.serverId,
    );
    const bare = Buffer.alloc(binlogEventHeaderBytes + 4 + gtids.length * 16);
    this.#header(bare, BinlogEventType.mariadbGtidList, this.#options.nowSeconds(), 0);
    let offset = binlogEventHeaderBytes;
    offset = bare.writeUInt32LE(gtids.length, offset);
    for (const gtid of gtids) {
      offset = bare.writeUInt32LE(gtid.domainId, offset);
      offset = bare.writeUInt32LE(gtid.serverId, offset);
      offset = bare.writeBigUInt64LE(gtid.sequenceNumber, offset);
    }
    return this.#finish(bare, this.#position, true);
  }

  #header(bare: Buffer, typeCode: number, timestampSeconds: number, flags: number): void {
    bare.writeUInt32LE(timestampSeconds >>> 0, 0);
    bare.writeUInt8(typeCode, 4);
    bare.writeUInt32LE(this.#options.serverId >>> 0, 5);
    bare.writeUInt16LE(flags, 17);
  }

  /**
   * Sizes, stamps `log_pos` and checksums an event without trailer. An event "in the file"
   * (`inFile`) sits at `at`: its log_pos is its end, and the stream position moves there. Any
   * other (artificial ROTATE: 0; HEARTBEAT: the current position) gets `at` as its log_pos.
   */
  #finish(bare: Buffer, at: number, inFile: boolean): Buffer {
    const size = bare.length + (this.#options.checksum === 'crc32' ? binlogChecksumBytes : 0);
    bare.writeUInt32LE(size, 9);
    bare.writeUInt32LE(inFile ? at + size : at, 13);
    const event = appendChecksum(bare, this.#options.checksum);
    if (inFile) this.#position = at + size;
    return event;
  }

  /** A source event with the stream's log_pos and checksum. */
  #restamp(event: Uint8Array, sourceChecksum: BinlogChecksumAlgorithm): Buffer {
    const bodyEnd = sourceChecksum === 'crc32' ? event.byteLength - binlogChecksumBytes : event.byteLength;
    const withChecksum = this.#options.checksum === 'crc32';
    const size = bodyEnd + (withChecksum ? binlogChecksumBytes : 0);
    const out = Buffer.allocUnsafe(size);
    out.set(event.subarray(0, bodyEnd), 0);
    out.writeUInt32LE(size, 9);
    this.#position += size;
    out.writeUInt32LE(this.#position, 13);
    // The replica is not reading a file in use: drop the source's in-use flag if it is set.
    out.writeUInt16LE(out.readUInt16LE(17) & ~LOG_EVENT_BINLOG_IN_USE_F, 17);
    if (withChecksum) out.writeUInt32LE(binlogCrc32(out.subarray(0, bodyEnd)), bodyEnd);
    return out;
  }
}

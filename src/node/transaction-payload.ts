import { ByteReader } from '../protocol/byte-reader.js';
import { ByteWriter } from '../protocol/byte-writer.js';
import { type Decoded, decodeSafely } from '../protocol/decoded.js';
import type { Gtid } from '../protocol/gtid.js';

/**
 * A captured transaction as WAL payload. Pure.
 *
 * A transaction can be larger than one WAL entry may be (a single row over 16 MiB makes a single
 * binlog event over 16 MiB), so its serialised bytes are cut into chunks, one per consecutive
 * `transaction` entry:
 *
 *   chunk = u8 version (1) · u8 flags (1 = first, 2 = last) · [u32 total bytes, first only] · data
 *
 * The concatenated data of a first…last run is:
 *
 *   u32 domain · u32 server · u64 sequence · u16 gtid flags · u32 commit timestamp (s)
 *   · str binlog file · u64 binlog position · bytes format description
 *   · u32 event count · (bytes event)*          str/bytes = u32 length + bytes
 *
 * Consumers apply a transaction only when its last chunk is committed, and the capture acks it
 * only then. A first chunk that arrives while a run is incomplete means the old run's leader died
 * before committing the rest: that remnant was never acknowledged to anyone and is dropped.
 */
export interface WalTransaction {
  readonly gtid: Gtid;
  readonly gtidFlags: number;
  readonly timestampSeconds: number;
  /** Where the commit event is in the source's binlog (what semi-sync acknowledges). */
  readonly binlogFile: string;
  readonly binlogPosition: number;
  readonly formatDescription: Uint8Array;
  readonly events: readonly Uint8Array[];
}

const payloadVersion = 1;
const flagFirst = 1;
const flagLast = 2;
const chunkHeaderBytesMax = 6;
/** Bound on one reassembled transaction: MariaDB's own max_allowed_packet ceiling. */
export const transactionBytesMax = 1024 * 1024 * 1024;

function serialise(transaction: WalTransaction): Buffer {
  const eventBytes = transaction.events.reduce((sum, event) => sum + 4 + event.byteLength, 0);
  const writer = new ByteWriter(
    64 + transaction.binlogFile.length + transaction.formatDescription.byteLength + eventBytes,
  );
  writer.u32(transaction.gtid.domainId).u32(transaction.gtid.serverId).u64(transaction.gtid.sequenceNumber);
  writer.u16(transaction.gtidFlags).u32(transaction.timestampSeconds);
  const file = Buffer.from(transaction.binlogFile, 'utf8');
  writer.u32(file.length).bytes(file);
  writer.u64(BigInt(transaction.binlogPosition));
  writer.u32(transaction.formatDescription.byteLength).bytes(transaction.formatDescription);
  writer.u32(transaction.events.length);
  for (const event of transaction.events) writer.u32(event.byteLength).bytes(event);
  return writer.finish();
}

/** Cuts a transaction into WAL payloads of at most `chunkBytesMax` bytes each (header included). */
export function encodeTransaction(transaction: WalTransaction, chunkBytesMax: number): Uint8Array[] {
  if (chunkBytesMax <= chunkHeaderBytesMax)
    throw new RangeError(`chunkBytesMax ${chunkBytesMax} is too small`);
  const body = serialise(transaction);
  if (body.length > transactionBytesMax) {
    throw new RangeError(
      `transaction ${transaction.gtid.domainId}-${transaction.gtid.serverId}-${transaction.gtid.sequenceNumber} is ${body.length} bytes, over ${transactionBytesMax}`,
    );
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  do {
    const first = offset === 0;
    const header = first ? 6 : 2;
    const take = Math.min(chunkBytesMax - header, body.length - offset);
    const last = offset + take >= body.length;
    const chunk = Buffer.allocUnsafe(header + take);
    chunk.writeUInt8(payloadVersion, 0);
    chunk.writeUInt8((first ? flagFirst : 0) | (last ? flagLast : 0), 1);
    if (first) chunk.writeUInt32LE(body.length, 2);
    body.copy(chunk, header, offset, offset + take);
    chunks.push(chunk);
    offset += take;
  } while (offset < body.length);
  return chunks;
}

function deserialise(body: Uint8Array): WalTransaction {
  const reader = new ByteReader(body, 'WAL transaction');
  const gtid: Gtid = {
    domainId: reader.u32('domain'),
    serverId: reader.u32('server id'),
    sequenceNumber: reader.u64('sequence'),
  };
  const gtidFlags = reader.u16('gtid flags');
  const timestampSeconds = reader.u32('timestamp');
  const binlogFile = reader.string(reader.u32('binlog file length'), 'binlog file');
  const position = reader.u64('binlog position');
  if (position > BigInt(Number.MAX_SAFE_INTEGER)) reader.fail('binlog position out of range');
  const formatDescription = reader.bytes(reader.u32('format description length'), 'format description');
  const count = reader.u32('event count');
  if (count > body.length / 4) reader.fail(`event count ${count} cannot fit in ${body.length} bytes`);
  const events: Uint8Array[] = [];
  for (let i = 0; i < count; i++) events.push(reader.bytes(reader.u32('event length'), 'event'));
  if (!reader.atEnd) reader.fail(`${reader.remaining} trailing bytes`);
  return {
    gtid,
    gtidFlags,
    timestampSeconds,
    binlogFile,
    binlogPosition: Number(position),
    formatDescription,
    events,
  };
}

export type ReassemblyStep =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'complete'; readonly transaction: WalTransaction; readonly firstIndex: number }
  /** The previous run never got its last chunk (its leader died first); it is discarded. */
  | {
      readonly kind: 'discarded';
      readonly fromIndex: number;
      readonly toIndex: number;
      readonly next: ReassemblyStep;
    };

/**
 * Joins the chunks of committed transaction entries, fed in index order. Holds at most one
 * transaction's bytes.
 */
export class TransactionReassembler {
  #parts: Uint8Array[] = [];
  #expectedBytes = 0;
  #receivedBytes = 0;
  #firstIndex = 0;
  #lastIndex = 0;

  /** Feeds the payload of entry `index`; a malformed chunk is an error value (a broken WAL). */
  push(index: number, payload: Uint8Array): Decoded<ReassemblyStep> {
    return decodeSafely(() => this.#push(index, payload));
  }

  #push(index: number, payload: Uint8Array): ReassemblyStep {
    const reader = new ByteReader(payload, `transaction chunk at index ${index}`);
    const version = reader.u8('version');
    if (version !== payloadVersion) reader.fail(`payload version ${version} is not understood`);
    const flags = reader.u8('flags');
    if (flags > 3) reader.fail(`unknown chunk flags ${flags}`);
    const first = (flags & flagFirst) !== 0;
    if (first && this.#parts.length > 0) {
      const discarded = { fromIndex: this.#firstIndex, toIndex: this.#lastIndex };
      this.#reset();
      return { kind: 'discarded', ...discarded, next: this.#push(index, payload) };
    }
    if (!first && this.#parts.length === 0) {
      // The tail of a run whose first chunk this node never saw as committed (it was purged or
      // belongs to a discarded run): nothing to join it to.
      return { kind: 'discarded', fromIndex: index, toIndex: index, next: { kind: 'incomplete' } };
    }
    if (first) {
      this.#expectedBytes = reader.u32('total bytes');
      if (this.#expectedBytes > transactionBytesMax)
        reader.fail(`transaction of ${this.#expectedBytes} bytes`);
      this.#firstIndex = index;
    }
    const data = reader.rest();
    this.#receivedBytes += data.length;
    if (this.#receivedBytes > this.#expectedBytes) reader.fail('chunks longer than the announced total');
    this.#parts.push(data);
    this.#lastIndex = index;
    if ((flags & flagLast) === 0) return { kind: 'incomplete' };
    if (this.#receivedBytes !== this.#expectedBytes) reader.fail('last chunk before the announced total');
    const body = this.#parts.length === 1 ? (this.#parts[0] as Uint8Array) : Buffer.concat(this.#parts);
    const firstIndex = this.#firstIndex;
    this.#reset();
    return { kind: 'complete', transaction: deserialise(body), firstIndex };
  }

  /**
   * Drops an incomplete run: called when a non-transaction entry follows it, which proves its
   * leader never appended the rest. Returns the dropped index range, if any.
   */
  abandon(): { readonly fromIndex: number; readonly toIndex: number } | undefined {
    if (this.#parts.length === 0) return undefined;
    const dropped = { fromIndex: this.#firstIndex, toIndex: this.#lastIndex };
    this.#reset();
    return dropped;
  }

  #reset(): void {
    this.#parts = [];
    this.#expectedBytes = 0;
    this.#receivedBytes = 0;
    this.#firstIndex = 0;
    this.#lastIndex = 0;
  }
}

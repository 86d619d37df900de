import { type Decoded, decodedError, decodedOk } from '../decoded.js';
import { isEofPacket } from '../response/eof-packet.js';
import { decodeErrPacket, type ErrPacket, errHeader } from '../response/err-packet.js';
import { semiSyncMagic, semiSyncNeedAck } from './semi-sync.js';

/**
 * One packet of a binlog dump stream: an event (after the OK byte and, on a semi-sync stream, the
 * 2-byte indicator), the end of the stream (EOF, only with BINLOG_DUMP_NON_BLOCK) or an error
 * (e.g. the requested GTID is no longer in the binlogs). `event` shares memory with the input.
 */
export type BinlogStreamPacket =
  | { readonly kind: 'event'; readonly event: Buffer; readonly needsAck: boolean }
  | { readonly kind: 'eof' }
  | { readonly kind: 'error'; readonly error: ErrPacket };

export function decodeBinlogStreamPacket(
  payload: Uint8Array,
  options: { readonly semiSync: boolean },
): Decoded<BinlogStreamPacket> {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  if (bytes.length === 0) return decodedError('MALFORMED', 'empty packet in the binlog stream');
  if (bytes[0] === errHeader) {
    const error = decodeErrPacket(bytes);
    return error.ok ? decodedOk({ kind: 'error', error: error.value }) : error;
  }
  if (isEofPacket(bytes)) return decodedOk({ kind: 'eof' });
  if (bytes[0] !== 0x00)
    return decodedError('MALFORMED', `binlog stream packet starts with 0x${bytes[0]!.toString(16)}`);
  if (options.semiSync) {
    if (bytes.length < 3 || bytes[1] !== semiSyncMagic) {
      return decodedError('MALFORMED', 'a semi-sync binlog stream packet lacks its 0xef indicator');
    }
    return decodedOk({
      kind: 'event',
      event: bytes.subarray(3),
      needsAck: (bytes[2]! & semiSyncNeedAck) !== 0,
    });
  }
  return decodedOk({ kind: 'event', event: bytes.subarray(1), needsAck: false });
}

/** The inverse, for test servers and fixtures. */
export function encodeBinlogStreamEvent(
  event: Uint8Array,
  options: { readonly semiSync: boolean; readonly needsAck: boolean },
): Buffer {
  const prefix = options.semiSync
    ? Buffer.from([0x00, semiSyncMagic, options.needsAck ? semiSyncNeedAck : 0])
    : Buffer.from([0x00]);
  return Buffer.concat([prefix, event]);
}

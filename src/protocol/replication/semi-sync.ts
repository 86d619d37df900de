import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { type Decoded, decodeSafely } from '../decoded.js';

/** Magic byte of the semi-sync indicator in front of events, and of the replica's reply. */
export const semiSyncMagic = 0xef;
/** Flag in the indicator: the primary waits for an acknowledgement of this event's position. */
export const semiSyncNeedAck = 0x01;

/**
 * The replica's semi-sync acknowledgement: "I hold the binlog up to `position` in `fileName`".
 * Sent as its own packet with sequence id 0 on the dump connection. MariaDB releases every
 * commit waiting at or before that position.
 */
export interface SemiSyncReply {
  readonly position: bigint;
  readonly fileName: string;
}

export function encodeSemiSyncReply(reply: SemiSyncReply): Buffer {
  return new ByteWriter(9 + reply.fileName.length)
    .u8(semiSyncMagic)
    .u64(reply.position)
    .string(reply.fileName)
    .finish();
}

export function decodeSemiSyncReply(payload: Uint8Array): Decoded<SemiSyncReply> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'semi-sync reply');
    if (reader.u8('magic') !== semiSyncMagic) reader.fail('not a semi-sync reply (magic 0xef)');
    return { position: reader.u64('position'), fileName: reader.rest().toString('utf8') };
  });
}

import { type Decoded, decodedError, decodedOk } from '../decoded.js';
import { binlogEventHeaderBytes } from './binlog-event-header.js';

/** The 4 bytes every binlog file starts with. */
export const binlogFileMagic = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);

/**
 * Splits the bytes of a binlog file (as `mariadb-binlog --raw` or the server writes it) into its
 * events, using each header's event_size. The events share memory with `file`. A torn last event
 * is an error: a complete file ends on an event boundary.
 */
export function splitBinlogFile(file: Uint8Array): Decoded<Buffer[]> {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (
    bytes.length < binlogFileMagic.length ||
    !bytes.subarray(0, binlogFileMagic.length).equals(binlogFileMagic)
  ) {
    return decodedError('MALFORMED', 'not a binlog file: it does not start with the magic bytes fe 62 69 6e');
  }
  const events: Buffer[] = [];
  let offset = binlogFileMagic.length;
  while (offset < bytes.length) {
    if (bytes.length - offset < binlogEventHeaderBytes) {
      return decodedError('TRUNCATED', `binlog file ends inside an event header at offset ${offset}`);
    }
    const size = bytes.readUInt32LE(offset + 9);
    if (size < binlogEventHeaderBytes)
      return decodedError('MALFORMED', `event at offset ${offset} has size ${size}`);
    if (offset + size > bytes.length) {
      return decodedError(
        'TRUNCATED',
        `binlog file ends inside the event at offset ${offset} (${size} bytes)`,
      );
    }
    events.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return decodedOk(events);
}

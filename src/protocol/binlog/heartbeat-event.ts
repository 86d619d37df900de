import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

/**
 * HEARTBEAT (type 27): sent by the primary's dump thread when it has nothing else to send for
 * `@master_heartbeat_period`. Never in a binlog file. The header's log_pos is the primary's
 * current position in `fileName`.
 */
export interface HeartbeatEvent {
  readonly kind: 'heartbeat';
  readonly fileName: string;
}

export function readHeartbeatBody(reader: ByteReader): HeartbeatEvent {
  return { kind: 'heartbeat', fileName: reader.rest().toString('utf8') };
}

export function writeHeartbeatBody(writer: ByteWriter, event: HeartbeatEvent): void {
  writer.string(event.fileName);
}

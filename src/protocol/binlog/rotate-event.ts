import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

/**
 * ROTATE (type 4): the binlog continues in `fileName` at `position`. A dump stream starts with an
 * artificial one (header flag LOG_EVENT_ARTIFICIAL_F, log_pos 0) naming the file being sent.
 */
export interface RotateEvent {
  readonly kind: 'rotate';
  readonly position: bigint;
  readonly fileName: string;
}

export function readRotateBody(reader: ByteReader): RotateEvent {
  const position = reader.u64('position');
  const fileName = reader.rest().toString('utf8');
  return { kind: 'rotate', position, fileName };
}

export function writeRotateBody(writer: ByteWriter, event: RotateEvent): void {
  writer.u64(event.position).string(event.fileName);
}

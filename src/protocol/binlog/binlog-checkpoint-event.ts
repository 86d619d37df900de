import type { ByteReader } from '../byte-reader.js';
import type { ByteWriter } from '../byte-writer.js';

/**
 * MariaDB BINLOG_CHECKPOINT (type 161): crash recovery need not look at binlog files older than
 * `fileName`.
 */
export interface BinlogCheckpointEvent {
  readonly kind: 'binlog_checkpoint';
  readonly fileName: string;
}

export function readBinlogCheckpointBody(reader: ByteReader): BinlogCheckpointEvent {
  const length = reader.u32('binlog_file_length');
  return { kind: 'binlog_checkpoint', fileName: reader.string(length, 'binlog_file_name') };
}

export function writeBinlogCheckpointBody(writer: ByteWriter, event: BinlogCheckpointEvent): void {
  const name = Buffer.from(event.fileName, 'utf8');
  writer.u32(name.length).bytes(name);
}

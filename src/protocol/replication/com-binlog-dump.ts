import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { CommandCode } from '../command/command-code.js';
import { type Decoded, decodeSafely } from '../decoded.js';

/** Return EOF instead of waiting when the binlog end is reached. */
export const BINLOG_DUMP_NON_BLOCK = 0x01;
/** MariaDB: send ANNOTATE_ROWS events. */
export const BINLOG_SEND_ANNOTATE_ROWS_EVENT = 0x02;

/**
 * COM_BINLOG_DUMP. With MariaDB GTID replication (`@slave_connect_state` set beforehand) the
 * server ignores `fileName`/`position` and starts from the GTID state; send '' and 4.
 */
export interface ComBinlogDump {
  readonly position: number;
  readonly flags: number;
  readonly serverId: number;
  readonly fileName: string;
}

export function encodeComBinlogDump(command: ComBinlogDump): Buffer {
  return new ByteWriter(16 + command.fileName.length)
    .u8(CommandCode.binlogDump)
    .u32(command.position)
    .u16(command.flags)
    .u32(command.serverId)
    .string(command.fileName)
    .finish();
}

export function decodeComBinlogDump(payload: Uint8Array): Decoded<ComBinlogDump> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'COM_BINLOG_DUMP');
    if (reader.u8('command') !== CommandCode.binlogDump) reader.fail('not COM_BINLOG_DUMP');
    return {
      position: reader.u32('position'),
      flags: reader.u16('flags'),
      serverId: reader.u32('server id'),
      fileName: reader.rest().toString('utf8'),
    };
  });
}

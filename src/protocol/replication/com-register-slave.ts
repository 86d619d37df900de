import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { CommandCode } from '../command/command-code.js';
import { type Decoded, decodeSafely } from '../decoded.js';

/**
 * COM_REGISTER_SLAVE: announces a replica (shown by SHOW SLAVE HOSTS). `serverId` must be unique
 * among the primary's replicas and differ from the primary's own id.
 */
export interface ComRegisterSlave {
  readonly serverId: number;
  readonly host: string;
  readonly user: string;
  readonly password: string;
  readonly port: number;
}

function shortString(writer: ByteWriter, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  writer.u8(Math.min(bytes.length, 255)).bytes(bytes.subarray(0, 255));
}

export function encodeComRegisterSlave(command: ComRegisterSlave): Buffer {
  const writer = new ByteWriter(64).u8(CommandCode.registerSlave).u32(command.serverId);
  shortString(writer, command.host);
  shortString(writer, command.user);
  shortString(writer, command.password);
  // Replication rank and master id: unused by MariaDB, always 0.
  return writer.u16(command.port).u32(0).u32(0).finish();
}

export function decodeComRegisterSlave(payload: Uint8Array): Decoded<ComRegisterSlave> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'COM_REGISTER_SLAVE');
    if (reader.u8('command') !== CommandCode.registerSlave) reader.fail('not COM_REGISTER_SLAVE');
    const serverId = reader.u32('server id');
    const host = reader.string(reader.u8('host length'), 'host');
    const user = reader.string(reader.u8('user length'), 'user');
    const password = reader.string(reader.u8('password length'), 'password');
    const port = reader.u16('port');
    return { serverId, host, user, password, port };
  });
}

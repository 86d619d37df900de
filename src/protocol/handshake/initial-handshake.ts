import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { Capability, hasCapability } from '../capabilities.js';
import { assert, type Decoded, decodeSafely } from '../decoded.js';

const protocolVersion10 = 10;
/** The auth scramble (nonce) is 20 bytes: 8 in part 1, 12 in part 2 (plus a NUL). */
export const scrambleBytes = 20;

/**
 * The server's greeting, protocol v10. `capabilities` are the lower 32 bits; MariaDB servers
 * (which clear Capability.mysql) put their extended capabilities in `mariadbCapabilities`.
 */
export interface InitialHandshake {
  readonly serverVersion: string;
  readonly connectionId: number;
  /** The full auth plugin data (scramble/nonce), without the trailing NUL. */
  readonly authPluginData: Buffer;
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly characterSet: number;
  readonly statusFlags: number;
  readonly authPluginName: string;
}

export function decodeInitialHandshake(payload: Uint8Array): Decoded<InitialHandshake> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'initial handshake');
    const version = reader.u8('protocol version');
    if (version === 0xff) reader.fail('the server refused the connection with an error packet');
    if (version !== protocolVersion10) reader.fail(`protocol version ${version}; only v10 is supported`);
    const serverVersion = reader.nulString('server version');
    const connectionId = reader.u32('connection id');
    const part1 = reader.bytes(8, 'auth-plugin-data-part-1');
    reader.skip(1, 'filler');
    const capabilitiesLow = reader.u16('capability flags (lower)');
    if (reader.atEnd) {
      return {
        serverVersion,
        connectionId,
        authPluginData: Buffer.from(part1),
        capabilities: capabilitiesLow,
        mariadbCapabilities: 0,
        characterSet: 0,
        statusFlags: 0,
        authPluginName: 'mysql_native_password',
      };
    }
    const characterSet = reader.u8('character set');
    const statusFlags = reader.u16('status flags');
    const capabilities = (capabilitiesLow | (reader.u16('capability flags (upper)') << 16)) >>> 0;
    const authDataBytes = reader.u8('auth plugin data length');
    reader.skip(6, 'reserved');
    const extended = reader.u32('MariaDB extended capabilities');
    const mariadbCapabilities = hasCapability(capabilities, Capability.mysql) ? 0 : extended;
    let part2: Buffer = Buffer.alloc(0);
    if (hasCapability(capabilities, Capability.secureConnection)) {
      const part2Bytes = Math.max(13, authDataBytes - 8);
      part2 = reader.bytes(part2Bytes, 'auth-plugin-data-part-2');
      // Part 2 ends with a NUL that is not part of the scramble.
      if (part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    }
    let authPluginName = 'mysql_native_password';
    if (hasCapability(capabilities, Capability.pluginAuth) && !reader.atEnd) {
      const rest = reader.rest();
      const nul = rest.indexOf(0);
      authPluginName = rest.subarray(0, nul < 0 ? rest.length : nul).toString('utf8');
    }
    return {
      serverVersion,
      connectionId,
      authPluginData: Buffer.concat([part1, part2]),
      capabilities,
      mariadbCapabilities,
      characterSet,
      statusFlags,
      authPluginName,
    };
  });
}

export function encodeInitialHandshake(handshake: InitialHandshake): Buffer {
  assert(handshake.authPluginData.length >= 8, 'auth plugin data holds at least 8 bytes');
  const writer = new ByteWriter(128);
  const isMariaDb = !hasCapability(handshake.capabilities, Capability.mysql);
  writer
    .u8(protocolVersion10)
    .nulString(handshake.serverVersion)
    .u32(handshake.connectionId)
    .bytes(handshake.authPluginData.subarray(0, 8))
    .u8(0)
    .u16(handshake.capabilities & 0xffff)
    .u8(handshake.characterSet)
    .u16(handshake.statusFlags)
    .u16(handshake.capabilities >>> 16)
    .u8(
      hasCapability(handshake.capabilities, Capability.pluginAuth) ? handshake.authPluginData.length + 1 : 0,
    )
    .zeros(6)
    .u32(isMariaDb ? handshake.mariadbCapabilities : 0);
  if (hasCapability(handshake.capabilities, Capability.secureConnection)) {
    const part2 = handshake.authPluginData.subarray(8);
    writer.bytes(part2).zeros(Math.max(13 - part2.length, 1));
  }
  if (hasCapability(handshake.capabilities, Capability.pluginAuth))
    writer.nulString(handshake.authPluginName);
  return writer.finish();
}

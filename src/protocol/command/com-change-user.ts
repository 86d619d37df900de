import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { Capability, hasCapability } from '../capabilities.js';
import { type Decoded, decodeSafely } from '../decoded.js';
import { CommandCode } from './command-code.js';

/**
 * COM_CHANGE_USER: re-authenticate the connection as another user (resets the session). The
 * server answers like a login: OK, ERR or an auth switch request.
 */
export interface ComChangeUser {
  readonly user: string;
  readonly authResponse: Buffer;
  readonly database: string;
  readonly characterSet: number;
  readonly authPluginName: string;
  readonly connectAttributes?: ReadonlyMap<string, string>;
}

export function encodeComChangeUser(command: ComChangeUser, capabilities: number): Buffer {
  const writer = new ByteWriter(64).u8(CommandCode.changeUser).nulString(command.user);
  if (hasCapability(capabilities, Capability.secureConnection))
    writer.u8(command.authResponse.length).bytes(command.authResponse);
  else writer.nulBytes(command.authResponse);
  writer.nulString(command.database).u16(command.characterSet);
  if (hasCapability(capabilities, Capability.pluginAuth)) writer.nulString(command.authPluginName);
  if (hasCapability(capabilities, Capability.connectAttrs)) {
    const attributes = new ByteWriter(64);
    for (const [key, value] of command.connectAttributes ?? new Map<string, string>())
      attributes.lenencString(key).lenencString(value);
    writer.lenencBytes(attributes.finish());
  }
  return writer.finish();
}

export function decodeComChangeUser(payload: Uint8Array, capabilities: number): Decoded<ComChangeUser> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'COM_CHANGE_USER');
    if (reader.u8('command') !== CommandCode.changeUser) reader.fail('not COM_CHANGE_USER');
    const user = reader.nulString('user');
    const authResponse = hasCapability(capabilities, Capability.secureConnection)
      ? reader.bytes(reader.u8('auth response length'), 'auth response')
      : reader.nulBytes('auth response');
    const database = reader.nulString('database');
    const characterSet = reader.atEnd ? 0 : reader.u16('character set');
    const authPluginName =
      hasCapability(capabilities, Capability.pluginAuth) && !reader.atEnd
        ? reader.nulString('auth plugin')
        : '';
    let connectAttributes: Map<string, string> | undefined;
    if (hasCapability(capabilities, Capability.connectAttrs) && !reader.atEnd) {
      const block = new ByteReader(reader.lenencBytes('connection attributes'), 'connection attributes');
      connectAttributes = new Map();
      while (!block.atEnd) connectAttributes.set(block.lenencString('key'), block.lenencString('value'));
    }
    return {
      user,
      authResponse,
      database,
      characterSet,
      authPluginName,
      ...(connectAttributes === undefined ? {} : { connectAttributes }),
    };
  });
}

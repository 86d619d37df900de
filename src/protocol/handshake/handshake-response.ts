import { ByteReader } from '../byte-reader.js';
import { ByteWriter } from '../byte-writer.js';
import { Capability, hasCapability } from '../capabilities.js';
import { type Decoded, decodeSafely } from '../decoded.js';

/** An SSLRequest is the first 32 bytes of a HandshakeResponse41, sent alone before TLS starts. */
export const sslRequestBytes = 32;
/** Bound on connection attributes: the server's limit is 64 KiB. */
export const connectAttributesBytesMax = 65535;

/**
 * The client's HandshakeResponse41 (protocol 4.1 only). `capabilities` are what the client asks
 * for (the server uses the intersection with its own); `mariadbCapabilities` are sent when the
 * client clears Capability.mysql, as MariaDB clients do.
 */
export interface HandshakeResponse {
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly maxPacketBytes: number;
  readonly characterSet: number;
  readonly user: string;
  readonly authResponse: Buffer;
  readonly database?: string;
  readonly authPluginName?: string;
  readonly connectAttributes?: ReadonlyMap<string, string>;
}

/** The SSLRequest: the fixed part of a HandshakeResponse41, which tells the server TLS follows. */
export interface SslRequest {
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly maxPacketBytes: number;
  readonly characterSet: number;
}

function writeFixedPart(writer: ByteWriter, request: SslRequest): void {
  const isMariaDb = !hasCapability(request.capabilities, Capability.mysql);
  writer
    .u32(request.capabilities)
    .u32(request.maxPacketBytes)
    .u8(request.characterSet)
    .zeros(19)
    .u32(isMariaDb ? request.mariadbCapabilities : 0);
}

export function encodeSslRequest(request: SslRequest): Buffer {
  const writer = new ByteWriter(sslRequestBytes);
  writeFixedPart(writer, { ...request, capabilities: (request.capabilities | Capability.ssl) >>> 0 });
  return writer.finish();
}

export function encodeHandshakeResponse(response: HandshakeResponse): Buffer {
  const writer = new ByteWriter(128);
  let capabilities = response.capabilities;
  if (response.database !== undefined) capabilities |= Capability.connectWithDb;
  if (response.connectAttributes !== undefined) capabilities |= Capability.connectAttrs;
  capabilities >>>= 0;
  writeFixedPart(writer, { ...response, capabilities });
  writer.nulString(response.user);
  if (hasCapability(capabilities, Capability.pluginAuthLenencClientData))
    writer.lenencBytes(response.authResponse);
  else if (hasCapability(capabilities, Capability.secureConnection))
    writer.u8(response.authResponse.length).bytes(response.authResponse);
  else writer.nulBytes(response.authResponse);
  if (hasCapability(capabilities, Capability.connectWithDb)) writer.nulString(response.database ?? '');
  if (hasCapability(capabilities, Capability.pluginAuth)) writer.nulString(response.authPluginName ?? '');
  if (hasCapability(capabilities, Capability.connectAttrs)) {
    const attributes = new ByteWriter(64);
    for (const [key, value] of response.connectAttributes ?? new Map<string, string>()) {
      attributes.lenencString(key).lenencString(value);
    }
    writer.lenencBytes(attributes.finish());
  }
  return writer.finish();
}

/**
 * Decodes what a client sends after the greeting: an SSLRequest (exactly 32 bytes with
 * Capability.ssl) or a full HandshakeResponse41.
 */
export function decodeHandshakeResponse(
  payload: Uint8Array,
): Decoded<
  | { readonly kind: 'ssl_request'; readonly request: SslRequest }
  | { readonly kind: 'response'; readonly response: HandshakeResponse }
> {
  return decodeSafely(() => {
    const reader = new ByteReader(payload, 'handshake response');
    const capabilities = reader.u32('capability flags');
    if (!hasCapability(capabilities, Capability.protocol41))
      reader.fail('the client does not speak protocol 4.1; it is too old');
    const maxPacketBytes = reader.u32('max packet size');
    const characterSet = reader.u8('character set');
    reader.skip(19, 'filler');
    const extended = reader.u32('MariaDB extended capabilities');
    const mariadbCapabilities = hasCapability(capabilities, Capability.mysql) ? 0 : extended;
    const fixed = { capabilities, mariadbCapabilities, maxPacketBytes, characterSet };
    if (reader.atEnd && hasCapability(capabilities, Capability.ssl))
      return { kind: 'ssl_request' as const, request: fixed };
    const user = reader.nulString('user');
    let authResponse: Buffer;
    if (hasCapability(capabilities, Capability.pluginAuthLenencClientData))
      authResponse = reader.lenencBytes('auth response');
    else if (hasCapability(capabilities, Capability.secureConnection))
      authResponse = reader.bytes(reader.u8('auth response length'), 'auth response');
    else authResponse = reader.nulBytes('auth response');
    const database =
      hasCapability(capabilities, Capability.connectWithDb) && !reader.atEnd
        ? reader.nulString('database')
        : undefined;
    const authPluginName =
      hasCapability(capabilities, Capability.pluginAuth) && !reader.atEnd
        ? reader.nulString('auth plugin name')
        : undefined;
    let connectAttributes: Map<string, string> | undefined;
    if (hasCapability(capabilities, Capability.connectAttrs) && !reader.atEnd) {
      const block = reader.lenencBytes('connection attributes');
      if (block.length > connectAttributesBytesMax)
        reader.fail(`connection attributes exceed ${connectAttributesBytesMax} bytes`);
      const attributes = new ByteReader(block, 'connection attributes');
      connectAttributes = new Map();
      while (!attributes.atEnd)
        connectAttributes.set(attributes.lenencString('key'), attributes.lenencString('value'));
    }
    return {
      kind: 'response' as const,
      response: {
        ...fixed,
        user,
        authResponse,
        ...(database === undefined ? {} : { database }),
        ...(authPluginName === undefined ? {} : { authPluginName }),
        ...(connectAttributes === undefined ? {} : { connectAttributes }),
      },
    };
  });
}

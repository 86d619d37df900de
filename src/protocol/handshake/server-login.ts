import { clientEd25519Plugin, ed25519NonceBytes, verifyEd25519 } from '../auth/client-ed25519.js';
import { mysqlNativePasswordPlugin, verifyNativePassword } from '../auth/mysql-native-password.js';
import { Capability, collationUtf8mb4GeneralCi, hasCapability, ServerStatus } from '../capabilities.js';
import type { ComChangeUser } from '../command/com-change-user.js';
import { assert, unreachable } from '../decoded.js';
import type { Packet } from '../packet/packet-framer.js';
import { encodeErrPacket } from '../response/err-packet.js';
import { encodeOkPacket, okPacket } from '../response/ok-packet.js';
import { encodeAuthSwitchRequest } from './auth-switch.js';
import { decodeHandshakeResponse, type HandshakeResponse } from './handshake-response.js';
import { encodeInitialHandshake, type InitialHandshake, scrambleBytes } from './initial-handshake.js';

/** How an account proves its identity, as the server (or a proxy) stores it. */
export type AccountCredentials =
  | { readonly plugin: 'mysql_native_password'; readonly stage2: Buffer | undefined }
  | { readonly plugin: 'client_ed25519'; readonly publicKey: Buffer };

export interface ServerLoginOptions {
  readonly serverVersion: string;
  readonly connectionId: number;
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  /** Offer TLS (Capability.ssl); the caller has a secure context ready. */
  readonly tlsAvailable: boolean;
  /** Refuse clients that do not upgrade to TLS. */
  readonly tlsRequired: boolean;
  /** Randomness is injected: returns `count` unpredictable bytes (crypto.randomBytes in production). */
  readonly randomBytes: (count: number) => Buffer;
  readonly lookupAccount: (user: string) => AccountCredentials | undefined;
}

export interface AuthenticatedSession {
  readonly user: string;
  readonly database: string | undefined;
  /** Client capabilities ∩ server capabilities. */
  readonly capabilities: number;
  readonly response: HandshakeResponse;
  /** SHA1(password) for native accounts with a password: lets a proxy log in to backends as the user. */
  readonly stage1: Buffer | undefined;
}

export type ServerLoginAction =
  | { readonly kind: 'send'; readonly payload: Buffer; readonly sequenceId: number }
  /** The client sent an SSLRequest: upgrade the socket to TLS (server side), keep feeding packets. */
  | { readonly kind: 'start_tls' }
  | { readonly kind: 'authenticated'; readonly session: AuthenticatedSession }
  | { readonly kind: 'rejected'; readonly reason: string };

type State =
  | { readonly at: 'response' }
  | {
      readonly at: 'switched';
      readonly response: HandshakeResponse;
      readonly capabilities: number;
      readonly nonce: Buffer;
      readonly credentials: AccountCredentials;
    }
  | { readonly at: 'finished' };

const errAccessDenied = 1045;
const errHandshake = 1043;

/**
 * The server side of a login as a state machine without sockets: `start()` gives the greeting,
 * then feed each client packet. Verifies mysql_native_password (and recovers SHA1(password)) and
 * client_ed25519, switching the client to the account's plugin when it answered with another.
 */
export class ServerLogin {
  readonly #options: ServerLoginOptions;
  readonly #scramble: Buffer;
  #state: State = { at: 'response' };
  #tls = false;

  constructor(options: ServerLoginOptions) {
    this.#options = options;
    // A scramble must not contain NUL: part 2 is sent NUL-terminated.
    this.#scramble = Buffer.from(options.randomBytes(scrambleBytes).map((byte) => (byte % 127) + 1));
  }

  get handshake(): InitialHandshake {
    let capabilities =
      this.#options.capabilities |
      Capability.protocol41 |
      Capability.secureConnection |
      Capability.pluginAuth;
    capabilities = this.#options.tlsAvailable
      ? capabilities | Capability.ssl
      : capabilities & ~Capability.ssl;
    return {
      serverVersion: this.#options.serverVersion,
      connectionId: this.#options.connectionId,
      authPluginData: this.#scramble,
      capabilities: capabilities >>> 0,
      mariadbCapabilities: this.#options.mariadbCapabilities,
      characterSet: collationUtf8mb4GeneralCi,
      statusFlags: ServerStatus.autocommit,
      authPluginName: mysqlNativePasswordPlugin,
    };
  }

  start(): ServerLoginAction[] {
    return [{ kind: 'send', payload: encodeInitialHandshake(this.handshake), sequenceId: 0 }];
  }

  onPacket(packet: Packet): ServerLoginAction[] {
    const state = this.#state;
    switch (state.at) {
      case 'response':
        return this.#response(packet);
      case 'switched':
        return this.#verify(
          state.response,
          state.capabilities,
          state.credentials,
          packet.payload,
          state.nonce,
          (packet.sequenceId + 1) & 0xff,
        );
      case 'finished':
        return [{ kind: 'rejected', reason: 'a packet after the login ended' }];
      default:
        return unreachable(state);
    }
  }

  #reject(
    reason: string,
    errorCode: number,
    sqlState: string,
    message: string,
    sequenceId: number,
  ): ServerLoginAction[] {
    this.#state = { at: 'finished' };
    return [
      { kind: 'send', payload: encodeErrPacket({ errorCode, sqlState, message }), sequenceId },
      { kind: 'rejected', reason },
    ];
  }

  #response(packet: Packet): ServerLoginAction[] {
    const decoded = decodeHandshakeResponse(packet.payload);
    const next = (packet.sequenceId + 1) & 0xff;
    if (!decoded.ok) return this.#reject(decoded.error.message, errHandshake, '08S01', 'Bad handshake', next);
    if (decoded.value.kind === 'ssl_request') {
      if (!this.#options.tlsAvailable || this.#tls)
        return this.#reject('unexpected SSLRequest', errHandshake, '08S01', 'Bad handshake', next);
      this.#tls = true;
      return [{ kind: 'start_tls' }];
    }
    const response = decoded.value.response;
    if (this.#options.tlsRequired && !this.#tls) {
      return this.#reject(
        'TLS required',
        errAccessDenied,
        '28000',
        `Access denied for user '${response.user}': this server requires TLS`,
        next,
      );
    }
    const capabilities = (response.capabilities & this.handshake.capabilities) >>> 0;
    return this.#authenticate(response, capabilities, next);
  }

  /**
   * COM_CHANGE_USER on an authenticated connection: the same verification as a login, against
   * the connection's original scramble (or a plugin switch), answered from `sequenceId` 1.
   * `capabilities` are the connection's negotiated ones.
   */
  changeUser(command: ComChangeUser, capabilities: number): ServerLoginAction[] {
    const response: HandshakeResponse = {
      capabilities,
      mariadbCapabilities: 0,
      maxPacketBytes: 0,
      characterSet: command.characterSet,
      user: command.user,
      authResponse: command.authResponse,
      ...(command.database === '' ? {} : { database: command.database }),
      ...(command.authPluginName === '' ? {} : { authPluginName: command.authPluginName }),
      ...(command.connectAttributes === undefined ? {} : { connectAttributes: command.connectAttributes }),
    };
    this.#state = { at: 'response' };
    return this.#authenticate(response, capabilities, 1);
  }

  #authenticate(response: HandshakeResponse, capabilities: number, next: number): ServerLoginAction[] {
    const credentials = this.#options.lookupAccount(response.user);
    if (credentials === undefined) return this.#denied(response.user, next);
    const clientPlugin = response.authPluginName ?? mysqlNativePasswordPlugin;
    if (
      clientPlugin !== credentials.plugin ||
      (credentials.plugin === clientEd25519Plugin && !hasCapability(capabilities, Capability.pluginAuth))
    ) {
      const nonce =
        credentials.plugin === clientEd25519Plugin
          ? this.#options.randomBytes(ed25519NonceBytes)
          : this.#scramble;
      this.#state = { at: 'switched', response, capabilities, nonce, credentials };
      return [
        {
          kind: 'send',
          payload: encodeAuthSwitchRequest({
            pluginName: credentials.plugin,
            // mysql_native_password's scramble travels NUL-terminated; an ed25519 nonce does not.
            pluginData:
              credentials.plugin === clientEd25519Plugin ? nonce : Buffer.concat([nonce, Buffer.from([0])]),
          }),
          sequenceId: next,
        },
      ];
    }
    return this.#verify(response, capabilities, credentials, response.authResponse, this.#scramble, next);
  }

  #verify(
    response: HandshakeResponse,
    capabilities: number,
    credentials: AccountCredentials,
    token: Uint8Array,
    challenge: Buffer,
    sequenceId: number,
  ): ServerLoginAction[] {
    let stage1: Buffer | undefined;
    switch (credentials.plugin) {
      case 'mysql_native_password': {
        const verified = verifyNativePassword(token, challenge, credentials.stage2);
        if (!verified.ok) return this.#denied(response.user, sequenceId);
        stage1 = verified.stage1;
        break;
      }
      case 'client_ed25519':
        assert(challenge.length === ed25519NonceBytes, 'ed25519 challenges are 32-byte nonces');
        if (!verifyEd25519(token, challenge, credentials.publicKey))
          return this.#denied(response.user, sequenceId);
        break;
      default:
        unreachable(credentials);
    }
    this.#state = { at: 'finished' };
    const ok = encodeOkPacket(okPacket(ServerStatus.autocommit), capabilities);
    return [
      { kind: 'send', payload: ok, sequenceId },
      {
        kind: 'authenticated',
        session: { user: response.user, database: response.database, capabilities, response, stage1 },
      },
    ];
  }

  #denied(user: string, sequenceId: number): ServerLoginAction[] {
    return this.#reject(
      `access denied for ${user}`,
      errAccessDenied,
      '28000',
      `Access denied for user '${user}' (using password: YES)`,
      sequenceId,
    );
  }
}

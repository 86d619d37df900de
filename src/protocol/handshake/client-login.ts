import { clientAuthResponse } from '../auth/auth-response.js';
import { clientEd25519Plugin } from '../auth/client-ed25519.js';
import { mysqlNativePasswordPlugin } from '../auth/mysql-native-password.js';
import {
  Capability,
  collationUtf8mb4GeneralCi,
  hasCapability,
  wolfscaleClientCapabilities,
} from '../capabilities.js';
import { type ProtocolError, unreachable } from '../decoded.js';
import type { Packet } from '../packet/packet-framer.js';
import { decodeErrPacket, type ErrPacket, errHeader } from '../response/err-packet.js';
import { decodeOkPacket, type OkPacket, okHeader } from '../response/ok-packet.js';
import { authMoreDataHeader, authSwitchHeader, decodeAuthSwitchRequest } from './auth-switch.js';
import { encodeHandshakeResponse, encodeSslRequest } from './handshake-response.js';
import { decodeInitialHandshake, type InitialHandshake } from './initial-handshake.js';

/** Plugins whose challenge the client can answer in its first response. */
const spokenPlugins = new Set([mysqlNativePasswordPlugin, clientEd25519Plugin]);

export interface ClientLoginOptions {
  readonly user: string;
  readonly password: string;
  readonly database?: string;
  /** Ask for TLS; a server that does not offer it fails the login (never silently plaintext). */
  readonly tls: boolean;
  readonly capabilities?: number;
  readonly mariadbCapabilities?: number;
  readonly connectAttributes?: ReadonlyMap<string, string>;
  readonly maxPacketBytes?: number;
}

export interface LoginResult {
  readonly handshake: InitialHandshake;
  /** The negotiated capabilities (client's ∩ server's). */
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly ok: OkPacket;
}

export type LoginFailure = ProtocolError & { readonly serverError?: ErrPacket };

/** What the caller must do next. Sequence ids continue the login exchange. */
export type ClientLoginAction =
  | { readonly kind: 'send'; readonly payload: Buffer; readonly sequenceId: number }
  /** The SSLRequest was sent: upgrade the socket to TLS, then call `afterTls()`. */
  | { readonly kind: 'start_tls' }
  | { readonly kind: 'done'; readonly result: LoginResult }
  | { readonly kind: 'failed'; readonly error: LoginFailure };

type State =
  | { readonly at: 'greeting' }
  | { readonly at: 'tls'; readonly handshake: InitialHandshake; readonly capabilities: number }
  | { readonly at: 'auth'; readonly handshake: InitialHandshake; readonly capabilities: number }
  | { readonly at: 'finished' };

/**
 * The client side of a login as a state machine that knows no sockets: feed it each packet from
 * the server, perform the actions it returns. Handles TLS upgrade, auth switch, mysql_native_password
 * and client_ed25519; refuses caching_sha2_password with an error that says what to change.
 */
export class ClientLogin {
  readonly #options: ClientLoginOptions;
  #state: State = { at: 'greeting' };
  #mariadbCapabilities = 0;

  constructor(options: ClientLoginOptions) {
    this.#options = options;
  }

  onPacket(packet: Packet): ClientLoginAction[] {
    const state = this.#state;
    switch (state.at) {
      case 'greeting':
        return this.#greeting(packet);
      case 'auth':
        return this.#auth(packet, state);
      case 'tls':
        return this.#fail({
          code: 'MALFORMED',
          message: 'the server sent a packet before the TLS handshake',
        });
      case 'finished':
        return this.#fail({ code: 'MALFORMED', message: 'a packet after the login ended' });
      default:
        return unreachable(state);
    }
  }

  afterTls(): ClientLoginAction[] {
    const state = this.#state;
    if (state.at !== 'tls')
      return this.#fail({ code: 'MALFORMED', message: 'afterTls() outside the TLS step' });
    this.#state = { at: 'auth', handshake: state.handshake, capabilities: state.capabilities };
    return this.#handshakeResponse(state.handshake, state.capabilities, 2);
  }

  #fail(error: LoginFailure): ClientLoginAction[] {
    this.#state = { at: 'finished' };
    return [{ kind: 'failed', error }];
  }

  #greeting(packet: Packet): ClientLoginAction[] {
    if (packet.payload[0] === errHeader) return this.#serverError(packet.payload);
    const decoded = decodeInitialHandshake(packet.payload);
    if (!decoded.ok) return this.#fail(decoded.error);
    const handshake = decoded.value;
    if (!hasCapability(handshake.capabilities, Capability.protocol41)) {
      return this.#fail({
        code: 'UNSUPPORTED',
        message: `server ${handshake.serverVersion} does not speak protocol 4.1`,
      });
    }
    let wanted = this.#options.capabilities ?? wolfscaleClientCapabilities;
    if (this.#options.tls) wanted |= Capability.ssl;
    if (this.#options.database !== undefined) wanted |= Capability.connectWithDb;
    const serverIsMariaDb = !hasCapability(handshake.capabilities, Capability.mysql);
    // A MariaDB server reads extended capabilities only from clients that clear the MySQL bit.
    if (serverIsMariaDb) wanted &= ~Capability.mysql;
    const capabilities =
      ((wanted & handshake.capabilities) | (serverIsMariaDb ? 0 : Capability.mysql & wanted)) >>> 0;
    // MariaDB extended capabilities change the framing (progress reports, cached metadata): ask
    // only for those the caller names.
    this.#mariadbCapabilities = serverIsMariaDb
      ? (this.#options.mariadbCapabilities ?? 0) & handshake.mariadbCapabilities
      : 0;
    if (this.#options.tls) {
      if (!hasCapability(handshake.capabilities, Capability.ssl)) {
        return this.#fail({
          code: 'UNSUPPORTED',
          message: `server ${handshake.serverVersion} does not offer TLS; configure ssl_cert/ssl_key on it or connect without TLS`,
        });
      }
      this.#state = { at: 'tls', handshake, capabilities };
      const payload = encodeSslRequest({
        capabilities,
        mariadbCapabilities: this.#mariadbCapabilities,
        maxPacketBytes: this.#options.maxPacketBytes ?? 0x40000000,
        characterSet: collationUtf8mb4GeneralCi,
      });
      return [{ kind: 'send', payload, sequenceId: (packet.sequenceId + 1) & 0xff }, { kind: 'start_tls' }];
    }
    this.#state = { at: 'auth', handshake, capabilities };
    return this.#handshakeResponse(handshake, capabilities, (packet.sequenceId + 1) & 0xff);
  }

  #handshakeResponse(
    handshake: InitialHandshake,
    capabilities: number,
    sequenceId: number,
  ): ClientLoginAction[] {
    // Answer the greeting's plugin when it is one we speak; otherwise answer as native and let
    // the server switch us to the account's plugin.
    const plugin = spokenPlugins.has(handshake.authPluginName)
      ? handshake.authPluginName
      : mysqlNativePasswordPlugin;
    const answer = clientAuthResponse(plugin, handshake.authPluginData, this.#options);
    if (!answer.ok) return this.#fail(answer.error);
    const payload = encodeHandshakeResponse({
      capabilities,
      mariadbCapabilities: this.#mariadbCapabilities,
      maxPacketBytes: this.#options.maxPacketBytes ?? 0x40000000,
      characterSet: collationUtf8mb4GeneralCi,
      user: this.#options.user,
      authResponse: answer.response,
      ...(this.#options.database === undefined ? {} : { database: this.#options.database }),
      authPluginName: plugin,
      connectAttributes: this.#options.connectAttributes ?? new Map([['program_name', 'wolfscale']]),
    });
    return [{ kind: 'send', payload, sequenceId }];
  }

  #auth(packet: Packet, state: State & { at: 'auth' }): ClientLoginAction[] {
    const header = packet.payload[0];
    if (header === okHeader) {
      const ok = decodeOkPacket(packet.payload, state.capabilities);
      if (!ok.ok) return this.#fail(ok.error);
      this.#state = { at: 'finished' };
      const result = {
        handshake: state.handshake,
        capabilities: state.capabilities,
        mariadbCapabilities: this.#mariadbCapabilities,
        ok: ok.value,
      };
      return [{ kind: 'done', result }];
    }
    if (header === errHeader) return this.#serverError(packet.payload);
    if (header === authSwitchHeader) {
      const request = decodeAuthSwitchRequest(packet.payload);
      if (!request.ok) return this.#fail(request.error);
      const answer = clientAuthResponse(request.value.pluginName, request.value.pluginData, this.#options);
      if (!answer.ok) return this.#fail(answer.error);
      return [{ kind: 'send', payload: answer.response, sequenceId: (packet.sequenceId + 1) & 0xff }];
    }
    if (header === authMoreDataHeader) {
      return this.#fail({
        code: 'UNSUPPORTED',
        message: 'the server sent auth-more-data, which no plugin WolfScale speaks uses',
      });
    }
    return this.#fail({
      code: 'MALFORMED',
      message: `unexpected packet 0x${(header ?? 0).toString(16)} during login`,
    });
  }

  #serverError(payload: Buffer): ClientLoginAction[] {
    const err = decodeErrPacket(payload);
    if (!err.ok) return this.#fail(err.error);
    return this.#fail({
      code: 'REFUSED',
      message: `login refused: ${err.value.errorCode} (${err.value.sqlState}) ${err.value.message}`,
      serverError: err.value,
    });
  }
}

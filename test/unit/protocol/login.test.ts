import { describe, expect, test } from 'vitest';
import { ed25519PublicKeyFromPassword, signEd25519 } from '../../../src/protocol/auth/client-ed25519.js';
import {
  nativePasswordStage1,
  nativePasswordStage2,
  nativePasswordToken,
} from '../../../src/protocol/auth/mysql-native-password.js';
import {
  Capability,
  MariaDbCapability,
  wolfscaleClientCapabilities,
} from '../../../src/protocol/capabilities.js';
import { decodeAuthSwitchRequest } from '../../../src/protocol/handshake/auth-switch.js';
import { ClientLogin, type ClientLoginAction } from '../../../src/protocol/handshake/client-login.js';
import {
  decodeHandshakeResponse,
  encodeHandshakeResponse,
  encodeSslRequest,
} from '../../../src/protocol/handshake/handshake-response.js';
import {
  decodeInitialHandshake,
  encodeInitialHandshake,
} from '../../../src/protocol/handshake/initial-handshake.js';
import {
  type AccountCredentials,
  ServerLogin,
  type ServerLoginAction,
} from '../../../src/protocol/handshake/server-login.js';

/** Deterministic "randomness" for the pure server: the test controls every byte. */
function counterBytes(): (count: number) => Buffer {
  let next = 1;
  return (count) => Buffer.from(Array.from({ length: count }, () => (next++ * 37) & 0xff));
}

const accounts: Record<string, AccountCredentials> = {
  native: { plugin: 'mysql_native_password', stage2: nativePasswordStage2(nativePasswordStage1('pw')) },
  ed: { plugin: 'client_ed25519', publicKey: ed25519PublicKeyFromPassword('edpw') },
  nopass: { plugin: 'mysql_native_password', stage2: undefined },
};

function newServer(options: { tls?: boolean } = {}): ServerLogin {
  return new ServerLogin({
    serverVersion: '10.11.19-MariaDB',
    connectionId: 9,
    capabilities: wolfscaleClientCapabilities & ~Capability.mysql,
    mariadbCapabilities: MariaDbCapability.stmtBulkOperations,
    tlsAvailable: options.tls ?? false,
    tlsRequired: false,
    randomBytes: counterBytes(),
    lookupAccount: (user) => accounts[user],
  });
}

/** Runs both state machines against each other until one side finishes. */
function converse(
  client: ClientLogin,
  server: ServerLogin,
): { client: ClientLoginAction[]; server: ServerLoginAction[] } {
  const clientLog: ClientLoginAction[] = [];
  const serverLog: ServerLoginAction[] = [];
  let toClient = server.start();
  for (let round = 0; round < 10; round += 1) {
    serverLog.push(...toClient);
    let toServer: ClientLoginAction[] = [];
    for (const action of toClient) {
      if (action.kind === 'send')
        toServer.push(
          ...client.onPacket({
            firstSequenceId: action.sequenceId,
            sequenceId: action.sequenceId,
            payload: action.payload,
          }),
        );
    }
    const startTls = toServer.some((action) => action.kind === 'start_tls');
    clientLog.push(...toServer);
    toClient = [];
    for (const action of toServer) {
      if (action.kind === 'send')
        toClient.push(
          ...server.onPacket({
            firstSequenceId: action.sequenceId,
            sequenceId: action.sequenceId,
            payload: action.payload,
          }),
        );
    }
    if (startTls) {
      serverLog.push(...toClient);
      toServer = client.afterTls();
      clientLog.push(...toServer);
      toClient = [];
      for (const action of toServer) {
        if (action.kind === 'send')
          toClient.push(
            ...server.onPacket({
              firstSequenceId: action.sequenceId,
              sequenceId: action.sequenceId,
              payload: action.payload,
            }),
          );
      }
    }
    if (toClient.length === 0) break;
  }
  return { client: clientLog, server: serverLog };
}

describe('login state machines (client and server sides of handshake v10)', () => {
  test('mysql_native_password: the server verifies and recovers SHA1(password)', () => {
    const { client, server } = converse(
      new ClientLogin({ user: 'native', password: 'pw', tls: false, database: 'app' }),
      newServer(),
    );
    const done = client.find((action) => action.kind === 'done');
    expect(done?.kind === 'done' && done.result.handshake.serverVersion).toBe('10.11.19-MariaDB');
    const authenticated = server.find((action) => action.kind === 'authenticated');
    expect(authenticated?.kind === 'authenticated' && authenticated.session.database).toBe('app');
    expect(
      authenticated?.kind === 'authenticated' &&
        authenticated.session.stage1?.equals(nativePasswordStage1('pw')),
    ).toBe(true);
  });

  test('client_ed25519: the server switches the client to ed25519 and verifies its signature', () => {
    const { client, server } = converse(
      new ClientLogin({ user: 'ed', password: 'edpw', tls: false }),
      newServer(),
    );
    expect(client.some((action) => action.kind === 'done')).toBe(true);
    expect(server.some((action) => action.kind === 'authenticated')).toBe(true);
  });

  test('a wrong password is denied with ERR 1045 (SQLSTATE 28000), which the client reports', () => {
    const { client, server } = converse(
      new ClientLogin({ user: 'ed', password: 'nope', tls: false }),
      newServer(),
    );
    const failed = client.find((action) => action.kind === 'failed');
    expect(failed?.kind === 'failed' && failed.error.serverError).toMatchObject({
      errorCode: 1045,
      sqlState: '28000',
    });
    expect(server.some((action) => action.kind === 'rejected')).toBe(true);
  });

  test('an account without a password logs in with an empty token', () => {
    const { client } = converse(new ClientLogin({ user: 'nopass', password: '', tls: false }), newServer());
    expect(client.some((action) => action.kind === 'done')).toBe(true);
  });

  test('TLS: the client sends an SSLRequest, both sides upgrade, then authenticate', () => {
    const { client, server } = converse(
      new ClientLogin({ user: 'native', password: 'pw', tls: true }),
      newServer({ tls: true }),
    );
    expect(client.map((action) => action.kind)).toEqual(['send', 'start_tls', 'send', 'done']);
    expect(server.map((action) => action.kind)).toEqual(['send', 'start_tls', 'send', 'authenticated']);
  });

  test('TLS asked of a server that does not offer it fails instead of going plaintext', () => {
    const { client } = converse(
      new ClientLogin({ user: 'native', password: 'pw', tls: true }),
      newServer({ tls: false }),
    );
    const failed = client.find((action) => action.kind === 'failed');
    expect(failed?.kind === 'failed' && failed.error.message).toMatch(/does not offer TLS/);
  });
});

describe('COM_CHANGE_USER', () => {
  test('re-authenticates against the original scramble, switching plugins when the account needs it', () => {
    const server = newServer();
    converse(new ClientLogin({ user: 'native', password: 'pw', tls: false }), server);
    const scramble = server.handshake.authPluginData;
    const capabilities = server.handshake.capabilities;
    const change = (user: string, password: string) =>
      server.changeUser(
        {
          user,
          authResponse: nativePasswordToken(password, scramble),
          database: 'app',
          characterSet: 45,
          authPluginName: 'mysql_native_password',
        },
        capabilities,
      );

    const toNative = change('native', 'pw');
    expect(toNative.map((action) => action.kind)).toEqual(['send', 'authenticated']);
    expect(toNative[0]?.kind === 'send' && toNative[0].sequenceId).toBe(1);

    expect(change('native', 'wrong').map((action) => action.kind)).toEqual(['send', 'rejected']);

    const toEd = change('ed', 'edpw');
    const switchRequest = toEd[0];
    expect(switchRequest?.kind === 'send' && switchRequest.payload[0]).toBe(0xfe);
    const request =
      switchRequest?.kind === 'send' ? decodeAuthSwitchRequest(switchRequest.payload) : undefined;
    if (request === undefined || !request.ok) throw new Error('no auth switch');
    expect(request.value.pluginName).toBe('client_ed25519');
    const answer = server.onPacket({
      firstSequenceId: 2,
      sequenceId: 2,
      payload: signEd25519('edpw', request.value.pluginData),
    });
    expect(answer.map((action) => action.kind)).toEqual(['send', 'authenticated']);
  });
});

describe('handshake packets', () => {
  test('the greeting round-trips, MariaDB extended capabilities included', () => {
    const server = newServer();
    const bytes = encodeInitialHandshake(server.handshake);
    const decoded = decodeInitialHandshake(bytes);
    expect(decoded.ok && decoded.value).toEqual(server.handshake);
    expect(decoded.ok && decoded.value.mariadbCapabilities).toBe(MariaDbCapability.stmtBulkOperations);
  });

  test('handshake responses and SSL requests round-trip', () => {
    const response = {
      capabilities: (wolfscaleClientCapabilities | Capability.connectWithDb) >>> 0,
      mariadbCapabilities: 0,
      maxPacketBytes: 1 << 24,
      characterSet: 45,
      user: 'app',
      authResponse: Buffer.from('0123456789abcdefghij'),
      database: 'db',
      authPluginName: 'mysql_native_password',
      connectAttributes: new Map([['_client_name', 'test']]),
    };
    const decoded = decodeHandshakeResponse(encodeHandshakeResponse(response));
    expect(decoded.ok && decoded.value).toEqual({ kind: 'response', response });
    const ssl = decodeHandshakeResponse(encodeSslRequest(response));
    expect(ssl.ok && ssl.value.kind).toBe('ssl_request');
  });
});

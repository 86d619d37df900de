import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ed25519PublicKeyFromPassword } from '../../src/protocol/auth/client-ed25519.js';
import { nativePasswordStage1, nativePasswordStage2 } from '../../src/protocol/auth/mysql-native-password.js';
import { Capability, hasCapability, ServerStatus } from '../../src/protocol/capabilities.js';
import { CommandCode } from '../../src/protocol/command/command-code.js';
import { ServerLogin } from '../../src/protocol/handshake/server-login.js';
import { encodePacket, type Packet, PacketFramer } from '../../src/protocol/packet/packet-framer.js';
import { encodeColumnDefinition, textColumn } from '../../src/protocol/response/column-definition.js';
import { encodeEofPacket } from '../../src/protocol/response/eof-packet.js';
import { encodeErrPacket } from '../../src/protocol/response/err-packet.js';
import { encodeOkPacket, okEofHeader, okPacket } from '../../src/protocol/response/ok-packet.js';
import { encodeTextRow } from '../../src/protocol/response/text-row.js';
import { writeSelfSignedCertificate } from '../support/self-signed.js';

const execFileAsync = promisify(execFile);

interface SessionRecord {
  user: string;
  tls: boolean;
  queries: string[];
}

/** A duplex over `socket` that first yields `early` (bytes already read from it). */
function replaying(socket: Socket, early: Buffer): Duplex {
  const duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
  });
  duplex.push(early);
  socket.on('data', (chunk: Buffer) => duplex.push(chunk));
  socket.on('end', () => duplex.push(null));
  socket.on('close', () => duplex.destroy());
  return duplex;
}

/**
 * A minimal MySQL server built only on the codec: it logs a client in (native password, optional
 * TLS) and answers every COM_QUERY with a one-column result set echoing the statement.
 */
function startMinimalServer(
  secureContext: SecureContext | undefined,
): Promise<{ server: Server; port: number; sessions: SessionRecord[] }> {
  const sessions: SessionRecord[] = [];
  const stage2 = nativePasswordStage2(nativePasswordStage1('secret'));
  const edPublicKey = ed25519PublicKeyFromPassword('edsecret');
  let connectionId = 0;
  const server = createServer((raw: Socket) => {
    raw.setNoDelay(true);
    let socket: Socket = raw;
    const framer = new PacketFramer();
    const record: SessionRecord = { user: '', tls: false, queries: [] };
    let capabilities = 0;
    connectionId += 1;
    const login = new ServerLogin({
      serverVersion: '10.11.0-WolfScale-test',
      connectionId,
      capabilities:
        Capability.longFlag |
        Capability.connectWithDb |
        Capability.protocol41 |
        Capability.transactions |
        Capability.secureConnection |
        Capability.multiResults |
        Capability.pluginAuth |
        Capability.pluginAuthLenencClientData |
        Capability.connectAttrs |
        Capability.sessionTrack |
        Capability.deprecateEof,
      mariadbCapabilities: 0,
      tlsAvailable: secureContext !== undefined,
      tlsRequired: false,
      randomBytes,
      lookupAccount: (user) => {
        if (user === 'app') return { plugin: 'mysql_native_password', stage2 };
        if (user === 'edapp') return { plugin: 'client_ed25519', publicKey: edPublicKey };
        return undefined;
      },
    });
    let authenticated = false;
    let tlsStarted = false;
    const send = (payload: Buffer, sequenceId: number): number => {
      const framed = encodePacket(payload, sequenceId);
      socket.write(framed.bytes);
      return framed.nextSequenceId;
    };
    const onPacket = (packet: Packet): void => {
      if (!authenticated) {
        for (const action of login.onPacket(packet)) {
          switch (action.kind) {
            case 'send':
              send(action.payload, action.sequenceId);
              break;
            case 'start_tls': {
              raw.removeAllListeners('data');
              // The client may send its TLS ClientHello in the same segment as the SSLRequest: those
              // bytes are in the framer, so TLS then reads through a stream that replays them first.
              const early = framer.takeBuffered();
              tlsStarted = true;
              const secure = new TLSSocket(early.length === 0 ? raw : replaying(raw, early), {
                isServer: true,
                secureContext: secureContext!,
              });
              secure.on('data', onData);
              secure.on('error', () => secure.destroy());
              socket = secure;
              record.tls = true;
              break;
            }
            case 'authenticated':
              authenticated = true;
              capabilities = action.session.capabilities;
              record.user = action.session.user;
              sessions.push(record);
              break;
            case 'rejected':
              socket.end();
              break;
          }
        }
        return;
      }
      answerCommand(packet.payload);
    };
    const answerCommand = (payload: Buffer): void => {
      const deprecateEof = hasCapability(capabilities, Capability.deprecateEof);
      switch (payload[0]) {
        case CommandCode.quit:
          socket.end();
          return;
        case CommandCode.ping:
        case CommandCode.initDb:
          send(encodeOkPacket(okPacket(ServerStatus.autocommit), capabilities), 1);
          return;
        case CommandCode.query: {
          const sql = payload.subarray(1).toString('utf8');
          record.queries.push(sql);
          const value = sql.startsWith('select @@version_comment') ? 'WolfScale test server' : `wolf:${sql}`;
          let sequence = send(Buffer.from([1]), 1);
          sequence = send(encodeColumnDefinition(textColumn('answer')), sequence);
          if (!deprecateEof)
            sequence = send(encodeEofPacket({ warnings: 0, statusFlags: ServerStatus.autocommit }), sequence);
          sequence = send(encodeTextRow([value]), sequence);
          if (deprecateEof)
            send(
              encodeOkPacket(okPacket(ServerStatus.autocommit, { header: okEofHeader }), capabilities),
              sequence,
            );
          else send(encodeEofPacket({ warnings: 0, statusFlags: ServerStatus.autocommit }), sequence);
          return;
        }
        default:
          send(encodeErrPacket({ errorCode: 1047, sqlState: '08S01', message: 'Unknown command' }), 1);
      }
    };
    // Packets are taken one at a time: after an SSLRequest the rest of the chunk belongs to TLS.
    const onData = (chunk: Buffer): void => {
      framer.feed(chunk);
      for (;;) {
        const packet = framer.next();
        if (!packet.ok) {
          socket.destroy();
          return;
        }
        if (packet.value === undefined) return;
        tlsStarted = false;
        onPacket(packet.value);
        if (tlsStarted) return;
      }
    };
    raw.on('data', onData);
    raw.on('error', () => raw.destroy());
    for (const action of login.start()) if (action.kind === 'send') send(action.payload, action.sequenceId);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address !== null ? address.port : 0, sessions });
    });
  });
}

describe('a real mariadb client against a minimal server built on the codec', () => {
  let dir: string;
  let secureContext: SecureContext;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wolfscale-protocol-'));
    // A throwaway self-signed certificate for this test only.
    await writeSelfSignedCertificate(dir);
    secureContext = createSecureContext({
      key: await readFile(join(dir, 'key.pem')),
      cert: await readFile(join(dir, 'cert.pem')),
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function runClient(
    port: number,
    extra: string[],
    password = 'secret',
    user = 'app',
  ): Promise<{ stdout: string; stderr: string; code: number }> {
    try {
      const { stdout, stderr } = await execFileAsync(
        'mariadb',
        [
          '--no-defaults',
          '-h',
          '127.0.0.1',
          '-P',
          String(port),
          '-u',
          user,
          `-p${password}`,
          '--batch',
          '--skip-column-names',
          ...extra,
          '-e',
          'SELECT 42',
        ],
        { timeout: 20_000 },
      );
      return { stdout, stderr, code: 0 };
    } catch (error) {
      const failure = error as { stdout?: string; stderr?: string; code?: number };
      return { stdout: failure.stdout ?? '', stderr: failure.stderr ?? '', code: failure.code ?? 1 };
    }
  }

  test('plaintext: login with mysql_native_password and a query', async () => {
    const { server, port, sessions } = await startMinimalServer(undefined);
    try {
      const result = await runClient(port, ['--skip-ssl']);
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('wolf:SELECT 42');
      expect(sessions).toEqual([{ user: 'app', tls: false, queries: expect.arrayContaining(['SELECT 42']) }]);
    } finally {
      server.close();
    }
  });

  test('TLS: the client upgrades, logs in and queries over TLS', async () => {
    const { server, port, sessions } = await startMinimalServer(secureContext);
    try {
      const result = await runClient(port, ['--ssl', `--ssl-ca=${join(dir, 'cert.pem')}`]);
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('wolf:SELECT 42');
      expect(sessions).toEqual([{ user: 'app', tls: true, queries: expect.arrayContaining(['SELECT 42']) }]);
    } finally {
      server.close();
    }
  });

  test('client_ed25519: the server switches the real client to ed25519 and verifies its signature', async () => {
    const { server, port, sessions } = await startMinimalServer(undefined);
    try {
      const result = await runClient(port, ['--skip-ssl'], 'edsecret', 'edapp');
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('wolf:SELECT 42');
      expect(sessions.map((session) => session.user)).toEqual(['edapp']);
      const refused = await runClient(port, ['--skip-ssl'], 'wrong', 'edapp');
      expect(refused.stderr).toMatch(/Access denied for user 'edapp'/);
    } finally {
      server.close();
    }
  });

  test('a wrong password is refused with access denied', async () => {
    const { server, port, sessions } = await startMinimalServer(undefined);
    try {
      const result = await runClient(port, ['--skip-ssl'], 'wrong');
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/Access denied for user 'app'/);
      expect(sessions).toEqual([]);
    } finally {
      server.close();
    }
  });
});

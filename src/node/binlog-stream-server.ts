import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ApplierTransaction } from '../apply/applier-transaction.js';
import { BinlogStreamEncoder, defaultFormatDescription } from '../apply/binlog-stream.js';
import { parseGtidPosition } from '../mariadb/gtid-position.js';
import { nativePasswordStage1, nativePasswordStage2 } from '../protocol/auth/mysql-native-password.js';
import type { BinlogChecksumAlgorithm } from '../protocol/binlog/binlog-checksum.js';
import { Capability, hasCapability, ServerStatus } from '../protocol/capabilities.js';
import { CommandCode } from '../protocol/command/command-code.js';
import type { Gtid } from '../protocol/gtid.js';
import { ServerLogin } from '../protocol/handshake/server-login.js';
import { encodePacket, type Packet, PacketFramer } from '../protocol/packet/packet-framer.js';
import {
  BINLOG_SEND_ANNOTATE_ROWS_EVENT,
  decodeComBinlogDump,
} from '../protocol/replication/com-binlog-dump.js';
import { encodeColumnDefinition, textColumn } from '../protocol/response/column-definition.js';
import { encodeEofPacket } from '../protocol/response/eof-packet.js';
import { encodeErrPacket } from '../protocol/response/err-packet.js';
import { encodeOkPacket, okEofHeader, okPacket } from '../protocol/response/ok-packet.js';
import { encodeTextRow } from '../protocol/response/text-row.js';

/**
 * Where the stream's transactions come from: committed transactions in commit order. A cursor is
 * opened per replica connection at the replica's GTID state; it may return transactions the state
 * already covers (the encoder skips them), never an uncommitted one.
 */
export interface BinlogFeed {
  open(start: readonly Gtid[]): BinlogFeedCursor;
  /** The FORMAT_DESCRIPTION to open a stream with when the first transaction is not known yet. */
  readonly formatDescription?: Uint8Array;
}

export interface BinlogFeedCursor {
  /** The next transactions (at least one), or [] when `waitMs` passed with nothing new. */
  next(waitMs: number): Promise<readonly ApplierTransaction[]>;
  close(): void;
}

/** An in-memory feed (benchmarks, tests): `push` appends committed transactions. */
export class BinlogTransactionList implements BinlogFeed {
  readonly #transactions: ApplierTransaction[] = [];
  readonly #waiters = new Set<() => void>();

  push(...transactions: readonly ApplierTransaction[]): void {
    this.#transactions.push(...transactions);
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  get length(): number {
    return this.#transactions.length;
  }

  /** The first transaction `position` does not hold (what a stopped SQL thread failed on). */
  firstNotIn(position: readonly Gtid[]): ApplierTransaction | undefined {
    return this.#transactions.find((transaction) => {
      const held = position.find((gtid) => gtid.domainId === transaction.gtid.domainId);
      return held === undefined || held.sequenceNumber < transaction.gtid.sequenceNumber;
    });
  }

  open(_start: readonly Gtid[]): BinlogFeedCursor {
    let next = 0;
    const list = this.#transactions;
    const waiters = this.#waiters;
    return {
      next: async (waitMs) => {
        if (next >= list.length) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              waiters.delete(wake);
              resolve();
            }, waitMs);
            const wake = (): void => {
              clearTimeout(timer);
              resolve();
            };
            waiters.add(wake);
          });
        }
        const batch = list.slice(next, next + 256);
        next += batch.length;
        return batch;
      },
      close: () => {},
    };
  }
}

export interface BinlogStreamServerOptions {
  /** Interface to listen on: the local MariaDB connects here. Default 127.0.0.1. */
  readonly host?: string;
  /** 0 picks a free port (see `port` after `start`). */
  readonly port: number;
  /** The account the replica logs in with (`MASTER_USER`/`MASTER_PASSWORD`), mysql_native_password. */
  readonly user: string;
  readonly password: string;
  /** Our server id as the replica sees it (must differ from the replica's own). */
  readonly serverId: number;
  readonly feed: BinlogFeed;
  readonly logger: Logger;
  /** Checksum of the stream when the replica asks for the primary's `@@global.binlog_checksum`. */
  readonly checksum?: BinlogChecksumAlgorithm;
}

const serverVersion = '10.11.19-MariaDB-WolfScale-binlog-stream';
const heartbeatPeriodDefaultMs = 30_000;
const errUnknownCommand = 1047;
const errUnknownSystemVariable = 1193;
const errMasterFatalReadingBinlog = 1236;
const errNotSupported = 1235;

/** One replica connection's session variables (what the IO thread SETs before the dump). */
interface ReplicaSession {
  readonly variables: Map<string, string | null>;
  capabilities: number;
  connectionId: number;
}

/**
 * A minimal replication primary on a TCP port: MariaDB's IO thread logs in, runs its set-up
 * queries, registers and asks for a GTID dump; this server then streams `feed`'s transactions
 * (encoded by `BinlogStreamEncoder`), with heartbeats when idle. Every query it does not know
 * gets an ERR naming it; only GTID dumps (`MASTER_USE_GTID`) are served.
 */
export class BinlogStreamServer {
  readonly #options: BinlogStreamServerOptions;
  readonly #logger: Logger;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #connectionIds = 0;
  #port = 0;
  #closed = false;

  constructor(options: BinlogStreamServerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#server = createServer((socket) => this.#accept(socket));
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host ?? '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const address = this.#server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : this.#options.port;
  }

  /** Ends every replica connection (the replica reconnects with its IO thread's retry). */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.dropConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    const abort = new AbortController();
    socket.on('close', () => {
      this.#sockets.delete(socket);
      abort.abort();
    });
    socket.on('error', (error) => this.#logger.debug({ err: error }, 'binlog stream: replica socket error'));
    this.#connectionIds += 1;
    const session: ReplicaSession = {
      variables: new Map(),
      capabilities: 0,
      connectionId: this.#connectionIds,
    };
    const stage2 = nativePasswordStage2(nativePasswordStage1(this.#options.password));
    const login = new ServerLogin({
      serverVersion,
      connectionId: session.connectionId,
      capabilities:
        Capability.longFlag |
        Capability.protocol41 |
        Capability.transactions |
        Capability.secureConnection |
        Capability.multiResults |
        Capability.pluginAuth |
        Capability.pluginAuthLenencClientData,
      mariadbCapabilities: 0,
      tlsAvailable: false,
      tlsRequired: false,
      randomBytes,
      lookupAccount: (user) =>
        user === this.#options.user ? { plugin: 'mysql_native_password', stage2 } : undefined,
    });
    const framer = new PacketFramer();
    let authenticated = false;
    let dumping = false;
    const send = (payload: Buffer, sequenceId: number): number => {
      const framed = encodePacket(payload, sequenceId);
      socket.write(framed.bytes);
      return framed.nextSequenceId;
    };
    const onPacket = (packet: Packet): void => {
      if (!authenticated) {
        for (const action of login.onPacket(packet)) {
          if (action.kind === 'send') send(action.payload, action.sequenceId);
          else if (action.kind === 'authenticated') {
            authenticated = true;
            session.capabilities = action.session.capabilities;
          } else if (action.kind === 'rejected') {
            this.#logger.warn({ reason: action.reason }, 'binlog stream: a replica login was refused');
            socket.end();
          }
        }
        return;
      }
      if (dumping) return; // a replica sends nothing during a dump (no semi-sync here)
      const payload = packet.payload;
      switch (payload[0]) {
        case CommandCode.quit:
          socket.end();
          return;
        case CommandCode.ping:
        case CommandCode.registerSlave:
          send(encodeOkPacket(okPacket(ServerStatus.autocommit), session.capabilities), 1);
          return;
        case CommandCode.query:
          this.#answerQuery(session, payload.subarray(1).toString('utf8'), send);
          return;
        case CommandCode.binlogDump: {
          dumping = true;
          void this.#dump(session, payload, socket, abort.signal).catch((error: Error) => {
            this.#logger.warn({ err: error }, 'binlog stream: dump ended with an error');
            socket.destroy();
          });
          return;
        }
        default:
          send(
            encodeErrPacket({
              errorCode: errUnknownCommand,
              sqlState: '08S01',
              message: `WolfScale's binlog stream does not serve command 0x${(payload[0] ?? 0).toString(16)}`,
            }),
            1,
          );
      }
    };
    socket.on('data', (chunk: Buffer) => {
      const packets = framer.push(chunk);
      if (!packets.ok) {
        socket.destroy();
        return;
      }
      for (const packet of packets.value) onPacket(packet);
    });
    for (const action of login.start()) if (action.kind === 'send') send(action.payload, action.sequenceId);
  }

  #checksum(): BinlogChecksumAlgorithm {
    return this.#options.checksum ?? 'crc32';
  }

  /** Answers one set-up query of the IO thread (logged at debug level). */
  #answerQuery(
    session: ReplicaSession,
    sql: string,
    send: (payload: Buffer, sequenceId: number) => number,
  ): void {
    this.#logger.debug({ sql }, 'binlog stream: replica query');
    const ok = (): void => {
      send(encodeOkPacket(okPacket(ServerStatus.autocommit), session.capabilities), 1);
    };
    const error = (errorCode: number, sqlState: string, message: string): void => {
      send(encodeErrPacket({ errorCode, sqlState, message }), 1);
    };
    const rows = (columns: readonly string[], values: ReadonlyArray<string | null>): void => {
      const deprecateEof = hasCapability(session.capabilities, Capability.deprecateEof);
      let sequence = send(Buffer.from([columns.length]), 1);
      for (const column of columns) sequence = send(encodeColumnDefinition(textColumn(column)), sequence);
      if (!deprecateEof)
        sequence = send(encodeEofPacket({ warnings: 0, statusFlags: ServerStatus.autocommit }), sequence);
      sequence = send(encodeTextRow(values), sequence);
      if (deprecateEof)
        send(
          encodeOkPacket(okPacket(ServerStatus.autocommit, { header: okEofHeader }), session.capabilities),
          sequence,
        );
      else send(encodeEofPacket({ warnings: 0, statusFlags: ServerStatus.autocommit }), sequence);
    };
    const text = sql.trim().replace(/;$/, '').trim();
    const set = /^SET\s+@(\w+)\s*:?=\s*(.*)$/is.exec(text);
    if (set !== null) {
      const name = (set[1] ?? '').toLowerCase();
      const value = this.#value(set[2] ?? '');
      if (value === undefined) {
        error(errNotSupported, '42000', `WolfScale's binlog stream cannot evaluate '${text}'`);
        return;
      }
      session.variables.set(name, value);
      ok();
      return;
    }
    const select = /^SELECT\s+(.+)$/is.exec(text);
    if (select !== null) {
      const expression = (select[1] ?? '').trim();
      if (/^UNIX_TIMESTAMP\(\)$/i.test(expression)) {
        rows([expression], [String(Math.floor(Date.now() / 1000))]);
        return;
      }
      const userVariable = /^@(\w+)$/.exec(expression);
      if (userVariable !== null) {
        rows([expression], [session.variables.get((userVariable[1] ?? '').toLowerCase()) ?? null]);
        return;
      }
      const systemVariable = /^@@(?:global\.)?(\w+)$/i.exec(expression);
      if (systemVariable !== null) {
        const value = this.#systemVariable((systemVariable[1] ?? '').toLowerCase());
        if (value === undefined) {
          error(errUnknownSystemVariable, 'HY000', `Unknown system variable '${systemVariable[1]}'`);
          return;
        }
        rows([expression], [value]);
        return;
      }
    }
    const show = /^SHOW\s+VARIABLES\s+LIKE\s+'(\w+)'$/i.exec(text);
    if (show !== null) {
      const name = show[1] ?? '';
      const value = this.#systemVariable(name.toLowerCase());
      if (value === undefined) {
        // An empty result: what MariaDB answers for a variable it does not have.
        const deprecateEof = hasCapability(session.capabilities, Capability.deprecateEof);
        let sequence = send(Buffer.from([2]), 1);
        for (const column of ['Variable_name', 'Value'])
          sequence = send(encodeColumnDefinition(textColumn(column)), sequence);
        if (!deprecateEof)
          sequence = send(encodeEofPacket({ warnings: 0, statusFlags: ServerStatus.autocommit }), sequence);
        if (deprecateEof)
          send(
            encodeOkPacket(okPacket(ServerStatus.autocommit, { header: okEofHeader }), session.capabilities),
            sequence,
          );
        else send(encodeEofPacket({ warnings: 0, statusFlags: ServerStatus.autocommit }), sequence);
        return;
      }
      rows(['Variable_name', 'Value'], [name.toUpperCase(), value]);
      return;
    }
    this.#logger.warn({ sql }, 'binlog stream: a replica query this endpoint does not answer');
    error(
      errNotSupported,
      '42000',
      `WolfScale's binlog stream endpoint does not answer '${text.slice(0, 200)}'`,
    );
  }

  /** The value of a SET's right-hand side: a literal, NULL, or @@global.binlog_checksum. */
  #value(expression: string): string | null | undefined {
    const text = expression.trim();
    if (/^NULL$/i.test(text)) return null;
    if (/^-?\d+(\.\d+)?$/.test(text)) return text;
    const quoted = /^'((?:[^'\\]|\\.|'')*)'$/s.exec(text) ?? /^"((?:[^"\\]|\\.|"")*)"$/s.exec(text);
    if (quoted !== null)
      return (quoted[1] ?? '').replace(/''/g, "'").replace(/\\(.)/g, (_match, c: string) => c);
    const variable = /^@@(?:global\.)?(\w+)$/i.exec(text);
    if (variable !== null) return this.#systemVariable((variable[1] ?? '').toLowerCase()) ?? undefined;
    return undefined;
  }

  #systemVariable(name: string): string | undefined {
    switch (name) {
      case 'server_id':
        return String(this.#options.serverId);
      case 'binlog_checksum':
        return this.#checksum() === 'crc32' ? 'CRC32' : 'NONE';
      case 'gtid_domain_id':
        return '0';
      case 'version':
        return serverVersion;
      case 'log_bin':
        return '1';
      case 'binlog_format':
        return 'ROW';
      case 'gtid_strict_mode':
        return '1';
      default:
        return undefined;
    }
  }

  async #dump(session: ReplicaSession, payload: Buffer, socket: Socket, signal: AbortSignal): Promise<void> {
    const command = decodeComBinlogDump(payload);
    const fail = (message: string): void => {
      this.#logger.warn({ message }, 'binlog stream: refused a dump request');
      socket.write(
        encodePacket(
          encodeErrPacket({ errorCode: errMasterFatalReadingBinlog, sqlState: 'HY000', message }),
          1,
        ).bytes,
      );
      socket.end();
    };
    if (!command.ok) {
      fail(`malformed COM_BINLOG_DUMP: ${command.error.message}`);
      return;
    }
    const connectState = session.variables.get('slave_connect_state');
    if (connectState === undefined || connectState === null) {
      fail(
        "WolfScale's binlog stream serves GTID replication only: CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos",
      );
      return;
    }
    const start = parseGtidPosition(connectState);
    if (!start.ok) {
      fail(`bad @slave_connect_state: ${start.error.message}`);
      return;
    }
    const checksumSetting = session.variables.get('master_binlog_checksum');
    const checksum: BinlogChecksumAlgorithm =
      checksumSetting === undefined || checksumSetting === null || checksumSetting.toUpperCase() === 'NONE'
        ? 'none'
        : 'crc32';
    const heartbeatNs = Number(session.variables.get('master_heartbeat_period') ?? 0);
    const heartbeatMs =
      heartbeatNs > 0 ? Math.max(1, Math.floor(heartbeatNs / 1e6)) : heartbeatPeriodDefaultMs;
    this.#logger.info(
      { start: connectState, checksum, heartbeatMs, replicaServerId: command.value.serverId },
      'binlog stream: a replica started a GTID dump',
    );
    const encoder = new BinlogStreamEncoder({
      baseName: 'wolfscale-bin',
      serverId: this.#options.serverId,
      checksum,
      startState: start.value,
      annotateRows: (command.value.flags & BINLOG_SEND_ANNOTATE_ROWS_EVENT) !== 0,
      nowSeconds: () => Math.floor(Date.now() / 1000),
    });
    const cursor = this.#options.feed.open(start.value);
    let sequence = 1;
    // One socket write per batch, not per event: corked, the packets leave in one writev (a
    // CPU profile of a follower under bench:cluster-writes showed a third of its busy time in
    // the write(2) calls of one write per event).
    const write = async (events: readonly Buffer[]): Promise<void> => {
      let flushed = true;
      socket.cork();
      for (const event of events) {
        const packet = Buffer.allocUnsafe(event.length + 1);
        packet[0] = 0;
        event.copy(packet, 1);
        const framed = encodePacket(packet, sequence);
        sequence = framed.nextSequenceId;
        flushed = socket.write(framed.bytes);
      }
      socket.uncork();
      if (!flushed && !signal.aborted) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            socket.off('drain', done);
            signal.removeEventListener('abort', done);
            resolve();
          };
          socket.on('drain', done);
          signal.addEventListener('abort', done);
        });
      }
    };
    try {
      let pending = await cursor.next(0);
      await write(
        encoder.opening(
          pending[0]?.formatDescription ?? this.#options.feed.formatDescription ?? defaultFormatDescription(),
        ),
      );
      while (!signal.aborted) {
        if (pending.length === 0) {
          // A feed that answers [] without waiting must not turn this into a loop of resolved
          // promises: nothing else on the node would run again (see ReplicaApplyLoop's cursor).
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (signal.aborted) break;
          await write([encoder.heartbeat()]);
        } else {
          const events: Buffer[] = [];
          for (const transaction of pending) events.push(...encoder.transaction(transaction));
          await write(events);
        }
        if (signal.aborted) break;
        pending = await cursor.next(heartbeatMs);
      }
    } finally {
      cursor.close();
    }
  }
}

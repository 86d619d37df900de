import { constants } from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import { stamp, traceNow } from '../node/write-trace.js';
import type { BinlogChecksumAlgorithm } from '../protocol/binlog/binlog-checksum.js';
import {
  type BinlogDecodeContext,
  binlogDecodeContextFrom,
  decodeBinlogEvent,
} from '../protocol/binlog/binlog-event.js';
import { assert } from '../protocol/decoded.js';
import { formatGtidPosition, type Gtid, parseGtidPosition } from '../protocol/gtid.js';
import type { Packet } from '../protocol/packet/packet-framer.js';
import { decodeBinlogStreamPacket } from '../protocol/replication/binlog-stream-packet.js';
import {
  BINLOG_SEND_ANNOTATE_ROWS_EVENT,
  encodeComBinlogDump,
} from '../protocol/replication/com-binlog-dump.js';
import { encodeComRegisterSlave } from '../protocol/replication/com-register-slave.js';
import { dumpSessionStatements } from '../protocol/replication/dump-session-settings.js';
import { encodeSemiSyncReply } from '../protocol/replication/semi-sync.js';
import { CaptureConfigError, fatalServerErrorCodes, MysqlServerError } from './capture-errors.js';
import { type CapturedTransaction, releaseTransaction } from './captured-transaction.js';
import { MysqlClient } from './mysql-client.js';
import { checkSource, type SourceInfo } from './source-checks.js';
import { type AssemblerOutput, TransactionAssembler } from './transaction-assembler.js';

export interface BinlogCaptureOptions {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** TLS to the source; undefined for plaintext (the source is normally on localhost). */
  readonly tls?: ConnectionOptions;
  /** The server id the capture registers with; unique among the source's replicas. */
  readonly replicaServerId: number;
  /**
   * Resume after these GTIDs (one per domain): normally the GTID of the WAL's last transaction.
   * Undefined: start at the source's current `@@gtid_binlog_pos` (capture only new commits).
   */
  readonly startAfter?: readonly Gtid[];
  /** Register as a semi-sync replica; commits then wait for `acknowledge`. Default true. */
  readonly semiSync?: boolean;
  /** A transaction above this many bytes is spilled to a file in `spillDir`. Default 64 MiB. */
  readonly transactionBytesMax?: number;
  readonly spillDir?: string;
  /** Reading from the source pauses while this many transactions wait for `next()`. Default 1000. */
  readonly queuedTransactionsMax?: number;
  /** ... or while this many bytes of them are held in memory. Default 64 MiB. */
  readonly queuedBytesMax?: number;
  /** The source sends a heartbeat after this much silence; 4 missed ones drop the connection. Default 1000. */
  readonly heartbeatIntervalMs?: number;
  readonly reconnectDelayMsMin?: number;
  readonly reconnectDelayMsMax?: number;
  readonly connectTimeoutMs?: number;
  readonly logger: Logger;
}

interface BinlogPosition {
  readonly file: string;
  readonly position: number;
}

function comparePositions(a: BinlogPosition, b: BinlogPosition): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.position - b.position;
}

/** Capture statistics, for status pages and tests. */
export interface CaptureStatus {
  readonly connected: boolean;
  readonly reconnects: number;
  readonly transactionsHandedOut: number;
  /** HEARTBEAT events received: the source is alive while idle. */
  readonly heartbeats: number;
  readonly queuedTransactions: number;
  /** The resume point: the last transaction taken from the source, per domain. */
  readonly position: string;
  readonly acknowledged: BinlogPosition | undefined;
}

/**
 * Captures committed transactions from a MariaDB primary's binlog, as a (semi-sync) replica.
 *
 * Contract:
 * - `next()` yields complete transactions in binlog (commit) order, each exactly once, across
 *   reconnects: after a dropped connection or a restart of the source the capture reconnects
 *   with backoff and resumes after the last transaction it queued. A partially received
 *   transaction is dropped and received again whole.
 * - `acknowledge(t)` sends the semi-sync acknowledgement for `t`'s commit position. The capture
 *   never acknowledges on its own: with AFTER_SYNC, commits on the source wait until the caller
 *   acknowledges (after a quorum holds them). Acknowledging `t` also releases everything before it.
 * - Fatal problems (configuration, privileges, a purged start position) reject `next()` with a
 *   CaptureConfigError whose message says what to fix; the capture then stops.
 * - Memory is bounded: large transactions spill to disk, and reading pauses while the queue is full.
 */
export class BinlogCapture {
  readonly #options: BinlogCaptureOptions;
  readonly #logger: Logger;
  readonly #where: string;
  readonly #semiSync: boolean;
  readonly #queuedTransactionsMax: number;
  readonly #queuedBytesMax: number;
  readonly #heartbeatIntervalMs: number;
  readonly #assembler: TransactionAssembler;
  readonly #spillDir: string;
  readonly #position = new Map<number, Gtid>();
  readonly #queue: CapturedTransaction[] = [];
  #queuedBytes = 0;
  #waiter:
    | { resolve: (transaction: CapturedTransaction) => void; reject: (error: Error) => void }
    | undefined;
  readonly #handedOut = new WeakSet<CapturedTransaction>();
  #handedOutCount = 0;
  #acknowledged: BinlogPosition | undefined;
  #acknowledgementScheduled = false;
  /** WOLFSCALE_WRITE_TRACE: when the current group's GTID event arrived. */
  #groupStartNs = 0n;
  #client: MysqlClient | undefined;
  #streaming = false;
  #paused = false;
  #source: SourceInfo | undefined;
  #fatal: Error | undefined;
  #stopped = false;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #reconnects = 0;
  #heartbeats = 0;
  #formatDescription: Buffer | undefined;

  constructor(options: BinlogCaptureOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#where = `${options.host}:${options.port}`;
    this.#semiSync = options.semiSync ?? true;
    this.#queuedTransactionsMax = options.queuedTransactionsMax ?? 1000;
    this.#queuedBytesMax = options.queuedBytesMax ?? 64 * 1024 * 1024;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1000;
    this.#spillDir = options.spillDir ?? tmpdir();
    this.#assembler = new TransactionAssembler({
      transactionBytesMax: options.transactionBytesMax ?? 64 * 1024 * 1024,
      spillDir: this.#spillDir,
      spillPrefix: `wolfscale-capture-${process.pid}-${options.replicaServerId}-${Date.now()}`,
    });
    for (const gtid of options.startAfter ?? []) this.#position.set(gtid.domainId, gtid);
  }

  /**
   * Connects, checks the source (throwing CaptureConfigError with what to fix, including a start
   * position no longer in the binlogs) and starts streaming in the background. Resolves once the
   * source sent its first event. A transient failure (source down) rejects with a plain Error:
   * the caller retries start() on a new BinlogCapture.
   */
  async start(): Promise<SourceInfo> {
    assert(this.#loop === undefined, 'start() is called once');
    await this.#checkSpillDir();
    const client = await this.#connect();
    try {
      const source = await checkSource(client, {
        where: this.#where,
        semiSync: this.#semiSync,
        replicaServerId: this.#options.replicaServerId,
      });
      this.#source = source;
      if (this.#options.startAfter === undefined) {
        const parsed = parseGtidPosition(source.gtidBinlogPosition);
        if (!parsed.ok)
          throw new CaptureConfigError(
            `MariaDB at ${this.#where} reports an unreadable gtid_binlog_pos: ${parsed.error.message}`,
          );
        for (const gtid of parsed.value) this.#position.set(gtid.domainId, gtid);
      }
      const ready = await this.#requestDump(client);
      // The source answers a dump request at once: with its first event (an artificial ROTATE),
      // or with an error such as "GTID position purged", which start() reports itself.
      const outcome = await Promise.race([ready.streaming.then(() => undefined), ready.ended]);
      if (outcome !== undefined) throw this.#isFatal(outcome) ? this.#explain(outcome) : outcome;
      this.#loop = this.#run(client, ready.ended);
      return source;
    } catch (error) {
      client.close();
      this.#client = undefined;
      this.#streaming = false;
      throw error;
    }
  }

  async #checkSpillDir(): Promise<void> {
    try {
      await access(this.#spillDir, constants.W_OK);
    } catch (error) {
      throw new CaptureConfigError(
        `the capture cannot write its spill directory ${this.#spillDir} (${(error as Error).message}): create it or set spillDir to a writable directory`,
      );
    }
  }

  /** The FORMAT_DESCRIPTION event of the binlog file being read (raw bytes), once one arrived. */
  get formatDescription(): Buffer | undefined {
    return this.#formatDescription;
  }

  get status(): CaptureStatus {
    return {
      connected: this.#streaming,
      reconnects: this.#reconnects,
      transactionsHandedOut: this.#handedOutCount,
      heartbeats: this.#heartbeats,
      queuedTransactions: this.#queue.length,
      position: formatGtidPosition([...this.#position.values()]),
      acknowledged: this.#acknowledged,
    };
  }

  /** The next transaction in commit order. Rejects when the capture failed fatally or was stopped. */
  async next(): Promise<CapturedTransaction> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return this.#handOut(queued);
    if (this.#fatal !== undefined) throw this.#fatal;
    if (this.#stopped) throw new Error('the capture was stopped');
    assert(this.#waiter === undefined, 'one next() at a time');
    return await new Promise<CapturedTransaction>((resolve, reject) => {
      this.#waiter = { resolve: (transaction) => resolve(this.#handOut(transaction)), reject };
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<CapturedTransaction> {
    for (;;) yield await this.next();
  }

  #handOut(transaction: CapturedTransaction): CapturedTransaction {
    this.#handedOut.add(transaction);
    this.#handedOutCount += 1;
    this.#queuedBytes -= transaction.events.kind === 'memory' ? transaction.eventBytes : 0;
    if (!this.#queueFull()) this.#resumeReading();
    return transaction;
  }

  /**
   * Acknowledges `transaction` (and everything before it) to the source: its commit, and those
   * before it, complete. Only transactions this capture handed out can be acknowledged.
   */
  acknowledge(transaction: CapturedTransaction): void {
    if (!this.#handedOut.has(transaction)) {
      throw new Error(`acknowledge(${transaction.gtidText}): this capture did not hand out that transaction`);
    }
    const position = { file: transaction.binlogFile, position: transaction.binlogPosition };
    if (this.#acknowledged !== undefined && comparePositions(position, this.#acknowledged) <= 0) return;
    this.#acknowledged = position;
    // Acknowledgements given in one run of the caller (a group commit's transactions reaching
    // the quorum together) leave as one reply for the last position, which releases every commit
    // before it on the source: one socket write per group instead of one per transaction.
    if (this.#acknowledgementScheduled) return;
    this.#acknowledgementScheduled = true;
    process.nextTick(() => {
      this.#acknowledgementScheduled = false;
      this.#sendAcknowledgement();
    });
  }

  #sendAcknowledgement(): void {
    const acknowledged = this.#acknowledged;
    if (!this.#semiSync || acknowledged === undefined || this.#client === undefined || !this.#streaming)
      return;
    this.#client.sendPacket(
      encodeSemiSyncReply({ position: BigInt(acknowledged.position), fileName: acknowledged.file }),
      0,
    );
  }

  /** Stops streaming and closes the connection. Queued transactions not handed out are released. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    this.#client?.close();
    await this.#loop;
    this.#waiter?.reject(new Error('the capture was stopped'));
    this.#waiter = undefined;
    const abandoned = this.#assembler.discard();
    if (abandoned?.kind === 'abandoned' && abandoned.spillPath !== undefined)
      await rm(abandoned.spillPath, { force: true });
    for (const transaction of this.#queue.splice(0)) await releaseTransaction(transaction);
  }

  async #connect(): Promise<MysqlClient> {
    return await MysqlClient.connect({
      host: this.#options.host,
      port: this.#options.port,
      user: this.#options.user,
      password: this.#options.password,
      ...(this.#options.tls === undefined ? {} : { tls: this.#options.tls }),
      connectTimeoutMs: this.#options.connectTimeoutMs ?? 5000,
      logger: this.#logger,
    });
  }

  /** Sets the session up, registers, requests the dump; resolves to a promise of the stream's end. */
  async #requestDump(
    client: MysqlClient,
  ): Promise<{ readonly ended: Promise<Error>; readonly streaming: Promise<void> }> {
    assert(this.#source !== undefined, 'the source was checked');
    // Announce the checksum the source uses now (it may have changed since start): a replica
    // announcing another one is refused, and the first events arrive with the announced one.
    const row = await client.queryRow('SELECT @@global.binlog_checksum AS checksum');
    const checksum: BinlogChecksumAlgorithm =
      (row['checksum'] ?? '').toUpperCase() === 'NONE' ? 'none' : 'crc32';
    const startAfter = [...this.#position.values()];
    for (const sql of dumpSessionStatements({
      gtidPosition: startAfter,
      checksum,
      heartbeatPeriodMs: this.#heartbeatIntervalMs,
      semiSync: this.#semiSync,
    })) {
      await client.query(sql);
    }
    client.sendCommand(
      encodeComRegisterSlave({
        serverId: this.#options.replicaServerId,
        host: '',
        user: '',
        password: '',
        port: 0,
      }),
    );
    await client.readOk();
    // ANNOTATE_ROWS events are requested so transactions hold exactly the events of the binlog.
    client.sendCommand(
      encodeComBinlogDump({
        position: 4,
        flags: BINLOG_SEND_ANNOTATE_ROWS_EVENT,
        serverId: this.#options.replicaServerId,
        fileName: '',
      }),
    );
    this.#logger.info(
      { source: this.#where, startAfter: formatGtidPosition(startAfter), semiSync: this.#semiSync },
      'capture: binlog dump requested',
    );
    let context: BinlogDecodeContext = { checksum };
    let binlogFile = '';
    const ended = new Promise<Error>((resolve) => client.onClose(resolve));
    let markStreaming: () => void = () => undefined;
    const streaming = new Promise<void>((resolve) => {
      markStreaming = resolve;
    });
    const onPacket = (packet: Packet): void => {
      try {
        const next = this.#onPacket(packet, context, binlogFile);
        context = next.context;
        binlogFile = next.binlogFile;
        markStreaming();
      } catch (error) {
        client.socket.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    };
    this.#client = client;
    this.#paused = false;
    this.#armIdleTimeout(client);
    this.#streaming = true;
    client.stream(onPacket);
    this.#sendAcknowledgement();
    if (this.#queueFull()) this.#pauseReading();
    return { ended, streaming };
  }

  #onPacket(
    packet: Packet,
    context: BinlogDecodeContext,
    binlogFile: string,
  ): { context: BinlogDecodeContext; binlogFile: string } {
    const streamPacket = decodeBinlogStreamPacket(packet.payload, { semiSync: this.#semiSync });
    if (!streamPacket.ok)
      throw new Error(`bad binlog stream packet from ${this.#where}: ${streamPacket.error.message}`);
    const item = streamPacket.value;
    if (item.kind === 'error')
      throw new MysqlServerError(item.error.errorCode, item.error.sqlState, item.error.message);
    if (item.kind === 'eof') throw new Error(`MariaDB at ${this.#where} ended the binlog stream`);
    const decoded = decodeBinlogEvent(item.event, context);
    if (!decoded.ok) throw new Error(`bad binlog event from ${this.#where}: ${decoded.error.message}`);
    const event = decoded.value;
    switch (event.body.kind) {
      case 'format_description':
        this.#formatDescription = Buffer.from(item.event);
        return { context: binlogDecodeContextFrom(event.body), binlogFile };
      case 'rotate':
        return { context, binlogFile: event.body.fileName };
      case 'heartbeat':
        this.#heartbeats += 1;
        return { context, binlogFile };
      case 'gtid_list':
      case 'binlog_checkpoint':
        return { context, binlogFile };
      default: {
        if (event.body.kind === 'gtid') this.#groupStartNs = traceNow();
        const formatDescription = this.#formatDescription;
        if (formatDescription === undefined)
          throw new Error(`MariaDB at ${this.#where} sent events before a FORMAT_DESCRIPTION`);
        for (const output of this.#assembler.push(item.event, event, { binlogFile, formatDescription }))
          this.#onAssembled(output);
        return { context, binlogFile };
      }
    }
  }

  #onAssembled(output: AssemblerOutput): void {
    switch (output.kind) {
      case 'none':
        return;
      case 'abandoned':
        this.#logger.warn(
          { gtid: output.gtidText },
          'capture: an event group ended without its commit event; dropped',
        );
        if (output.spillPath !== undefined) void rm(output.spillPath, { force: true });
        return;
      case 'transaction':
        this.#enqueue(output.transaction);
        return;
    }
  }

  #enqueue(transaction: CapturedTransaction): void {
    const previous = this.#position.get(transaction.gtid.domainId);
    if (previous !== undefined && transaction.gtid.sequenceNumber <= previous.sequenceNumber) {
      // gtid_strict_mode makes sequence numbers grow per domain: this one was captured already.
      this.#logger.warn({ gtid: transaction.gtidText }, 'capture: skipped a transaction already captured');
      void releaseTransaction(transaction);
      return;
    }
    this.#position.set(transaction.gtid.domainId, transaction.gtid);
    stamp(transaction, this.#groupStartNs);
    // Counted here and released in #handOut, also when a waiting next() takes it at once.
    this.#queuedBytes += transaction.events.kind === 'memory' ? transaction.eventBytes : 0;
    const waiter = this.#waiter;
    if (waiter !== undefined && this.#queue.length === 0) {
      this.#waiter = undefined;
      waiter.resolve(transaction);
      return;
    }
    this.#queue.push(transaction);
    if (this.#queueFull()) this.#pauseReading();
  }

  #queueFull(): boolean {
    return this.#queue.length >= this.#queuedTransactionsMax || this.#queuedBytes >= this.#queuedBytesMax;
  }

  /** Stops reading from the source while the queue is full; the idle timeout is off meanwhile. */
  #pauseReading(): void {
    const client = this.#client;
    if (client === undefined || this.#paused) return;
    this.#paused = true;
    client.setIdleTimeout(0, '');
    client.pause();
  }

  #resumeReading(): void {
    const client = this.#client;
    if (client === undefined || !this.#paused) return;
    this.#paused = false;
    this.#armIdleTimeout(client);
    client.resume();
  }

  #armIdleTimeout(client: MysqlClient): void {
    client.setIdleTimeout(
      this.#heartbeatIntervalMs * 4,
      `no event or heartbeat from MariaDB at ${this.#where}`,
    );
  }

  #fail(error: Error): void {
    this.#fatal = error;
    this.#logger.error({ source: this.#where, err: error.message }, 'capture: stopped by a fatal error');
    this.#waiter?.reject(error);
    this.#waiter = undefined;
  }

  #isFatal(error: unknown): boolean {
    return (
      error instanceof CaptureConfigError ||
      (error instanceof MysqlServerError && fatalServerErrorCodes.has(error.errorCode))
    );
  }

  #explain(error: unknown): Error {
    if (error instanceof MysqlServerError && error.errorCode === 1236) {
      return new CaptureConfigError(
        `MariaDB at ${this.#where} cannot stream from GTID position '${formatGtidPosition([...this.#position.values()])}': ${error.message}. ` +
          'The binlogs holding it were purged (or the position is ahead of the source): rebuild this node from a snapshot (wolfctl migrate).',
      );
    }
    if (
      error instanceof MysqlServerError &&
      (error.errorCode === 1227 || error.errorCode === 1045 || error.errorCode === 1698)
    ) {
      return new CaptureConfigError(
        `MariaDB at ${this.#where} refused the capture account '${this.#options.user}': ${error.message}. ` +
          `It needs: GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '${this.#options.user}'@'<host>'`,
      );
    }
    return error instanceof Error ? error : new Error(String(error));
  }

  async #run(client: MysqlClient, ended: Promise<Error>): Promise<void> {
    let current: MysqlClient | undefined = client;
    let streamEnded: Promise<Error> | undefined = ended;
    let attempt = 0;
    // stop() closes the connection it can see (`#client`); one still being opened or set up is
    // not there yet. Every wait here therefore also ends on stop(): a reconnect that completed
    // after stop() streamed on, and stop() waited for that stream to end (chaos L1, 3 nodes,
    // seed 31: a step-down hung 46 s in "capture stopped", its node won an election meanwhile and
    // could not open for writes — 30 s without a leader; docs/RELIABILITY.md failure 19).
    const stopped = new Promise<Error>((resolve) => {
      const signal = this.#abort.signal;
      if (signal.aborted) resolve(new Error('the capture was stopped'));
      else
        signal.addEventListener('abort', () => resolve(new Error('the capture was stopped')), { once: true });
    });
    while (!this.#stopped) {
      try {
        if (current === undefined) {
          current = await this.#connect();
          if (this.#stopped) break;
          streamEnded = (await this.#requestDump(current)).ended;
          if (this.#stopped) break;
          this.#logger.info({ source: this.#where, reconnects: this.#reconnects }, 'capture: reconnected');
        }
        assert(streamEnded !== undefined, 'a streaming connection has an end');
        const reason = await Promise.race([streamEnded, stopped]);
        if (this.#isFatal(reason)) throw reason;
        if (!this.#stopped)
          this.#logger.warn(
            { source: this.#where, reason: reason.message },
            'capture: connection lost; reconnecting',
          );
        attempt = 0;
      } catch (error) {
        if (this.#isFatal(error)) {
          current?.close();
          this.#streaming = false;
          this.#fail(this.#explain(error));
          return;
        }
        if (!this.#stopped) {
          this.#logger.warn(
            { source: this.#where, err: error instanceof Error ? error.message : String(error), attempt },
            'capture: reconnect failed',
          );
        }
      }
      current?.close();
      current = undefined;
      streamEnded = undefined;
      this.#streaming = false;
      this.#client = undefined;
      const abandoned = this.#assembler.discard();
      if (abandoned !== undefined) this.#onAssembled(abandoned);
      if (this.#stopped) break;
      this.#reconnects += 1;
      const min = this.#options.reconnectDelayMsMin ?? 50;
      const max = this.#options.reconnectDelayMsMax ?? 5000;
      attempt += 1;
      try {
        await delay(Math.min(max, min * 2 ** Math.min(attempt - 1, 16)), undefined, {
          signal: this.#abort.signal,
        });
      } catch {
        break;
      }
    }
    current?.close();
    this.#streaming = false;
    this.#client = undefined;
  }
}

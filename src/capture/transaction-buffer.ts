import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { binlogFileMagic } from '../protocol/binlog/binlog-file.js';
import type { TransactionEvents } from './captured-transaction.js';

/**
 * Collects the raw events of one transaction. Below `transactionBytesMax` they stay in memory;
 * beyond it they go to a spill file in `spillDir`, so a huge transaction costs disk, not heap.
 *
 * Writes are synchronous: spilling is rare (only transactions above the bound), and synchronous
 * appends keep the events in order without an async queue.
 */
export class TransactionBuffer {
  readonly #transactionBytesMax: number;
  readonly #spillPath: string;
  #events: Buffer[] = [];
  #bytes = 0;
  #eventCount = 0;
  #fd: number | undefined;

  constructor(options: {
    readonly transactionBytesMax: number;
    readonly spillDir: string;
    readonly spillName: string;
  }) {
    this.#transactionBytesMax = options.transactionBytesMax;
    this.#spillPath = join(options.spillDir, options.spillName);
  }

  get bytes(): number {
    return this.#bytes;
  }

  get spilled(): boolean {
    return this.#fd !== undefined;
  }

  /** Appends one event. The buffer keeps a copy: `event` may share memory with a socket chunk. */
  append(event: Buffer): void {
    this.#bytes += event.length;
    this.#eventCount += 1;
    if (this.#fd === undefined && this.#bytes > this.#transactionBytesMax) this.#spill();
    if (this.#fd !== undefined) writeAll(this.#fd, event);
    else this.#events.push(Buffer.from(event));
  }

  #spill(): void {
    const fd = openSync(this.#spillPath, 'wx', 0o600);
    this.#fd = fd;
    writeAll(fd, binlogFileMagic);
    for (const event of this.#events) writeAll(fd, event);
    this.#events = [];
  }

  /** Ends the transaction: its events, in memory or as the closed spill file. */
  finish(): TransactionEvents {
    if (this.#fd === undefined) return { kind: 'memory', events: this.#events };
    closeSync(this.#fd);
    this.#fd = undefined;
    return { kind: 'spilled', path: this.#spillPath, eventCount: this.#eventCount };
  }

  /** Drops an incomplete transaction (the connection broke mid-group). */
  discard(): string | undefined {
    this.#events = [];
    if (this.#fd === undefined) return undefined;
    closeSync(this.#fd);
    this.#fd = undefined;
    return this.#spillPath;
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
}

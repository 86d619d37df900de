import { readFileSync, writeFileSync } from 'node:fs';
import type { EngineConfig, NodeId } from '../../src/consensus/index.js';
import { reliableNetwork } from './sim-network.js';
import { Simulation } from './simulation.js';

/**
 * Scenario transcripts in the spirit of etcd's `testdata/*.txt` (datadriven): each block is one
 * command line, `----`, and the output the command must produce. Blocks are separated by a blank
 * line; `#` lines outside blocks are comments. `REWRITE=1` regenerates the expected output, which
 * is then reviewed as a diff.
 *
 * Commands:
 *   cluster nodes=N [failback=false] [never-leader=n3] [dead-node-removal=T] [members=n1,n2,n3]
 *                                  (nodes outside `members` start empty, as joining nodes do)
 *   tick N [verbose]               run N ticks; print role changes, events, statuses, truncations
 *                                  (verbose: every command)
 *   propose NODE [count=K]         client proposals at NODE
 *   status                         one line per node
 *   statuses NODE                  the member statuses NODE reports (leaders only)
 *   partition A B | C D            cut every link between the groups (both ways)
 *   partition-oneway A -> B C      drop what A sends to B and C
 *   heal                           restore every link
 *   crash NODE [keep-unsynced=K] / restart NODE
 *   health NODE up|down            the node's MariaDB health
 *   transfer NODE to=ID|any        promote/demote input at NODE
 *   force-promote NODE members=A,B
 *   add NODE ID / remove NODE ID   membership change requested at NODE (the leader)
 *   check                          checker violations so far, and who holds every acknowledged entry
 *   migrate NODE from=SOURCE       restore NODE from a snapshot of SOURCE's applied state
 *   purge NODE upto=K              the runtime's retention drops WAL entries up to K
 *   local-check NODE hold|release  hold the node's modelled rewind check (a slow rewind), or let
 *                                  it run (checks begin once the log is final and take 0 ticks
 *                                  in transcripts)
 */
export interface Block {
  readonly command: string;
  readonly expected: string;
}

export function parseTranscript(text: string): { blocks: Block[]; comments: Map<number, string[]> } {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  const comments = new Map<number, string[]>();
  let pending: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
      continue;
    }
    if (line.startsWith('#')) {
      pending.push(line);
      i++;
      continue;
    }
    const command = line;
    if (lines[i + 1] !== '----') throw new Error(`line ${i + 2}: expected ---- after "${command}"`);
    i += 2;
    const output: string[] = [];
    while (i < lines.length && lines[i] !== '') output.push(lines[i++]!);
    if (pending.length > 0) comments.set(blocks.length, pending);
    pending = [];
    blocks.push({ command, expected: output.join('\n') });
  }
  return { blocks, comments };
}

export function formatTranscript(blocks: readonly Block[], comments: ReadonlyMap<number, string[]>): string {
  const parts = blocks.map((block, index) => {
    const head = comments.get(index)?.join('\n');
    const body = `${block.command}\n----\n${block.expected}`;
    return head === undefined ? body : `${head}\n${body}`;
  });
  return `${parts.join('\n\n')}\n`;
}

function parseArgs(words: readonly string[]): { positional: string[]; named: Map<string, string> } {
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq > 0) named.set(word.slice(0, eq), word.slice(eq + 1));
    else positional.push(word);
  }
  return { positional, named };
}

/** Commands shown by `tick` (the rest only with `verbose`). */
const notable =
  /: (role |event |status |needs migration |truncate |proposal rejected|local state checked|applied the log|behind applying)/;

export class TranscriptRunner {
  private sim: Simulation | null = null;

  private world(): Simulation {
    if (this.sim === null) throw new Error('no cluster: start with "cluster nodes=N"');
    return this.sim;
  }

  run(command: string): string {
    const [name, ...rest] = command.trim().split(/\s+/);
    const { positional, named } = parseArgs(rest);
    switch (name) {
      case 'cluster':
        return this.cluster(named);
      case 'tick':
        return this.tick(Number(positional[0] ?? '1'), positional.includes('verbose'));
      case 'propose':
        return this.captured(() => {
          const node = this.world().node(positional[0]!);
          for (let i = 0; i < Number(named.get('count') ?? '1'); i++) this.world().propose(node);
        }, /: proposal /);
      case 'status':
        return this.status();
      case 'statuses':
        return this.statuses(positional[0]!);
      case 'partition':
        return this.partition(rest);
      case 'partition-oneway': {
        const [from, arrow, ...to] = positional;
        if (arrow !== '->') throw new Error('partition-oneway A -> B C');
        for (const id of to) this.world().network.block(from!, id);
        return `blocked: ${this.world().network.blockedLinks().join(' ')}`;
      }
      case 'heal':
        this.world().network.heal();
        return 'ok';
      case 'crash': {
        const node = this.world().node(positional[0]!);
        node.crash(Number(named.get('keep-unsynced') ?? '0'));
        this.world().network.dropTo(node.id);
        return `${node.id} down; WAL ${node.walFirstIndex()}..${node.walLastIndex()} (synced ${node.syncedIndex})`;
      }
      case 'restart':
        return this.captured(() => this.world().node(positional[0]!).start(), notable, 'ok');
      case 'health':
        return this.captured(
          () => this.world().setHealth(this.world().node(positional[0]!), positional[1] === 'up'),
          notable,
          'ok',
        );
      case 'transfer':
        return this.captured(() => {
          const to = named.get('to') ?? 'any';
          this.world()
            .node(positional[0]!)
            .step({ kind: 'transferLeadership', to: to === 'any' ? null : to });
        }, notable);
      case 'force-promote':
        return this.captured(() => {
          this.world().forcedPromotion = true;
          const members = (named.get('members') ?? '').split(',').filter((id) => id !== '');
          this.world().node(positional[0]!).step({ kind: 'forcePromote', members });
        }, notable);
      case 'add':
        return this.captured(
          () =>
            this.world()
              .node(positional[0]!)
              .step({ kind: 'addMember', id: positional[1]!, neverLeader: false }),
          notable,
          'ok',
        );
      case 'remove':
        return this.captured(
          () => this.world().node(positional[0]!).step({ kind: 'removeMember', id: positional[1]! }),
          notable,
          'ok',
        );
      case 'check':
        return this.check();
      case 'local-check': {
        const node = this.world().node(positional[0]!);
        node.checkHeld = positional[1] === 'hold';
        return `${node.id}: rewind check ${node.checkHeld ? 'held' : 'released'}`;
      }
      case 'apply': {
        const node = this.world().node(positional[0]!);
        node.applyHeld = positional[1] === 'hold';
        return `${node.id}: applying ${node.applyHeld ? 'held' : 'released'}`;
      }
      case 'purge': {
        const node = this.world().node(positional[0]!);
        node.purge(Number(named.get('upto') ?? '0'));
        return `${node.id}: WAL ${node.walFirstIndex()}..${node.walLastIndex()}`;
      }
      case 'migrate': {
        const target = this.world().node(positional[0]!);
        const source = this.world().node(named.get('from') ?? '');
        target.migrateFrom(source);
        return `${target.id}: snapshot of ${source.id} at ${target.walPurged.term}/${target.walPurged.index}`;
      }
      default:
        throw new Error(`unknown command "${name}"`);
    }
  }

  private cluster(named: Map<string, string>): string {
    const nodeCount = Number(named.get('nodes') ?? '3');
    const config: Partial<{ -readonly [K in keyof EngineConfig]: EngineConfig[K] }> = {};
    if (named.get('failback') === 'false') config.failback = false;
    const removal = named.get('dead-node-removal');
    if (removal !== undefined) config.deadNodeRemovalTicks = Number(removal);
    const neverLeader = (named.get('never-leader') ?? '').split(',').filter((id) => id !== '');
    const initialMembers = named.get('members')?.split(',');
    this.sim = new Simulation(
      {
        seed: 1,
        nodeCount,
        chaosTicks: 0,
        settleTicks: 0,
        engineConfig: config,
        neverLeader,
        varyConfig: false,
        ...(initialMembers === undefined ? {} : { initialMembers }),
      },
      'collect',
    );
    const sim = this.sim;
    sim.network.faults = reliableNetwork;
    sim.fsyncDelayTicksMax = 0;
    sim.checkDelayTicksMax = 0;
    sim.autoMigrate = false;
    return `${nodeCount} nodes: ${sim.nodes.map((n) => n.id).join(' ')}; failback ${config.failback === false ? 'off' : 'on'}`;
  }

  /** Runs `action` while recording commands; returns the recorded lines that match `filter`. */
  private captured(action: () => void, filter: RegExp, empty = '(nothing)'): string {
    const sim = this.world();
    sim.trace = [];
    action();
    const lines = sim.trace.filter((line) => filter.test(line));
    sim.trace = null;
    return lines.length > 0 ? lines.join('\n') : empty;
  }

  private tick(count: number, verbose: boolean): string {
    const sim = this.world();
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      sim.trace = [];
      sim.tick();
      for (const line of sim.trace) {
        if (verbose || notable.test(line)) out.push(`t=${sim.now} ${line}`);
      }
    }
    sim.trace = null;
    return out.length > 0 ? out.join('\n') : '(nothing)';
  }

  private status(): string {
    return this.world()
      .nodes.map((node) => {
        if (node.engine === null)
          return `${node.id}: down (WAL ${node.walFirstIndex()}..${node.walLastIndex()})`;
        const s = node.engine.status();
        const members = s.members.map((m) => m.id).join(',');
        return `${node.id}: ${s.role} term=${s.term} leader=${s.leaderId ?? '-'} commit=${s.commitIndex} last=${s.lastLogId.term}/${s.lastLogId.index} applied=${node.appliedIndex} members=${members}${node.healthy ? '' : ' unhealthy'}`;
      })
      .join('\n');
  }

  private statuses(id: NodeId): string {
    const statuses = this.world().node(id).engine?.nodeStatuses() ?? new Map();
    if (statuses.size === 0) return '(none: not the leader)';
    return [...statuses.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([node, status]) => `${node}: ${status}`)
      .join('\n');
  }

  private partition(words: readonly string[]): string {
    const groups: string[][] = [[]];
    for (const word of words) {
      if (word === '|') groups.push([]);
      else groups[groups.length - 1]!.push(word);
    }
    this.world().network.partition(groups);
    return groups.map((group) => group.join(' ')).join(' | ');
  }

  private check(): string {
    const sim = this.world();
    const out = sim.checker.violations.map((violation) => `violation: ${violation}`);
    const acked = [...sim.checker.ackedEntries().keys()].sort((a, b) => a - b);
    out.push(
      `acknowledged: ${acked.length} entries${acked.length > 0 ? ` (${acked[0]}..${acked[acked.length - 1]})` : ''}`,
    );
    for (const node of sim.nodes) {
      const missing = acked.filter((index) => {
        if (index < node.walFirstIndex()) return false;
        const key = sim.checker.ackedEntries().get(index);
        const entry = node.entryAt(index);
        return (
          entry === undefined ||
          `${entry.kind}@${entry.term}:${new TextDecoder().decode(entry.payload)}` !== key
        );
      });
      out.push(
        `${node.id}: ${missing.length === 0 ? 'holds all' : `missing ${missing.length} (${missing[0]}..)`}`,
      );
    }
    return out.join('\n');
  }
}

/** Runs a transcript file; returns the actual text (same layout, actual outputs). */
export function runTranscriptFile(path: string): { expected: string; actual: string } {
  const expected = readFileSync(path, 'utf8');
  const { blocks, comments } = parseTranscript(expected);
  const runner = new TranscriptRunner();
  const actualBlocks = blocks.map((block) => {
    let output: string;
    try {
      output = runner.run(block.command);
    } catch (error) {
      output = `error: ${(error as Error).message}`;
    }
    return { command: block.command, expected: output };
  });
  return { expected, actual: formatTranscript(actualBlocks, comments) };
}

export function rewriteTranscriptFile(path: string, actual: string): void {
  writeFileSync(path, actual);
}

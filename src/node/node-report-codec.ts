import { ByteReader } from '../protocol/byte-reader.js';
import { ByteWriter } from '../protocol/byte-writer.js';
import { type Decoded, decodeSafely } from '../protocol/decoded.js';

/**
 * Node-level reports beside the engine's messages, on the same cluster connections. Pure. They
 * carry what the engine does not know: how far each node has *applied* its log to MariaDB.
 *
 * - `applyReport` (follower → leader, every heartbeat): applied index, apply lag in ms, whether
 *   applying stopped and whether its MariaDB answers. Feeds flow control and the leader's views.
 * - `clusterReport` (leader → followers, every heartbeat): every member's match and applied index
 *   and apply lag as the leader knows them, and the retention floor (the oldest entry a live
 *   member still lacks), so a follower's `/cluster` shows real lag and its retention keeps what
 *   the members need.
 *
 * Frame: u8 version (1) · u8 kind (64 apply, 65 cluster) · str from · str to · u48 term · body.
 * Kind codes start at 64 so they can never be mistaken for an engine message (kinds 1–9).
 */
const codecVersion = 1;
const applyKind = 64;
const clusterKind = 65;
const nodesMax = 64;
const u48Max = 2 ** 48 - 1;

export interface ApplyReport {
  readonly kind: 'applyReport';
  readonly from: string;
  readonly to: string;
  readonly term: number;
  readonly appliedIndex: number;
  readonly applyLagMs: number;
  readonly applyFailed: boolean;
  readonly mariadbHealthy: boolean;
}

export interface ReportedNode {
  readonly id: string;
  /** Highest index durable on the node (the leader's own last durable index for itself). */
  readonly matchIndex: number;
  readonly appliedIndex: number;
  readonly applyLagMs: number;
  /** Milliseconds since the leader last heard from it (0 for the leader itself). */
  readonly heardMsAgo: number;
}

export interface ClusterReport {
  readonly kind: 'clusterReport';
  readonly from: string;
  readonly to: string;
  readonly term: number;
  readonly commitIndex: number;
  readonly retentionFloor: number;
  readonly nodes: readonly ReportedNode[];
}

export type NodeReport = ApplyReport | ClusterReport;

/** True when `bytes` is a node report rather than an engine message. */
export function isNodeReport(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && (bytes[1] === applyKind || bytes[1] === clusterKind);
}

function u48(writer: ByteWriter, value: number, field: string): void {
  const clamped = Math.max(0, Math.round(value));
  if (!Number.isSafeInteger(clamped) || clamped > u48Max) {
    throw new RangeError(`${field} ${value} does not fit the cluster message format (0…2^48-1)`);
  }
  writer.u48(clamped);
}

function id(writer: ByteWriter, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > 255) throw new RangeError('node id longer than 255 bytes');
  writer.u8(bytes.length).bytes(bytes);
}

export function encodeNodeReport(report: NodeReport): Buffer {
  const writer = new ByteWriter(64 + (report.kind === 'clusterReport' ? report.nodes.length * 96 : 0));
  writer.u8(codecVersion).u8(report.kind === 'applyReport' ? applyKind : clusterKind);
  id(writer, report.from);
  id(writer, report.to);
  u48(writer, report.term, 'term');
  if (report.kind === 'applyReport') {
    u48(writer, report.appliedIndex, 'applied index');
    u48(writer, report.applyLagMs, 'apply lag');
    writer.u8((report.applyFailed ? 1 : 0) | (report.mariadbHealthy ? 2 : 0));
  } else {
    if (report.nodes.length > nodesMax) throw new RangeError(`more than ${nodesMax} nodes in a report`);
    u48(writer, report.commitIndex, 'commit index');
    u48(writer, report.retentionFloor, 'retention floor');
    writer.u8(report.nodes.length);
    for (const node of report.nodes) {
      id(writer, node.id);
      u48(writer, node.matchIndex, 'match index');
      u48(writer, node.appliedIndex, 'applied index');
      u48(writer, node.applyLagMs, 'apply lag');
      u48(writer, node.heardMsAgo, 'heard ms ago');
    }
  }
  return writer.finish();
}

function readId(reader: ByteReader, field: string): string {
  return reader.string(reader.u8(`${field} length`), field);
}

/** Decodes one report; malformed or truncated bytes give an error value, never an exception. */
export function decodeNodeReport(bytes: Uint8Array): Decoded<NodeReport> {
  return decodeSafely(() => {
    const reader = new ByteReader(bytes, 'node report');
    const version = reader.u8('version');
    if (version !== codecVersion) {
      reader.fail(
        `report format ${version} is not understood (this node speaks ${codecVersion}): run the same WolfScale version on every node`,
      );
    }
    const kind = reader.u8('kind');
    const envelope = { from: readId(reader, 'from'), to: readId(reader, 'to'), term: reader.u48('term') };
    let report: NodeReport;
    if (kind === applyKind) {
      const appliedIndex = reader.u48('applied index');
      const applyLagMs = reader.u48('apply lag');
      const flags = reader.u8('flags');
      if (flags > 3) reader.fail(`unknown flags ${flags}`);
      report = {
        kind: 'applyReport',
        ...envelope,
        appliedIndex,
        applyLagMs,
        applyFailed: (flags & 1) !== 0,
        mariadbHealthy: (flags & 2) !== 0,
      };
    } else if (kind === clusterKind) {
      const commitIndex = reader.u48('commit index');
      const retentionFloor = reader.u48('retention floor');
      const count = reader.u8('node count');
      if (count > nodesMax) reader.fail(`${count} nodes exceed ${nodesMax}`);
      const nodes: ReportedNode[] = [];
      for (let i = 0; i < count; i++) {
        nodes.push({
          id: readId(reader, 'node id'),
          matchIndex: reader.u48('match index'),
          appliedIndex: reader.u48('applied index'),
          applyLagMs: reader.u48('apply lag'),
          heardMsAgo: reader.u48('heard ms ago'),
        });
      }
      report = { kind: 'clusterReport', ...envelope, commitIndex, retentionFloor, nodes };
    } else {
      return reader.fail(`unknown report kind ${kind}`);
    }
    if (!reader.atEnd) reader.fail(`${reader.remaining} unexpected trailing bytes`);
    return report;
  });
}

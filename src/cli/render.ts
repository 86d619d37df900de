import type { ClusterNodeView, NodeStatusView } from '../http/node-api.js';

/**
 * Text screens of wolfctl. Pure: values in, text out; colour only when asked (a terminal), so
 * piped output stays plain.
 */
export interface RenderOptions {
  readonly color: boolean;
}

const ansi = { green: 32, yellow: 33, red: 31, blue: 34, bold: 1, dim: 2 } as const;

function paint(text: string, code: number, options: RenderOptions): string {
  return options.color ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function statusColor(status: string): number {
  switch (status) {
    case 'ACTIVE':
      return ansi.green;
    case 'JOINING':
    case 'SYNCING':
    case 'LAGGING':
      return ansi.yellow;
    default:
      return ansi.red;
  }
}

function pad(text: string, width: number): string {
  return text.length >= width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

function lagLabel(node: ClusterNodeView): string {
  if (node.role === 'LEADER') return '0';
  return node.lag_ms === null ? `${node.lag_entries}` : `${node.lag_entries} (${node.lag_ms} ms)`;
}

/** `wolfctl list servers`: the seed README's table, ID | STATUS | ROLE | ADDRESS | LAG. */
export function renderServerList(nodes: readonly ClusterNodeView[], options: RenderOptions): string {
  const widths = { id: 12, status: 16, role: 10, address: 22 };
  const leader = nodes.find((node) => node.role === 'LEADER');
  const active = nodes.filter((node) => node.status === 'ACTIVE').length;
  const header = `${pad('ID', widths.id)}| ${pad('STATUS', widths.status)}| ${pad('ROLE', widths.role)}| ${pad('ADDRESS', widths.address)}| LAG`;
  const rows = [...nodes]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((node) => {
      const status = paint(pad(node.status, widths.status), statusColor(node.status), options);
      const role =
        node.role === 'LEADER'
          ? paint(pad(node.role, widths.role), ansi.blue, options)
          : pad(node.role, widths.role);
      return `${pad(node.id, widths.id)}| ${status}| ${role}| ${pad(node.address, widths.address)}| ${lagLabel(node)}`;
    });
  return [
    `Cluster: ${nodes.length} nodes | Active: ${active} | Leader: ${leader?.id ?? paint('NONE (writes wait or fail)', ansi.red, options)}`,
    '',
    header,
    '-'.repeat(header.length + 8),
    ...rows,
  ].join('\n');
}

/** `wolfctl status`. */
export function renderStatus(status: NodeStatusView, options: RenderOptions): string {
  const lines = [
    paint('Node Status', ansi.bold, options),
    `  Node ID:        ${status.node_id}`,
    `  Role:           ${status.role}`,
    `  Status:         ${paint(status.status, statusColor(status.status), options)}`,
    `  Leader:         ${status.leader_id ?? 'NONE'}${status.role === 'LEADER' ? (status.writable ? ' (accepting writes)' : ' (opening for writes)') : ''}`,
    `  Term:           ${status.term}`,
    `  Index:          last ${status.last_index}, committed ${status.commit_index}, applied ${status.applied_index}`,
    `  Lag:            ${status.lag_entries} entries, ${status.lag_ms} ms`,
    `  GTID position:  ${status.gtid_position ?? '(unknown)'}`,
    `  Cluster:        ${status.cluster_size} nodes, ${status.has_quorum ? 'quorum' : paint('NO QUORUM', ansi.red, options)}`,
    `  MariaDB:        ${status.mariadb.healthy ? paint('healthy', ansi.green, options) : paint(`UNHEALTHY: ${status.mariadb.reason ?? ''}`, ansi.red, options)}`,
    `  Uptime:         ${status.uptime_seconds} s`,
  ];
  if (status.detail !== null) lines.push(`  Detail:         ${status.detail}`);
  return lines.join('\n');
}

export interface StatsSample {
  readonly atMs: number;
  readonly status: NodeStatusView;
  readonly nodes: readonly ClusterNodeView[];
}

/** writes/s between two samples: committed entries per second. */
export function writesPerSecond(previous: StatsSample | undefined, current: StatsSample): number {
  if (previous === undefined || current.atMs <= previous.atMs) return 0;
  const entries = Math.max(0, current.status.commit_index - previous.status.commit_index);
  return (entries * 1000) / (current.atMs - previous.atMs);
}

const graphRows = 6;

/** `wolfctl stats`: one frame of the live screen. `history` holds writes/s, oldest first. */
export function renderStats(sample: StatsSample, history: readonly number[], options: RenderOptions): string {
  const { status, nodes } = sample;
  const current = history.at(-1) ?? 0;
  const peak = Math.max(0, ...history);
  const average = history.length === 0 ? 0 : history.reduce((sum, value) => sum + value, 0) / history.length;
  const scale = Math.max(10, peak * 1.2);
  const graph: string[] = [];
  for (let row = graphRows; row >= 1; row--) {
    const threshold = (scale * (row - 0.5)) / graphRows;
    graph.push(`  |${history.map((value) => (value >= threshold ? '#' : ' ')).join('')}`);
  }
  const followers = nodes
    .filter((node) => node.role !== 'LEADER')
    .map(
      (node) =>
        `    ${pad(node.id, 12)} ${paint(pad(node.status, 16), statusColor(node.status), options)} lag ${lagLabel(node)}${node.last_seen_ms_ago === null ? '' : `   seen ${node.last_seen_ms_ago} ms ago`}`,
    );
  return [
    paint(`WolfScale live stats — ${status.node_id} (${status.role})`, ansi.bold, options),
    `  Leader: ${status.leader_id ?? 'NONE'}   Term: ${status.term}   Index: ${status.commit_index} committed / ${status.applied_index} applied`,
    `  Nodes: ${nodes.filter((node) => node.status === 'ACTIVE').length}/${nodes.length} active`,
    `  Writes/s: now ${current.toFixed(1)}   avg ${average.toFixed(1)}   peak ${peak.toFixed(1)}`,
    '',
    ...graph,
    `  +${'-'.repeat(Math.max(history.length, 1))}`,
    '',
    '  Followers:',
    ...(followers.length === 0 ? ['    (none)'] : followers),
    '',
    paint('  Ctrl+C to exit', ansi.dim, options),
  ].join('\n');
}

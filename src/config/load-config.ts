import { readFile } from 'node:fs/promises';
import { closest, distance } from 'fastest-levenshtein';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';
import { keyLines } from './key-lines.js';
import { type ConfigFile, configSchema, inertKeys } from './schema.js';

/** One thing wrong with (or worth saying about) a configuration file. */
export interface ConfigProblem {
  /** Dotted key, e.g. "cluster.heartbeat_interval_ms"; "" for the file as a whole. */
  readonly key: string;
  /** 1-based line of the key in the file, when it is in the file. */
  readonly line?: number;
  readonly message: string;
}

export type ConfigResult =
  | { readonly ok: true; readonly config: ConfigFile; readonly warnings: readonly ConfigProblem[] }
  | {
      readonly ok: false;
      readonly errors: readonly ConfigProblem[];
      readonly warnings: readonly ConfigProblem[];
    };

export interface ParseConfigOptions {
  /**
   * What an unknown key is: an error (`wolfscale validate`, `wolfctl check-config`) or a warning
   * (`wolfscale start`, so that an old file still starts). Default: error.
   */
  readonly unknownKeys?: 'error' | 'warn';
}

export const defaultConfigPath = '/etc/wolfscale/wolfscale.toml';

/** Reads and validates a configuration file. A missing or unreadable file is an error value. */
export async function loadConfig(path: string, options: ParseConfigOptions = {}): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : String(error);
    return {
      ok: false,
      errors: [
        {
          key: '',
          message: `configuration file ${path} ${reason}: create one with \`wolfscale init -o ${path}\`, or pass another with -c FILE`,
        },
      ],
      warnings: [],
    };
  }
  return parseConfig(text, options);
}

/**
 * Validates the text of a configuration file: TOML syntax, unknown keys (with "did you mean"),
 * types and ranges, and the rules that span keys (peers, addresses, secrets, TLS pairs). Every
 * problem names its key and line.
 */
export function parseConfig(text: string, options: ParseConfigOptions = {}): ConfigResult {
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    const { line, message } = error as { line?: number; message: string };
    const firstLine = message.split('\n')[0] ?? message;
    return {
      ok: false,
      errors: [
        { key: '', ...(line === undefined ? {} : { line }), message: `${firstLine}: fix the TOML syntax` },
      ],
      warnings: [],
    };
  }
  const lines = keyLines(text);
  // A key that is not in the file (a missing one) is reported at its section's line.
  const at = (key: string): { key: string; line?: number } => {
    for (let prefix = key; prefix !== ''; prefix = prefix.slice(0, Math.max(0, prefix.lastIndexOf('.')))) {
      const line = lines.get(prefix);
      if (line !== undefined) return { key, line };
    }
    return { key };
  };

  const unknown = unknownKeyProblems(raw, at);
  const errors: ConfigProblem[] = options.unknownKeys === 'warn' ? [] : [...unknown];
  const warnings: ConfigProblem[] = options.unknownKeys === 'warn' ? [...unknown] : [];
  const known = withoutUnknownKeys(raw);

  const parsed = configSchema.safeParse(known);
  if (!parsed.success) {
    errors.push(...parsed.error.issues.map((issue) => schemaProblem(issue, known, at)));
    return { ok: false, errors, warnings };
  }
  const config = normalise(parsed.data, warnings, at);
  errors.push(...crossKeyProblems(config, at));
  warnings.push(...inertKeyWarnings(known, at));
  if (errors.length > 0) return { ok: false, errors, warnings };
  return { ok: true, config, warnings };
}

type Locate = (key: string) => { key: string; line?: number };

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let current: unknown = schema;
  // Unwrap .default() and .optional() down to the object.
  for (let depth = 0; depth < 4; depth++) {
    const def = (
      current as { def?: { type?: string; innerType?: unknown; shape?: Record<string, z.ZodType> } }
    ).def;
    if (def === undefined) return undefined;
    if (def.type === 'object') return def.shape;
    if (def.innerType === undefined) return undefined;
    current = def.innerType;
  }
  return undefined;
}

const topShape = configSchema.shape as unknown as Record<string, z.ZodType>;

function sectionShape(section: string): Record<string, z.ZodType> | undefined {
  const schema = topShape[section];
  return schema === undefined ? undefined : objectShape(schema);
}

function didYouMean(name: string, candidates: readonly string[]): string {
  if (candidates.length === 0) return '';
  const best = closest(name, [...candidates]);
  return distance(name, best) <= Math.max(2, Math.floor(name.length / 3)) ? `; did you mean "${best}"?` : '';
}

function unknownKeyProblems(raw: Record<string, unknown>, at: Locate): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const sections = Object.keys(topShape);
  for (const [section, value] of Object.entries(raw)) {
    const shape = sectionShape(section);
    if (shape === undefined) {
      problems.push({
        ...at(section),
        message: `unknown section [${section}]${didYouMean(section, sections)} (sections: ${sections.join(', ')})`,
      });
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
    const keys = Object.keys(shape);
    for (const key of Object.keys(value)) {
      if (key in shape) continue;
      problems.push({
        ...at(`${section}.${key}`),
        message: `unknown key "${section}.${key}"${didYouMean(key, keys)}`,
      });
    }
  }
  return problems;
}

function withoutUnknownKeys(raw: Record<string, unknown>): Record<string, unknown> {
  const known: Record<string, unknown> = {};
  for (const [section, value] of Object.entries(raw)) {
    const shape = sectionShape(section);
    if (shape === undefined) continue;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      known[section] = value;
      continue;
    }
    known[section] = Object.fromEntries(Object.entries(value).filter(([key]) => key in shape));
  }
  return known;
}

function valueAt(raw: Record<string, unknown>, path: readonly PropertyKey[]): unknown {
  let value: unknown = raw;
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function schemaProblem(issue: z.core.$ZodIssue, raw: Record<string, unknown>, at: Locate): ConfigProblem {
  const key = issue.path.map(String).join('.');
  if (issue.code === 'invalid_type' && valueAt(raw, issue.path) === undefined) {
    const section = String(issue.path[0] ?? '');
    const where = issue.path.length === 1 ? `a [${section}] section` : `"${key}" in [${section}]`;
    return { ...at(key), message: `missing ${where}: it has no default, set it` };
  }
  return { ...at(key), message: `${key}: ${issue.message}` };
}

function normalise(config: ConfigFile, warnings: ConfigProblem[], at: Locate): ConfigFile {
  const proxy = { ...config.proxy };
  if (proxy.tls_cert === undefined && proxy.ssl_cert !== undefined) proxy.tls_cert = proxy.ssl_cert;
  if (proxy.tls_key === undefined && proxy.ssl_key !== undefined) proxy.tls_key = proxy.ssl_key;
  if (proxy.ssl_required === true) proxy.tls_required = true;
  const cluster = {
    ...config.cluster,
    never_leader: config.cluster.never_leader || config.cluster.disable_auto_election,
  };
  let replication = config.replication;
  if (replication.mode === 'proxy') {
    warnings.push({
      ...at('replication.mode'),
      message:
        'replication.mode = "proxy" is the original\'s name for capturing from the local MariaDB; it now means "local": write mode = "local"',
    });
    replication = { mode: 'local' };
  }
  return { ...config, proxy, cluster, replication };
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

function isWildcard(address: string): boolean {
  const host = hostOf(address);
  return host === '0.0.0.0' || host === '[::]' || host === '::';
}

function crossKeyProblems(config: ConfigFile, at: Locate): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { node, cluster, proxy, replication, binlog } = config;
  const peers = cluster.peers;
  if (peers.length > 0 && isWildcard(node.bind_address) && node.advertise_address === undefined) {
    problems.push({
      ...at('node.bind_address'),
      message: `node.bind_address is ${node.bind_address}, which peers cannot dial: set node.advertise_address to this node's reachable "host:port"`,
    });
  }
  const ownAddresses = new Set(
    [node.advertise_address, isWildcard(node.bind_address) ? undefined : node.bind_address].filter(
      (address): address is string => address !== undefined,
    ),
  );
  const seen = new Set<string>();
  for (const entry of peers) {
    const at_ = entry.lastIndexOf('@');
    const id = at_ >= 0 ? entry.slice(0, at_) : undefined;
    const address = at_ >= 0 ? entry.slice(at_ + 1) : entry;
    if (id === node.id || ownAddresses.has(address)) {
      problems.push({
        ...at('cluster.peers'),
        message: `cluster.peers lists this node itself ("${entry}"): list only the other nodes`,
      });
    }
    if (seen.has(address)) {
      problems.push({
        ...at('cluster.peers'),
        message: `cluster.peers lists ${address} twice: list each node once`,
      });
    }
    seen.add(address);
  }
  if (peers.length > 0 && cluster.secret === undefined) {
    problems.push({
      ...at('cluster'),
      key: 'cluster.secret',
      message:
        'cluster.secret is missing: nodes authenticate each other with it; set the same secret of at least 16 characters on every node (e.g. `openssl rand -hex 24`)',
    });
  }
  if (cluster.election_timeout_ms < 3 * cluster.heartbeat_interval_ms) {
    problems.push({
      ...at('cluster.election_timeout_ms'),
      message: `cluster.election_timeout_ms (${cluster.election_timeout_ms}) must be at least 3 × cluster.heartbeat_interval_ms (${cluster.heartbeat_interval_ms}), or followers time out between heartbeats`,
    });
  }
  if ((cluster.tls_cert === undefined) !== (cluster.tls_key === undefined)) {
    problems.push({
      ...at('cluster.tls_cert'),
      message: 'set both cluster.tls_cert and cluster.tls_key, or neither',
    });
  }
  if ((proxy.tls_cert === undefined) !== (proxy.tls_key === undefined)) {
    problems.push({
      ...at('proxy.tls_cert'),
      message: 'set both proxy.tls_cert and proxy.tls_key, or neither',
    });
  }
  if (proxy.tls_required && proxy.tls_cert === undefined) {
    problems.push({
      ...at('proxy.tls_required'),
      message: 'proxy.tls_required needs proxy.tls_cert and proxy.tls_key',
    });
  }
  if (replication.mode === 'binlog' && (binlog.host === undefined || binlog.user === undefined)) {
    problems.push({
      ...at('replication.mode'),
      message:
        'replication.mode = "binlog" needs binlog.host and binlog.user (run `wolfctl binlog-setup` to generate them)',
    });
  }
  return problems;
}

function inertKeyWarnings(known: Record<string, unknown>, at: Locate): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  for (const [key, why] of Object.entries(inertKeys)) {
    const [section = '', name = ''] = key.split('.');
    const value = known[section];
    if (typeof value === 'object' && value !== null && name in value) {
      warnings.push({ ...at(key), message: `${key} has no effect (${why}); remove it` });
    }
  }
  return warnings;
}

/** "file:line: message" lines for a terminal. */
export function formatProblems(path: string, problems: readonly ConfigProblem[]): string {
  return problems
    .map((problem) => `${path}${problem.line === undefined ? '' : `:${problem.line}`}: ${problem.message}`)
    .join('\n');
}

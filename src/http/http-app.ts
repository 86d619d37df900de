import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
  type RawServerDefault,
} from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { z } from 'zod';
import { type ErrorCode, errorCodes, type Result, type WolfError } from '../errors/error-codes.js';
import type { NodeApi } from './node-api.js';
import { buildWrite, type WriteRequest } from './write-sql.js';

/**
 * The node's HTTP API (fastify): status, cluster, metrics, structured writes and admin, with the
 * original WolfScale's paths and JSON shapes plus bearer-token authentication.
 *
 * - `GET /health`, `/status`, `/cluster`, `/cluster/nodes`, `/cluster/nodes/:id`, `/metrics`:
 *   open unless `api.open_status = false`.
 * - `POST /write/insert|update|delete|upsert|ddl`, `POST /admin/*`: need `Authorization: Bearer
 *   <api.token>`; with no token configured they are refused.
 * - Errors: `{ error: message, code }` with the status from the error catalogue.
 */
export interface HttpAppOptions {
  readonly node: NodeApi;
  readonly logger: Logger;
  readonly token?: string;
  readonly openStatus: boolean;
  /** Largest request body accepted. Default 16 MiB. */
  readonly bodyBytesMax?: number;
}

const sqlValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const row = z.record(z.string(), sqlValue);

const insertBody = z.strictObject({ table: z.string().min(1), values: row });
const updateBody = z.strictObject({ table: z.string().min(1), set: row, where_key: row });
const deleteBody = z.strictObject({ table: z.string().min(1), where_key: row });
const upsertBody = z.strictObject({
  table: z.string().min(1),
  values: row,
  update_columns: z.array(z.string()).optional(),
});
const ddlBody = z.strictObject({
  ddl: z
    .string()
    .min(1)
    .max(1024 * 1024),
  table: z.string().optional(),
});
const promoteBody = z
  .strictObject({ force: z.boolean().default(false), node_id: z.string().min(1).optional() })
  .default({ force: false });
const resetBody = z.strictObject({
  confirm: z.string({ message: 'send {"confirm": "<this node\'s id>"} to confirm the reset' }),
});

/** DDL verbs the /write/ddl route accepts; anything else belongs on the MySQL proxy. */
const forwardTimeoutMs = 30_000;

const ddlVerbRe = /^\s*(CREATE|ALTER|DROP|RENAME|TRUNCATE)\b/i;

function sendError(reply: FastifyReply, error: WolfError): FastifyReply {
  const spec = errorCodes[error.code];
  return reply.code(spec.httpStatus).send({
    error: error.message,
    code: error.code,
    ...(error.leader === undefined ? {} : { leader: error.leader }),
    ...(error.database === undefined ? {} : { database: error.database }),
  });
}

function errorOf(code: ErrorCode, message: string): WolfError {
  return { code, message };
}

function sendResult<T extends object>(reply: FastifyReply, result: Result<T>): FastifyReply {
  if (!result.ok) return sendError(reply, result.error);
  return reply.send({ success: true, ...result.value });
}

function tokenMatches(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The app as built: fastify with the zod type provider. */
export type HttpApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  Logger,
  ZodTypeProvider
>;

export async function buildHttpApp(options: HttpAppOptions): Promise<HttpApp> {
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyBytesMax ?? 16 * 1024 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.setErrorHandler(
    (error: { validation?: unknown; statusCode?: number; message: string }, request, reply) => {
      if (error.validation !== undefined || error.statusCode === 400) {
        return sendError(reply, errorOf('BAD_REQUEST', `invalid request: ${error.message}`));
      }
      if (error.statusCode === 413) {
        return sendError(reply, errorOf('PACKET_TOO_LARGE', 'request body too large'));
      }
      if (error.statusCode === 415) {
        return sendError(
          reply,
          errorOf('BAD_REQUEST', `${error.message}: send JSON with Content-Type: application/json`),
        );
      }
      request.log.error({ err: error, url: request.url }, 'HTTP API request failed');
      return sendError(reply, errorOf('INTERNAL', 'internal error; the node log has the details'));
    },
  );
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, errorOf('NOT_FOUND', `no route ${request.method} ${request.url}`)),
  );

  const requireToken = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (options.token === undefined) {
      await sendError(
        reply,
        errorOf(
          'UNAUTHORIZED',
          'this node has no api.token configured, so writes and admin are refused: set api.token',
        ),
      );
      return;
    }
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match?.[1] === undefined || !tokenMatches(match[1].trim(), options.token)) {
      await sendError(
        reply,
        errorOf('UNAUTHORIZED', 'missing or wrong token: send "Authorization: Bearer <api.token>"'),
      );
    }
  };
  const statusGuard = options.openStatus ? [] : [requireToken];
  const { node } = options;

  app.get('/health', { onRequest: statusGuard }, async (_request, reply) => {
    const health = node.health();
    return reply.code(health.healthy ? 200 : 503).send(health);
  });
  app.get('/status', { onRequest: statusGuard }, async () => {
    const status = node.status();
    // The original's field names, kept for existing scripts.
    return {
      ...status,
      is_leader: status.role === 'LEADER',
      last_applied_lsn: status.applied_index,
      commit_lsn: status.commit_index,
    };
  });
  app.get('/cluster', { onRequest: statusGuard }, async () => {
    const nodes = node.cluster();
    const count = (status: string): number => nodes.filter((n) => n.status === status).length;
    return {
      summary: {
        total_nodes: nodes.length,
        active_nodes: count('ACTIVE'),
        syncing_nodes: count('SYNCING'),
        lagging_nodes: count('LAGGING'),
        dropped_nodes: count('DROPPED'),
        leader_id: nodes.find((n) => n.role === 'LEADER')?.id ?? null,
      },
      nodes,
    };
  });
  app.get('/cluster/nodes', { onRequest: statusGuard }, async () => node.cluster());
  app.get(
    '/cluster/nodes/:node_id',
    { onRequest: statusGuard, schema: { params: z.object({ node_id: z.string() }) } },
    async (request, reply) => {
      const found = node.cluster().find((n) => n.id === request.params.node_id);
      if (found === undefined) {
        return sendError(reply, errorOf('NODE_NOT_FOUND', `Node ${request.params.node_id} not found`));
      }
      return found;
    },
  );
  app.get('/metrics', { onRequest: statusGuard }, async (_request, reply) => {
    const metrics = await node.metrics();
    return reply.type(metrics.contentType).send(metrics.body);
  });

  /**
   * On a follower, relays the request to the leader's API unchanged (body and token) and its
   * answer back. A connection failure after sending may hide a committed write: that is
   * OUTCOME_UNKNOWN, never a false success or a false failure.
   */
  const forwardIfFollower = async (
    request: FastifyRequest,
    reply: FastifyReply,
    body: unknown = request.body,
  ): Promise<boolean> => {
    const route = node.writeRoute();
    if (route.kind === 'local') return false;
    if (route.kind === 'no-leader') {
      await sendError(reply, errorOf('NO_LEADER', route.reason));
      return true;
    }
    let response: Response;
    try {
      response = await fetch(`${route.apiUrl}${request.url}`, {
        method: request.method,
        headers: {
          'content-type': 'application/json',
          ...(request.headers.authorization === undefined
            ? {}
            : { authorization: request.headers.authorization }),
          'x-wolfscale-forwarded-by': node.status().node_id,
        },
        body: JSON.stringify(body ?? {}),
        signal: AbortSignal.timeout(forwardTimeoutMs),
      });
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      const neverSent = code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH';
      await sendError(
        reply,
        neverSent
          ? errorOf(
              'FORWARD_FAILED',
              `the leader ${route.leaderId} at ${route.apiUrl} refused the connection (${code}); retry once a leader is elected`,
            )
          : errorOf(
              'OUTCOME_UNKNOWN',
              `the connection to the leader ${route.leaderId} at ${route.apiUrl} failed after the request was sent (${code ?? (error as Error).name}): check whether the write happened before retrying it`,
            ),
      );
      return true;
    }
    await reply
      .code(response.status)
      .type('application/json')
      .send(await response.text());
    return true;
  };

  const structuredWrite = async (request: WriteRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const statement = buildWrite(request);
    if (!statement.ok) return sendError(reply, statement.error);
    return sendResult(reply, await node.write(statement.value));
  };
  /** Answers here when this node cannot serve the request itself; true when it answered. */
  const forwarded = async (
    request: FastifyRequest,
    reply: FastifyReply,
    body?: unknown,
  ): Promise<boolean> => {
    const by = request.headers['x-wolfscale-forwarded-by'];
    if (by !== undefined && node.writeRoute().kind !== 'local') {
      // Never forward twice: two nodes that each think the other leads must not ping-pong.
      await sendError(
        reply,
        errorOf('NOT_LEADER', `this node does not lead either (forwarded by ${String(by)}); retry`),
      );
      return true;
    }
    return await forwardIfFollower(request, reply, body);
  };
  const forwardGuard = async (
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> => ((await forwarded(request, reply)) ? reply : undefined);
  const writeRoute = { onRequest: [requireToken], preHandler: [forwardGuard] };
  app.post('/write/insert', { ...writeRoute, schema: { body: insertBody } }, (request, reply) =>
    structuredWrite({ kind: 'insert', ...request.body }, reply),
  );
  app.post('/write/update', { ...writeRoute, schema: { body: updateBody } }, (request, reply) =>
    structuredWrite({ kind: 'update', ...request.body }, reply),
  );
  app.post('/write/delete', { ...writeRoute, schema: { body: deleteBody } }, (request, reply) =>
    structuredWrite({ kind: 'delete', ...request.body }, reply),
  );
  app.post('/write/upsert', { ...writeRoute, schema: { body: upsertBody } }, (request, reply) =>
    structuredWrite(
      {
        kind: 'upsert',
        table: request.body.table,
        values: request.body.values,
        ...(request.body.update_columns === undefined ? {} : { update_columns: request.body.update_columns }),
      },
      reply,
    ),
  );
  app.post('/write/ddl', { ...writeRoute, schema: { body: ddlBody } }, async (request, reply) => {
    if (!ddlVerbRe.test(request.body.ddl)) {
      return sendError(
        reply,
        errorOf(
          'BAD_REQUEST',
          'ddl must start with CREATE, ALTER, DROP, RENAME or TRUNCATE; send other SQL through the MySQL proxy',
        ),
      );
    }
    return sendResult(reply, await node.write({ sql: request.body.ddl, values: [] }));
  });

  app.post(
    '/admin/promote',
    { onRequest: [requireToken], schema: { body: promoteBody } },
    async (request, reply) => {
      const nodeId = request.body.node_id ?? node.status().node_id;
      // A forced promotion is for a lost majority: it runs here, on the node being promoted.
      if (request.body.force) return sendResult(reply, await node.promote({ force: true, nodeId }));
      if (await forwarded(request, reply, { force: false, node_id: nodeId })) return reply;
      return sendResult(reply, await node.promote({ force: false, nodeId }));
    },
  );
  app.post('/admin/demote', writeRoute, async (_request, reply) => sendResult(reply, await node.demote()));
  app.post(
    '/admin/reset',
    { onRequest: [requireToken], schema: { body: resetBody } },
    async (request, reply) => {
      const nodeId = node.status().node_id;
      if (request.body.confirm !== nodeId) {
        return sendError(
          reply,
          errorOf(
            'CONFIRMATION_REQUIRED',
            `reset deletes this node's WAL: send {"confirm": "${nodeId}"} to confirm`,
          ),
        );
      }
      return sendResult(reply, await node.reset());
    },
  );

  return app;
}

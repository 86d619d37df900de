/**
 * wolfctl's client for a node's HTTP API. Every failure becomes an Error whose message says what
 * happened and what to try: wolfctl prints it as "Error: <message>" and exits 1.
 */
export interface ApiClientOptions {
  /** e.g. "http://127.0.0.1:8080" */
  readonly endpoint: string;
  readonly token?: string;
  readonly timeoutMs?: number;
}

export class ApiClient {
  readonly endpoint: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ApiClientOptions) {
    this.endpoint = options.endpoint.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  async get<T>(path: string): Promise<T> {
    return await this.#request<T>('GET', path);
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    return await this.#request<T>('POST', path, body);
  }

  async #request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.endpoint}${path}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.#token === undefined ? {} : { authorization: `Bearer ${this.#token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      const inner = (error as { cause?: { code?: string; message?: string } }).cause;
      const cause = inner?.code ?? inner?.message ?? (error as Error).name;
      throw new Error(
        `cannot reach the WolfScale API at ${this.endpoint} (${cause}): is the node running? pass its address with -e http://HOST:8080`,
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok && response.status !== 503) {
      const problem = parsed as { error?: string; code?: string } | undefined;
      throw new Error(
        problem?.error === undefined
          ? `${method} ${url} answered HTTP ${response.status}`
          : `${problem.error}${problem.code === undefined ? '' : ` (${problem.code})`}`,
      );
    }
    if (parsed === undefined) throw new Error(`${method} ${url} answered something that is not JSON`);
    // 503 carries a body worth showing (health reasons, NO_LEADER); errors among them are thrown.
    const problem = parsed as { error?: string; code?: string };
    if (!response.ok && typeof problem.error === 'string') {
      throw new Error(`${problem.error}${problem.code === undefined ? '' : ` (${problem.code})`}`);
    }
    return parsed as T;
  }
}

/** "0.0.0.0:8080" from a config → "http://127.0.0.1:8080": a wildcard is not an address to dial. */
export function endpointFromBindAddress(bindAddress: string): string {
  const colon = bindAddress.lastIndexOf(':');
  const host = bindAddress.slice(0, colon);
  const port = bindAddress.slice(colon + 1);
  const dialHost =
    host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '[::]' || host === '::' ? '[::1]' : host;
  return `http://${dialHost}:${port}`;
}

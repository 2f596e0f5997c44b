// A small router for the cluster's HTTPS APIs: patterns with :params, typed replies, and the one
// place where errors become HTTP answers (each service chooses its error body).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.ts';
import type { Logger } from './log.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export class Request {
  private bodyText?: Promise<string>;

  constructor(readonly raw: IncomingMessage, readonly path: string, readonly query: URLSearchParams, readonly params: Record<string, string>) {}

  header(name: string): string | undefined {
    const v = this.raw.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }

  text(): Promise<string> {
    this.bodyText ??= readBody(this.raw);
    return this.bodyText;
  }

  /** The JSON body as an object (an empty body is {}). */
  async json<T = Record<string, unknown>>(): Promise<T> {
    const text = await this.text();
    if (!text.trim()) return {} as T;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ApiError('invalid_json', `the request body is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError('invalid_json', 'the request body must be a JSON object');
    return value as T;
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError('too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export const reply = (status: number, body?: unknown, headers?: Record<string, string>): Reply => ({ status, body, headers });

export type Handler = (req: Request, res: ServerResponse) => Promise<Reply | undefined>;

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
}

/** How an error looks on the wire; the default is the ciao API's {"error": {code, message}}. */
export type ErrorRenderer = (err: ApiError) => Reply;

export class Router {
  private readonly routes: Route[] = [];

  constructor(private readonly renderError: ErrorRenderer = (err) => reply(err.status, err.toJSON())) {}

  on(method: string, pattern: string, handler: Handler): this {
    this.routes.push({ method, parts: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  async handle(raw: IncomingMessage, res: ServerResponse, logger: Logger): Promise<void> {
    const url = new URL(raw.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let result: Reply | undefined;
    try {
      const found = this.match(raw.method ?? 'GET', parts);
      if (found === 'method') throw new ApiError('method_not_allowed', `${raw.method} is not allowed on ${url.pathname}`);
      if (!found) throw new ApiError('not_found', `no such API path: ${raw.method} ${url.pathname}`);
      result = await found.route.handler(new Request(raw, url.pathname, url.searchParams, found.params), res);
    } catch (err) {
      if (!(err instanceof ApiError)) logger.error('request failed', { method: raw.method, path: url.pathname, error: (err as Error).stack });
      const apiErr = err instanceof ApiError ? err : new ApiError('internal', `the controller failed on this request: ${(err as Error).message}`);
      result = this.renderError(apiErr);
    }
    if (!result || res.headersSent) return; // the handler wrote (streamed) the answer itself
    const body = result.body === undefined ? '' : JSON.stringify(result.body);
    res.writeHead(result.status, { ...(body ? { 'content-type': 'application/json' } : {}), ...result.headers });
    res.end(body);
  }

  private match(method: string, parts: string[]): { route: Route; params: Record<string, string> } | 'method' | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      if (route.parts.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const ok = route.parts.every((p, i) => (p.startsWith(':') ? ((params[p.slice(1)] = parts[i]), true) : p === parts[i]));
      if (!ok) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) return { route, params };
      pathMatched = true;
    }
    return pathMatched ? 'method' : undefined;
  }
}

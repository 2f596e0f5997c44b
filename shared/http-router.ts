// A small router for the cluster's HTTPS APIs, and the one place where a request is checked before
// any service code runs (docs/security.md): the URL is decoded inside the error handling, every
// path parameter has a schema (a route cannot be added without one), bodies are read under a size
// limit and validated with the route's zod schema, and every error becomes an HTTP answer — a
// request can fail, never the process. Each service chooses how its error bodies look.
import http from 'node:http';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { z } from 'zod';
import { ApiError, badRequest } from './errors.ts';
import type { Logger } from './log.ts';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Longer URLs are refused (414) before routing. */
export const MAX_URL_CHARS = 8192;
/** Request headers larger than this are refused by Node's parser (431). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** How long an answer waits for its change to be saved (RouterOptions.saved) before it is a 503. */
export const SAVE_WAIT_MS = 30_000;

/** How a zod failure reads: each issue with its path. */
export const describeIssues = (err: z.ZodError): string =>
  err.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');

/** Parses `value` with `schema`, or throws a 400 that names what is wrong. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what = 'the request'): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw badRequest(`${what} is not valid: ${describeIssues(r.error)}`);
  return r.data;
}

export class Request {
  private bodyText?: Promise<string>;

  constructor(readonly raw: IncomingMessage, readonly path: string, readonly query: URLSearchParams, readonly params: Record<string, string>,
    /** The id of this request, sent back as x-openstack-request-id and logged with any failure. */
    readonly id: string) {}

  header(name: string): string | undefined {
    const v = this.raw.headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }

  text(): Promise<string> {
    this.bodyText ??= readBody(this.raw);
    return this.bodyText;
  }

  /** The JSON body (an empty body is {}), validated with `schema`. */
  async body<S extends z.ZodType>(schema: S): Promise<z.output<S>> {
    const value = await this.jsonValue();
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError('invalid_json', 'the request body must be a JSON object');
    return parseInput(schema, value, 'the request body');
  }

  /** The JSON body, any JSON value, unvalidated: only for a route that validates it itself (a JSON Patch list). */
  async jsonValue(): Promise<unknown> {
    const text = await this.text();
    if (!text.trim()) return {};
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ApiError('invalid_json', `the request body is not valid JSON: ${(err as Error).message}`);
    }
  }

  /** The query, validated with `schema` (each parameter's last value, as a string). */
  queryOf<S extends z.ZodType>(schema: S): z.output<S> {
    return parseInput(schema, Object.fromEntries(this.query), 'the query');
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY_BYTES) throw new ApiError('too_large', `the request body is larger than ${MAX_BODY_BYTES} bytes`);
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

/** A path parameter's schema: what a valid value looks like. A value that fails it names nothing
 *  that exists, so it is answered 404, as an id that does not exist would be. */
export type ParamSchema = z.ZodType<string>;

export interface RouteOptions {
  /** Schemas for this route's parameters, over the router's defaults by name. */
  params?: Record<string, ParamSchema>;
}

interface Route {
  method: string;
  parts: string[];
  params: Record<string, { schema: ParamSchema; label: string }>;
  handler: Handler;
}

/** How an error looks on the wire; the default is the ciao API's {"error": {code, message}}. */
export type ErrorRenderer = (err: ApiError) => Reply;

export interface RouterOptions {
  renderError?: ErrorRenderer;
  /** Schemas of path parameters by name, for every route that does not give its own. */
  params?: Record<string, ParamSchema>;
  /** Who answers, in the message of an unexpected failure ("the controller failed on this request"). */
  service?: string;
  /** What an answer to a request that may have changed something (any method but GET and HEAD)
   *  waits for: the commit of the changes made so far (docs/durability.md). Undefined: nothing to
   *  wait for. */
  saved?: () => Promise<void> | undefined;
  /** How long an answer waits for `saved` before it is a 503 (SAVE_WAIT_MS). */
  saveWaitMs?: number;
  /** What a request that may change something waits for before its handler runs, at most
   *  `readyWaitMs`, then runs all the same: undefined when nothing is to be waited for (the
   *  controller: its link to the scheduler while it is down, docs/api.md "The scheduler away"). */
  ready?: () => Promise<unknown> | undefined;
  readyWaitMs?: number;
}

/** Any one path segment that is not empty, not too long and holds no control character. */
export const Segment: ParamSchema = z.string().min(1).max(255).regex(/^[^\x00-\x1f\x7f]+$/);

export class Router {
  private readonly routes: Route[] = [];
  private readonly renderError: ErrorRenderer;

  constructor(private readonly opts: RouterOptions = {}) {
    this.renderError = opts.renderError ?? ((err) => reply(err.status, err.toJSON()));
  }

  on(method: string, pattern: string, handler: Handler, opts: RouteOptions = {}): this {
    const parts = pattern.split('/').filter(Boolean);
    const params: Route['params'] = {};
    parts.forEach((p, i) => {
      if (!p.startsWith(':')) return;
      const name = p.slice(1);
      const schema = opts.params?.[name] ?? this.opts.params?.[name];
      // A parameter without a schema would reach service code unchecked: refuse the route itself.
      if (!schema) throw new Error(`route ${method} ${pattern}: parameter :${name} has no schema`);
      // What it names, for a refusal: "instance" in /instances/:id.
      const before = parts[i - 1] ?? '';
      params[name] = { schema, label: /^[a-z-]+s$/.test(before) ? before.slice(0, -1) : name };
    });
    this.routes.push({ method, parts, params, handler });
    return this;
  }

  /** Every route as registered: what a fuzzer generates requests from. */
  list(): { method: string; pattern: string }[] {
    return this.routes.map((r) => ({ method: r.method, pattern: `/${r.parts.join('/')}` }));
  }

  async handle(raw: IncomingMessage, res: ServerResponse, logger: Logger): Promise<void> {
    let path = '?';
    let result: Reply | undefined;
    const id = `req-${randomUUID()}`;
    res.setHeader('x-openstack-request-id', id);
    try {
      const target = raw.url ?? '/';
      if (target.length > MAX_URL_CHARS) throw new ApiError('uri_too_long', `the URL is longer than ${MAX_URL_CHARS} characters`);
      if (!target.startsWith('/')) throw badRequest('the request target must be a path starting with /');
      const url = new URL(target, 'http://x');
      path = url.pathname;
      const parts = path.split('/').filter(Boolean).map((segment) => {
        try {
          return decodeURIComponent(segment);
        } catch {
          throw badRequest(`the URL path is not valid percent-encoded UTF-8: ${segment.slice(0, 80)}`);
        }
      });
      const found = this.match(raw.method ?? 'GET', parts);
      if (found === 'method') throw new ApiError('method_not_allowed', `${raw.method} is not allowed on ${path}`);
      if (!found) throw new ApiError('not_found', `no such API path: ${raw.method} ${path}`);
      if (raw.method !== 'GET' && raw.method !== 'HEAD') await this.whenReady();
      result = await found.route.handler(new Request(raw, path, url.searchParams, found.params, id), res);
    } catch (err) {
      if (!(err instanceof ApiError)) {
        logger.error('request failed', { method: raw.method, path, request: id, error: (err as Error).stack });
      }
      const apiErr = err instanceof ApiError ? err : new ApiError('internal', `the ${this.opts.service ?? 'service'} failed on this request (${id}): see its log`);
      result = this.errorReply(apiErr);
      // The body may be unread (too large, or refused before it was read): the connection cannot
      // carry another request, so it closes after this answer.
      if (apiErr.code === 'too_large' || !raw.complete) result.headers = { ...result.headers, connection: 'close' };
    }
    if (!result) return; // the handler wrote (streams) the answer itself
    if (raw.method !== 'GET' && raw.method !== 'HEAD') result = await this.whenSaved(result);
    if (res.headersSent) {
      // A handler failed after it began its answer: end it where it is.
      res.destroy();
      return;
    }
    const body = result.body === undefined ? '' : JSON.stringify(result.body);
    res.writeHead(result.status, { ...(body ? { 'content-type': 'application/json' } : {}), ...result.headers });
    res.end(body);
    if (result.headers?.connection === 'close') raw.resume();
  }

  private errorReply(err: ApiError): Reply {
    const result = this.renderError(err);
    if (err.retryAfterSeconds !== undefined) result.headers = { ...result.headers, 'retry-after': String(err.retryAfterSeconds) };
    return result;
  }

  /** Once `ready` resolves, or readyWaitMs has passed. */
  private async whenReady(): Promise<void> {
    const ready = this.opts.ready?.();
    if (!ready) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ready, new Promise((resolve) => (timer = setTimeout(resolve, this.opts.readyWaitMs ?? 0)))]);
    clearTimeout(timer);
  }

  /** The answer once what it reports is saved; a 503 if that takes longer than saveWaitMs. */
  private async whenSaved(result: Reply): Promise<Reply> {
    const saving = this.opts.saved?.();
    if (!saving) return result;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, this.opts.saveWaitMs ?? SAVE_WAIT_MS, 'late')));
    const outcome = await Promise.race([saving, late]);
    clearTimeout(timer);
    if (outcome !== 'late') return result;
    const unsaved = this.errorReply(new ApiError('unavailable', 'the change was made but is not saved yet: the datastore cannot commit (see the log), and keeps trying', 5));
    // A connection that cannot carry another request still closes.
    if (result.headers?.connection) unsaved.headers = { ...unsaved.headers, connection: result.headers.connection };
    return unsaved;
  }

  private match(method: string, parts: string[]): { route: Route; params: Record<string, string> } | 'method' | undefined {
    let pathMatched = false;
    let refused: ApiError | undefined;
    for (const route of this.routes) {
      if (route.parts.length !== parts.length) continue;
      const params: Record<string, string> = {};
      const ok = route.parts.every((p, i) => (p.startsWith(':') ? ((params[p.slice(1)] = parts[i]), true) : p === parts[i]));
      if (!ok) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        pathMatched = true;
        continue;
      }
      const bad = Object.entries(route.params).find(([name, p]) => !p.schema.safeParse(params[name]).success);
      if (bad) {
        // Another route may take this value (a literal segment, or a looser schema): keep looking.
        refused ??= new ApiError('not_found', `${bad[1].label} ${params[bad[0]].slice(0, 100)} does not exist`);
        continue;
      }
      return { route, params };
    }
    if (refused) throw refused;
    return pathMatched ? 'method' : undefined;
  }
}

/** An HTTP(S) server for a router with the limits every cluster API shares: header size, header
 *  and request timeouts, and a malformed request answered 400 (or 431) and its connection closed. */
export function createApiServer(handler: (req: IncomingMessage, res: ServerResponse) => void, tls?: { cert: Buffer; key: Buffer }): http.Server {
  const options = { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: 20_000, requestTimeout: 120_000, keepAliveTimeout: 30_000 };
  const server = tls ? https.createServer({ ...options, ...tls }, handler) : http.createServer(options, handler);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  });
  return server;
}

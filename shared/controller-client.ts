// A client of the controller's API for programs (setup, benchmarks, tests, BAT): one identity
// token per client, JSON in and out, and errors that keep the API's code and message.
import { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { connectionHint } from './connection-hint.ts';
import { issueToken } from '../mocks/identity/client.ts';

export interface ClientCredentials {
  username: string;
  password: string;
  projectName?: string;
  projectId?: string;
}

export class ControllerError extends Error {
  /** `retryAfterSeconds`: the answer's Retry-After (a busy controller's 503, docs/api.md "Busy"). */
  constructor(readonly status: number, readonly code: string, message: string, readonly retryAfterSeconds?: number) {
    super(message);
    this.name = 'ControllerError';
  }
}

export interface CachedToken {
  token: string;
  projectId: string;
  expiresAt: string;
}

/** Where a client may keep its token between runs (the CLI keeps one on disk). */
export interface TokenStore {
  load(key: string): CachedToken | undefined;
  save(key: string, token: CachedToken): void;
  drop(key: string): void;
}

const READS = new Set(['GET', 'HEAD']);

/** The connection broke after it was made (reset, or closed by the other side before an answer). */
function connectionLost(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(e.cause?.code ?? e.code ?? '');
}

export class ControllerClient {
  private token?: Promise<CachedToken>;

  constructor(
    readonly controllerUrl: string,
    readonly identityUrl: string,
    private readonly creds: ClientCredentials,
    readonly dispatcher: Dispatcher,
    private readonly store?: TokenStore,
  ) {}

  private get storeKey(): string {
    return `${this.identityUrl} ${this.creds.username} ${this.creds.projectId ?? this.creds.projectName ?? ''}`;
  }

  /** The project (tenant) id the client's token is scoped to. */
  async tenantId(): Promise<string> {
    return (await this.auth()).projectId;
  }

  /** The identity token this client uses. */
  async authToken(): Promise<string> {
    return (await this.auth()).token;
  }

  /** A token from the store while it has a minute left, else a new one from identity. */
  private auth(): Promise<CachedToken> {
    this.token ??= (async () => {
      const cached = this.store?.load(this.storeKey);
      if (cached && Date.parse(cached.expiresAt) - Date.now() > 60_000) return cached;
      const t = await issueToken(this.identityUrl, this.creds, this.dispatcher);
      if (!t.projectId) throw new Error(`user ${this.creds.username} got a token with no project: set the project (CIAO_TENANT_NAME)`);
      const fresh = { token: t.token, projectId: t.projectId, expiresAt: t.expiresAt };
      this.store?.save(this.storeKey, fresh);
      return fresh;
    })();
    this.token.catch(() => (this.token = undefined));
    return this.token;
  }

  /** JSON bodies are encoded; strings, Buffers and streams are sent as they are. A token the
   *  controller refuses (expired, revoked) is replaced once. */
  async call<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    try {
      return await this.send<T>(method, path, body, contentType);
    } catch (err) {
      if (!(err instanceof ControllerError) || err.code !== 'invalid_token' || body instanceof Readable) throw err;
      this.store?.drop(this.storeKey);
      this.token = undefined;
      return this.send<T>(method, path, body, contentType);
    }
  }

  private async send<T>(method: string, path: string, body: unknown, contentType: string): Promise<T> {
    const { token } = await this.auth();
    const raw = typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Readable;
    const type = Buffer.isBuffer(body) || body instanceof Readable ? 'application/octet-stream' : contentType;
    let res;
    for (let attempt = 1; !res; attempt++) {
      try {
        res = await request(`${this.controllerUrl}${path}`, {
          method: method as Dispatcher.HttpMethod,
          dispatcher: this.dispatcher,
          headers: { 'x-auth-token': token, ...(body === undefined ? {} : { 'content-type': type }) },
          body: body === undefined ? undefined : raw ? (body as string | Buffer | Readable) : JSON.stringify(body),
        });
      } catch (err) {
        // A read whose connection went before its answer is asked once more: it changes nothing,
        // and the controller may have been started again meanwhile (its keeper: docs/lifecycle.md).
        // A change may have been made: only its caller can tell whether to ask again.
        if (attempt === 1 && READS.has(method) && connectionLost(err)) continue;
        throw new ControllerError(0, 'unreachable', `cannot reach the controller at ${this.controllerUrl}: ${(err as Error).message} (${connectionHint(err)})`);
      }
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let code = 'http_error';
      let message = text;
      try {
        const e = JSON.parse(text).error;
        code = e.code;
        message = e.message;
      } catch { /* not an API error body */ }
      const retryAfter = Number(res.headers['retry-after']);
      throw new ControllerError(res.statusCode, code, `${method} ${path}: ${message} (${code}, HTTP ${res.statusCode})`, Number.isFinite(retryAfter) && res.headers['retry-after'] !== undefined ? retryAfter : undefined);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

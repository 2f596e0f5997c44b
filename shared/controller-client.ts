// A client of the controller's API for programs (setup, benchmarks, tests, BAT): one identity
// token per client, JSON in and out, and errors that keep the API's code and message.
import { request, type Dispatcher } from 'undici';
import { issueToken } from '../mocks/identity/client.ts';

export interface ClientCredentials {
  username: string;
  password: string;
  projectName?: string;
  projectId?: string;
}

export class ControllerError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ControllerError';
  }
}

export class ControllerClient {
  private token?: Promise<{ token: string; projectId: string }>;

  constructor(
    readonly controllerUrl: string,
    readonly identityUrl: string,
    private readonly creds: ClientCredentials,
    readonly dispatcher: Dispatcher,
  ) {}

  /** The project (tenant) id the client's token is scoped to. */
  async tenantId(): Promise<string> {
    return (await this.auth()).projectId;
  }

  /** The identity token this client uses. */
  async authToken(): Promise<string> {
    return (await this.auth()).token;
  }

  private auth() {
    this.token ??= issueToken(this.identityUrl, this.creds, this.dispatcher).then((t) => ({ token: t.token, projectId: t.projectId! }));
    return this.token;
  }

  async call<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const { token } = await this.auth();
    const raw = Buffer.isBuffer(body) || typeof body === 'string';
    const res = await request(`${this.controllerUrl}${path}`, {
      method: method as Dispatcher.HttpMethod,
      dispatcher: this.dispatcher,
      headers: { 'x-auth-token': token, ...(body === undefined ? {} : { 'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : contentType }) },
      body: body === undefined ? undefined : raw ? (body as Buffer | string) : JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let code = 'http_error';
      let message = text;
      try {
        const e = JSON.parse(text).error;
        code = e.code;
        message = e.message;
      } catch { /* not an API error body */ }
      throw new ControllerError(res.statusCode, code, `${method} ${path}: ${message} (${code}, HTTP ${res.statusCode})`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

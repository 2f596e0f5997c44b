// The CLI's connection to a cluster: the CIAO_* variables, the user and admin clients, and the
// token cache on disk (so each command does not log in again).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { clusterAgent } from '../shared/tls-files.ts';
import { ControllerClient, type CachedToken, type TokenStore } from '../shared/controller-client.ts';
import { UsageError } from './commands.ts';

export class MissingVariableError extends UsageError {}

export function requireEnv(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new MissingVariableError(`${name} is not set: source your cluster's variables first (. ~/local/demo.sh)`);
  return v;
}

/** Tokens in ${XDG_CACHE_HOME:-~/.cache}/ciao/tokens.json, readable only by the user. Each
 *  cluster's tokens are kept under its `scope` (its CA's fingerprint): a new cluster at the same
 *  address (a ccloudvm VM re-created, a setup after cleanup) never gets an older cluster's token. */
export class FileTokenStore implements TokenStore {
  constructor(private readonly path: string, private readonly scope = '') {}

  static default(env: NodeJS.ProcessEnv, scope = ''): FileTokenStore {
    return new FileTokenStore(join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ciao', 'tokens.json'), scope);
  }

  private read(): Record<string, CachedToken> {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8'));
    } catch {
      return {};
    }
  }

  private write(all: Record<string, CachedToken>) {
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      writeFileSync(this.path, JSON.stringify(all), { mode: 0o600 });
    } catch {
      // A cache that cannot be written only costs a login per command.
    }
  }

  load(key: string) {
    return this.read()[`${this.scope} ${key}`];
  }

  save(key: string, token: CachedToken) {
    const all = this.read();
    for (const [k, t] of Object.entries(all)) if (Date.parse(t.expiresAt) < Date.now()) delete all[k];
    this.write({ ...all, [`${this.scope} ${key}`]: token });
  }

  drop(key: string) {
    const all = this.read();
    delete all[`${this.scope} ${key}`];
    this.write(all);
  }
}

/** A short fingerprint of the cluster's CA certificate (empty when it cannot be read: the agent reports that). */
function caFingerprint(caFile: string): string {
  try {
    return createHash('sha256').update(readFileSync(caFile)).digest('hex').slice(0, 16);
  } catch {
    return '';
  }
}

export function clientsFromEnv(env: NodeJS.ProcessEnv) {
  const controller = requireEnv(env, 'CIAO_CONTROLLER');
  const identity = requireEnv(env, 'CIAO_IDENTITY');
  const caFile = requireEnv(env, 'CIAO_CA_CERT_FILE');
  const dispatcher = clusterAgent(caFile);
  const store = FileTokenStore.default(env, caFingerprint(caFile));
  const project = (name?: string, id?: string) => (id ? { projectId: id } : { projectName: name });
  const user = new ControllerClient(controller, identity, {
    username: requireEnv(env, 'CIAO_USERNAME'), password: requireEnv(env, 'CIAO_PASSWORD'),
    ...project(env.CIAO_TENANT_NAME, env.CIAO_TENANT_ID),
  }, dispatcher, store);
  const admin = env.CIAO_ADMIN_USERNAME
    ? new ControllerClient(controller, identity, {
      username: env.CIAO_ADMIN_USERNAME, password: requireEnv(env, 'CIAO_ADMIN_PASSWORD'), projectName: env.CIAO_ADMIN_TENANT_NAME || 'admin',
    }, dispatcher, store)
    : user;
  return { user, admin, close: () => dispatcher.close() };
}

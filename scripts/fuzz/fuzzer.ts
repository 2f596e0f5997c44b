// The HTTP fuzzer (docs/security.md): requests generated from the controller's and identity's
// route tables — wrong methods, ids crafted as paths, bad percent-encodings, long URLs, many
// headers, wrong content types, bodies of the wrong type, unknown fields, huge and deep — sent
// as a tenant, as an admin, with a forged token and with none. Every answer must be under 500
// and come within 2 s. Seeded: the same seed sends the same requests.
import { randomUUID } from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import { controllerRouter } from '../../controller/controller.ts';
import type { Services } from '../../controller/services.ts';
import { createIdentityServer } from '../../mocks/identity/server.ts';
import { defaultIdentityConfig } from '../../mocks/identity/config.ts';
import { silentLogger } from '../../shared/log.ts';
import { seededRandom } from '../../shared/seeded-random.ts';

export interface FuzzTarget {
  controller: string;
  identity: string;
  /** The cluster CA, for the HTTPS connections. */
  ca: Buffer;
  /** `subject`: another token of the user, for X-Subject-Token (checked, revoked …), so the run's own stays valid. */
  tokens: { user: string; admin: string; subject: string };
  /** Ids that exist (the user's tenant, an instance …): some requests use them, to go deeper. */
  ids: string[];
}

export interface FuzzOptions {
  requests: number;
  concurrency?: number;
  seed?: number;
  /** An answer slower than this is a failure. */
  slowMs?: number;
}

export interface FuzzReport {
  seed: number;
  sent: number;
  statuses: Record<string, number>;
  /** Answers of 500 or more, or no answer. */
  failures: { request: string; status: number | string; body: string }[];
  slow: { request: string; ms: number }[];
  maxMs: number;
  seconds: number;
}

/** The routes to generate from: the controller's and identity's, read from their routers. */
export function routeTables(): { service: 'controller' | 'identity'; method: string; pattern: string }[] {
  const controller = controllerRouter({} as Services, () => '').list().map((r) => ({ service: 'controller' as const, ...r }));
  const identity = createIdentityServer({
    config: defaultIdentityConfig({ adminPassword: 'x', demoPassword: 'y', controllerUrl: 'https://127.0.0.1:1' }), logger: silentLogger(),
  }).routes().map((r) => ({ service: 'identity' as const, ...r }));
  return [...controller, ...identity];
}

/** Seeded, so a failing run can be sent again exactly. */
function generator(seed: number) {
  const next = seededRandom(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof generator>;

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND'];
const SEGMENTS = [
  '..', '../..', '..%2F..%2Fetc%2Fpasswd', '%2e%2e%2f', '..%252F..%252F', '%ff', '%', '%zz', '%c0%af', '%00', 'a%00b', '\u202e',
  'ciao-escape', '-1', '0', 'null', 'undefined', '{}', '[]', "'", '"', '<script>', 'x'.repeat(300), '%E2%98%83', '__proto__', 'constructor',
];
const FIELDS = [
  'id', 'name', 'description', 'workload_id', 'count', 'size_mb', 'image_id', 'bootable', 'subnet', 'ips', 'instance_id', 'pool',
  'action', 'nat_failure', 'start_failure', 'config', 'subnet_bits', 'privileged_containers', 'instances', 'mem_mb', 'image_mb',
  'visibility', 'disk_format', 'container_format', 'server', 'flavorRef', 'imageRef', 'min_count', 'max_count', 'os-stop', 'os-start',
  'auth', 'identity', 'methods', 'password', 'user', 'scope', 'project', 'domain', 'token', 'vm_type', 'image_name', 'defaults', 'disks',
  '__proto__', 'constructor',
];
const CONTENT_TYPES = ['application/json', 'application/yaml', 'text/plain', 'application/octet-stream', 'application/openstack-images-v2.1-json-patch', 'multipart/form-data; boundary=x', ''];

function value(r: Rng, ids: string[], depth = 0): unknown {
  switch (r.int(depth > 3 ? 8 : 11)) {
    case 0: return r.pick([0, -1, 1, 1.5, 2 ** 53, -(2 ** 31), 1e308, 300, 100, 101]);
    case 1: return r.pick(['', 'x', 'a'.repeat(r.pick([10, 1000, 70_000])), '../../etc/passwd', '10.64.0.0/10', '203.0.113.0/24', '0.0.0.0/0', 'raw', 'qcow2', 'vmdk', 'stop', 'restart', 'public', 'internal']);
    case 2: return r.pick([true, false, null]);
    case 3: return r.pick(ids);
    case 4: return randomUUID();
    case 5: return r.pick(SEGMENTS);
    case 6: return [];
    case 7: return {};
    case 8: return Array.from({ length: r.int(4) }, () => value(r, ids, depth + 1));
    default: return object(r, ids, depth + 1);
  }
}

function object(r: Rng, ids: string[], depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  // defineProperty: "__proto__" becomes a key of the JSON sent, not this object's prototype.
  for (let n = r.int(5); n > 0; n--) {
    Object.defineProperty(o, r.chance(0.8) ? r.pick(FIELDS) : `unknown_${r.int(100)}`, { value: value(r, ids, depth), enumerable: true, configurable: true, writable: true });
  }
  return o;
}

/** A body: mostly JSON of plausible fields and wrong types; sometimes broken, huge or deep. */
function body(r: Rng, ids: string[]): string | undefined {
  switch (r.int(12)) {
    case 0: return undefined;
    case 1: return '{"name": ';
    case 2: return '['.repeat(50_000) + ']'.repeat(50_000);
    case 3: return JSON.stringify({ name: 'x'.repeat(1_200_000) });
    case 4: return r.pick(['[null]', 'null', '1', '"x"', '[]', '[{"op": "replace"}]', 'description: [oops', '\u0000\u0001']);
    case 5: return JSON.stringify([{ op: r.pick(['add', 'replace', 'remove', 'x']), path: r.pick(['/name', '/disk_format', '/visibility', '/x', '']), value: value(r, ids) }]);
    default: return JSON.stringify(object(r, ids, 0));
  }
}

/** One request from the route table, mutated. */
function makeRequest(r: Rng, routes: ReturnType<typeof routeTables>, target: FuzzTarget) {
  const route = r.pick(routes);
  const method = r.chance(0.8) ? route.method : r.pick(METHODS);
  let path = route.pattern.split('/').map((part) => {
    if (!part.startsWith(':')) return part && r.chance(0.02) ? r.pick(SEGMENTS) : part;
    return r.chance(0.5) ? r.pick(target.ids) : r.chance(0.5) ? randomUUID() : r.pick(SEGMENTS);
  }).join('/');
  if (r.chance(0.1)) path += `?${Array.from({ length: r.int(5) + 1 }, () => `${r.pick([...FIELDS, 'limit', 'marker'])}=${encodeURIComponent(JSON.stringify(value(r, target.ids)) ?? '')}`).join('&')}`;
  if (r.chance(0.02)) path += `/${'a'.repeat(r.pick([2000, 9000]))}`;
  if (r.chance(0.02)) path = `${path}%`;
  const headers: Record<string, string> = {};
  const who = r.int(10);
  if (who < 6) headers['x-auth-token'] = target.tokens.user;
  // The admin's token goes to the controller only: an admin deleting the tenant's project in identity
  // would leave the rest of the run unauthenticated, testing little.
  else if (who < 8) headers['x-auth-token'] = route.service === 'controller' ? target.tokens.admin : target.tokens.user;
  else if (who < 9) headers['x-auth-token'] = r.pick(['forged.token', '', 'a'.repeat(4000), `${target.tokens.user}x`]);
  const type = r.pick(CONTENT_TYPES);
  if (type) headers['content-type'] = type;
  if (r.chance(0.03)) for (let n = 0; n < 150; n++) headers[`x-fuzz-${n}`] = 'v'.repeat(50);
  if (r.chance(0.02)) headers['x-subject-token'] = r.pick([target.tokens.subject, 'nope']);
  const hasBody = !['GET', 'HEAD', 'TRACE'].includes(method) && r.chance(0.9);
  // Characters no client may put in a request line are encoded; raw % sequences (valid or not) stay.
  path = path.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@%/?]/gu, (c) => encodeURIComponent(c));
  return { service: route.service, method, path, headers, body: hasBody ? body(r, target.ids) : undefined };
}

export async function fuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzReport> {
  const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
  const r = generator(seed);
  const routes = routeTables();
  const slowMs = opts.slowMs ?? 2000;
  const pools: Record<'controller' | 'identity', Dispatcher> = {
    controller: new Pool(target.controller, { connections: opts.concurrency ?? 8, connect: { ca: target.ca } }),
    identity: new Pool(target.identity, { connections: 2, connect: { ca: target.ca } }),
  };
  const report: FuzzReport = { seed, sent: 0, statuses: {}, failures: [], slow: [], maxMs: 0, seconds: 0 };
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < opts.requests) {
      next++;
      const q = makeRequest(r, routes, target);
      const label = `${q.method} ${q.service} ${q.path.slice(0, 200)}`;
      const started = performance.now();
      let status: number | string;
      let text = '';
      try {
        const res = await pools[q.service].request({ method: q.method as 'GET', path: q.path, headers: q.headers, body: q.body, headersTimeout: 10_000, bodyTimeout: 10_000 });
        status = res.statusCode;
        text = (await res.body.text()).slice(0, 300);
      } catch (err) {
        // A connection the server closed after a refusal (413, 431) is an answer; anything else is not.
        const code = (err as { code?: string }).code ?? (err as Error).name;
        // EPIPE: the server answered (a refusal) and closed while the client was still sending the body.
        status = ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(code) ? 'closed' : code;
      }
      const ms = performance.now() - started;
      report.sent++;
      report.maxMs = Math.max(report.maxMs, ms);
      const key = typeof status === 'number' ? String(status) : status;
      report.statuses[key] = (report.statuses[key] ?? 0) + 1;
      if (typeof status === 'number' ? status >= 500 : status !== 'closed') report.failures.push({ request: label, status, body: text });
      if (ms > slowMs) report.slow.push({ request: label, ms: Math.round(ms) });
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  report.seconds = (performance.now() - t0) / 1000;
  await Promise.all(Object.values(pools).map((p) => p.close()));
  return report;
}

/** The status histogram, one line. */
export const histogram = (report: FuzzReport): string =>
  Object.entries(report.statuses).sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}×${n}`).join(' ');

import t from 'tap';
import { runCli, type CliIo } from '../../cli/main.ts';
import type { Caller } from '../../cli/commands.ts';
import { ControllerError } from '../../shared/controller-client.ts';

/** A fake API that records the calls and answers from a table. */
function fakeApi(answers: Record<string, unknown>) {
  const calls: { who: string; method: string; path: string; body?: unknown }[] = [];
  const caller = (who: string, tenant: string): Caller => ({
    async call<T>(method: string, path: string, body?: unknown) {
      calls.push({ who, method, path, body });
      const answer = answers[`${method} ${path}`];
      if (answer instanceof Error) throw answer;
      return answer as T;
    },
    tenantId: async () => tenant,
  });
  return { calls, user: caller('user', 'T1'), admin: caller('admin', 'ADM') };
}

async function cli(argv: string[], answers: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) {
  const api = fakeApi(answers);
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (s) => out.push(s), err: (s) => err.push(s), env, stdin: async () => '', clients: () => ({ ...api, close() {} }) };
  const code = await runCli(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n'), calls: api.calls };
}

const inst = { id: 'i1', name: 'i1', state: 'active', node_id: 'n1', ip: '172.16.0.2', ssh_ip: '172.16.0.2', ssh_port: 22, external_ip: null, workload_id: 'w1' };

t.test('list instances calls the tenant path and prints a table', async (t) => {
  const r = await cli(['list', 'instances'], { 'GET /tenants/T1/instances': { instances: [inst] } });
  t.equal(r.code, 0);
  t.match(r.out, /^ID\s+NAME\s+STATE.*\ni1\s+-\s+active\s+n1\s+172\.16\.0\.2\s+172\.16\.0\.2:22/);
});

t.test('singular and plural nouns are the same command; --tenant-id picks the tenant', async (t) => {
  const r = await cli(['list', 'instance', '--tenant-id', 'T9', '--json'], { 'GET /tenants/T9/instances': { instances: [inst] } });
  t.equal(r.code, 0);
  t.same(JSON.parse(r.out), [inst]);
});

t.test('create instance sends the workload and count; -f formats the answer', async (t) => {
  const r = await cli(['create', 'instance', '--workload', 'w1', '--instances', '2', '-f', '{{len .}}'], { 'POST /tenants/T1/instances': { instances: [inst, inst] } });
  t.equal(r.out, '2');
  t.same(r.calls[0].body, { workload_id: 'w1', count: 2, name: undefined });
});

t.test('admin commands use the admin caller', async (t) => {
  const r = await cli(['create', 'pool', 'test', '--subnet', '203.0.113.0/24'], { 'POST /pools': { name: 'test', total: 254 } });
  t.equal(r.code, 0);
  t.equal(r.calls[0].who, 'admin');
  t.match(r.out, /created pool test with 254/);
});

t.test('usage errors exit 2 with a helpful message', async (t) => {
  t.match(await cli(['list']), { code: 2, err: /"ciao list" needs a noun: workloads, instances/ });
  t.match(await cli(['list', 'bananas']), { code: 2 });
  t.match(await cli(['frobnicate', 'instances']), { code: 2, err: /unknown command/ });
  t.match(await cli(['create', 'instance']), { code: 2, err: /--workload ID is required/ });
  t.match(await cli(['update', 'tenant', 'x', '--privileged-containers', 'maybe']), { code: 2, err: /true or false/ });
});

t.test('an API refusal prints its message and exits 1', async (t) => {
  const r = await cli(['delete', 'instance', 'nope'], { 'DELETE /tenants/T1/instances/nope': new ControllerError(404, 'not_found', 'DELETE /tenants/T1/instances/nope: instance nope does not exist (not_found, HTTP 404)') });
  t.equal(r.code, 1);
  t.equal(r.err, 'ciao: instance nope does not exist (not_found, HTTP 404)');
});

t.test('without the cluster variables the CLI says to source demo.sh', async (t) => {
  const io: CliIo = { out: () => {}, err: (s) => errs.push(s), env: {}, stdin: async () => '' };
  const errs: string[] = [];
  t.equal(await runCli(['list', 'instances'], io), 2);
  t.match(errs.join(''), /CIAO_CONTROLLER is not set: source your cluster's variables first \(\. ~\/local\/demo\.sh\)/);
});

t.test('update tenant --egress on|off sends config.egress as admin; show tenant prints it', async (t) => {
  const tenant = { id: 'T2', name: 't2', subnet: '172.16.1.0/24', config: { subnet_bits: 24, privileged_containers: false, egress: false }, cnci: null, created_at: '' };
  const r = await cli(['update', 'tenant', 'T2', '--egress', 'off'], { 'PATCH /tenants/T2': tenant });
  t.equal(r.code, 0, r.err);
  t.same(r.calls, [{ who: 'admin', method: 'PATCH', path: '/tenants/T2', body: { name: undefined, config: { egress: false } } }]);
  t.match((await cli(['update', 'tenant', 'T2', '--egress', 'on'], { 'PATCH /tenants/T2': tenant })).calls[0].body, { config: { egress: true } });
  t.match(await cli(['update', 'tenant', 'T2', '--egress', 'true']), { code: 2, err: /--egress must be on or off/ });
  t.match((await cli(['show', 'tenant', 'T2'], { 'GET /tenants/T2': tenant })).out, /egress.*false/);
  t.match((await cli(['list', 'tenants'], { 'GET /tenants': { tenants: [tenant] } })).out, /EGRESS[\s\S]*off/);
});

// Benchmark of the real single-machine cluster (SPEC §11): setup with cold and warm caches, each
// verify step, cleanup, VM create → SSH answers, container create → active with network.
// Prints a table against the targets and writes JSON. Needs root.
//   npm run bench:singlevm [-- --cold] [--runs 3]
import { parseArgs } from 'node:util';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../shared/run.ts';
import { waitFor } from '../shared/wait-for.ts';
import { withTempDir } from '../shared/temp-dir.ts';
import { clusterAgent } from '../shared/tls-files.ts';
import { ControllerClient } from '../shared/controller-client.ts';
import type { Instance, Workload } from '../controller/api-types.ts';
import { cnciNamespace } from '../cnci/cnci-backend.ts';
import { clusterPaths } from '../singlevm/cluster-files.ts';
import { REPO_ROOT } from '../singlevm/processes.ts';
import { readDemoSh } from '../singlevm/demo-sh.ts';
import { pingFromContainer, sshHostname } from '../singlevm/probes.ts';
import type { StepTiming } from '../singlevm/step-runner.ts';
import { gatewayOf } from '../controller/addresses.ts';

const { values } = parseArgs({
  options: {
    name: { type: 'string', default: 'bench' },
    cold: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    json: { type: 'string' },
  },
});
const name = values.name!;
const runs = Number(values.runs);
const paths = clusterPaths(name);
const env = { ...process.env, CIAO_CLUSTER: name };
const results: { what: string; seconds: number; target?: number }[] = [];
const record = (what: string, seconds: number, target?: number) => {
  results.push({ what, seconds, target });
  console.log(`  ${what}: ${seconds.toFixed(2)} s${target ? ` (target ≤ ${target} s)` : ''}`);
};

async function timedScript(script: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<number> {
  const t0 = performance.now();
  const r = await run(join(REPO_ROOT, script), args, { env: { ...env, ...extraEnv }, allowFailure: true, timeout: 900_000 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.exitCode !== 0) throw new Error(`${script} ${args.join(' ')} failed:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return seconds;
}
const cleanup = () => timedScript('singlevm/cleanup.sh', ['--name', name]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

await cleanup();
if (values.cold) {
  // Cold: an empty image cache (Debian packages downloaded, the VM image built, KVM probed again).
  // Docker keeps an imported container image in its own store, so that one may still be there.
  await withTempDir('ciao-cold-cache', async (cache) => {
    record('setup, cold caches', await timedScript('singlevm/setup.sh', ['--name', name], { XDG_CACHE_HOME: cache }));
    record('cleanup', await cleanup(), 3);
  });
}

const setups: number[] = [];
const cleanups: number[] = [];
const verifyRuns: StepTiming[][] = [];
const vmToSsh: number[] = [];
const containerToNet: number[] = [];
for (let i = 0; i < runs; i++) {
  console.log(`run ${i + 1}/${runs}`);
  const timingsFile = join(tmpdir(), `ciao-bench-verify-${process.pid}.json`);
  setups.push(await timedScript('singlevm/setup.sh', ['--name', name]));
  const demo = await readDemoSh(paths.demoSh);
  const verifySeconds = await timedScript('singlevm/verify.sh', ['--timings', timingsFile], demo);
  verifyRuns.push([...JSON.parse(await readFile(timingsFile, 'utf8')).steps, { name: 'verify (wall clock)', seconds: verifySeconds, ok: true }]);
  await rm(timingsFile, { force: true });
  // With the tenant's CNCI up (verify left it), one VM and one container, each timed from create.
  const [vm, ct] = await createToReady(demo);
  vmToSsh.push(vm);
  containerToNet.push(ct);
  cleanups.push(await cleanup());
}

async function createToReady(demo: Record<string, string>): Promise<[number, number]> {
  const user = new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY,
    { username: demo.CIAO_USERNAME, password: demo.CIAO_PASSWORD, projectName: demo.CIAO_TENANT_NAME }, clusterAgent(demo.CIAO_CA_CERT_FILE));
  const tenant = await user.tenantId();
  const base = `/tenants/${tenant}`;
  const { workloads } = await user.call<{ workloads: Workload[] }>('GET', `${base}/workloads`);
  const create = async (type: string) => {
    const w = workloads.find((x) => x.vm_type === type && x.visibility === 'public')!;
    return (await user.call<{ instances: Instance[] }>('POST', `${base}/instances`, { workload_id: w.id, count: 1 })).instances[0];
  };
  const active = (id: string) => waitFor(`${id} active`, async () => {
    const i = await user.call<Instance>('GET', `${base}/instances/${id}`);
    return i.state === 'active' && i;
  }, { timeoutMs: 120_000, intervalMs: 20 });

  let t0 = performance.now();
  const vm = await create('qemu');
  await active(vm.id);
  await waitFor(`SSH to ${vm.ip}`, async () => (await sshHostname(cnciNamespace(name, tenant), vm.ip, demo.CIAO_SSH_KEY).catch(() => '')) === vm.id, { timeoutMs: 120_000, intervalMs: 100 });
  const vmSeconds = (performance.now() - t0) / 1000;

  t0 = performance.now();
  const ct = await create('docker');
  await active(ct.id);
  await waitFor(`${ct.id} to reach its gateway`, () => pingFromContainer(name, ct.id, gatewayOf(ct.subnet)), { timeoutMs: 30_000, intervalMs: 20 });
  const ctSeconds = (performance.now() - t0) / 1000;
  return [vmSeconds, ctSeconds];
}

const verifyTotals = verifyRuns.map((steps) => steps.find((s) => s.name === 'verify (wall clock)')!.seconds);
console.log(`\nsinglevm benchmark (${runs} warm run${runs > 1 ? 's' : ''}; medians; this machine: ${(await run('nproc', [])).stdout.trim()} cores)`);
record('setup, warm caches', median(setups), 10);
record('verify', median(verifyTotals), 30);
for (const step of verifyRuns[0].filter((s) => s.name !== 'verify (wall clock)')) {
  record(`  verify: ${step.name}`, median(verifyRuns.map((r) => r.find((s) => s.name === step.name)?.seconds ?? NaN)));
}
record('cleanup', median(cleanups), 3);
record('VM: create → SSH answers', median(vmToSsh), 6);
record('container: create → active with network', median(containerToNet), 1.5);

const out = values.json ?? join(REPO_ROOT, 'bench-results', 'singlevm.json');
await mkdir(join(REPO_ROOT, 'bench-results'), { recursive: true });
await writeFile(out, JSON.stringify({
  date: new Date().toISOString(), runs, results,
  raw: { setups, cleanups, verify: verifyRuns, vmToSsh, containerToNet },
}, null, 2) + '\n');
console.log(`\nJSON: ${out}`);

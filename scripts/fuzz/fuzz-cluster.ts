// A fuzz run against a simulated cluster of its own (separate daemons, as setup starts them), and
// what must hold afterwards: no answer of 500 or more, none slower than 2 s, every daemon still the
// same process, no uncaught error in any log, and the cluster still creates and deletes an instance.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { waitFor } from '../../shared/wait-for.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { clusterAgent } from '../../shared/tls-files.ts';
import { ControllerClient } from '../../shared/controller-client.ts';
import type { Instance, Workload } from '../../controller/api-types.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { isAlive, pidFiles, REPO_ROOT } from '../../singlevm/processes.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import { issueToken } from '../../mocks/identity/client.ts';
import { fuzz, type FuzzOptions, type FuzzReport } from './fuzzer.ts';
import { watchCluster } from '../../singlevm/cluster-reaper.ts';

export interface FuzzClusterReport extends FuzzReport {
  /** Daemons that exited or were replaced during the run. */
  exited: string[];
  /** Log lines of uncaught errors or failed requests. */
  logErrors: string[];
  /** Why the cluster could not create and delete an instance afterwards, if it could not. */
  afterwards?: string;
}

export const fuzzPassed = (r: FuzzClusterReport) =>
  r.failures.length === 0 && r.slow.length === 0 && r.exited.length === 0 && r.logErrors.length === 0 && !r.afterwards;

export async function fuzzCluster(opts: FuzzOptions & { progress?: (line: string) => void }): Promise<FuzzClusterReport> {
  // Removed in the finally below, once the cluster that lives in it is cleaned up.
  const { path: home, remove: removeHome } = tempDir('ciao-fuzz');
  const name = `fuzz${randomBytes(3).toString('hex')}`;
  const env = { ...process.env, CIAO_HOME: home, CIAO_CLUSTER: name };
  const paths = clusterPaths(name, home);
  const sh = (script: string, args: string[]) => run(join(REPO_ROOT, script), args, { env, allowFailure: true, timeout: 600_000 });
  // Should this process be killed (a test's timeout, Ctrl-C), the watcher cleans the cluster up.
  const watcher = watchCluster({ name, home });
  try {
    opts.progress?.(`setting up simulated cluster ${name}`);
    const setup = await sh('singlevm/setup.sh', ['--simulate', '--name', name]);
    if (setup.exitCode !== 0) throw new Error(`setup failed:\n${setup.stdout}\n${setup.stderr}`);
    const demo = await readDemoSh(paths.demoSh);
    const ca = await readFile(demo.CIAO_CA_CERT_FILE);
    const agent = clusterAgent(demo.CIAO_CA_CERT_FILE);
    const user = new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY, { username: demo.CIAO_USERNAME, password: demo.CIAO_PASSWORD, projectName: demo.CIAO_TENANT_NAME }, agent);
    const admin = new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY, { username: demo.CIAO_ADMIN_USERNAME, password: demo.CIAO_ADMIN_PASSWORD, projectName: demo.CIAO_ADMIN_TENANT_NAME }, agent);
    const tenant = `/tenants/${await user.tenantId()}`;
    const { workloads } = await user.call<{ workloads: Workload[] }>('GET', `${tenant}/workloads`);
    const [inst] = (await user.call<{ instances: Instance[] }>('POST', `${tenant}/instances`, { workload_id: workloads[0].id, count: 1 })).instances;
    const images = (await user.call<{ images: { id: string }[] }>('GET', '/image/v2/images')).images.map((i) => i.id);
    const daemons = await pidFiles(paths.pids);

    opts.progress?.(`sending ${opts.requests} requests (seed ${opts.seed ?? 'random'})`);
    const report = await fuzz({
      controller: demo.CIAO_CONTROLLER, identity: demo.CIAO_IDENTITY, ca,
      tokens: {
        user: await user.authToken(), admin: await admin.authToken(),
        subject: (await issueToken(demo.CIAO_IDENTITY, { username: demo.CIAO_USERNAME, password: demo.CIAO_PASSWORD, projectName: demo.CIAO_TENANT_NAME }, agent)).token,
      },
      // Not the admin project's id: an admin may delete any project, and the check afterwards logs in to that one.
      ids: [await user.tenantId(), inst.id, ...workloads.map((w) => w.id), ...images, 'default'],
    }, opts);

    const now = await pidFiles(paths.pids);
    const exited = daemons.filter((d) => !isAlive(d.pid) || !now.some((n) => n.name === d.name && n.pid === d.pid)).map((d) => `${d.name} (pid ${d.pid})`);
    const logErrors: string[] = [];
    for (const f of await readdir(paths.logs)) {
      for (const line of (await readFile(join(paths.logs, f), 'utf8')).split('\n')) {
        if (/uncaught|unhandled|"msg":"request failed"|FATAL|Segmentation/i.test(line)) logErrors.push(`${f}: ${line.slice(0, 300)}`);
      }
    }
    let afterwards: string | undefined;
    try {
      // As the admin, in its own project, with a workload of its own: the fuzzing, as an admin too,
      // may have deleted the demo project and what setup registered.
      const own = `/tenants/${await admin.tenantId()}`;
      const w = await admin.call<Workload>('POST', `${own}/workloads`, { description: 'after fuzzing', vm_type: 'docker', image_name: 'busybox' });
      const [probe] = (await admin.call<{ instances: Instance[] }>('POST', `${own}/instances`, { workload_id: w.id, count: 1 })).instances;
      await waitFor('an instance created after the fuzzing to be active', async () => (await admin.call<Instance>('GET', `${own}/instances/${probe.id}`)).state === 'active', { timeoutMs: 30_000 });
      await admin.call('DELETE', `${own}/instances/${probe.id}`);
      await waitFor('it to be deleted', async () => !(await admin.call<{ instances: Instance[] }>('GET', `${own}/instances`)).instances.some((i) => i.id === probe.id), { timeoutMs: 30_000 });
    } catch (err) {
      afterwards = (err as Error).message;
    }
    await agent.close();
    return { ...report, exited, logErrors, afterwards };
  } finally {
    await sh('singlevm/cleanup.sh', ['--name', name]);
    removeHome();
    watcher.done();
  }
}

// A cluster of a test's own: a random name, a throwaway CIAO_HOME, the singlevm scripts run as
// separate processes against it, and cleanup + removal of that home when the test ends.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { clusterPaths } from '../../singlevm/cluster-files.ts';
import { readDemoSh } from '../../singlevm/demo-sh.ts';
import { clusterAgent } from '../../shared/tls-files.ts';
import { ControllerClient } from '../../shared/controller-client.ts';
import { reapCluster } from './cluster-reaper.ts';

export async function throwawayCluster(t: Test, prefix: string) {
  const { path: home, remove: removeHome } = tempDir(`ciao-${prefix}`);
  // This process finds the cluster's processes by its state dir too: the same CIAO_HOME as the scripts.
  process.env.CIAO_HOME = home;
  const name = `${prefix}${randomBytes(3).toString('hex')}`;
  const env = { ...process.env, CIAO_HOME: home, CIAO_CLUSTER: name };
  const paths = clusterPaths(name, home);
  /** Runs a script of the repo (e.g. singlevm/setup.sh) with the cluster's variables. */
  const sh = (script: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}) =>
    run(join(REPO_ROOT, script), args, { env: { ...env, ...extra }, allowFailure: true, timeout: 900_000 });
  /** The variables `. demo.sh` sets, on top of the cluster's. */
  const demoEnv = async (): Promise<NodeJS.ProcessEnv> => ({ ...env, ...(await readDemoSh(paths.demoSh)) });
  reapCluster(t, { name, home, cleanup: async () => {
    await sh('singlevm/cleanup.sh', ['--name', name]);
    removeHome();
  } });
  /** setup.sh of the real cluster, with `args` and `extraEnv` (a failure throws, with its output), then the demo and admin users' clients. */
  const setUp = async (args: string[] = [], extraEnv: NodeJS.ProcessEnv = {}) => {
    const setup = await sh('singlevm/setup.sh', ['--name', name, ...args], extraEnv);
    if (setup.exitCode !== 0) throw new Error(`setup failed: ${setup.stdout}\n${setup.stderr}`);
    const demo = await readDemoSh(paths.demoSh);
    const agent = clusterAgent(demo.CIAO_CA_CERT_FILE);
    const client = (username: string, password: string, projectName: string) =>
      new ControllerClient(demo.CIAO_CONTROLLER, demo.CIAO_IDENTITY, { username, password, projectName }, agent);
    return {
      setup,
      demo,
      user: client(demo.CIAO_USERNAME, demo.CIAO_PASSWORD, demo.CIAO_TENANT_NAME),
      admin: client(demo.CIAO_ADMIN_USERNAME, demo.CIAO_ADMIN_PASSWORD, demo.CIAO_ADMIN_TENANT_NAME),
    };
  };
  return { home, name, env, paths, sh, demoEnv, setUp };
}

// `verify`: the end-to-end check of a cluster (SPEC §6), each step timed, stopping at the first
// failure with a clear reason and a log archive. On a real cluster it SSHes into the VMs over their
// private and external addresses, pings container to container and checks another tenant cannot
// reach them; on a simulated cluster the steps that need real guests are listed as not checked.
// The steps are in singlevm/verify/; this is the command line around them.
import { join } from 'node:path';
import { TIMEOUT_SCALE } from '../shared/wait-for.ts';
import { StepRunner } from './step-runner.ts';
import { DEFAULT_CLUSTER, clusterPaths } from './cluster-files.ts';
import { clusterName, scriptArgs, usageError } from './script-args.ts';
import { readDemoSh } from './demo-sh.ts';
import { collectLogs } from './logs.ts';
import { logIn, verifyTarget, VerifyStartError } from './verify/context.ts';
import { runVerify } from './verify/flows.ts';

const USAGE = `usage: verify.sh [--name NAME] [--timings FILE]

Checks a cluster end to end (SPEC §6): cluster NAME's variables from its demo.sh, else the cluster
the CIAO_* variables describe (. ~/local/demo.sh).
  --name NAME       the cluster (default: CIAO_CLUSTER, else ${DEFAULT_CLUSTER})
  --timings FILE    also write the step timings as JSON to FILE`;
const values = scriptArgs('verify', USAGE, { name: { type: 'string' }, timings: { type: 'string' } });
const cluster = clusterName('verify', USAGE, values.name);
// A named cluster is checked through its own demo.sh, whatever the shell's variables say.
const vars: Record<string, string | undefined> = values.name
  ? await readDemoSh(clusterPaths(cluster).demoSh).catch(() => usageError('verify', USAGE, `cluster ${cluster} has no ${clusterPaths(cluster).demoSh}: set it up first (./singlevm/setup.sh --name ${cluster})`))
  : process.env;

/** A cluster verify cannot check is exit 2 (like a usage error); a refused login is exit 1. */
const cannotStart = (err: unknown): never => {
  if (!(err instanceof VerifyStartError)) throw err;
  console.error(`verify: ${err.message}`);
  process.exit(err.code === 'login_failed' ? 1 : 2);
};
const target = await verifyTarget(cluster, vars).catch(cannotStart);
if (TIMEOUT_SCALE > 1) console.log(`timeouts ×${TIMEOUT_SCALE} (CIAO_TIMEOUT_SCALE: a machine that much slower than bare metal, e.g. a nested VM under TCG)`);
const ctx = await logIn(target).catch(cannotStart);

const steps = new StepRunner('verify');
try {
  await runVerify(ctx, steps);
} catch (err) {
  console.error(`\n${steps.summary()}\n\nverify FAILED: ${(err as Error).message}`);
  if (values.timings) await steps.writeJson(values.timings);
  const archive = join(clusterPaths(cluster).home, `ciao-${cluster}-verify-failure-${Date.now()}.tar.gz`);
  await collectLogs(cluster, archive).then(
    () => console.error(`logs of every component, the guests' consoles and the network state: ${archive}`),
    (e) => console.error(`(could not collect logs: ${(e as Error).message})`));
  process.exit(1);
}

console.log(`\n${steps.summary()}`);
if (ctx.notChecked.length) console.log(`\nnot checked on this ${ctx.simulated ? 'simulated ' : ''}cluster:\n${ctx.notChecked.map((s) => `  - ${s}`).join('\n')}`);
if (values.timings) await steps.writeJson(values.timings);
console.log('\nverify passed');
process.exit(0);

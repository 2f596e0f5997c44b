// A conformance run as a flow of steps over one context (singlevm/flow.ts): Tempest's version, the
// cluster, what the config needs from it, the config, the accounts it names, the run, the outputs.
import { mkdir } from 'node:fs/promises';
import { need, type Step } from '../../singlevm/flow.ts';
import { clusterInventory, leftSince } from '../inventory.ts';
import { ensureAccounts } from './accounts.ts';
import type { Area } from './areas.ts';
import { adminClient, ensureCluster, removeCluster, type ClusterAccess } from './cluster.ts';
import { readCloudFacts, type CloudFacts } from './cloud-facts.ts';
import { ensureAltFlavor } from './alt-flavor.ts';
import { outputFiles, writeJunit } from './report.ts';
import type { TestResult } from './results.ts';
import { runTempest, tempestVersion } from './run-tempest.ts';
import { tempestConf, type CredentialsMode, type WorkspacePaths } from './tempest-conf.ts';
import { makeWorkspace, workspacePaths, writeConfig } from './workspace.ts';

export interface ConformanceContext {
  name: string;
  /** Remove the cluster before bringing it up. */
  fresh: boolean;
  credentials: CredentialsMode;
  concurrency: number;
  areas: Area[];
  /** The stestr selection regex (areas, --smoke, --regex). */
  regex: string;
  outDir: string;
  timeoutMs: number;
  // What the steps make:
  tempest?: string;
  cluster?: ClusterAccess;
  facts?: CloudFacts;
  workspace?: WorkspacePaths;
  results?: TestResult[];
  /** What the cluster held before the run (clusterInventory), to name what Tempest left. */
  before?: Set<string>;
  /** What Tempest left on the cluster, e.g. "3 instances, 1 image" ('' for nothing). */
  leftovers?: string;
}

export type ConformanceStep = Step<ConformanceContext>;

const tempest: ConformanceStep = {
  name: 'tempest',
  async execute(ctx) {
    ctx.tempest = await tempestVersion();
    return `Debian's tempest ${ctx.tempest}`;
  },
};

const cluster: ConformanceStep = {
  name: (ctx) => `cluster ${ctx.name}`,
  async execute(ctx, progress) {
    if (ctx.fresh) {
      progress('removing it first (--fresh)');
      await removeCluster(ctx.name);
    }
    progress('setup.sh');
    const { access, note } = await ensureCluster(ctx.name);
    ctx.cluster = access;
    // Before the inventory: the alternative flavor is the cluster's, not a Tempest leftover.
    const alt = await ensureAltFlavor(access);
    ctx.before = await clusterInventory(adminClient(access));
    return `${note}; ${alt}`;
  },
};

const cloudFacts: ConformanceStep = {
  name: 'cloud facts',
  async execute(ctx) {
    const f = (ctx.facts = await readCloudFacts(need(ctx.cluster, 'the cluster', 'cluster')));
    const range = f.compute.maxMicroversion ? `${f.compute.minMicroversion} – ${f.compute.maxMicroversion}` : 'none';
    return `flavor ${f.flavorRef}, image ${f.imageRef}${f.imageRefAlt !== f.imageRef ? ` (alt ${f.imageRefAlt})` : ''}, compute microversions ${range}, ${f.computeNodes} compute node(s)`;
  },
};

const accounts: ConformanceStep = {
  name: 'accounts',
  when: (ctx) => ctx.credentials === 'preprovisioned',
  async execute(ctx) {
    const ws = need(ctx.workspace, 'the workspace', 'tempest.conf');
    return ensureAccounts(need(ctx.cluster, 'the cluster', 'cluster'), ws.accounts, ctx.concurrency);
  },
};

const config: ConformanceStep = {
  name: 'tempest.conf',
  async execute(ctx) {
    const cluster = need(ctx.cluster, 'the cluster', 'cluster');
    const ws = (ctx.workspace = workspacePaths(cluster.stateDir));
    await makeWorkspace(ws);
    await writeConfig(ws, tempestConf({ cluster, facts: need(ctx.facts, 'the cloud facts', 'cloud facts'), workspace: ws, credentials: ctx.credentials }));
    return ws.config;
  },
};

const tempestRun: ConformanceStep = {
  name: (ctx) => `tempest run (concurrency ${ctx.concurrency})`,
  async execute(ctx, progress) {
    await mkdir(ctx.outDir, { recursive: true });
    const n = { pass: 0, fail: 0, skip: 0 };
    ctx.results = await runTempest({
      workspace: need(ctx.workspace, 'the workspace', 'tempest.conf'),
      regex: ctx.regex,
      concurrency: ctx.concurrency,
      subunitFile: outputFiles(ctx.outDir).subunit,
      timeoutMs: ctx.timeoutMs,
      onResult: (r) => {
        n[r.outcome]++;
        progress(`${n.pass + n.fail + n.skip} done (${n.pass} passed, ${n.fail} failed, ${n.skip} skipped): ${r.name}`);
      },
    });
    return `${ctx.results.length} results: ${n.pass} passed, ${n.fail} failed, ${n.skip} skipped`;
  },
};

const junit: ConformanceStep = {
  name: 'JUnit',
  async execute(ctx) {
    const files = outputFiles(ctx.outDir);
    await writeJunit(files.subunit, files.junit);
    return files.junit;
  },
};

/** Tenants are left out: each account's project becomes a tenant on its first request. */
const leftovers: ConformanceStep = {
  name: 'leftovers',
  async execute(ctx) {
    const after = await clusterInventory(adminClient(need(ctx.cluster, 'the cluster', 'cluster')));
    ctx.leftovers = leftSince(need(ctx.before, 'the inventory before the run', 'cluster'), after, ['tenant']);
    return ctx.leftovers ? `Tempest left ${ctx.leftovers} on cluster ${ctx.name} (--fresh starts from a clean one)` : 'Tempest left nothing on the cluster';
  },
};

export const CONFORMANCE_FLOW: ConformanceStep[] = [tempest, cluster, cloudFacts, config, accounts, tempestRun, junit, leftovers];

// Identity, scheduler and controller as daemons: each one whose pid file does not name a live
// process is started (a resume starts only what died), then the APIs must answer.
import { join } from 'node:path';
import { waitFor } from '../../shared/wait-for.ts';
import type { DaemonName } from '../build-daemons.ts';
import { keeperPidFile, type Daemon } from '../processes.ts';
import { need, urls, type Action, type SetupContext } from './context.ts';

/** Starts the daemon unless it runs; whether it was started. `as` names one of several processes
 *  of one daemon (node i's launcher is `launcher-<i>`): its pid file and logs. */
export async function ensureDaemon(ctx: SetupContext, daemon: DaemonName, args: string[], as: string = daemon, readyTimeoutMs?: number,
  run: Pick<Daemon, 'nodeArgs' | 'env' | 'keep'> = {}): Promise<boolean> {
  const pidFile = join(ctx.paths.pids, `${as}.pid`);
  // A kept daemon that is not running is being started again by its keeper.
  if (await ctx.host.runningPid(pidFile) || (run.keep && await ctx.host.runningPid(keeperPidFile(pidFile)))) return false;
  const bundles = need(ctx.bundles, 'the daemon bundles', 'build daemons');
  await ctx.host.startDaemon({ name: as, entry: bundles[daemon], args: [...args, '--log', join(ctx.paths.logs, `${as}.log`)], readyTimeoutMs, ...run }, ctx.name, ctx.paths);
  return true;
}

/** The control plane's memory settings (docs/scale.md, "Memory"; issue 15: identity + controller +
 *  scheduler ≤ 500 MB at 5 000 nodes). glibc raises its mmap threshold to the largest block freed
 *  and then keeps such blocks in the thread's arena: each of libuv's pool threads kept the 16 MB
 *  of its last scrypt (identity's password hashes), 64 MB in all. A fixed threshold gives them back.
 *  V8 grows each young-generation semi-space to 16 MB in a burst (32 MB a process, never given
 *  back); at 2 MB the scavenges are more, and shorter. */
export const CONTROL_PLANE_RUN: Pick<Daemon, 'nodeArgs' | 'env'> = {
  nodeArgs: ['--max-semi-space-size=2'],
  env: { MALLOC_MMAP_THRESHOLD_: String(128 * 1024) },
};

/** Identity allocates little (its peak is a login's scrypt on top of what it holds): a 1 MB
 *  semi-space keeps 1.8 MB less for it (docs/scale.md, "Fifth pass: memory"). */
export const IDENTITY_RUN: Pick<Daemon, 'nodeArgs' | 'env'> = { ...CONTROL_PLANE_RUN, nodeArgs: ['--max-semi-space-size=1'] };

/** The scheduler's 5 000 TLS connections each keep Node's TLS input buffer, first allocated at
 *  libuv's read size (64 KB) and written only at its start; from glibc's heap it takes pages that
 *  freed handshake and record buffers had made resident. At this threshold each is a mapping of its
 *  own, resident only where written (docs/scale.md, "Fifth pass: memory": the scheduler 283–298 →
 *  265–281 MB at 5 000 nodes, as jemalloc did, without jemalloc's cost in CPU and creates' latency). */
export const SCHEDULER_RUN: Pick<Daemon, 'nodeArgs' | 'env'> = { ...CONTROL_PLANE_RUN, env: { MALLOC_MMAP_THRESHOLD_: String(64 * 1024) } };

export const controlPlane: Action = {
  name: 'start control plane',
  async execute(ctx) {
    const { paths } = ctx;
    const record = need(ctx.record, 'the cluster record', 'configuration');
    const pki = need(ctx.pki, 'the certificates', 'certificates');
    const creds = need(ctx.creds, 'the credentials', 'credentials');
    // Loopback unless asked (ccloudvm asks for 0.0.0.0 inside its VM: QEMU's forwards reach the guest's NIC, not its loopback).
    const apiHost = ctx.settings.apiHost ? ['--host', ctx.settings.apiHost] : [];
    // All three at once, each waited for until it says it listens (they find each other as they come up).
    const started = (await Promise.all([
      // Kept as the controller is: every client's login and every token check go to it.
      ensureDaemon(ctx, 'identity', ['--config', paths.identityConfig, '--port', String(record.ports.identity), ...apiHost, '--cert', pki.https.cert, '--key', pki.https.key, '--state-dir', paths.stateDir], 'identity', undefined,
        { ...IDENTITY_RUN, keep: { host: ctx.settings.apiHost ?? '127.0.0.1', port: record.ports.identity } }).then((s) => s && 'identity'),
      ensureDaemon(ctx, 'scheduler', ['--port', String(record.ports.scheduler), '--ca', pki.ca.cert, '--cert', pki.scheduler.cert, '--key', pki.scheduler.key,
        '--socket', join(paths.stateDir, 'scheduler.sock')], 'scheduler', undefined, SCHEDULER_RUN).then((s) => s && 'scheduler'),
      ensureDaemon(ctx, 'controller', ['--port', String(record.ports.controller), ...apiHost, '--state-dir', paths.stateDir, '--identity', urls(ctx).identity,
        '--ca', pki.ca.cert, '--cert', pki.https.cert, '--key', pki.https.key, '--client-cert', pki.controller.cert, '--client-key', pki.controller.key,
        '--scheduler-port', String(record.ports.scheduler), ...(ctx.settings.egress ? ['--egress'] : [])], 'controller', undefined,
      // Kept: a killed or crashed controller is started again at once, and its clients wait for it meanwhile.
      { ...CONTROL_PLANE_RUN, keep: { host: ctx.settings.apiHost ?? '127.0.0.1', port: record.ports.controller } }).then((s) => s && 'controller'),
    ])).filter(Boolean);
    const answers = (url: string) => () => ctx.host.answers(url, pki.ca.cert);
    const { identity, controller } = urls(ctx);
    await waitFor(`identity at ${identity} (log: ${paths.logs}/identity.out)`, answers(`${identity}/v3`));
    await waitFor(`controller at ${controller} (log: ${paths.logs}/controller.out)`, answers(`${controller}/v2.1`));
    ctx.admin = ctx.host.adminClient({ identity, controller }, { username: creds.admin.username, password: creds.admin.password, projectName: creds.admin.project }, pki.ca.cert);
    if (ctx.resuming) return started.length ? `started again: ${started.join(', ')}` : 'all running';
  },
};

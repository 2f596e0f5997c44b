// In the root layer, which runs one file at a time: in the parallel integration layer, its two clusters
// starting and being killed beside every other test ran past two minutes.
// The controller killed (SIGKILL) in the middle of a burst of creates on a simulated cluster (or the
// scheduler, or both), and resumed by setup: nothing it answered is lost, every instance ends active on a node, and each
// node runs what the controller has there (scripts/chaos-scale.ts; docs/durability.md, "At
// scale"). Smaller than `npm run chaos:scale`'s default, at two fixed moments of the burst.
import t from 'tap';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../shared/run.ts';
import { tempDir } from '../../shared/temp-dir.ts';
import { REPO_ROOT } from '../../singlevm/processes.ts';
import { reapCluster } from '../helpers/cluster-reaper.ts';

const { path: home, remove: removeHome } = tempDir('ciao-chaos-scale');
const name = `chs-${randomBytes(3).toString('hex')}`;
const env = { ...process.env, CIAO_HOME: home };
reapCluster(t, { name, home, cleanup: async () => {
  await run(join(REPO_ROOT, 'singlevm/cleanup.sh'), ['--name', name], { env, allowFailure: true });
  removeHome();
} });

// A fifth of the way through the creates, and near their end (the first draw of each seed); and
// the scheduler, alone and with the controller: a new scheduler gets every unanswered START again
// before its nodes are back (docs/protocol.md, "Placement").
const runs = [{ seed: 8, kill: 'controller' }, { seed: 4, kill: 'controller' }, { seed: 4, kill: 'scheduler' }, { seed: 8, kill: 'scheduler,controller' }];
for (const { seed, kill } of runs) {
  t.test(`${kill.replace(',', ' and ')} killed at seed ${seed}'s moment of a burst of 2 000 creates on 200 nodes: nothing lost, all active, each node as the controller has it`, async (t) => {
    const r = await run(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/chaos-scale.ts'), '--nodes', '200', '--instances', '2000', '--seed', String(seed), '--kill', kill, '--name', name], { env, allowFailure: true, timeout: 600_000 });
    t.comment(r.stdout.split('\n').filter((l) => /^(killed|instances:)/.test(l)).join('; '));
    t.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    t.match(r.stdout, /chaos:scale: all checks passed/);
  });
}

// better-sqlite3 compiled. On a fresh machine setup.sh leaves its compile going
// (`ensure-deps.sh --native-background`, docs/cold-start.md) so that the steps before the control
// plane run beside it; the control plane (the controller's SQLite store) is the first to load the
// module, so it waits here: `ensure-deps.sh --prod` waits for the compile's lock, then finds the
// module built (or builds it, and says why not). Skipped when no compile was left going as setup
// started (settings.nativeCompileGoing).
import { join } from 'node:path';
import { run } from '../../shared/run.ts';
import { REPO_ROOT } from '../processes.ts';
import type { Action } from './context.ts';

/** Made by ensure-deps.sh when it leaves the compile going; removed once the module is built. */
export const NATIVE_PENDING = join(REPO_ROOT, 'node_modules', '.ciao-native-pending');

export const nativeModule: Action = {
  name: 'better-sqlite3 compiled',
  when: (ctx) => !!ctx.settings.nativeCompileGoing,
  async execute() {
    const r = await run(join(REPO_ROOT, 'scripts', 'ensure-deps.sh'), ['--prod'], { allowFailure: true, timeout: 30 * 60_000 });
    if (r.exitCode !== 0) throw new Error(`better-sqlite3 is not built: ${r.stderr.trim() || `ensure-deps.sh --prod exited ${r.exitCode}`}`);
    return 'compiled beside the steps before this one (setup.sh left the compile going)';
  },
};

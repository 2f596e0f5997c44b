// Tempest's workspace for a cluster: <state dir>/tempest/, so it goes with the cluster's cleanup and
// its credentials stay in the state dir (0700). Tempest keeps its .stestr repository there too.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkspacePaths } from './tempest-conf.ts';

export function workspacePaths(stateDir: string): WorkspacePaths {
  const dir = join(stateDir, 'tempest');
  return { dir, config: join(dir, 'etc', 'tempest.conf'), accounts: join(dir, 'etc', 'accounts.yaml'), logs: join(dir, 'logs'), lock: join(dir, 'lock') };
}

/** The workspace's folders (Tempest fails at test discovery when its log folder is missing). */
export async function makeWorkspace(ws: WorkspacePaths): Promise<void> {
  for (const d of [join(ws.dir, 'etc'), ws.logs, ws.lock]) await mkdir(d, { recursive: true, mode: 0o700 });
}

/** The config holds the admin's credentials: only its owner reads it. */
export const writeConfig = (ws: WorkspacePaths, text: string): Promise<void> => writeFile(ws.config, text, { mode: 0o600 });

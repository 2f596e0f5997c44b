// The cluster's daemons and their entry points (relative to the repo). A module of its own, with no
// imports, so setup's health check can name the daemons without loading the bundler.
export const DAEMON_ENTRIES = {
  identity: 'mocks/identity/main.ts',
  scheduler: 'scheduler/main.ts',
  controller: 'controller/main.ts',
  launcher: 'launcher/main.ts',
} as const;
export type DaemonName = keyof typeof DAEMON_ENTRIES;

// The command line of every singlevm script and of bat/run.sh (SPEC §2): options parsed once, and
// a bad one answered with the reason and the usage line, exit 2 — never a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_CLUSTER, validClusterName } from './cluster-files.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Ends the script: what is wrong, then the usage's first line (the whole usage is --help). */
export function usageError(script: string, usage: string, message: string): never {
  console.error(`${script}: ${message}\n${usage.split('\n')[0]}`);
  process.exit(2);
}

/** The script's options; `--help` prints the usage and exits 0. */
export function scriptArgs<O extends Options>(script: string, usage: string, options: O) {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    usageError(script, usage, (err as Error).message.split('\n')[0]);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return values as ReturnType<typeof parseArgs<{ options: O }>>['values'];
}

/** The cluster a script acts on: `--name`, else CIAO_CLUSTER, else the default; a bad name is a usage error. */
export function clusterName(script: string, usage: string, given: string | undefined): string {
  const name = given || process.env.CIAO_CLUSTER || DEFAULT_CLUSTER;
  if (!validClusterName(name)) usageError(script, usage, `cluster name ${JSON.stringify(name)} must be lowercase letters, digits or '-', at most 16, starting with a letter`);
  return name;
}

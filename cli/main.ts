// `ciao <verb> <noun>`: the cluster's command-line client (see `ciao --help`).
import { Command, CommanderError } from 'commander';
import { ControllerError } from '../shared/controller-client.ts';
import { COMMANDS, UsageError, type Caller, type Context, type Output } from './commands.ts';
import { clientsFromEnv } from './session.ts';
import { formatObject, formatTable } from './table.ts';
import { applyTemplate, TemplateError } from './template.ts';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  stdin(): Promise<string>;
  /** The clients to use; by default from the CIAO_* variables. */
  clients?(): { user: Caller; admin: Caller; close(): Promise<void> | void };
}

function render(output: Output, global: { json?: boolean; format?: string }): string {
  if (global.format) return applyTemplate(global.format, output.data);
  if (global.json) return JSON.stringify(output.data, null, 2);
  if (output.kind === 'list') return formatTable(output.data, output.columns);
  if (output.kind === 'object') return formatObject(output.data);
  return output.text;
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('ciao')
    .description('the ciao cluster client: ciao <verb> <noun> [options]  (reads CIAO_* from . ~/local/demo.sh)')
    .option('--json', 'print the answer as JSON')
    .option('-f, --format <template>', 'format the answer with a template, e.g. {{len .}} or {{range .}}{{.id}}\\n{{end}}')
    .option('--tenant-id <id>', 'act on this tenant (admin)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride()
    .showSuggestionAfterError();

  const verbs = new Map<string, Command>();
  for (const spec of COMMANDS) {
    let verb = verbs.get(spec.verb);
    if (!verb) {
      verb = program.command(spec.verb).description(`${spec.verb} a resource`).exitOverride();
      verbs.set(spec.verb, verb);
    }
    const sub = verb.command(spec.nouns[0]).aliases(spec.nouns.slice(1)).description(spec.summary).exitOverride();
    for (const a of spec.args ?? []) sub.argument(a.startsWith('[') ? a : `<${a}>`);
    for (const o of spec.options ?? []) sub.option(o.flags, o.description, o.default as string | undefined);
    sub.action(async (...params: unknown[]) => {
      const cmd = params[params.length - 1] as Command;
      const args = params.slice(0, spec.args?.length ?? 0) as string[];
      const global = cmd.optsWithGlobals() as { json?: boolean; format?: string; tenantId?: string };
      const clients = (io.clients ?? (() => clientsFromEnv(io.env)))();
      const ctx: Context = {
        user: clients.user,
        admin: clients.admin,
        tenant: async () => global.tenantId ?? (await clients.user.tenantId()),
        readStdin: io.stdin,
      };
      try {
        io.out(render(await spec.run(ctx, args, cmd.opts()), global));
      } finally {
        await clients.close();
      }
    });
  }
  for (const verb of verbs.values()) verb.description(verb.commands.map((c) => c.name()).join(', '));
  for (const verb of verbs.values()) verb.action(() => {
    throw new UsageError(`"ciao ${verb.name()}" needs a noun: ${verb.commands.map((c) => c.name()).join(', ')}`);
  });
  return program;
}

/** Runs the CLI; returns the exit code (0 ok, 1 the cluster said no, 2 usage). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.help' ? 0 : 2;
    }
    if (err instanceof UsageError || err instanceof TemplateError) {
      io.err(`ciao: ${err.message}`);
      return 2;
    }
    if (err instanceof ControllerError) {
      io.err(`ciao: ${err.message.replace(/^\S+ \S+: /, '')}`);
      return 1;
    }
    io.err(`ciao: ${(err as Error).message}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // A reader that stops early (`ciao list nodes | head`) closes the pipe: the rest is not wanted,
  // so that is the end, as for any Unix tool, not an unhandled EPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const stdin = async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const code = await runCli(process.argv.slice(2), { out: (s) => console.log(s), err: (s) => console.error(s), env: process.env, stdin });
  // Into a pipe stdout is written asynchronously: exit only once what was written is out (a list of
  // 1 000 nodes is more than the pipe holds, and was cut at 64 KiB).
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
  process.exit(code);
}

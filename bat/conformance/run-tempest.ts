// Drives Debian's tempest: its version, and `tempest run --subunit` in the cluster's workspace, the
// stream saved to a file and read as it comes (each finished test is reported for the progress line).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../shared/run.ts';
import { SubunitParser } from './subunit.ts';
import { ResultCollector, type TestResult } from './results.ts';
import type { WorkspacePaths } from './tempest-conf.ts';

/** Debian's tempest package version (bat/tempest.sh installs it: scripts/install-system-deps.sh --conformance). */
export async function tempestVersion(): Promise<string> {
  const r = await run('dpkg-query', ['-W', '-f', '${Status}|${Version}', 'tempest'], { allowFailure: true });
  const [status, version] = r.stdout.split('|');
  if (r.exitCode !== 0 || !status?.endsWith(' installed')) {
    throw new Error('Debian\'s tempest is not installed: run bat/tempest.sh (it installs it), or apt-get install tempest subunit python3-junitxml');
  }
  return version;
}

export interface TempestRun {
  workspace: WorkspacePaths;
  regex: string;
  concurrency: number;
  /** Where the subunit stream goes. */
  subunitFile: string;
  timeoutMs: number;
  onResult?: (r: TestResult) => void;
}

/** Runs the selected tests; the results in the order they finished. Throws when Tempest ran none
 *  (a broken config fails at test discovery) with the end of what it printed. */
export async function runTempest(opts: TempestRun): Promise<TestResult[]> {
  const args = ['run', '--config-file', opts.workspace.config, '--concurrency', String(opts.concurrency), '--subunit', '--regex', opts.regex];
  const child = spawn('tempest', args, { cwd: opts.workspace.dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const stream = createWriteStream(opts.subunitFile);
  const stderrLog = createWriteStream(join(opts.workspace.logs, 'tempest-run.stderr'));
  const parser = new SubunitParser();
  const collector = new ResultCollector();
  let stderrTail = '';
  let outsideStream = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stream.write(chunk);
    for (const p of parser.push(chunk)) {
      const r = collector.add(p);
      if (r) opts.onResult?.(r);
    }
    // What is not subunit (an import error printed before the stream starts) is kept to report.
    if (!collector.results.length) outsideStream = (outsideStream + chunk.toString('utf8').replace(/[^\x09\x0a\x20-\x7e]/g, '')).slice(-4000);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderrLog.write(chunk);
    stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4000);
  });
  // Tempest and its workers are a process group of their own: a run that hangs past the timeout,
  // or whose runner is interrupted, is killed whole.
  const kill = () => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone already */ } };
  const interrupted = () => { kill(); process.exit(130); };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  const timer = setTimeout(kill, opts.timeoutMs);
  const exitCode = await new Promise<number | null>((done) => child.on('close', done));
  clearTimeout(timer);
  process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
  await Promise.all([stream, stderrLog].map((s) => new Promise((done) => s.end(done))));
  if (exitCode === null) throw new Error(`tempest run did not end within ${opts.timeoutMs / 60_000} min and was killed (${collector.results.length} results so far)`);
  if (!collector.results.length) {
    const said = `${stderrTail}\n${outsideStream}`.trim().split('\n').filter((l) => l.trim()).slice(-8).join('\n    ');
    throw new Error(`tempest run ran no test (exit ${exitCode}); it said:\n    ${said || '(nothing)'}`);
  }
  return collector.results;
}

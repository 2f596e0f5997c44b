// A daemon's memory at its peak, for profiling (docs/scale.md): preload it with
//   CIAO_DAEMON_NODE_ARGS="--import=/abs/path/scripts/lib/memory-probe.mjs" CIAO_MEMORY_PROBE_DIR=DIR
// Every 200 ms it samples process.memoryUsage(); at each new peak of rss it keeps that sample with
// V8's heap spaces and where the resident pages are (/proc/self/smaps: the node binary's pages,
// malloc's main heap, other anonymous maps), and writes DIR/<argv1 name>-<pid>.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import v8 from 'node:v8';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.CIAO_MEMORY_PROBE_DIR;
// Not in a worker thread (the controller's SQLite writer inherits the preload): one probe a process.
if (dir && isMainThread) {
  const file = join(dir, `${basename(process.argv[1] ?? 'node').replace(/\.m?[jt]s$/, '')}-${process.pid}.json`);
  const mb = (n) => Math.round(n / 1048576 * 10) / 10;
  let peak = 0;
  /** Resident MB by kind of mapping. */
  const resident = () => {
    const by = {};
    let kind = 'anon';
    for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const map = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (map) kind = map[1] === '' ? 'anon' : map[1].startsWith('/') ? (map[1].endsWith('/node') ? 'node binary' : 'other files') : map[1];
      else if (line.startsWith('Rss:')) by[kind] = (by[kind] ?? 0) + Number(line.split(/\s+/)[1]) / 1024;
    }
    return Object.fromEntries(Object.entries(by).map(([k, v]) => [k, Math.round(v * 10) / 10]));
  };
  const sample = () => {
    const m = process.memoryUsage();
    if (m.rss <= peak + 2 * 1048576) return;
    peak = m.rss;
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, mb(s.space_used_size)]));
    const out = { resident_mb: resident(), at: new Date().toISOString(), rss_mb: mb(m.rss), heap_total_mb: mb(m.heapTotal), heap_used_mb: mb(m.heapUsed), external_mb: mb(m.external), array_buffers_mb: mb(m.arrayBuffers), heap_spaces_used_mb: spaces };
    writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  };
  setInterval(sample, 200).unref();
}

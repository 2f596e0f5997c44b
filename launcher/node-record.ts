// A node's record about some of its instances, kept across launcher restarts: {instanceId: value}
// as one JSON object, written whole (a temporary file renamed), one write at a time; with no file
// (a test's simulated node) it lives in memory only. What the node records this way: how far each
// shelved instance went (docs/protocol.md "Shelve"), and the actions under way (docs/protocol.md
// "Actions"), so that a restarted launcher re-adopts a shelved instance as shelved, and tells of an
// action it was killed in the middle of.
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../shared/log.ts';

export class NodeRecord<V> {
  private values?: Promise<Map<string, V>>;
  private writes: Promise<void> = Promise.resolve();

  /** `what` names the record in the log (e.g. "shelved instances"); a value `isValue` refuses is dropped. */
  constructor(
    private readonly file: string | undefined,
    private readonly isValue: (v: unknown) => v is V,
    private readonly what: string,
    private readonly logger: Logger,
  ) {}

  /** Every recorded instance and its value, read once. */
  all(): Promise<Map<string, V>> {
    this.values ??= (async () => {
      const text = this.file ? await readFile(this.file, 'utf8').catch(() => '{}') : '{}';
      let parsed: unknown = {};
      try {
        parsed = JSON.parse(text);
      } catch {
        this.logger.warn(`the record of ${this.what} is unreadable: it is taken as empty`, { file: this.file });
      }
      const entries = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? Object.entries(parsed) : [];
      return new Map(entries.filter((e): e is [string, V] => this.isValue(e[1])));
    })();
    return this.values;
  }

  /** Records an instance's value, or (undefined) that it has none. Failing to write is logged,
   *  never fatal to the operation that asked. */
  /** Resolves once every write asked so far is done (or failed, and logged). */
  written(): Promise<void> {
    return this.writes;
  }

  async set(id: string, value: V | undefined): Promise<void> {
    const values = await this.all();
    if (values.get(id) === value) return;
    if (value !== undefined) values.set(id, value);
    else values.delete(id);
    const file = this.file;
    if (!file) return;
    const text = JSON.stringify(Object.fromEntries(values));
    this.writes = this.writes
      .then(async () => {
        await writeFile(`${file}.tmp`, text);
        await rename(`${file}.tmp`, file);
      })
      .catch((err) => this.logger.warn(`could not record the ${this.what}`, { file, error: (err as Error).message }));
    await this.writes;
  }
}

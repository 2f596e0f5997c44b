// The node's record of its shelved instances and how far each went (docs/protocol.md "Shelve"), so
// a restarted launcher re-adopts them as shelved or offloaded, not as merely stopped. One JSON
// object {instanceId: level} written whole (a temporary file renamed), one write at a time; with no
// file (a test's simulated node) it lives in memory only.
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../shared/log.ts';

export type ShelvedLevel = 'shelved' | 'shelved_offloaded';

const isLevel = (v: unknown): v is ShelvedLevel => v === 'shelved' || v === 'shelved_offloaded';

export class ShelvedRecord {
  private levels?: Promise<Map<string, ShelvedLevel>>;
  private writes: Promise<void> = Promise.resolve();

  constructor(private readonly file: string | undefined, private readonly logger: Logger) {}

  /** Every shelved instance and its level, read once. */
  all(): Promise<Map<string, ShelvedLevel>> {
    this.levels ??= (async () => {
      const text = this.file ? await readFile(this.file, 'utf8').catch(() => '{}') : '{}';
      let parsed: unknown = {};
      try {
        parsed = JSON.parse(text);
      } catch {
        this.logger.warn('the record of shelved instances is unreadable: none counts as shelved', { file: this.file });
      }
      const entries = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? Object.entries(parsed) : [];
      return new Map(entries.filter((e): e is [string, ShelvedLevel] => isLevel(e[1])));
    })();
    return this.levels;
  }

  /** Records the level an instance reached, or (undefined) that it is shelved no more. Failing to
   *  write is logged, never fatal to the operation that asked. */
  async set(id: string, level: ShelvedLevel | undefined): Promise<void> {
    const levels = await this.all();
    if (levels.get(id) === level) return;
    if (level) levels.set(id, level);
    else levels.delete(id);
    const file = this.file;
    if (!file) return;
    const text = JSON.stringify(Object.fromEntries(levels));
    this.writes = this.writes
      .then(async () => {
        await writeFile(`${file}.tmp`, text);
        await rename(`${file}.tmp`, file);
      })
      .catch((err) => this.logger.warn('could not record the shelved instances', { file, error: (err as Error).message }));
    await this.writes;
  }
}

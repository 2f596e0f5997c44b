// A bounded parallel map: work on many independent things (a launcher re-adopting its VMs and CNCIs)
// without starting them all at once on a 2-core machine, nor one after the other.

/** `fn` over `items`, at most `limit` at once; the results in the items' order. A rejection
 *  rejects the whole (the others already started run to their end). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

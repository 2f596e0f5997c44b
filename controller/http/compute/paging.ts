// Nova's paging over a list already filtered and sorted: what follows `marker` (an id that must be
// in the list, else 400), at most `limit`, and a `next` link when a page came back full.
import { badRequest } from '../../../shared/errors.ts';
import type { Link } from './context.ts';

export function page<T extends { id: string }>(list: T[], q: { limit?: number; marker?: string }, nextUrl: (marker: string) => string) {
  let from = 0;
  if (q.marker !== undefined) {
    const at = list.findIndex((x) => x.id === q.marker);
    if (at < 0) throw badRequest(`marker [${q.marker}] not found`);
    from = at + 1;
  }
  const items = q.limit === undefined ? list.slice(from) : list.slice(from, from + q.limit);
  const last = items.at(-1);
  const links: Link[] = q.limit && last && items.length === q.limit ? [{ rel: 'next', href: nextUrl(last.id) }] : [];
  return { items, links };
}

/** The next page's URL: the request's own query (filters, limit), with the new marker. */
export function nextPage(url: (path: string) => string, path: string, query: URLSearchParams) {
  return (marker: string) => {
    const next = new URLSearchParams(query);
    next.set('marker', marker);
    return url(`${path}?${next}`);
  };
}

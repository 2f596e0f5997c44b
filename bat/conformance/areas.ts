// The areas the conformance run reports on: each a prefix of Tempest's test ids. One run selects
// the union of the chosen areas; the table counts every area over the same results, so an area may
// sit inside another (identity v3 tokens inside identity).

export interface Area {
  /** What --area takes. */
  key: string;
  /** The table's row. */
  title: string;
  /** Tempest test ids (module.Class.test) under this dotted prefix belong to the area. */
  prefix: string;
  /** Further prefixes of the area: Tempest keeps a resource's admin tests in another package. */
  more?: string[];
}

const prefixesOf = (area: Area) => [area.prefix, ...(area.more ?? [])];

export const AREAS: Area[] = [
  { key: 'identity-tokens', title: 'identity v3 tokens', prefix: 'tempest.api.identity.v3.test_tokens' },
  { key: 'identity', title: 'identity (all)', prefix: 'tempest.api.identity' },
  {
    key: 'compute-flavors', title: 'compute flavors', prefix: 'tempest.api.compute.flavors',
    more: ['test_flavors', 'test_flavors_access', 'test_flavors_access_negative', 'test_flavors_extra_specs', 'test_flavors_extra_specs_negative', 'test_flavors_microversions']
      .map((module) => `tempest.api.compute.admin.${module}`),
  },
  { key: 'compute-servers', title: 'compute servers (all)', prefix: 'tempest.api.compute.servers' },
  { key: 'compute-server-groups', title: 'compute server groups', prefix: 'tempest.api.compute.servers.test_server_group' },
  { key: 'compute-keypairs', title: 'compute keypairs', prefix: 'tempest.api.compute.keypairs' },
  { key: 'compute-limits', title: 'compute limits', prefix: 'tempest.api.compute.limits' },
  { key: 'compute-quotas', title: 'compute quotas', prefix: 'tempest.api.compute.test_quotas' },
  { key: 'image', title: 'image v2', prefix: 'tempest.api.image.v2' },
  { key: 'volume', title: 'volume v3', prefix: 'tempest.api.volume' },
];

/** The areas named by --area (comma-separated keys); unknown keys are returned to be reported. */
export function pickAreas(keys: string | undefined): { areas: Area[]; unknown: string[] } {
  if (!keys) return { areas: AREAS, unknown: [] };
  const wanted = keys.split(',').map((k) => k.trim()).filter(Boolean);
  return {
    areas: AREAS.filter((a) => wanted.includes(a.key)),
    unknown: wanted.filter((k) => !AREAS.some((a) => a.key === k)),
  };
}

export const inArea = (subject: string, area: Area): boolean =>
  prefixesOf(area).some((prefix) => subject === prefix || subject.startsWith(`${prefix}.`));

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The stestr selection regex for the areas: their prefixes, and with `smoke` only the tests
 *  Tempest tags smoke (the tag is in the test id's [attributes]). */
export function selectionRegex(areas: Area[], smoke = false): string {
  const prefixes = `^(?:${areas.flatMap(prefixesOf).map(escape).join('|')})\\.`;
  return smoke ? `${prefixes}.*\\[.*\\bsmoke\\b.*\\]` : prefixes;
}

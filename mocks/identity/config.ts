// The identity service's data: domains, projects, users, groups and their role assignments, roles,
// the service catalogue, credentials, policies and the rest Keystone keeps. Setup writes it; the
// service writes it back after every change through its API. Fields added after the first
// release are optional (or default), so a config of an existing cluster still loads.
// Passwords are kept as scrypt hashes (passwords.ts); a plain `password` (a hand-written config)
// is hashed when the service starts, and the config is written back without it.
import { randomBytes, randomUUID } from 'node:crypto';
import { hashPassword } from './passwords.ts';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

const Domain = z.object({
  id: z.string(), name: z.string(), description: z.string().default(''), enabled: z.boolean().default(true),
  /** Its identity and ldap options (routes/domain-config.ts): stored, not acted on. */
  config: z.record(z.string(), z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))).optional(),
});
const Project = z.object({
  id: z.string(), name: z.string(), domain_id: z.string().default('default'), description: z.string().default(''),
  enabled: z.boolean().default(true), tags: z.array(z.string()).default([]),
  /** Another project it sits under; none: directly under its domain. */
  parent_id: z.string().optional(),
});
/** A role on a project, a domain or the system; role: a role's name. An inherited one applies to
 *  the projects below its target (every project of a domain, a project's subtree), not to the target. */
const Assignment = z.object({
  project_id: z.string().optional(), domain_id: z.string().optional(), system: z.literal('all').optional(), role: z.string(), inherited: z.boolean().optional(),
}).refine((a) => [a.project_id, a.domain_id, a.system].filter(Boolean).length === 1, 'an assignment names one of project_id, domain_id or system');
const User = z.object({
  id: z.string(),
  name: z.string(),
  password_hash: z.string().optional(),
  /** Only in a config not yet seen by the service: hashed at its start (withHashedPasswords). */
  password: z.string().optional(),
  domain_id: z.string().default('default'),
  default_project_id: z.string().optional(),
  enabled: z.boolean().default(true),
  /** Attributes Keystone keeps for a user without knowing them (email, description…). */
  extra: z.record(z.string(), z.unknown()).default({}),
  roles: z.array(Assignment).default([]),
});
const Group = z.object({
  id: z.string(), name: z.string(), domain_id: z.string(), description: z.string().default(''),
  /** Member user ids. */
  users: z.array(z.string()).default([]),
  roles: z.array(Assignment).default([]),
});
const Role = z.object({
  id: z.string(), name: z.string(), domain_id: z.string().nullish(), description: z.string().optional(),
  /** Ids of the roles this one implies (Keystone's inference rules): holding it is holding them. */
  implies: z.array(z.string()).optional(),
});
/** The catalogue as setup writes it: one URL per service for every interface. */
const CatalogEntry = z.object({ type: z.string(), name: z.string(), url: z.url() });
/** The catalogue as the API manages it (services, endpoints, regions). */
const Service = z.object({ id: z.string(), type: z.string(), name: z.string().default(''), description: z.string().default(''), enabled: z.boolean().default(true) });
const Endpoint = z.object({
  id: z.string(), service_id: z.string(), interface: z.enum(['public', 'internal', 'admin']), url: z.string(),
  region_id: z.string().nullable().default(null), enabled: z.boolean().default(true),
});
const Region = z.object({ id: z.string(), description: z.string().default(''), parent_region_id: z.string().nullable().default(null) });
/** A stored credential (Keystone keeps the blob, here in the clear like the rest of this file). */
const Credential = z.object({ id: z.string(), user_id: z.string(), project_id: z.string().nullable().default(null), type: z.string(), blob: z.string() });
/** An OAuth1 consumer (OS-OAUTH1); its secret is kept as a scrypt hash, like passwords. */
const Consumer = z.object({ id: z.string(), description: z.string().default(''), secret_hash: z.string() });
/** Endpoints chosen by attributes (OS-EP-FILTER). */
const EndpointGroup = z.object({
  id: z.string(), name: z.string(), description: z.string().default(''),
  filters: z.object({ service_id: z.string().optional(), interface: z.enum(['public', 'internal', 'admin']).optional(), region_id: z.string().optional() }),
});
/** A user's delegation of some of their roles on one project to an application (id + secret log in). */
const ApplicationCredential = z.object({
  id: z.string(), name: z.string(), description: z.string().default(''), user_id: z.string(), project_id: z.string(),
  /** Role names. */
  roles: z.array(z.string()),
  secret_hash: z.string(),
  /** As the client gave it (ISO 8601); null: never. */
  expires_at: z.string().nullable().default(null),
  /** May its tokens make more application credentials. */
  unrestricted: z.boolean().default(false),
  /** Ids of its user's access rules: its tokens reach only the requests they match. None: every request. */
  access_rules: z.array(z.string()).default([]),
});
/** What an application credential's token may do (Keystone's access rules): one method on the
 *  paths that match a template (`*` one segment, `**` any number), at one service type. A user's
 *  rules are shared by their credentials. */
const AccessRule = z.object({
  id: z.string(), user_id: z.string(), service: z.string(), path: z.string(),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
});
/** A trust (OS-TRUST): the trustor lets the trustee get tokens with some of the trustor's roles on
 *  one project, as the trustor (impersonation) or as themselves. */
const Trust = z.object({
  id: z.string(), trustor_user_id: z.string(), trustee_user_id: z.string(), project_id: z.string(),
  /** Role names, as the trustor delegated them. */
  roles: z.array(z.string()),
  impersonation: z.boolean(),
  /** ISO 8601 as given; null: never. */
  expires_at: z.string().nullable().default(null),
  /** Tokens it may still give; null: no limit. */
  remaining_uses: z.number().int().nonnegative().nullable().default(null),
  allow_redelegation: z.boolean().default(false),
  /** How many more times it may be passed on (a redelegated trust has one less). */
  redelegation_count: z.number().int().nonnegative().default(0),
  /** The trust this one was made from, with a token of it. */
  redelegated_trust_id: z.string().nullable().default(null),
});
const Policy = z.object({ id: z.string(), type: z.string(), blob: z.string(), extra: z.record(z.string(), z.unknown()).default({}) });

export const IdentityConfig = z.object({
  domains: z.array(Domain).default([{ id: 'default', name: 'Default', description: '', enabled: true }]),
  projects: z.array(Project),
  users: z.array(User),
  groups: z.array(Group).default([]),
  roles: z.array(Role),
  catalog: z.array(CatalogEntry).default([]),
  /** Absent in a config written before the catalogue API: made from `catalog` when the service starts. */
  services: z.array(Service).optional(),
  endpoints: z.array(Endpoint).optional(),
  regions: z.array(Region).optional(),
  credentials: z.array(Credential).default([]),
  policies: z.array(Policy).default([]),
  consumers: z.array(Consumer).default([]),
  application_credentials: z.array(ApplicationCredential).default([]),
  access_rules: z.array(AccessRule).default([]),
  endpoint_groups: z.array(EndpointGroup).default([]),
  trusts: z.array(Trust).default([]),
  token_ttl_seconds: z.number().int().positive().default(3600),
  signing_key: z.string().min(32),
}).superRefine((c, ctx) => {
  c.users.forEach((u, i) => {
    if (!u.password_hash && u.password === undefined) ctx.addIssue({ code: 'custom', path: ['users', i], message: 'a user needs a password_hash (or a password to hash)' });
  });
  // A dangling assignment would silently grant nothing: say which one at load time instead.
  const check = (roles: Assignment[], at: (string | number)[]) => roles.forEach((r, j) => {
    const path = [...at, 'roles', j];
    if (r.project_id && !c.projects.some((p) => p.id === r.project_id)) ctx.addIssue({ code: 'custom', path: [...path, 'project_id'], message: `no project has id ${r.project_id}` });
    if (r.domain_id && !c.domains.some((d) => d.id === r.domain_id)) ctx.addIssue({ code: 'custom', path: [...path, 'domain_id'], message: `no domain has id ${r.domain_id}` });
    if (!c.roles.some((x) => x.name === r.role)) ctx.addIssue({ code: 'custom', path: [...path, 'role'], message: `no role is named ${r.role}` });
  });
  c.users.forEach((u, i) => check(u.roles, ['users', i]));
  c.groups.forEach((g, i) => check(g.roles, ['groups', i]));
});
export type IdentityConfig = z.infer<typeof IdentityConfig>;
export type Project = z.infer<typeof Project>;
export type Domain = z.infer<typeof Domain>;
export type Assignment = z.infer<typeof Assignment>;
export type Group = z.infer<typeof Group>;
export type Role = z.infer<typeof Role>;
export type Service = z.infer<typeof Service>;
export type Endpoint = z.infer<typeof Endpoint>;
export type Region = z.infer<typeof Region>;
export type Credential = z.infer<typeof Credential>;
export type Policy = z.infer<typeof Policy>;
export type Consumer = z.infer<typeof Consumer>;
export type ApplicationCredential = z.infer<typeof ApplicationCredential>;
export type AccessRule = z.infer<typeof AccessRule>;
export type EndpointGroup = z.infer<typeof EndpointGroup>;
export type Trust = z.infer<typeof Trust>;
export type User = z.infer<typeof User>;

export function loadIdentityConfig(path: string): IdentityConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read the identity config ${path}: ${(err as Error).message}`);
  }
  const parsed = IdentityConfig.safeParse(raw);
  if (!parsed.success) throw new Error(`identity config ${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Writes atomically (temp file + rename), so a crash never leaves half a config; synchronously,
 *  so two admin requests cannot interleave their writes. */
export function saveIdentityConfig(path: string, config: IdentityConfig): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, path);
}

export interface DefaultConfigInput {
  adminPassword: string;
  demoPassword: string;
  /** The controller's base URL: compute, image and volume endpoints hang off it. */
  controllerUrl: string;
  identityUrl?: string;
}

/** The config with every plain `password` replaced by its hash; whether anything changed. */
export async function withHashedPasswords(config: IdentityConfig): Promise<boolean> {
  // All at once: scrypt runs on libuv's thread pool, one hash per core.
  const plain = config.users.filter((u) => u.password !== undefined);
  await Promise.all(plain.map(async (u) => {
    u.password_hash = await hashPassword(u.password!);
    delete u.password;
  }));
  return plain.length > 0;
}

/** An `admin` project and user (role admin) and a `demo` project and user (role member); the
 *  passwords are hashed when the service starts (or by withHashedPasswords before writing it). */
export function defaultIdentityConfig(input: DefaultConfigInput): IdentityConfig {
  const adminProject = randomUUID();
  const demoProject = randomUUID();
  return IdentityConfig.parse({
    domains: [{ id: 'default', name: 'Default' }],
    projects: [
      { id: adminProject, name: 'admin', domain_id: 'default', description: 'cluster administration' },
      { id: demoProject, name: 'demo', domain_id: 'default', description: 'the demo tenant' },
    ],
    users: [
      { id: randomUUID(), name: 'admin', password: input.adminPassword, domain_id: 'default', default_project_id: adminProject, roles: [{ project_id: adminProject, role: 'admin' }] },
      { id: randomUUID(), name: 'demo', password: input.demoPassword, domain_id: 'default', default_project_id: demoProject, roles: [{ project_id: demoProject, role: 'member' }] },
    ],
    roles: [{ id: randomUUID(), name: 'admin' }, { id: randomUUID(), name: 'member' }],
    catalog: [
      { type: 'compute', name: 'ciao-compute', url: `${input.controllerUrl}/v2.1` },
      { type: 'image', name: 'ciao-image', url: `${input.controllerUrl}/image` },
      // Block Storage v3 under the type clients look for (volumev3: openstackclient, Tempest) and the
      // older generic one (volume) that earlier configs and scripts name.
      { type: 'volumev3', name: 'ciao-volumev3', url: `${input.controllerUrl}/volume/v3` },
      { type: 'volume', name: 'ciao-volume', url: `${input.controllerUrl}/volume/v3` },
      ...(input.identityUrl ? [{ type: 'identity', name: 'keystone', url: `${input.identityUrl}/v3` }] : []),
    ],
    token_ttl_seconds: 3600,
    signing_key: randomBytes(32).toString('hex'),
  });
}

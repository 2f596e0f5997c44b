// The identity service's data: domains, projects, users with their role assignments, roles, the
// service catalogue. Setup writes it; the service writes it back when an admin creates something.
// Passwords are kept as scrypt hashes (passwords.ts); a plain `password` (a hand-written config)
// is hashed when the service starts, and the config is written back without it.
import { randomBytes, randomUUID } from 'node:crypto';
import { hashPassword } from './passwords.ts';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

const Domain = z.object({ id: z.string(), name: z.string() });
const Project = z.object({ id: z.string(), name: z.string(), domain_id: z.string().default('default'), description: z.string().default('') });
const User = z.object({
  id: z.string(),
  name: z.string(),
  password_hash: z.string().optional(),
  /** Only in a config not yet seen by the service: hashed at its start (withHashedPasswords). */
  password: z.string().optional(),
  domain_id: z.string().default('default'),
  default_project_id: z.string().optional(),
  /** role: a role's name. */
  roles: z.array(z.object({ project_id: z.string(), role: z.string() })).default([]),
});
const Role = z.object({ id: z.string(), name: z.string() });
const Service = z.object({ type: z.string(), name: z.string(), url: z.url() });

export const IdentityConfig = z.object({
  domains: z.array(Domain).default([{ id: 'default', name: 'Default' }]),
  projects: z.array(Project),
  users: z.array(User),
  roles: z.array(Role),
  catalog: z.array(Service).default([]),
  token_ttl_seconds: z.number().int().positive().default(3600),
  signing_key: z.string().min(32),
}).superRefine((c, ctx) => {
  c.users.forEach((u, i) => {
    if (!u.password_hash && u.password === undefined) ctx.addIssue({ code: 'custom', path: ['users', i], message: 'a user needs a password_hash (or a password to hash)' });
  });
  // A dangling assignment would silently grant nothing: say which one at load time instead.
  c.users.forEach((u, i) => u.roles.forEach((r, j) => {
    const path = ['users', i, 'roles', j];
    if (!c.projects.some((p) => p.id === r.project_id)) ctx.addIssue({ code: 'custom', path: [...path, 'project_id'], message: `no project has id ${r.project_id}` });
    if (!c.roles.some((x) => x.name === r.role)) ctx.addIssue({ code: 'custom', path: [...path, 'role'], message: `no role is named ${r.role}` });
  }));
});
export type IdentityConfig = z.infer<typeof IdentityConfig>;
export type Project = z.infer<typeof Project>;
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
  let changed = false;
  for (const u of config.users) {
    if (u.password === undefined) continue;
    u.password_hash = await hashPassword(u.password);
    delete u.password;
    changed = true;
  }
  return changed;
}

/** An `admin` project and user (role admin) and a `demo` project and user (role member); the
 *  passwords are hashed when the service starts (or by withHashedPasswords before writing it). */
export function defaultIdentityConfig(input: DefaultConfigInput): IdentityConfig {
  const adminProject = randomUUID();
  const demoProject = randomUUID();
  return {
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
      { type: 'volume', name: 'ciao-volume', url: `${input.controllerUrl}/volume/v3` },
      ...(input.identityUrl ? [{ type: 'identity', name: 'keystone', url: `${input.identityUrl}/v3` }] : []),
    ],
    token_ttl_seconds: 3600,
    signing_key: randomBytes(32).toString('hex'),
  };
}

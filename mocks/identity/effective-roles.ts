// What a user really holds, as Keystone computes it: their own and their groups' assignments,
// inherited ones spread to the projects below their target, implied roles added, and
// domain-specific roles left out (they only carry the global roles they imply).
import type { Assignment, IdentityConfig, User } from './config.ts';

export interface EffectiveAssignment {
  project_id?: string;
  domain_id?: string;
  system?: 'all';
  /** The role's name. */
  role: string;
  /** Where it comes from when not the user's own: a group's id. */
  group_id?: string;
}

/** The projects below a project, at any depth (not the project itself). */
export function descendants(config: IdentityConfig, projectId: string): string[] {
  const below = config.projects.filter((p) => p.parent_id === projectId).map((p) => p.id);
  return below.flatMap((id) => [id, ...descendants(config, id)]);
}

/** The role names a role name stands for: itself and every role it implies, transitively. */
export function withImplied(config: IdentityConfig, name: string): string[] {
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    const role = config.roles.find((r) => r.name === n);
    for (const id of role?.implies ?? []) {
      const implied = config.roles.find((r) => r.id === id);
      if (implied) visit(implied.name);
    }
  };
  visit(name);
  return [...seen];
}

export function effectiveAssignments(config: IdentityConfig, user: User): EffectiveAssignment[] {
  const sources: { a: Assignment; group_id?: string }[] = [
    ...user.roles.map((a) => ({ a })),
    ...config.groups.filter((g) => g.users.includes(user.id)).flatMap((g) => g.roles.map((a) => ({ a, group_id: g.id }))),
  ];
  const spread = ({ a, group_id }: { a: Assignment; group_id?: string }): EffectiveAssignment[] => {
    const from = group_id ? { group_id } : {};
    if (!a.inherited) return [{ ...(a.project_id && { project_id: a.project_id }), ...(a.domain_id && { domain_id: a.domain_id }), ...(a.system && { system: a.system }), role: a.role, ...from }];
    const projects = a.domain_id ? config.projects.filter((p) => p.domain_id === a.domain_id).map((p) => p.id) : a.project_id ? descendants(config, a.project_id) : [];
    return projects.map((project_id) => ({ project_id, role: a.role, ...from }));
  };
  const global = (name: string) => !config.roles.find((r) => r.name === name)?.domain_id;
  return sources.flatMap(spread).flatMap((e) => withImplied(config, e.role).filter(global).map((role) => ({ ...e, role })));
}

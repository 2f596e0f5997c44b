// Node roles as in ciao (docs/protocol.md, "Roles"): a network node runs the tenants' CNCIs, a
// compute node their instances, a dual-role node both. `setup.sh --nodes N --network-nodes K` makes
// nodes 0…K−1 network nodes and the rest compute nodes; without --network-nodes every real node is
// dual-role. Simulated nodes beside real ones (`--sim-nodes M`) are compute nodes: a tenant's CNCI
// must be real for its real instances to reach it. A pure module: setup, verify and the CLI use it.

/** A node's role as `ciao list nodes` shows it. */
export type NodeRole = 'compute' | 'network' | 'dual';

/** The protocol roles (certificate OU, launcher --roles, HELLO) of each node role. */
export const PROTOCOL_ROLES: Record<NodeRole, ('compute' | 'network')[]> = {
  compute: ['compute'], network: ['network'], dual: ['compute', 'network'],
};

/** The role of a node that says these protocol roles; `none` for an agent with neither. */
export function roleOf(roles: readonly string[]): NodeRole | 'none' {
  const compute = roles.includes('compute');
  const network = roles.includes('network');
  return compute && network ? 'dual' : compute ? 'compute' : network ? 'network' : 'none';
}

/** Node i's role, for each of `nodes` real nodes; `networkNodes` undefined: all dual-role. */
export function nodeRoles(nodes: number, networkNodes?: number): NodeRole[] {
  return Array.from({ length: nodes }, (_, i) => (networkNodes === undefined ? 'dual' : i < networkNodes ? 'network' : 'compute'));
}

/** A real node's role: its record's (setup writes each node's; node.sh add --role), else, for a
 *  record from before roles were kept, by its index as `--network-nodes` gives them. */
export function legRole(leg: { index: number; role?: NodeRole }, layout: { nodes: number; networkNodes?: number }): NodeRole {
  return leg.role ?? nodeRoles(Math.max(layout.nodes, leg.index + 1), layout.networkNodes)[leg.index];
}

export interface NodeLayout {
  simulate: boolean;
  nodes: number;
  networkNodes?: number;
  simNodes?: number;
}

/** Why these node options cannot make a cluster, if they cannot (setup's usage error). */
export function layoutProblem({ simulate, nodes, networkNodes, simNodes }: NodeLayout): string | undefined {
  if (networkNodes !== undefined) {
    if (simulate) return '--network-nodes is for real nodes: a simulated cluster\'s nodes are all dual-role';
    if (!Number.isInteger(networkNodes) || networkNodes < 1) return '--network-nodes must be a whole number from 1: a cluster needs a network node for its CNCIs';
    if (networkNodes > nodes) return `--network-nodes ${networkNodes} is more than --nodes ${nodes}`;
    if (networkNodes === nodes) return `--network-nodes ${networkNodes} leaves no compute node of the ${nodes}: instances would have nowhere to run (use fewer network nodes, or leave --network-nodes out for dual-role nodes)`;
  }
  if (simNodes !== undefined) {
    if (simulate) return '--sim-nodes is for simulated nodes beside real ones: a --simulate cluster takes --nodes';
    if (!Number.isInteger(simNodes) || simNodes < 1 || simNodes > 20000) return '--sim-nodes must be a whole number from 1 to 20000';
  }
  return undefined;
}

/** Why a cluster that exists cannot be resumed with these node options (given ones only: a resume
 *  without them keeps the cluster's, as its record says). */
export function layoutConflict(existing: { name: string; settings?: { networkNodes?: number; simNodes?: number } }, asked: { networkNodes?: number; simNodes?: number }): string | undefined {
  for (const [key, flag] of [['networkNodes', '--network-nodes'], ['simNodes', '--sim-nodes']] as const) {
    const had = existing.settings?.[key];
    if (asked[key] !== undefined && asked[key] !== had) {
      return `cluster ${existing.name} was set up ${had === undefined ? `without ${flag}` : `with ${flag} ${had}`}: resume it without ${flag}, or clean it up first`;
    }
  }
  return undefined;
}

/** The nodes in words: "3 nodes (1 network, 2 compute)", "2 nodes + 1000 simulated". */
export function describeLayout({ nodes, networkNodes, simNodes }: Omit<NodeLayout, 'simulate'>): string {
  const real = `${nodes} node${nodes > 1 ? 's' : ''}${networkNodes === undefined ? '' : ` (${networkNodes} network, ${nodes - networkNodes} compute)`}`;
  return simNodes ? `${real} + ${simNodes} simulated compute node${simNodes > 1 ? 's' : ''}` : real;
}

/** The node id prefix of the simulated nodes beside a real cluster's (its certificate's CN + `*`). */
export const simPrefix = (cluster: string) => `${cluster}-sim`;

/** The pid-file name of the launcher that runs them. */
export const SIM_LAUNCHER = 'launcher-sim';

// The address a server names in its own links: a wildcard listener (0.0.0.0, ::) is reached on
// loopback, which is also what the cluster's certificate names.
export const advertisedHost = (host: string): string => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);

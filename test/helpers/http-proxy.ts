// A small HTTP forward proxy on the host's loopback for the nested-VM tests: plain requests in
// absolute form are relayed, CONNECT is tunnelled, and every request is recorded (so a test can
// prove who fetched what through it).
import http from 'node:http';
import net from 'node:net';

export interface ProxiedRequest {
  method: string;
  url: string;
  userAgent?: string;
}

const HOP_BY_HOP = ['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
const withoutHopByHop = (headers: http.IncomingHttpHeaders | http.OutgoingHttpHeaders) =>
  Object.fromEntries(Object.entries(headers).filter(([k]) => !HOP_BY_HOP.includes(k.toLowerCase())));

export async function startHttpProxy(port = 0) {
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? 'GET', url: req.url ?? '', userAgent: req.headers['user-agent'] });
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('a proxy request needs an absolute URL\n');
      return;
    }
    const upstream = http.request(target, { method: req.method, headers: withoutHopByHop(req.headers) }, (up) => {
      res.writeHead(up.statusCode ?? 502, withoutHopByHop(up.headers));
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(`proxy: ${err.message}\n`);
    });
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    requests.push({ method: 'CONNECT', url: req.url ?? '', userAgent: req.headers['user-agent'] });
    const [host, p] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(p) || 443, host, () => {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

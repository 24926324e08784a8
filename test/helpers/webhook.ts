import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface Received {
  at: number;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
  raw: string;
}

/** A webhook receiver on loopback: records what it gets; answers after `delayMs`. */
export function receiver(port: number, o: { delayMs?: number } = {}): Promise<{ server: Server; got: Received[] }> {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      got.push({ at: Date.now(), path: req.url ?? '', headers: req.headers, body: JSON.parse(raw) as Record<string, unknown>, raw });
      setTimeout(() => res.end('ok'), o.delayMs ?? 0);
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, got })));
}

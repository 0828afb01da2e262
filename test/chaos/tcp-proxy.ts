// A small fault-injecting TCP proxy for the chaos suite: one per simulated node, between that
// node's sidecars and Redis, so one node's Redis connection can be delayed or cut while the
// others are untouched (Toxiproxy's Go server is not packaged for Debian, so a small `net` proxy).
// Modes apply to connections already open as well as to new ones, because ioredis keeps one
// long-lived connection:
//   pass       forward bytes as they come
//   delay(ms)  forward every chunk `ms` after it arrived, in order
//   blackhole  forward nothing and hold it; on leaving the mode the held bytes flow again (TCP
//              retransmits once a partition heals, so a late command can still reach Redis —
//              exactly the "late write" a lease design must survive). Dropping bytes instead
//              would desynchronise the RESP stream, which no real network does.
//   reset      RST every open connection now, and every new one on arrival
import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' } | { kind: 'reset' };

export interface TcpProxy {
  port: number;
  url: string;
  mode(): ProxyMode;
  setMode(mode: ProxyMode): void;
  /** Connections accepted so far (for the report). */
  accepted(): number;
  close(): Promise<void>;
}

/** One direction of one connection: an ordered queue released according to the mode. */
class Pump {
  private readonly queue: Array<{ data: Buffer; due: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;

  constructor(
    private readonly to: Socket,
    private readonly mode: () => ProxyMode,
  ) {}

  push(data: Buffer): void {
    const mode = this.mode();
    const delay = mode.kind === 'delay' ? mode.ms : 0;
    // Never let a later chunk overtake an earlier one when the delay changes.
    const due = Math.max(Date.now() + delay, this.lastDue);
    this.lastDue = due;
    this.queue.push({ data, due });
    this.drain();
  }

  drain(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.mode().kind === 'blackhole' || this.mode().kind === 'reset') return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      const { data } = this.queue.shift()!;
      if (!this.to.destroyed) this.to.write(data);
    }
    const next = this.queue[0];
    if (next !== undefined) this.timer = setTimeout(() => this.drain(), next.due - now);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

interface Pair {
  client: Socket;
  upstream: Socket;
  pumps: Pump[];
}

function rst(socket: Socket): void {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

/** Listen on a free loopback port and forward to 127.0.0.1:`targetPort`. */
export async function startTcpProxy(targetPort: number, initial: ProxyMode = { kind: 'pass' }): Promise<TcpProxy> {
  let current: ProxyMode = initial;
  let acceptedCount = 0;
  const pairs = new Set<Pair>();
  const mode = (): ProxyMode => current;

  const server: Server = createServer({ noDelay: true }, (client) => {
    acceptedCount++;
    if (current.kind === 'reset') {
      rst(client);
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort, noDelay: true });
    const toUpstream = new Pump(upstream, mode);
    const toClient = new Pump(client, mode);
    const pair: Pair = { client, upstream, pumps: [toUpstream, toClient] };
    pairs.add(pair);
    const close = (): void => {
      if (!pairs.delete(pair)) return;
      toUpstream.stop();
      toClient.stop();
      // Whichever side ended, the other learns it as a reset (what a dead peer looks like).
      rst(client);
      rst(upstream);
    };
    client.on('data', (data: Buffer) => toUpstream.push(data));
    upstream.on('data', (data: Buffer) => toClient.push(data));
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      socket.on('close', close);
    }
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    mode,
    setMode(next) {
      current = next;
      if (next.kind === 'reset') {
        for (const pair of [...pairs]) {
          pairs.delete(pair);
          for (const pump of pair.pumps) pump.stop();
          rst(pair.client);
          rst(pair.upstream);
        }
        return;
      }
      // Leaving a blackhole (or changing the delay): release what is due.
      for (const pair of pairs) for (const pump of pair.pumps) pump.drain();
    },
    accepted: () => acceptedCount,
    async close() {
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        for (const pump of pair.pumps) pump.stop();
        rst(pair.client);
        rst(pair.upstream);
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

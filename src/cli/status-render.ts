// Plain-text rendering of the store's volume views for `dvdi status`: one block per volume,
// one line per node with its mount state and its holders' remaining leases. Every string comes
// from store records, which anyone who can write to the store shapes: shown through showExternal.
import { showExternal as x } from '../common/external-text.js';
import type { VolumeView } from '../refcount/refcount-store.js';

function seconds(ms: number): string {
  return ms >= 0 ? `${(ms / 1000).toFixed(1)}s` : `expired ${(-ms / 1000).toFixed(1)}s ago`;
}

export function renderStatus(backend: string, volumes: readonly VolumeView[]): string {
  const lines = [`store: ${backend}, ${volumes.length} volume(s) in use`];
  for (const volume of [...volumes].sort((a, b) => `${a.driver}/${a.name}`.localeCompare(`${b.driver}/${b.name}`))) {
    lines.push('', `${x(volume.name)}  driver=${x(volume.driver)}  mode=${x(volume.mode ?? '-')}  epoch=${x(String(volume.epoch))}`);
    const nodes = new Set([...volume.nodes.map((n) => n.node), ...volume.holders.map((h) => h.node)]);
    for (const node of [...nodes].sort()) {
      const state = volume.nodes.find((n) => n.node === node);
      const holders = volume.holders.filter((h) => h.node === node);
      const described = holders.map((h) => `${h.role === 'unmounter' ? 'unmounter' : x(h.task)} (lease ${seconds(h.expiresInMs)})`).join(', ');
      lines.push(`  node ${x(node)}: ${x(state?.state ?? 'absent')}${state?.mountpoint ? ` at ${x(state.mountpoint)}` : ''}; holders: ${described || 'none'}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

// One VolumeDriverClient per driver name, created on first use with shared settings (plugin
// dirs or resolver, timeouts, backoff, observer), so that a task with volumes on several
// drivers activates each plugin once. The composition root adapts it to lifecycle's port.
import { VolumeDriverClient, type VolumeDriverClientOptions } from './volume-driver-client.js';

export type SharedClientOptions = Omit<VolumeDriverClientOptions, 'driver'>;

export class VolumeDriverRegistry {
  private readonly clients = new Map<string, VolumeDriverClient>();

  constructor(private readonly options: SharedClientOptions = {}) {}

  driver(name: string): VolumeDriverClient {
    let client = this.clients.get(name);
    if (client === undefined) {
      client = new VolumeDriverClient({ ...this.options, driver: name });
      this.clients.set(name, client);
    }
    return client;
  }
}

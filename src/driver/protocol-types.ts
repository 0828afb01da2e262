// Wire types of the Docker Volume Plugin protocol (moby `daemon/volume/drivers/proxy.go`,
// docker/cli `docs/extend/plugins_volume.md`). Shared by the client (driver/) and the reference
// plugin (plugin/), which must not import anything else from the sidecar.

export const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export const VOLUME_METHODS = ['Create', 'Remove', 'Mount', 'Path', 'Unmount', 'Get', 'List', 'Capabilities'] as const;
export type VolumeMethod = (typeof VOLUME_METHODS)[number];

export interface ActivateResponse {
  Implements: string[];
}

export interface CreateRequest {
  Name: string;
  Opts?: Record<string, string> | null;
}
export interface NameRequest {
  Name: string;
}
export interface MountRequest {
  Name: string;
  /** Opaque per-mount ID (Docker ≥ 1.12); absent from old callers such as dvdcli. */
  ID?: string;
}

export interface ErrResponse {
  Err?: string;
}
export interface MountResponse extends ErrResponse {
  Mountpoint?: string;
}
export interface VolumeInfo {
  Name: string;
  Mountpoint?: string;
  /** RFC 3339. */
  CreatedAt?: string;
  Status?: Record<string, unknown>;
}
export interface GetResponse extends ErrResponse {
  Volume?: VolumeInfo | null;
}
export interface ListResponse extends ErrResponse {
  Volumes?: VolumeInfo[] | null;
}
export interface CapabilitiesResponse extends ErrResponse {
  Capabilities?: { Scope?: string };
}

/** The volume-name rule of docs/contract.md, shared by request validation and the plugin. */
export const VOLUME_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

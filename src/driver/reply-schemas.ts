// The shapes of plugin replies, checked before anything reads them: a plugin is another
// program and may answer anything. Extra fields are allowed (plugins add their own); missing or
// mistyped required fields are a DriverBadReplyError, never a crash downstream.
import * as z from '../common/shape-check.js';

export { describeIssues } from '../common/shape-check.js';

const errField = z.nullish(z.string());

export const activateReply = z.looseObject({ Implements: z.nullish(z.array(z.string())), Err: errField });

export const emptyReply = z.looseObject({ Err: errField });

export const volumeInfo = z.looseObject({
  Name: z.string(),
  Mountpoint: z.nullish(z.string()),
  CreatedAt: z.nullish(z.string()),
  Status: z.nullish(z.record(z.string(), z.unknown())),
});

export const mountReply = z.looseObject({ Mountpoint: z.string().check(z.minLength(1, 'Mountpoint is empty')), Err: errField });
export const pathReply = z.looseObject({ Mountpoint: z.nullish(z.string()), Err: errField });
export const getReply = z.looseObject({ Volume: z.nullish(volumeInfo), Err: errField });
export const listReply = z.looseObject({ Volumes: z.nullish(z.array(volumeInfo)), Err: errField });
export const capabilitiesReply = z.looseObject({
  Capabilities: z.nullish(z.looseObject({ Scope: z.nullish(z.string()) })),
  Err: errField,
});

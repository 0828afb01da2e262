// The shapes of plugin replies, checked with zod before anything reads them: a plugin is
// another program and may answer anything. Extra fields are allowed (plugins add their own);
// missing or mistyped required fields are a DriverBadReplyError, never a crash downstream.
import { z } from 'zod';

const errField = z.string().optional().nullable();

export const activateReply = z.looseObject({ Implements: z.array(z.string()).nullable().optional(), Err: errField });

export const emptyReply = z.looseObject({ Err: errField });

export const volumeInfo = z.looseObject({
  Name: z.string(),
  Mountpoint: z.string().optional().nullable(),
  CreatedAt: z.string().optional().nullable(),
  Status: z.record(z.string(), z.unknown()).optional().nullable(),
});

export const mountReply = z.looseObject({ Mountpoint: z.string().min(1, 'Mountpoint is empty'), Err: errField });
export const pathReply = z.looseObject({ Mountpoint: z.string().optional().nullable(), Err: errField });
export const getReply = z.looseObject({ Volume: volumeInfo.optional().nullable(), Err: errField });
export const listReply = z.looseObject({ Volumes: z.array(volumeInfo).optional().nullable(), Err: errField });
export const capabilitiesReply = z.looseObject({
  Capabilities: z.looseObject({ Scope: z.string().optional().nullable() }).optional().nullable(),
  Err: errField,
});

/** One line naming each offending field, e.g. `Mountpoint: expected string, received undefined`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length === 0 ? '(reply)' : issue.path.join('.')}: ${issue.message}`)
    .join('; ');
}

// Copies the non-TypeScript files the runtime reads (Lua scripts) next to the bundle.
// Usage: node scripts/copy-assets.mjs [OUTDIR]   (default dist/)
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
const out = process.argv[2] ?? 'dist';
if (existsSync('src/refcount/lua')) cpSync('src/refcount/lua', join(out, 'refcount/lua'), { recursive: true });

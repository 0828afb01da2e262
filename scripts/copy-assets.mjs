// Copies the non-TypeScript files the runtime reads (Lua scripts) next to the compiled code.
import { cpSync, existsSync } from 'node:fs';
if (existsSync('src/refcount/lua')) cpSync('src/refcount/lua', 'dist/refcount/lua', { recursive: true });

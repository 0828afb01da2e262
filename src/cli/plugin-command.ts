// `dvdi plugin`: not built yet (issue 2). Exits 1 with a clear line instead of pretending.
export function run(_argv: string[]): Promise<number> {
  process.stderr.write('dvdi plugin: not implemented yet (see issue 2)\n');
  return Promise.resolve(1);
}

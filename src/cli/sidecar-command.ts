// `dvdi sidecar`: not built yet (issue 3). Exits 1 with a clear line instead of pretending.
export function run(_argv: string[]): Promise<number> {
  process.stderr.write('dvdi sidecar: not implemented yet (see issue 3)\n');
  return Promise.resolve(1);
}

// `dvdi status`: not built yet (issue 4). Exits 1 with a clear line instead of pretending.
export function run(_argv: string[]): Promise<number> {
  process.stderr.write('dvdi status: not implemented yet (see issue 4)\n');
  return Promise.resolve(1);
}

// `dvdi wait`: not built yet (issue 6). Exits 1 with a clear line instead of pretending.
export function run(_argv: string[]): Promise<number> {
  process.stderr.write('dvdi wait: not implemented yet (see issue 6)\n');
  return Promise.resolve(1);
}

// `dvdi reconcile`: not built yet (issue 5). Exits 1 with a clear line instead of pretending.
export function run(_argv: string[]): Promise<number> {
  process.stderr.write('dvdi reconcile: not implemented yet (see issue 5)\n');
  return Promise.resolve(1);
}

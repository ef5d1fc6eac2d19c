/** Prints rows as an aligned text table. */
export function printTable(headers: string[], rows: unknown[][]): void {
  const cells = rows.map((r) =>
    r.map((c) => (c === null || c === undefined ? '' : String(c as string))),
  );
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(line(headers));
  for (const r of cells) console.log(line(r));
}

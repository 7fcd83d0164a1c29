/** How list commands print: a table with a header for people, or one JSON object per line with --json. */
import { writeLine, type CliOutput } from './io';

export interface Column<T> {
  header: string;
  value(row: T): string;
}

export function writeList<T>(out: CliOutput, rows: readonly T[], options: { json: boolean; columns: Column<T>[]; toJson(row: T): unknown; empty: string }): void {
  if (options.json) {
    for (const row of rows) writeLine(out, JSON.stringify(options.toJson(row)));
    return;
  }
  if (rows.length === 0) {
    writeLine(out, options.empty);
    return;
  }
  const cells = [options.columns.map((column) => column.header), ...rows.map((row) => options.columns.map((column) => column.value(row)))];
  const widths = options.columns.map((_, index) => Math.max(...cells.map((line) => line[index]!.length)));
  for (const line of cells) writeLine(out, line.map((cell, index) => (index === line.length - 1 ? cell : cell.padEnd(widths[index]!))).join('  '));
}

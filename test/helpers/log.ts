/** One pino JSON line as tests read it back. */
export type LogLine = { level: number; msg: string } & Record<string, unknown>;

/** A pino destination whose JSON lines the test reads back. */
export function logSink(): { lines: LogLine[]; write(s: string): void } {
  const lines: LogLine[] = [];
  return { lines, write: (s: string) => lines.push(JSON.parse(s) as LogLine) };
}

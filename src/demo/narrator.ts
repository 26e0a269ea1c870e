import type { CliIo } from '../cli/io.ts';

/**
 * The demo's voice: short, readable lines with a timestamp and a tag, so a newcomer can follow the
 * trust story as it happens. With --json the same events go out as one JSON object per line.
 */
export interface Narrator {
  step(title: string): void;
  say(tag: string, text: string, facts?: Record<string, unknown>): void;
  block(lines: readonly string[]): void;
}

export function createNarrator(io: CliIo, json: boolean): Narrator {
  const stamp = (): string => new Date().toISOString().slice(11, 19);
  if (json) {
    return {
      step: (title) => io.out(JSON.stringify({ time: new Date().toISOString(), step: title })),
      say: (tag, text, facts) =>
        io.out(JSON.stringify({ time: new Date().toISOString(), tag, text, ...facts })),
      block: (lines) => io.out(JSON.stringify({ time: new Date().toISOString(), lines })),
    };
  }
  return {
    step: (title) => io.out(`\n== ${title}`),
    say: (tag, text) => io.out(`${stamp()} ${`[${tag}]`.padEnd(10)} ${text}`),
    block: (lines) => {
      for (const line of lines) io.out(`    ${line}`);
    },
  };
}

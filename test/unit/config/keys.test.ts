import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CONFIG_KEYS } from '../../../src/config/index.ts';
import { CONFIG_TABLES, configFileSchema } from '../../../src/config/schema.ts';

/** Every leaf key the schema accepts, as `table|key` (tables are walked, not listed). */
function schemaKeys(schema: z.ZodObject, table = ''): string[] {
  return Object.entries(schema.shape).flatMap(([key, value]) => {
    const inner = value instanceof z.ZodOptional ? value.unwrap() : value;
    const dotted = table === '' ? key : `${table}.${key}`;
    return inner instanceof z.ZodObject ? schemaKeys(inner, dotted) : [`${table}|${key}`];
  });
}

describe('configuration key table', () => {
  it('lists exactly the keys the schema accepts', () => {
    const documented = CONFIG_KEYS.map((k) => `${k.table}|${k.key}`).sort();
    expect(documented).toEqual(schemaKeys(configFileSchema('/')).sort());
    expect(new Set(documented).size).toBe(documented.length);
    for (const k of CONFIG_KEYS) if (k.table !== '') expect(CONFIG_TABLES.has(k.table)).toBe(true);
  });

  it('matches docs/configuration.md: every key in its table section with its default', () => {
    const docs = readFileSync(
      join(import.meta.dirname, '..', '..', '..', 'docs', 'configuration.md'),
      'utf8',
    );
    const sections = new Map<string, string>();
    for (const part of docs.split(/^### /m).slice(1)) {
      const title = part.slice(0, part.indexOf('\n'));
      sections.set(title === 'Top level' ? '' : title.replace(/^`\[(.*)\]`$/, '$1'), part);
    }
    for (const k of CONFIG_KEYS) {
      const section = sections.get(k.table);
      expect(section, `docs section for [${k.table}]`).toBeDefined();
      const row = section?.split('\n').find((line) => line.startsWith(`| \`${k.key}\` |`));
      expect(row, `docs row for ${k.table} ${k.key}`).toBeDefined();
      expect(row).toContain(k.default);
    }
  });
});

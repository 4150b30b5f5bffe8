import type { Command } from 'commander';
import jmespath from 'jmespath';
import { UsageError } from './errors.js';

/**
 * How answers are printed: --output json | jsonl | table | text, after --query (JMESPath) picks
 * what to print, as the aws CLI does both.
 */

export const OUTPUT_FORMATS = ['json', 'jsonl', 'table', 'text'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

interface OutputOptions {
  output?: OutputFormat;
  query?: string;
}

export interface Table {
  rows: Record<string, unknown>[];
  columns: string[];
}

/** jmespath.js parses without searching through `compile`, which its types leave out. */
const parser = jmespath as unknown as { compile(expression: string): unknown };

/** Refuses an expression that does not parse (exit 2, before anything is sent). */
export function checkQuery(expression: string): void {
  try {
    parser.compile(expression);
  } catch (error) {
    throw new UsageError(`--query is not a JMESPath expression: ${(error as Error).message}`);
  }
}

/** The part of `value` that --query picks; an expression that fails on this answer is a usage error too. */
export function applyQuery(value: unknown, expression: string): unknown {
  try {
    return jmespath.search(value, expression);
  } catch (error) {
    throw new UsageError(`--query ${JSON.stringify(expression)}: ${(error as Error).message}`);
  }
}

/** The format asked for, else a table on a terminal and JSON otherwise. */
export function outputFormat(command: Command): OutputFormat {
  return (command.optsWithGlobals() as OutputOptions).output ?? (process.stdout.isTTY ? 'table' : 'json');
}

/** Whether --output or --query asked for the answer of a command that otherwise prints nothing. */
export function answerAskedFor(command: Command): boolean {
  const options = command.optsWithGlobals() as OutputOptions;
  return options.output !== undefined || options.query !== undefined;
}

/**
 * Prints an answer in the chosen format. `table` gives the columns of the command's table;
 * after --query, or without one, the table is made from the value itself.
 */
export function renderResult(command: Command, value: unknown, table?: Table): string {
  const { query } = command.optsWithGlobals() as OutputOptions;
  const picked = query === undefined ? value : applyQuery(value, query);
  switch (outputFormat(command)) {
    case 'json':
      return JSON.stringify(picked ?? null, null, 2);
    case 'jsonl':
      return JSON.stringify(picked ?? null);
    case 'text':
      return formatText(picked).replace(/\n$/, '');
    case 'table':
      return query === undefined && table ? withNextToken(renderTable(table.rows, table.columns), value) : genericTable(picked);
  }
}

/** A list cut by --max-items (or a page of --limit) says how to go on. */
function withNextToken(text: string, value: unknown): string {
  const page = value as { NextToken?: string; Truncated?: boolean; NextMarker?: string };
  if (page.NextToken) return `${text}\n(more: add --starting-token ${page.NextToken})`;
  if (page.Truncated && page.NextMarker) return `${text}\n(more: add --marker ${page.NextMarker})`;
  return text;
}

export function renderTable(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (value: unknown) => (value === undefined || value === null ? '' : Array.isArray(value) ? value.join(',') : typeof value === 'object' ? JSON.stringify(value) : String(value));
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => cell(row[column]).length)));
  const line = (values: string[]) => values.map((value, i) => value.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...rows.map((row) => line(columns.map((c) => cell(row[c]))))].join('\n');
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A table of whatever --query picked: objects as rows, a list of plain values as one column. */
function genericTable(value: unknown): string {
  if (Array.isArray(value) && value.length > 0 && value.every(isObject)) {
    return renderTable(value, [...new Set(value.flatMap((row) => Object.keys(row)))]);
  }
  if (Array.isArray(value)) return renderTable(value.map((item) => ({ Value: item })), ['Value']);
  if (isObject(value)) {
    const list = Object.values(value).find((field) => Array.isArray(field) && field.every(isObject));
    if (Object.keys(value).length === 1 && list) return genericTable(list);
    return renderTable([value], Object.keys(value));
  }
  return textScalar(value);
}

/** A value as the aws CLI's text output writes it (Python's str: True, False, None). */
function textScalar(value: unknown): string {
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (value === null || value === undefined) return 'None';
  return String(value);
}

const isScalar = (value: unknown) => typeof value !== 'object' || value === null;

/**
 * The aws CLI's text output (awscli/formatter.py and text.py): an object's plain values on one
 * tab-separated line in key order, prefixed with the name of the list or field it sits in
 * (upper case); the objects of a list share the columns of every plain key any of them has,
 * so each line of a list has the same columns; nested lists and objects follow, each on lines
 * of their own.
 */
export function formatText(value: unknown): string {
  const out: string[] = [];
  const write = (item: unknown, identifier?: string, scalarKeys?: string[]): void => {
    if (Array.isArray(item)) return writeList(item, identifier);
    if (isObject(item)) return writeObject(item, identifier, scalarKeys);
    out.push(`${textScalar(item)}\n`);
  };
  const writeList = (items: unknown[], identifier?: string): void => {
    if (items.length === 0) return;
    if (items.some(isObject)) {
      const keys = [...new Set(items.filter(isObject).flatMap((item) => Object.keys(item).filter((key) => isScalar(item[key]))))].sort();
      for (const item of items) write(item, identifier, keys);
      return;
    }
    const scalars = items.filter(isScalar);
    if (scalars.length > 0) {
      if (identifier === undefined) out.push(`${scalars.map(textScalar).join('\t')}\n`);
      else for (const scalar of scalars) out.push(`${identifier.toUpperCase()}\t${textScalar(scalar)}\n`);
    }
    for (const nested of items.filter((item) => !isScalar(item))) write(nested, identifier);
  };
  const writeObject = (item: Record<string, unknown>, identifier?: string, scalarKeys?: string[]): void => {
    const keys = scalarKeys ?? Object.keys(item).filter((key) => isScalar(item[key])).sort();
    const scalars = keys.map((key) => (scalarKeys !== undefined && item[key] === undefined ? '' : textScalar(item[key])));
    if (scalars.length > 0) out.push(`${[...(identifier === undefined ? [] : [identifier.toUpperCase()]), ...scalars].join('\t')}\n`);
    const rest = Object.keys(item).filter((key) => !keys.includes(key) && !(scalarKeys === undefined && isScalar(item[key]))).sort();
    for (const key of rest) write(item[key], key);
  };
  write(value);
  return out.join('');
}

// Parse and format CSV (RFC 4180) without dependencies.
import { readFile } from 'node:fs/promises';

export function parseCsv(text, { delimiter = ',', header = true } = {}) {
  const rows = [];
  let row = [];
  let field = '';
  let inQuotes = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inQuotes) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          inQuotes = false;
        }
      } else {
        field += ch;
      }
      continue;
    }
    switch (ch) {
      case '"':
        inQuotes = true;
        break;
      case delimiter:
        row.push(field);
        field = '';
        break;
      case '\r':
        break;
      case '\n':
        row.push(field);
        rows.push(row);
        row = [];
        field = '';
        break;
      default:
        field += ch;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  if (!header) return rows;
  const [names, ...data] = rows;
  return data.map((values) =>
    Object.fromEntries(names.map((name, j) => [name, values[j] ?? null])),
  );
}

const needsQuotes = /[",\r\n]/;

export function formatCsv(records, columns = Object.keys(records[0] ?? {})) {
  const escape = (value) => {
    if (value === null || value === undefined) return '';
    const s = String(value);
    return needsQuotes.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [columns.map(escape).join(',')];
  for (const record of records) {
    lines.push(columns.map((c) => escape(record[c])).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

export function summarize(records, column) {
  const values = records
    .map((r) => Number.parseFloat(r[column]))
    .filter((v) => !Number.isNaN(v));
  if (values.length === 0) return null;
  const sum = values.reduce((a, b) => a + b, 0);
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return {
    count: values.length,
    mean: sum / values.length,
    median: sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2,
    min: sorted[0],
    max: sorted.at(-1),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, column] = process.argv.slice(2);
  const records = parseCsv(await readFile(path, 'utf8'));
  console.log(JSON.stringify(summarize(records, column), null, 2));
}

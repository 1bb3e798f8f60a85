/**
 * docs/configuration.md's table of stage parameters, from serverless.yml's `params`: each
 * parameter's default, the stages that override it, and the comment written above it there
 * (the one place a parameter is explained).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, parseDocument, type YAMLMap } from 'yaml';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';

interface Parameter {
  name: string;
  value: string;
  comment: string;
}

function parametersOf(map: YAMLMap): Parameter[] {
  return map.items.map((pair, i) => {
    const key = pair.key;
    if (!isScalar(key)) throw new Error('serverless.yml: a parameter name is not a plain key');
    const value = isScalar(pair.value) ? String(pair.value.value ?? '') : JSON.stringify(pair.value);
    // A comment belongs to the key below it; `#` marks and line breaks removed.
    // The first key's comment is held by its map.
    const comment = ((i === 0 ? map.commentBefore : undefined) ?? key.commentBefore ?? '')
      .split('\n')
      .map((l) => l.trim())
      .join(' ')
      .trim();
    return { name: String(key.value), value, comment };
  });
}

/** The parameters' Markdown table. A parameter without a comment fails: say what it does. */
export function parametersDoc(file = join(PROJECT_ROOT, 'serverless.yml')): string {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  const params = doc.get('params');
  if (!isMap(params)) throw new Error('serverless.yml has no params');
  const stages = new Map<string, Parameter[]>();
  for (const pair of params.items)
    if (isScalar(pair.key) && isMap(pair.value)) stages.set(String(pair.key.value), parametersOf(pair.value));
  const defaults = stages.get('default') ?? [];
  const rows = defaults.map((p) => {
    if (!p.comment) throw new Error(`serverless.yml: parameter ${p.name} has no comment above it: say what it does`);
    const overrides = [...stages]
      .filter(([stage]) => stage !== 'default')
      .flatMap(([stage, list]) => {
        const o = list.find((q) => q.name === p.name);
        return o ? [`\`${o.value}\` in \`${stage}\``] : [];
      });
    const value = p.value === '' ? 'empty' : `\`${p.value}\``;
    return `| \`${p.name}\` | ${[value, ...overrides].join(', ')} | ${p.comment} |`;
  });
  return ['| parameter | default | what it does |', '|---|---|---|', ...rows].join('\n');
}

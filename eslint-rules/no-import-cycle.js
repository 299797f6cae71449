/**
 * Reports an import that closes a circle of imports inside the source tree. Type-only imports
 * count: a circle through an options type is still two files that cannot be read apart (which is
 * why import-x/no-cycle, which skips them, is not enough here). Dynamic `import()` counts too.
 *
 * The graph is read with TypeScript's own import scanner, once per file version per lint process.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** file -> { mtimeMs, imports: resolved absolute paths } */
const graph = new Map();

function importsOf(file) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return [];
  }
  const known = graph.get(file);
  if (known && known.mtimeMs === stat.mtimeMs) return known.imports;
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  const imports = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = path.resolve(path.dirname(file), fileName.replace(/\.js$/, '.ts'));
    if (fs.existsSync(target)) imports.push({ specifier: fileName, target });
  }
  graph.set(file, { mtimeMs: stat.mtimeMs, imports });
  return imports;
}

/** A path of files from `from` back to `to`, or undefined. */
function routeBack(from, to) {
  const seen = new Set([from]);
  const queue = [[from]];
  while (queue.length > 0) {
    const route = queue.shift();
    for (const { target } of importsOf(route[route.length - 1])) {
      if (target === to) return route;
      if (seen.has(target)) continue;
      seen.add(target);
      queue.push([...route, target]);
    }
  }
  return undefined;
}

export default {
  meta: {
    type: 'problem',
    docs: { description: 'no import circles between source files, type-only and dynamic imports included' },
    schema: [],
    messages: { cycle: 'Import circle: {{route}}' },
  },
  create(context) {
    const file = context.filename;
    const report = (node, specifier) => {
      if (typeof specifier !== 'string' || !specifier.startsWith('.')) return;
      const target = path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts'));
      const route = routeBack(target, file);
      if (!route) return;
      const names = [file, ...route, file].map((f) => path.relative(context.cwd, f));
      context.report({ node, messageId: 'cycle', data: { route: names.join(' -> ') } });
    };
    return {
      ImportDeclaration: (node) => report(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && report(node, node.source.value),
      ExportAllDeclaration: (node) => report(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && report(node, node.source.value),
    };
  },
};

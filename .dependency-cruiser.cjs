/**
 * The architecture's rules, checked by dependency-cruiser (`npm run lint:deps`): the layers of
 * CONTRIBUTING.md ("Rules of the code") as imports that fail the build, not habits. Type-only imports count
 * (see `parser` below).
 *
 * CommonJS (.cjs) because package.json says "type": "module" and dependency-cruiser looks for
 * .dependency-cruiser.cjs among its default names.
 *
 * Paths are relative to the repository root. npm packages are matched as `node_modules/...`
 * anywhere in the path: the resolver follows symlinks, so a linked node_modules resolves outside
 * the root.
 */

// Without a parser for TypeScript, dependency-cruiser finds no .ts module at all and passes every
// rule (with a warning): fail loudly instead. swc is the parser it runs with here (see `parser`).
try {
  require.resolve('@swc/core');
} catch {
  throw new Error('dependency-cruiser parses the TypeScript sources with swc here: @swc/core must be installed (a devDependency)');
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'domain-is-pure',
      comment:
        'shared/domain is the pure logic (tag policy, naming, retention, recovery plans, event schemas): it decides on plain ' +
        'data and imports nothing of the project outside shared/domain, so every safety rule is testable without AWS. Node ' +
        'built-ins and npm packages (valibot) aside.',
      severity: 'error',
      from: { path: '^shared/domain/' },
      to: { pathNot: ['^shared/domain/', 'node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'use-cases-see-only-domain-and-ports',
      comment:
        'A use case reads through its ports, lets the domain decide and acts through its ports: it imports shared/domain and ' +
        'shared/use-cases (its ports, errors and settings) only, never a gateway, the runtime (which wires it) or the CLI. ' +
        'The runtime <-> use-cases cycle this rule holds off came from use cases importing runtime types. npm packages ' +
        '(p-limit) aside.',
      severity: 'error',
      from: { path: '^shared/use-cases/' },
      to: { pathNot: ['^shared/(domain|use-cases)/', 'node_modules/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'only-shared-aws-imports-the-aws-sdk',
      comment:
        'One gateway per AWS service, in shared/aws: paging, error mapping and idempotency live there once, and the rest of ' +
        'the product (functions, use cases, runtime, domain, CLI) reaches AWS through them. Tests, the harness and scripts ' +
        'talk to AWS (or moto) directly and are not product code.',
      severity: 'error',
      from: { path: '^(shared|functions|cli)/', pathNot: '^shared/aws/' },
      to: { path: 'node_modules/@aws-sdk/' },
    },
    {
      name: 'functions-only-wire',
      comment:
        'A handler is thin: the middy stack and its deps from shared/runtime, the event schema from shared/domain, one use ' +
        'case from shared/use-cases (and a gateway from shared/aws when only that function needs it, as statusAlarms does ' +
        'with CloudWatch). Nothing else, and never another function: what two functions share belongs in shared/.',
      severity: 'error',
      from: { path: '^functions/' },
      to: { pathNot: '^shared/(runtime|domain|use-cases|aws)/' },
    },
    {
      name: 'nothing-outside-test-imports-test',
      comment:
        'Tests, fakes and the harness are not shipped and must not become a dependency of what is. The product (shared, ' +
        'functions, cli, bin) never imports test/.',
      severity: 'error',
      from: { pathNot: '^(test|scripts)/' },
      to: { path: '^test/' },
    },
    {
      name: 'scripts-import-only-the-test-kit',
      comment:
        'scripts/ may import test/harness (the sandbox of `npm start` and the benchmarks run on the local cloud, the proxy ' +
        'and moto of the harness) and test/infra (scripts/readme-permissions.ts builds the permissions table from the ' +
        'packaged template the way the template tests read it), never a test, a fake or a fixture.',
      severity: 'error',
      from: { path: '^scripts/' },
      to: { path: '^test/', pathNot: '^test/(harness|infra)/' },
    },
    {
      name: 'no-circular',
      comment:
        'A cycle makes two modules one (neither can be understood, tested or changed alone) and an ES module cycle can ' +
        'read a binding before it is initialised. Layers point one way: functions -> runtime -> aws -> use-cases -> domain. ' +
        "A cycle closed only by type-only imports (erased at run time: a link of the harness naming the chain's types) " +
        'reads no binding early and is allowed; any cycle of run-time imports fails.',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'An import the resolver cannot follow is an edge every rule above would miss: a rule that cannot see an import ' +
        'cannot forbid it.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    // TypeScript 7 (the compiler the project uses) has no JavaScript API yet, which dependency-cruiser's
    // TypeScript parser needs (it takes typescript <7): swc parses the sources instead. swc records
    // type-only imports as dependencies: a type is as much a dependency of the design as a value
    // (import type { Log } from '../runtime/logger.js' was the runtime <-> use-cases cycle).
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    // Packages' "exports" (subpaths such as @aws-lambda-powertools/logger/middleware) resolved with the
    // conditions Node and tsc (NodeNext) use for ES modules.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};

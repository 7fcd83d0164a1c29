/**
 * The deployment files, checked without a Docker daemon: the Dockerfile passes dockerfile-utils'
 * linter and keeps our rules (multi-stage, the package installed with --omit=dev, non-root, node as
 * PID 1 by an exec-form CMD, a HEALTHCHECK); docker-compose.yml runs that image on PostgreSQL with
 * healthchecks and restart policies, no published PostgreSQL port, no bind-mounted checkout.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { parse } from 'yaml';

const root = path.resolve(__dirname, '../..');
const dockerfileText = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const dockerfile = DockerfileParser.parse(dockerfileText);
const instructions = dockerfile.getInstructions().map((instruction) => ({ keyword: instruction.getKeyword(), args: instruction.getArgumentsContent() ?? '' }));

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: unknown;
  ports?: string[];
  volumes?: string[];
  healthcheck?: unknown;
  restart?: string;
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
}
const compose = parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, ComposeService> };

it('the Dockerfile has no lint problems', () => {
  expect(validate(dockerfileText).map((problem) => `${problem.range.start.line + 1}: ${problem.message}`)).toEqual([]);
});

it('builds in one stage, runs the packed package installed without dev dependencies in another', () => {
  const stages = instructions.filter((instruction) => instruction.keyword === 'FROM');
  expect(stages.length).toBeGreaterThanOrEqual(2);
  const final = instructions.slice(instructions.lastIndexOf(stages.at(-1)!));
  expect(instructions.some((instruction) => instruction.keyword === 'RUN' && instruction.args.includes('npm pack'))).toBe(true);
  expect(final.some((instruction) => instruction.keyword === 'RUN' && /npm ci --omit=dev/.test(instruction.args))).toBe(true);
  expect(dockerfile.getCOPYs().some((copy) => copy.getFromFlag()?.getValue() === 'build')).toBe(true);
});

it('runs as a non-root user, node as PID 1 (exec form), with a HEALTHCHECK', () => {
  const users = instructions.filter((instruction) => instruction.keyword === 'USER');
  expect(users.at(-1)?.args).toBe('node');
  const cmds = dockerfile.getCMDs();
  expect(cmds).toHaveLength(1);
  const cmd = JSON.parse(cmds[0]!.getArgumentsContent()!) as string[]; // exec form: no shell between Docker and node
  expect(cmd[0]).toBe('node');
  expect(cmd).toContain('serve');
  expect(instructions.filter((instruction) => instruction.keyword === 'ENTRYPOINT')).toEqual([]);
  const [healthcheck] = dockerfile.getHEALTHCHECKs();
  expect(healthcheck?.getArgumentsContent()).toMatch(/CMD .*\/health/);
});

it('.dockerignore keeps local data, secrets and build output out of the build context', () => {
  const ignored = fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((line) => line.trim());
  expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', 'data', '.env', '.git']));
});

it('compose runs the image on PostgreSQL, healthchecked, restarted, without publishing 5432 or mounting the checkout', () => {
  const { postgres, gateway } = compose.services;
  expect(postgres?.ports).toBeUndefined();
  expect(postgres?.healthcheck).toBeDefined();
  expect(postgres?.restart).toBe('unless-stopped');
  expect(gateway?.build).toBe('.');
  expect(gateway?.command).toBeUndefined(); // the image's CMD: node as PID 1, no npm ci at up
  expect(gateway?.restart).toBe('unless-stopped');
  expect(gateway?.depends_on?.postgres?.condition).toBe('service_healthy');
  expect(gateway?.environment?.DATABASE_URL).toMatch(/@postgres:5432\//);
  for (const volume of gateway?.volumes ?? []) expect(volume).toMatch(/^[a-z][\w-]*:\//); // named volumes only
});

it('compose has a scale-out profile: a second gateway on the same database and blob store settings, and Azurite', () => {
  const { gateway, 'gateway-2': second, azurite } = compose.services as Record<string, ComposeService & { profiles?: string[]; image?: string }>;
  expect(second?.profiles).toEqual(['scale-out']);
  expect(azurite?.profiles).toEqual(['scale-out']);
  expect(second?.environment).toEqual(gateway?.environment);
  expect(gateway?.environment?.BLOB_STORE_URL).toBe('${BLOB_STORE_URL:-}');
  expect(second?.ports).toEqual(['${GATEWAY_2_PORT:-8081}:8080']);
  expect((gateway as { profiles?: string[] }).profiles).toBeUndefined(); // `docker compose up` still starts the one gateway
});

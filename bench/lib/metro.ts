/**
 * The JAX-WS RI (Metro) baseline (issue 13): Debian's default-jdk-headless and libjaxws-java
 * (Metro 2.3, as test/interop/broker-metro.test.ts uses them), installed with apt-get when missing
 * and the bench runs as root; wsimport generates the classes from the REFERENCE WSDL, javac
 * compiles them with bench/baselines/metro/DownloadQueueServer.java into BENCH_CACHE_DIR, keyed by
 * a hash of those sources (so once per change, not per run); the server runs as a child process.
 * Set METRO_JAVA_HOME / METRO_JARS to use another JDK or Metro.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchContext } from './context';
import type { ChildServer } from './processes';
import { DQ_PATH, type Credentials } from './soap';

const run = promisify(execFile);
const JAVA_HOME = process.env.METRO_JAVA_HOME;
const JAVA = JAVA_HOME ? path.join(JAVA_HOME, 'bin', 'java') : '/usr/bin/java';
const JAVAC = JAVA_HOME ? path.join(JAVA_HOME, 'bin', 'javac') : '/usr/bin/javac';
const JARS = process.env.METRO_JARS || '/usr/share/java';
/** Metro 2.3's runtime (Debian's libjaxws-java and what it depends on). */
const RUNTIME_JARS = [
  'jaxws-rt', 'jaxb-impl', 'jaxb-core', 'jaxb-runtime', 'jaxb-api', 'jaxws-api', 'javax.activation', 'saaj-impl', 'stax-ex',
  'streambuffer', 'mimepull', 'metro-policy', 'gmbal', 'glassfish-management-api', 'FastInfoset', 'stax2-api',
];
const TOOL_JARS = ['jaxws-tools', 'jaxb-xjc', ...RUNTIME_JARS];
const classpath = (jars: string[]) => jars.map((jar) => path.join(JARS, `${jar}.jar`)).join(path.delimiter);
const jarsPresent = (jars: string[]) => jars.every((jar) => fs.existsSync(path.join(JARS, `${jar}.jar`)));

/** Where wsimport's package goes: the server imports `dq.*`. */
const PACKAGE = 'dq';
const SERVER_CLASS = 'DownloadQueueServer';

export interface MetroBuild {
  /** `java` arguments before the server's own: JVM flags, classpath, main class. */
  javaArgs: string[];
  java: string;
  /** Whether this run compiled it (false: taken from the cache). */
  compiled: boolean;
}

/** Missing tools, in words; empty when java, javac, wsimport's jars and (if asked) wrk are there. */
export function missingTools(options: { wrk: boolean }): string[] {
  const missing: string[] = [];
  if (!fs.existsSync(JAVA) || !fs.existsSync(JAVAC)) missing.push(`a JDK (${JAVAC})`);
  if (!jarsPresent(TOOL_JARS)) missing.push(`Metro's jars in ${JARS} (libjaxws-java)`);
  if (options.wrk && !fs.existsSync(WRK)) missing.push(`wrk (${WRK})`);
  return missing;
}

export const WRK = '/usr/bin/wrk';

/**
 * Install the Debian packages the Metro baseline and wrk need, if missing, and if this process
 * may (root); otherwise throw naming what is missing.
 */
export async function ensureTools(options: { wrk: boolean; log(message: string): void }): Promise<void> {
  if (missingTools(options).length === 0) return;
  const packages = [
    ...(!fs.existsSync(JAVA) || !fs.existsSync(JAVAC) ? ['default-jdk-headless'] : []),
    ...(!jarsPresent(TOOL_JARS) ? ['libjaxws-java'] : []),
    ...(options.wrk && !fs.existsSync(WRK) ? ['wrk'] : []),
  ];
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missingTools(options).join(', ')}; install the Debian packages ${packages.join(' ')}`);
  }
  options.log(`installing ${packages.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // The package lists may be absent on a fresh machine: update only if the install cannot find them.
  try {
    await run('apt-get', ['install', '-y', '-qq', ...packages], { env, maxBuffer: 64 * 1024 * 1024 });
  } catch {
    await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '-qq', ...packages], { env, maxBuffer: 64 * 1024 * 1024 });
  }
  const still = missingTools(options);
  if (still.length > 0) throw new Error(`still missing after apt-get: ${still.join(', ')}`);
}

/**
 * The compiled server in `<cacheDir>/metro-<hash>/classes`, compiled now if that directory is
 * missing. The hash covers the server source, the WSDL and the tools' identity (java -version).
 */
export async function buildMetroServer(rootDir: string, cacheDir: string, wsdl: string): Promise<MetroBuild> {
  const source = path.join(rootDir, 'bench', 'baselines', 'metro', `${SERVER_CLASS}.java`);
  const { stderr: javaVersion } = await run(JAVA, ['-version']);
  const hash = createHash('sha256')
    .update(fs.readFileSync(source))
    .update(fs.readFileSync(wsdl))
    .update(javaVersion)
    .update(TOOL_JARS.map((jar) => fs.realpathSync(path.join(JARS, `${jar}.jar`))).join('\n'))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cacheDir, `metro-${hash}`);
  const classes = path.join(dir, 'classes');
  const javaArgs = [
    // Every response written at once, not held back by Nagle's algorithm (the JDK server's default).
    '-Dsun.net.httpserver.nodelay=true',
    // No JMX monitoring (Metro's gmbal needs jars Debian does not put beside it, and a lean deployment turns it off).
    '-Dcom.sun.xml.ws.monitoring.endpoint=false',
    '-cp',
    [classes, classpath(RUNTIME_JARS)].join(path.delimiter),
    SERVER_CLASS,
  ];
  if (fs.existsSync(classes)) return { java: JAVA, javaArgs, compiled: false };

  fs.mkdirSync(cacheDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(cacheDir, `metro-${hash}.partial-`));
  try {
    const generated = path.join(work, 'generated');
    const compiled = path.join(work, 'classes');
    fs.mkdirSync(generated);
    fs.mkdirSync(compiled);
    await run(JAVA, ['-cp', classpath(TOOL_JARS), 'com.sun.tools.ws.WsImport', '-keep', '-Xnocompile', '-quiet', '-d', generated, '-p', PACKAGE, wsdl], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const sources = fs.readdirSync(path.join(generated, PACKAGE)).filter((f) => f.endsWith('.java')).map((f) => path.join(generated, PACKAGE, f));
    await run(JAVAC, ['--release', '17', '-nowarn', '-cp', classpath(RUNTIME_JARS), '-d', compiled, ...sources, source], { maxBuffer: 16 * 1024 * 1024 });
    // Appears whole or not at all: a run interrupted while compiling leaves only a .partial- directory.
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(work, dir);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return { java: JAVA, javaArgs, compiled: true };
}

/**
 * The compiled Metro server for this run, or why it is left out: a full run installs what is
 * missing (or fails); a quick run uses it when the tools are there and otherwise skips it.
 */
export async function prepareMetro(context: BenchContext, log: (message: string) => void): Promise<MetroBuild | { skipped: string }> {
  if (context.quick) {
    const missing = missingTools({ wrk: false });
    if (missing.length > 0) return { skipped: `quick run without ${missing.join(', ')}: the Metro baseline is left out` };
  } else {
    await ensureTools({ wrk: false, log });
  }
  const wsdl = path.resolve(context.rootDir, '..', 'shared', 'reference', 'altinn2', 'DownloadQueueExternalBasic.wsdl');
  const build = await buildMetroServer(context.rootDir, context.cacheDir, wsdl);
  log(build.compiled ? `Metro server generated (wsimport) and compiled into ${context.cacheDir}` : 'Metro server taken from the cache');
  return build;
}

/** Start the Metro server on one answer of the gateway (its XML) plus the attachment files, in order. */
export function startMetro(
  context: BenchContext,
  build: MetroBuild,
  name: string,
  credentials: Credentials,
  resultXml: string | Buffer,
  attachmentFiles: string[] = [],
): Promise<ChildServer> {
  const resultFile = path.join(context.workDir, `${name}-result.xml`);
  fs.writeFileSync(resultFile, resultXml);
  return context.startProgram(name, build.java, build.javaArgs, [credentials.userName, credentials.password, resultFile, ...attachmentFiles], `${DQ_PATH}?wsdl`);
}

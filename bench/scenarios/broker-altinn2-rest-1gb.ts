/**
 * broker-altinn2-rest-1gb: one large file through the Altinn 2 REST brokerservice facade (issue 9),
 * up and down (broker-updown.ts does the measuring), each against the plain Node limit measured in
 * the same run:
 *
 *   upload    POST /api/{sender}/brokerservice/outbox?fileName=…&brokerServiceDescription=… with the
 *             ApiKey and the end user's Bearer token, the file as the body (application/zip,
 *             Content-Length): initiate and upload in one call.
 *   download  GET /api/{recipient}/brokerservice/inbox/{fileReference}/download as a person with a
 *             role for the recipient organisation.
 *
 * The resource has an Altinn 2 service code and no manifest shim (with the shim every download is a
 * rewritten ZIP, not the stored bytes), and no malware scan, so the file is Published when the
 * outbox answers.
 */
import { randomInt } from 'node:crypto';
import { addApiKey } from '../../src/auth/api-keys';
import { issueLocalToken } from '../../src/auth/end-user-tokens';
import { addRole } from '../../src/auth/roles';
import { loadConfig } from '../../src/config';
import type { BenchContext } from '../lib/context';
import { deterministicFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { Scenario, ScenarioResult } from '../lib/results';
import { MIB } from '../lib/stats';
import { BENCH_ORGS, downloadFile, fileMd5, setUpBroker, sizeLabelOf } from './broker-support';
import { measureUpDown, type Door } from './broker-updown';
import { PRIMED_NOTE } from '../lib/page-cache';

const log = scenarioLogger('broker-altinn2-rest-1gb');
/** National identity numbers of the people acting for the sender and for the recipient. */
const SENDER_PERSON = '01017012345';
const RECIPIENT_PERSON = '02029012345';

export const brokerAltinn2Rest1gb: Scenario = {
  name: 'broker-altinn2-rest-1gb',
  title: 'One large file through the Altinn 2 REST brokerservice facade: outbox upload and inbox download',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const sizeBytes = Number(process.env.BENCH_STREAM_MIB || (context.quick ? 64 : 1024)) * MIB;
    const warmBytes = Math.min(sizeBytes, 32 * MIB);
    const rounds = context.quick ? 2 : 5;
    const sizeLabel = sizeLabelOf(sizeBytes);

    const input = await deterministicFile(context.cacheDir, 'stream', sizeBytes, 'altinn-gateway-bench', (done) => log(`  generated ${Math.round(done / MIB)} MiB`));
    const warm = await deterministicFile(context.cacheDir, 'broker-warm', warmBytes, 'altinn-gateway-bench-warm');
    const md5 = await fileMd5(input.path);
    // A service code of its own: the pair must be unique, and the demo (PGlite) uses 4747.
    const serviceCode = String(randomInt(60_000, 99_999));
    const broker = await setUpBroker(context, { externalServiceCodeLegacy: serviceCode, externalServiceEditionCodeLegacy: 1, useManifestFileShim: false });
    const jwt = loadConfig({ ...process.env, DATA_DIR: context.dataDir }).messages.jwt;
    const apiKey = await context.withArchive(async (app) => {
      await addRole(app.db, { person: SENDER_PERSON, orgNumber: BENCH_ORGS.sender });
      await addRole(app.db, { person: RECIPIENT_PERSON, orgNumber: BENCH_ORGS.recipient });
      return (await addApiKey(app.db, { name: `bench-broker-${serviceCode}` })).key;
    });
    const personToken = (person: string) => issueLocalToken(jwt, context.dataDir, { person, authLevel: 3, ttlSeconds: 12 * 3600 });
    const senderHeaders = { apikey: apiKey, authorization: `Bearer ${await personToken(SENDER_PERSON)}`, accept: 'application/json', 'content-type': 'application/zip' };
    const recipientHeaders = { apikey: apiKey, authorization: `Bearer ${await personToken(RECIPIENT_PERSON)}` };
    const description = JSON.stringify({ ServiceCode: serviceCode, ServiceEditionCode: 1, SendersReference: 'bench', Recipients: [BENCH_ORGS.recipient], Properties: {}, FileList: null });

    const door: Door = {
      prepareUpload: async (baseUrl) => {
        const query = new URLSearchParams({ fileName: 'bench.zip', brokerServiceDescription: description });
        return {
          url: `${baseUrl}/api/${BENCH_ORGS.sender}/brokerservice/outbox?${query}`,
          headers: senderHeaders,
          transferIdOf: (upload) => {
            if (upload.status !== 201) throw new Error(`outbox answered ${upload.status}: ${upload.body.slice(0, 400)}`);
            return JSON.parse(upload.body).FileReference as string;
          },
        };
      },
      download: (baseUrl, id) => downloadFile(`${baseUrl}/api/${BENCH_ORGS.recipient}/brokerservice/inbox/${id}/download`, recipientHeaders),
    };
    const measured = await measureUpDown(context, { log, label: 'broker-a2rest', broker, door, input, md5, warm, rounds, sizeLabel, profile: !context.quick || context.options.profile });
    return {
      scenario: 'broker-altinn2-rest-1gb',
      title: this.title,
      params: { sizeBytes, sizeLabel, rounds, warmUpBytes: warmBytes, sha256: input.sha256, md5, manifestShim: false },
      comparisons: measured.comparisons,
      details: { rounds: measured.rounds, summary: measured.summary },
      notes: [
        PRIMED_NOTE,
        'Upload: one outbox POST (ApiKey + the end user\'s Bearer token, the service description in the query, the file as the body with Content-Length, streamed from the page cache in 256 KiB reads): the facade checks the caller\'s role, initializes the transfer and streams the body into the blob store (MD5 and SHA-256 on the hashing worker, fsync, rename, rows); it answers 201 once the transfer is Published, which the Altinn 3 overview then confirms with our MD5 and size. The whole call is timed. The plain baseline writes the body to a file and fsyncs it, no hashing.',
        'Download: the recipient\'s inbox download (ApiKey + a token of a person with a role for the recipient); the client hashes every byte with SHA-256 and checks it against the input file, as for the plain pipe serving the same blob file. MB = 10^6 bytes.',
        `Each round uses fresh server processes (order alternating), warmed by one unmeasured transfer (a ${warmBytes / MIB} MiB outbox POST; a full download). CPU is the server process with all its threads.`,
        ...(measured.profileNote ? [measured.profileNote] : []),
      ],
    };
  },
};

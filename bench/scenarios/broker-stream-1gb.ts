/**
 * broker-stream-1gb: one large file through the Altinn 3 broker API, up and down (broker-updown.ts
 * does the measuring), each against the limit measured in the same run:
 *
 *   upload    POST /broker/api/v1/filetransfer/{id}/upload (application/octet-stream, Content-Length;
 *             a transfer without virus scan, so it is Published when the answer comes) against a
 *             plain Node server writing the body to a file and fsyncing it (plain-upload-server).
 *   download  GET …/filetransfer/{id}/download by the recipient against the plain Node pipe serving
 *             the same blob file (plain-pipe-server, as stream-1gb).
 */
import type { BenchContext } from '../lib/context';
import { deterministicFile } from '../lib/input-files';
import { scenarioLogger } from '../lib/log';
import type { Scenario, ScenarioResult } from '../lib/results';
import { MIB } from '../lib/stats';
import { BROKER_API, downloadFile, fileMd5, initialize, setUpBroker, sizeLabelOf } from './broker-support';
import { measureUpDown, type Door } from './broker-updown';
import { PRIMED_NOTE } from '../lib/page-cache';

const log = scenarioLogger('broker-stream-1gb');

export const brokerStream1gb: Scenario = {
  name: 'broker-stream-1gb',
  title: 'One large file through the Altinn 3 broker API: streamed upload and download',
  async run(context: BenchContext): Promise<ScenarioResult> {
    const sizeBytes = Number(process.env.BENCH_STREAM_MIB || (context.quick ? 64 : 1024)) * MIB;
    const warmBytes = Math.min(sizeBytes, 32 * MIB);
    const rounds = context.quick ? 2 : 5;
    const sizeLabel = sizeLabelOf(sizeBytes);

    log(`generating a deterministic ${sizeLabel} file (once; cached in ${context.cacheDir})`);
    const input = await deterministicFile(context.cacheDir, 'stream', sizeBytes, 'altinn-gateway-bench', (done) => log(`  generated ${Math.round(done / MIB)} MiB`));
    const warm = await deterministicFile(context.cacheDir, 'broker-warm', warmBytes, 'altinn-gateway-bench-warm');
    const md5 = await fileMd5(input.path); // also reads the file into the page cache
    const broker = await setUpBroker(context);
    const door: Door = {
      prepareUpload: async (baseUrl) => {
        const id = await initialize(baseUrl, broker, { disableVirusScan: true });
        return { url: `${baseUrl}${BROKER_API}/filetransfer/${id}/upload`, headers: { authorization: `Bearer ${broker.senderToken}` }, transferIdOf: () => id };
      },
      download: (baseUrl, id) => downloadFile(`${baseUrl}${BROKER_API}/filetransfer/${id}/download`, { authorization: `Bearer ${broker.recipientToken}` }),
    };
    const measured = await measureUpDown(context, { log, label: 'broker-stream', broker, door, input, md5, warm, rounds, sizeLabel, profile: !context.quick || context.options.profile });
    return {
      scenario: 'broker-stream-1gb',
      title: this.title,
      params: { sizeBytes, sizeLabel, rounds, warmUpBytes: warmBytes, sha256: input.sha256, md5 },
      comparisons: measured.comparisons,
      details: { rounds: measured.rounds, summary: measured.summary },
      notes: [
        PRIMED_NOTE,
        'Upload: the client, a node process of its own for each upload (bench/lib/upload-clients.ts), streams the file from the page cache (256 KiB reads) with Content-Length; the gateway hashes it (MD5 and SHA-256 on its hashing worker thread), writes it in 1 MiB batches (with an fdatasync every 32 MiB in the background, so that the final fsync waits for the last few MiB, not the whole file), fsyncs, renames it into place and commits the rows: the transfer is Published when the answer comes, and its overview then reports our MD5 and size (checked every round). Only the upload request is timed (the initialize before it is a separate small call). The plain baseline writes the body to a file and fsyncs it, no hashing.',
        'Download: the recipient GETs the file (Content-Length, 256 KiB reads from the blob store); the client hashes every byte with SHA-256 and checks it against the input file, as for the plain pipe serving the same blob file. MB = 10^6 bytes.',
        `Each round uses fresh server processes (order alternating), warmed by one unmeasured transfer (a ${warmBytes / MIB} MiB upload; a full download). CPU is the server process with all its threads (utime+stime from /proc), the database left out (a handful of rows per transfer).`,
        'Where the upload time goes (bench/PROFILE-NOTES.md): the gateway\'s CPU beyond the plain upload\'s is the hashing itself, MD5 (~1.4 CPU-s per GiB on this CPU) and SHA-256 (~0.6, SHA-NI) on the hashing thread, plus ~0.3 for copying into the slabs and messaging that thread. On 2 cores shared with the client (and other work) the throughput follows the total CPU per GiB, so while both sums are computed in the stream the ratio stays near (plain + client) ÷ (plain + client + ~2.3 s), about 0.65-0.7 when the cores are not also busy with other work (the run of 2026-11-27 17:21 UTC, load average ~6: 0.67), lower under heavy load; a gateway process that falls into the full-GC mode described for stream-1gb (major GCs counted per round) loses most. A third core for the hashing thread would lift the ratio. The other large variable is the kernel time of the file writes (libuv\'s threads): 0.35 s per GiB when the kernel has recently freed pages to fill, 2-2.6 s when it has not (this VM charges the first touch of memory it has not used lately to the writer), the same for every door (broker-door-threads); so a measured blob is deleted once a newer one is in (the last stays for the downloads), as the plain server deletes its file every round.',
        ...(measured.profileNote ? [measured.profileNote] : []),
      ],
    };
  },
};

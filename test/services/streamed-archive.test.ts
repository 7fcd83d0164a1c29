/**
 * The 30 MB split and ServiceOwnerArchiveExternalStreamedBasic over real HTTP: attachments up to
 * 30 MiB travel inline (MTOM) in GetArchivedFormTaskBasicDQ, larger ones are nil there and come
 * byte for byte from GetAttachmentDataStreamedBasic.
 */
import { archiveFormTasks } from '../../src/archive/archive-form-tasks';
import { newTask } from '../helpers/archive-fixtures';
import { createSoapOwner, generatedAttachment, generatedSha256, type SoapOwner } from '../helpers/fixtures';
import { startTestServer, type TestServer } from '../helpers/server';
import {
  altinnFaultOf,
  binaryOf,
  call,
  child,
  children,
  DQ_ACTION,
  DQ_PATH,
  isNilElement,
  NS,
  operationXml,
  sha256,
  STREAMED_ACTION,
  STREAMED_PATH,
  text,
} from '../helpers/soap-client';

const MiB = 1024 * 1024;
const INLINE_LIMIT = 30 * MiB; // the default, not lowered for this test

let server: TestServer;
let owner: SoapOwner;
let otherOwner: SoapOwner;
let archiveReference: string;
let attachmentIds: number[];
const sizes = [INLINE_LIMIT, INLINE_LIMIT + 1, 50 * MiB + 3];

beforeAll(async () => {
  server = await startTestServer();
  expect(server.app.config.inlineAttachmentMaxBytes).toBe(INLINE_LIMIT);
  owner = await createSoapOwner(server.app);
  otherOwner = await createSoapOwner(server.app);
  const [task] = await archiveFormTasks(server.app, owner.serviceOwnerId, [
    newTask(owner, { attachments: sizes.map((size, i) => generatedAttachment(`fil-${i}.bin`, size, i + 1)) }),
  ]);
  ({ archiveReference, attachmentIds } = task!);
});
afterAll(() => server.close());

function streamed(args: Record<string, string | number | null | undefined>) {
  return call(server.url, STREAMED_PATH, STREAMED_ACTION, operationXml('GetAttachmentDataStreamedBasic', args, NS.so));
}

it('sends attachments up to 30 MiB inline and leaves larger ones nil', async () => {
  const result = await call(
    server.url,
    DQ_PATH,
    DQ_ACTION('GetArchivedFormTaskBasicDQ'),
    operationXml('GetArchivedFormTaskBasicDQ', { systemUserName: owner.userName, systemPassword: owner.password, archiveReference }),
  );
  expect(result.status).toBe(200);
  const task = child(result.bodyElement, 'GetArchivedFormTaskBasicDQResult');
  const attachments = children(child(task, 'Attachments'), 'ArchivedAttachmentDQBE');
  expect(attachments.map((a) => Number(text(a, 'AttachmentId')))).toEqual(attachmentIds);
  expect(text(task, 'AttachmentsInResponse')).toBe('1');

  const inline = binaryOf(result, child(attachments[0]!, 'AttachmentData'))!;
  expect(inline.length).toBe(INLINE_LIMIT);
  expect(sha256(inline)).toBe(generatedSha256(INLINE_LIMIT, 1));
  expect(isNilElement(child(attachments[1]!, 'AttachmentData'))).toBe(true);
  expect(isNilElement(child(attachments[2]!, 'AttachmentData'))).toBe(true);
  expect(result.parts.size).toBe(1);
  // Every part size was known, so the multipart response carried an exact Content-Length.
  expect(Number(result.headers.get('content-length'))).toBe(result.body.length);
});

it('streams a 50 MB attachment byte for byte through GetAttachmentDataStreamedBasic', async () => {
  const result = await streamed({ systemUserName: owner.userName, systemPassword: owner.password, attachmentId: attachmentIds[2]! });
  expect(result.status).toBe(200);
  expect(result.headers.get('content-type')).toMatch(/^multipart\/related; type="application\/xop\+xml"/);
  expect(result.bodyElement.local).toBe('GetAttachmentDataStreamedBasicResponse');
  expect(result.bodyElement.ns).toBe(NS.so);
  const bytes = binaryOf(result, child(result.bodyElement, 'GetAttachmentDataStreamedBasicResult', NS.so))!;
  expect(bytes.length).toBe(sizes[2]);
  expect(sha256(bytes)).toBe(generatedSha256(sizes[2]!, 3));
});

it('streams the one just over the limit too', async () => {
  const result = await streamed({ systemUserName: owner.userName, systemPassword: owner.password, attachmentId: attachmentIds[1]! });
  const bytes = binaryOf(result, child(result.bodyElement, 'GetAttachmentDataStreamedBasicResult'))!;
  expect(sha256(bytes)).toBe(generatedSha256(sizes[1]!, 2));
});

it('answers another owner’s attachment exactly like a missing one', async () => {
  const foreign = await streamed({ systemUserName: otherOwner.userName, systemPassword: otherOwner.password, attachmentId: attachmentIds[0]! });
  const missing = await streamed({ systemUserName: otherOwner.userName, systemPassword: otherOwner.password, attachmentId: 2_000_000_000 });
  expect(foreign.status).toBe(500);
  expect(altinnFaultOf(foreign)!.errorId).toBe(5);
  expect(altinnFaultOf(foreign)!.message.replace(String(attachmentIds[0]), 'ID')).toBe(altinnFaultOf(missing)!.message.replace('2000000000', 'ID'));
});

it('faults on bad credentials and a missing attachment id', async () => {
  const wrong = await streamed({ systemUserName: owner.userName, systemPassword: 'nope', attachmentId: attachmentIds[0]! });
  expect(altinnFaultOf(wrong)!.errorId).toBe(989);
  const noId = await streamed({ systemUserName: owner.userName, systemPassword: owner.password });
  expect(altinnFaultOf(noId)).toEqual({ errorId: 0, message: 'The parameter attachmentId is required' });
});

it('serves its own WSDL and the schema documents the reference WSDL imports', async () => {
  const wsdl = await (await fetch(`${server.url}${STREAMED_PATH}?wsdl`)).text();
  expect(wsdl).toContain(`location="${server.url}${STREAMED_PATH}"`);
  expect(wsdl).toContain('name="GetAttachmentDataStreamedBasic"');
  for (const n of [0, 1, 2, 3, 4]) {
    const response = await fetch(`${server.url}${STREAMED_PATH}?xsd=xsd${n}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('<xs:schema');
  }
  expect((await fetch(`${server.url}${STREAMED_PATH}?xsd=xsd9`)).status).toBe(404);
});

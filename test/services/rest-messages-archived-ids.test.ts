/**
 * Form and attachment ids stay the same when a message is signed and archived (issue 11): a
 * Location the REST API returned while the message was a draft answers after archiving, with the
 * same metadata and bytes. The archive tables have their own id sequences, so a message archived
 * directly first makes the draft ids and the archive ids differ.
 */
import { createRestFixture, MAIN_FORM, messageBody, SUB_FORM, type RestFixture } from '../messages/rest-helpers';

let fixture: RestFixture;

beforeAll(async () => {
  fixture = await createRestFixture();
});
afterAll(async () => {
  await fixture?.close();
});

const letter = Buffer.from('Brev med æøå\r\n', 'utf8');
const attachment = (name: string) => ({ FileName: name, AttachmentType: 'Vedlegg', Data: letter.toString('base64') });

it('answers the draft Locations of forms and attachments after the message is archived', async () => {
  const { owner, call: api } = fixture;
  // Archived at once: takes archive ids that drafts never had.
  const direct = await api('POST', '/api/my/messages', { body: messageBody(owner, { attachments: [attachment('a.txt'), attachment('b.txt')] }) });
  expect(direct.status).toBe(201);

  const created = await api('POST', '/api/my/messages?complete=false', { body: messageBody(owner, { attachments: [attachment('c.txt')] }) });
  expect(created.status).toBe(201);
  const location = created.headers.get('location')!;
  const mainForm = created.json._embedded.forms[0]._links.self.href as string;
  const firstAttachment = created.json._embedded.attachments[0]._links.self.href as string;
  const sub = await api('POST', `${location}/forms`, { body: { Type: 'SubForm', DataFormatId: '5704', DataFormatVersion: '34115', FormData: SUB_FORM } });
  const added = await api('POST', `${location}/attachments`, { body: attachment('d.txt') });
  expect([sub.status, added.status]).toEqual([201, 201]);
  const urls = { mainForm, subForm: sub.headers.get('location')!, firstAttachment, secondAttachment: added.headers.get('location')! };
  const before = await describe(urls);

  const signed = await api('PUT', location, { body: {} });
  expect(signed.status).toBe(200);
  expect(signed.json.Status).toBe('Sendt og arkivert');
  // The archive rows have ids of their own; the REST ids are the draft's.
  const archiveIds = await fixture.server.app.db('attachments').where('file_name', 'in', ['c.txt', 'd.txt']).orderBy('position').pluck('id');
  expect(archiveIds.map(String)).not.toEqual([urls.firstAttachment, urls.secondAttachment].map((url) => url.split('/').pop()));

  const after = await describe(urls);
  expect(after).toEqual(before);
  expect(after.mainFormData).toBe(MAIN_FORM);
  expect(after.subFormData).toBe(SUB_FORM);
  expect(after.firstAttachmentData).toBe(letter.toString('hex'));
  // The message's embedded lists link to the same URLs.
  const message = await api('GET', location);
  expect(message.json._embedded.forms.map((f: any) => f._links.self.href)).toEqual([urls.mainForm, urls.subForm]);
  expect(message.json._embedded.attachments.map((a: any) => a._links.self.href)).toEqual([urls.firstAttachment, urls.secondAttachment]);
});

/** What each URL answers: status and body of the form/attachment and of its data. */
async function describe(urls: Record<'mainForm' | 'subForm' | 'firstAttachment' | 'secondAttachment', string>) {
  const { call: api } = fixture;
  const read = async (url: string) => {
    const response = await api('GET', url);
    expect(response.status).toBe(200);
    const { _links: _l, ...body } = response.json;
    return body;
  };
  const data = async (url: string) => {
    const response = await fetch(url, { headers: { apikey: fixture.apiKey, authorization: `Bearer ${await fixture.token()}` } });
    expect(response.status).toBe(200);
    return Buffer.from(await response.arrayBuffer()).toString('hex');
  };
  return {
    mainForm: await read(urls.mainForm),
    subForm: await read(urls.subForm),
    mainFormData: (await api('GET', `${urls.mainForm}/formdata`)).text,
    subFormData: (await api('GET', `${urls.subForm}/formdata`)).text,
    firstAttachment: await read(urls.firstAttachment),
    secondAttachment: await read(urls.secondAttachment),
    firstAttachmentData: await data(`${urls.firstAttachment}/attachmentdata`),
    secondAttachmentData: await data(`${urls.secondAttachment}/attachmentdata`),
  };
}

/**
 * Demo data for a fresh embedded database, so that `npm start` answers real calls at once: a
 * service owner, a system user, a service with a DownloadQueue, and five archived form tasks that
 * show the protocol's features (sub forms, InfoPath `my:` fields, several approvers and security
 * levels, shipment metadata, PDF/PNG/text attachments, each reportee type); and for the REST messages
 * API an API client (its key is printed once) and a person with a role for the demo organisation.
 */
import type { App } from '../app';
import { addService } from '../archive/add-service';
import { addServiceOwner, findServiceOwnerByOrg } from '../archive/add-service-owner';
import { archiveFormTasks, type NewFormTask } from '../archive/archive-form-tasks';
import { addApiKey, ApiKeyError } from '../auth/api-keys';
import { addRole } from '../auth/roles';
import { addSystemUser } from '../auth/system-users';
import { attachmentFromBytes, makeFlagPng, makePdf, makeTextFile } from './sample-attachments';
import { findBrokerDemo, seedBrokerDemo, type BrokerDemoInfo } from './broker';

export const DEMO = {
  orgNumber: '910000001',
  ownerName: 'Demo Etat',
  systemUserName: 'demo',
  systemPassword: 'demo-password-123',
  serviceCode: '4711',
  serviceEditionCode: 1,
  serviceName: 'Demo-skjema',
  /** API client of the REST messages API; its key is only known when it is created. */
  apiClientName: 'Demo-fagsystem',
  /** End user of the REST messages API, with a role for the demo organisation. */
  person: '01017012345',
} as const;

export interface DemoInfo {
  orgNumber: string;
  ownerName: string;
  systemUserName: string;
  systemPassword: string;
  serviceCode: string;
  serviceEditionCode: number;
  serviceName: string;
  apiClientName: string;
  /** The REST API key of `apiClientName`: only when just created (only its hash is stored). */
  apiKey?: string;
  person: string;
  /** The seeded tasks, oldest first (empty when describing an existing demo). */
  archiveReferences: string[];
  /** The broker demo (resource, sender, recipient), when seeded. */
  broker?: BrokerDemoInfo;
}

/** The demo is seeded only into a database without any service owner. */
export async function isDemoNeeded(app: App): Promise<boolean> {
  return !(await app.db('service_owners').first('id'));
}

/** The demo's details if its service owner and system user exist (e.g. seeded on an earlier start). */
export async function findDemo(app: App): Promise<DemoInfo | undefined> {
  const owner = await findServiceOwnerByOrg(app.db, DEMO.orgNumber);
  if (!owner) return undefined;
  const user = await app.db('system_users').where({ service_owner_id: owner.serviceOwnerId, user_name: DEMO.systemUserName }).first('id');
  return user ? { ...DEMO, archiveReferences: [], broker: await findBrokerDemo(app) } : undefined;
}

export async function seedDemo(app: App, now: Date = new Date()): Promise<DemoInfo> {
  const { serviceOwnerId } = await addServiceOwner(app.db, { orgNumber: DEMO.orgNumber, name: DEMO.ownerName });
  let roleAdded = false;
  try {
    await addSystemUser(app.db, { serviceOwnerId, userName: DEMO.systemUserName, password: DEMO.systemPassword });
    await addService(app.db, {
      serviceOwnerId,
      serviceCode: DEMO.serviceCode,
      serviceEditionCode: DEMO.serviceEditionCode,
      name: DEMO.serviceName,
      downloadQueue: true,
    });
    const results = await archiveFormTasks(app, serviceOwnerId, await demoTasks(now));
    roleAdded = await addRole(app.db, { person: DEMO.person, orgNumber: DEMO.orgNumber });
    const broker = await seedBrokerDemo(app);
    // Last, so that nothing after it can fail: the key exists only in this return value.
    const apiKey = await addDemoApiKey(app);
    return { ...DEMO, apiKey, archiveReferences: results.map((r) => r.archiveReference), broker };
  } catch (error) {
    // Leave no half demo behind (it would also stop a later start from seeding): the owner's
    // system users and services go with it; archiveFormTasks itself writes all or nothing.
    await app.db('service_owners').where({ id: serviceOwnerId }).delete();
    if (roleAdded) await app.db('reportee_roles').where({ person: DEMO.person, org_number: DEMO.orgNumber }).delete();
    throw error;
  }
}

/** A new key for the demo's API client; undefined when that client exists already (`demo --force`). */
async function addDemoApiKey(app: App): Promise<string | undefined> {
  try {
    return (await addApiKey(app.db, { name: DEMO.apiClientName })).key;
  } catch (error) {
    if (error instanceof ApiKeyError && error.reason === 'conflict') return undefined;
    throw error;
  }
}

// ---- the five form tasks ----

export const MAIN_FORM = { dataFormatId: '5703', dataFormatVersion: 34114 };
const BUDGET_SUB_FORM = { dataFormatId: '5704', dataFormatVersion: 34115 };
const INFOPATH_NS = 'http://schemas.microsoft.com/office/infopath/2003/myXSD/2013-02-21T10:11:12';

function mainForm(body: string, extraNamespaces = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Skjema xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"${extraNamespaces} dataFormatProvider="SERES" dataFormatId="${MAIN_FORM.dataFormatId}" dataFormatVersion="${MAIN_FORM.dataFormatVersion}" tjeneste="${DEMO.serviceName}">
${body}
</Skjema>`;
}

function applicant(name: string, id: string, address: string, postalCode: string, place: string): string {
  return `  <Innsender>
    <Navn>${name}</Navn>
    <Identifikator>${id}</Identifikator>
    <Adresse>${address}</Adresse>
    <Postnummer>${postalCode}</Postnummer>
    <Poststed>${place}</Poststed>
  </Innsender>`;
}

async function demoTasks(now: Date): Promise<NewFormTask[]> {
  // Archived over the last few days, oldest first; each approval a few minutes before archiving.
  const hoursAgo = (hours: number): Date => new Date(Math.floor((now.getTime() - hours * 3_600_000) / 60_000) * 60_000);
  const minutesBefore = (at: Date, minutes: number): Date => new Date(at.getTime() - minutes * 60_000);

  const accountsPdf = await makePdf('Årsregnskap 2023 – Fjordlys Elektro AS', [
    'Organisasjonsnummer: 312 456 789',
    'Driftsinntekter: 4 812 300 kr',
    'Driftsresultat: 612 450 kr',
    'Egenkapital per 31.12.2023: 1 904 000 kr',
    '',
    'Regnskapet er avlagt etter regnskapsloven og god regnskapsskikk for små foretak.',
  ]);
  const projectPdf = await makePdf('Prosjektbeskrivelse – Bygdeverksted på Røros', [
    'Søker: Røros Bygdeverksted SA',
    'Formål: Etablering av felles verksted for reparasjon av landbruksutstyr.',
    'Planlagt oppstart: 1. september',
    'Samarbeidspartnere: Røros kommune, Nord-Østerdal næringsforening',
  ]);
  const flag = makeFlagPng();
  const remarks = makeTextFile([
    'Merknader til søknaden',
    '',
    'Vi ber om at søknaden behandles før sommerferien.',
    'Kontaktperson: Åse Øvrebø, tlf. 900 12 345',
  ]);

  const tasks: NewFormTask[] = [];

  // 1. An organisation applies, with a budget sub form, two signatures, metadata and two attachments.
  const first = hoursAgo(98);
  tasks.push({
    serviceCode: DEMO.serviceCode,
    serviceEditionCode: DEMO.serviceEditionCode,
    reportee: '312456789',
    reporteeType: 'Organisation',
    archivedAt: first,
    forms: [
      {
        ...MAIN_FORM,
        formData: mainForm(`${applicant('Fjordlys Elektro AS', '312456789', 'Sjøgata 12', '5003', 'Bergen')}
  <Soknad>
    <Tiltak>Kompetanseheving i solcelleinstallasjon for fem montører</Tiltak>
    <SoktBelop>250000</SoktBelop>
    <Kommunenummer>4601</Kommunenummer>
  </Soknad>`),
      },
      {
        ...BUDGET_SUB_FORM,
        parentIndex: 0,
        formData: `<?xml version="1.0" encoding="utf-8"?>
<Budsjett dataFormatProvider="SERES" dataFormatId="${BUDGET_SUB_FORM.dataFormatId}" dataFormatVersion="${BUDGET_SUB_FORM.dataFormatVersion}">
  <Post><Beskrivelse>Kursavgift</Beskrivelse><Belop>180000</Belop></Post>
  <Post><Beskrivelse>Reise og opphold</Beskrivelse><Belop>70000</Belop></Post>
  <SumUtgifter>250000</SumUtgifter>
</Budsjett>`,
      },
    ],
    approvers: [
      { approverId: '14057812345', approvedAt: minutesBefore(first, 12), securityLevel: 'sensitive' },
      { approverId: '02119054321', approvedAt: minutesBefore(first, 3), securityLevel: 'verySensitive' },
    ],
    attachments: [
      attachmentFromBytes(accountsPdf, 'Årsregnskap 2023.pdf', 'application_pdf', 'Årsregnskap'),
      attachmentFromBytes(flag, 'logo.png', 'image_png', 'Annet'),
    ],
    shipmentMetadata: [
      { key: 'Kommunenummer', value: '4601' },
      { key: 'Saksomrade', value: 'Næringsutvikling' },
    ],
  });

  // 2. A person, with calculated InfoPath fields (`my:`): shown only with includeXmlNamespace.
  const second = hoursAgo(74);
  tasks.push({
    serviceCode: DEMO.serviceCode,
    serviceEditionCode: DEMO.serviceEditionCode,
    reportee: '24038712345',
    reporteeType: 'Person',
    archivedAt: second,
    forms: [
      {
        ...MAIN_FORM,
        formData: mainForm(
          `${applicant('Kari Nordmann', '24038712345', 'Bakkeveien 3', '9008', 'Tromsø')}
  <Soknad>
    <Tiltak>Oppstart av enkeltpersonforetak for keramikk</Tiltak>
    <SoktBelop>45000</SoktBelop>
    <Kommunenummer>5501</Kommunenummer>
  </Soknad>
  <my:Beregning>
    <my:Egenandel>15000</my:Egenandel>
    <my:Totalkostnad>60000</my:Totalkostnad>
    <my:Stotteandel>0.75</my:Stotteandel>
  </my:Beregning>`,
          ` xmlns:my="${INFOPATH_NS}"`,
        ),
      },
    ],
    approvers: [{ approverId: '24038712345', approvedAt: minutesBefore(second, 2), securityLevel: 'verySensitive' }],
    attachments: [attachmentFromBytes(remarks, 'merknader.txt', 'text_plain', 'Annet')],
  });

  // 3. A self-registered user (no national id), no attachments.
  const third = hoursAgo(45);
  tasks.push({
    serviceCode: DEMO.serviceCode,
    serviceEditionCode: DEMO.serviceEditionCode,
    reportee: 'ola.nordmann',
    reporteeType: 'Selfregistereduser',
    archivedAt: third,
    forms: [
      {
        ...MAIN_FORM,
        formData: mainForm(`${applicant('Ola Nordmann', 'ola.nordmann', 'Storgata 1', '0155', 'Oslo')}
  <Soknad>
    <Tiltak>Forstudie: andelslandbruk i bydel Gamle Oslo</Tiltak>
    <SoktBelop>20000</SoktBelop>
    <Kommunenummer>0301</Kommunenummer>
  </Soknad>`),
      },
    ],
    approvers: [{ approverId: 'ola.nordmann', approvedAt: minutesBefore(third, 1), securityLevel: 'selfIdentifiedUser' }],
    attachments: [],
  });

  // 4. A cooperative, part of a case, three signatures at different levels, metadata, PDF and text.
  const fourth = hoursAgo(20);
  tasks.push({
    serviceCode: DEMO.serviceCode,
    serviceEditionCode: DEMO.serviceEditionCode,
    reportee: '998877665',
    reporteeType: 'Organisation',
    archivedAt: fourth,
    caseId: 700123,
    forms: [
      {
        ...MAIN_FORM,
        formData: mainForm(`${applicant('Røros Bygdeverksted SA', '998877665', 'Kjerkgata 20', '7374', 'Røros')}
  <Soknad>
    <Tiltak>Felles verksted for reparasjon av landbruksutstyr</Tiltak>
    <SoktBelop>1200000</SoktBelop>
    <Kommunenummer>5025</Kommunenummer>
  </Soknad>`),
      },
    ],
    approvers: [
      { approverId: '11116612345', approvedAt: minutesBefore(fourth, 40), securityLevel: 'notSensitive' },
      { approverId: '22027023456', approvedAt: minutesBefore(fourth, 25), securityLevel: 'lessSensitive' },
      { approverId: '05098134567', approvedAt: minutesBefore(fourth, 4), securityLevel: 'verySensitive' },
    ],
    attachments: [
      attachmentFromBytes(projectPdf, 'Prosjektbeskrivelse.pdf', 'application_pdf', 'Prosjektbeskrivelse'),
      attachmentFromBytes(remarks, 'merknader.txt', 'text_plain', 'Annet'),
    ],
    shipmentMetadata: [
      { key: 'Kommunenummer', value: '5025' },
      { key: 'Saksomrade', value: 'Landbruk' },
      { key: 'Prioritet', value: 'Høy' },
    ],
  });

  // 5. The most recent: an organisation with an image attachment.
  const fifth = hoursAgo(2);
  tasks.push({
    serviceCode: DEMO.serviceCode,
    serviceEditionCode: DEMO.serviceEditionCode,
    reportee: '321654987',
    reporteeType: 'Organisation',
    archivedAt: fifth,
    forms: [
      {
        ...MAIN_FORM,
        formData: mainForm(`${applicant('Lofoten Sjømat AS', '321654987', 'Havnegata 4', '8300', 'Svolvær')}
  <Soknad>
    <Tiltak>Ny pakkelinje for tørrfisk</Tiltak>
    <SoktBelop>800000</SoktBelop>
    <Kommunenummer>1865</Kommunenummer>
  </Soknad>`),
      },
    ],
    approvers: [{ approverId: '30017645678', approvedAt: minutesBefore(fifth, 6), securityLevel: 'sensitive' }],
    attachments: [attachmentFromBytes(flag, 'flagg.png', 'image_png', 'Bilde')],
  });

  return tasks;
}

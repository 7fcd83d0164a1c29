/**
 * Encrypted form data as W3C XML Encryption (XML-Enc 1.0), the format Altinn uses for encrypted
 * fields: an element is replaced, in place, by
 *
 *   <xenc:EncryptedData Type="…xmlenc#Element">
 *     <xenc:EncryptionMethod Algorithm="…xmlenc#aes128-cbc"/>
 *     <ds:KeyInfo>
 *       <xenc:EncryptedKey>
 *         <xenc:EncryptionMethod Algorithm="…xmlenc#rsa-1_5"/>
 *         <ds:KeyInfo><ds:KeyName>THUMBPRINT</ds:KeyName></ds:KeyInfo>
 *         <xenc:CipherData><xenc:CipherValue>RSA(AES key)</xenc:CipherValue></xenc:CipherData>
 *       </xenc:EncryptedKey>
 *     </ds:KeyInfo>
 *     <xenc:CipherData><xenc:CipherValue>IV ‖ AES-128-CBC(element)</xenc:CipherValue></xenc:CipherData>
 *   </xenc:EncryptedData>
 *
 * the shape .NET's EncryptedXml.Encrypt(element, keyName) writes, so EncryptedXml.DecryptDocument
 * (with the thumbprint mapped to the owner's RSA key), xmlsec1 and Apache Santuario decrypt it.
 *
 * Which key: the AES key is the task's key (bytes 0-15 of the SOEncryptedSymmetricKey blob), so a
 * client that unwraps SOEncryptedSymmetricKey and calls EncryptedXml.DecryptData with that key gets
 * the same plaintext; the EncryptedKey in KeyInfo wraps exactly those 16 bytes (not the 32-byte
 * blob: a standard processor takes the unwrapped bytes as the key itself, and .NET would turn 32
 * bytes into an AES-256 key). Each EncryptedData has its own random IV (the 16-byte prefix of its
 * CipherValue), never the blob's IV, so no two encryptions under the task's key share an IV.
 *
 * Padding: XML-Enc specifies ISO 10126 (arbitrary fill, last byte = length; readers check only the
 * last byte). We write PKCS#7 fill, which is one valid ISO 10126 padding and which strict PKCS#7
 * readers (e.g. Java's AES/CBC/PKCS5Padding) also accept; we read any ISO 10126 padding.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { childElements, parseXml, textContent, type XmlElement, type XmlLimits } from '../xml/parser';
import { findElementSpans, replaceSpans } from '../xml/element-spans';
import { escapeText } from '../xml/writer';
import { sensitiveFieldMatcher } from './sensitive-fields';
import { AES_BLOCK_BYTES } from './symmetric-key';

export const XMLENC_NS = 'http://www.w3.org/2001/04/xmlenc#';
export const XMLDSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
export const XMLENC_TYPE_ELEMENT = `${XMLENC_NS}Element`;
export const XMLENC_RSA_1_5 = `${XMLENC_NS}rsa-1_5`;

const AES_CBC_KEY_BYTES: Record<string, number> = {
  [`${XMLENC_NS}aes128-cbc`]: 16,
  [`${XMLENC_NS}aes192-cbc`]: 24,
  [`${XMLENC_NS}aes256-cbc`]: 32,
};
const AES128_CBC = `${XMLENC_NS}aes128-cbc`;

export class XmlDecryptionError extends Error {
  override name = 'XmlDecryptionError';
}

/** What encrypting one task's form data needs. */
export interface XmlEncryptionKey {
  /** AES-128 key (the task's, bytes 0-15 of its blob). */
  aesKey: Buffer;
  /** `aesKey` RSA-wrapped (PKCS#1 v1.5) under the owner's certificate. */
  wrappedAesKey: Buffer;
  /** The certificate's thumbprint, as ds:KeyName of the EncryptedKey. */
  keyName: string;
}

/** Replace the document's root element by its EncryptedData; prolog and epilog stay as written. */
export function encryptRootElement(documentXml: string, key: XmlEncryptionKey): string {
  const spans = findElementSpans(documentXml, ({ depth }) => depth === 0);
  return replaceSpans(documentXml, spans, (elementXml) => encryptedDataFor(elementXml, key));
}

/**
 * Replace each element that is one of `sensitiveFields` (see sensitive-fields.ts) by its own
 * EncryptedData, each with its own IV, everything else staying as written; when the list is
 * empty or none of its fields occurs in the document, the root element is encrypted instead.
 */
export function encryptFormData(documentXml: string, key: XmlEncryptionKey, sensitiveFields: readonly string[] = []): string {
  if (sensitiveFields.length === 0) return encryptRootElement(documentXml, key);
  const spans = findElementSpans(documentXml, sensitiveFieldMatcher(sensitiveFields));
  if (spans.length === 0) return encryptRootElement(documentXml, key);
  return replaceSpans(documentXml, spans, (elementXml) => encryptedDataFor(elementXml, key));
}

/** An EncryptedData element (Type Element) holding `elementXml`. */
export function encryptedDataFor(elementXml: string, key: XmlEncryptionKey): string {
  if (key.aesKey.length !== 16) throw new Error('XML encryption here uses AES-128: the key must be 16 bytes');
  const iv = randomBytes(AES_BLOCK_BYTES);
  const cipher = createCipheriv('aes-128-cbc', key.aesKey, iv); // PKCS#7 fill: see the module comment
  const cipherValue = Buffer.concat([iv, cipher.update(elementXml, 'utf8'), cipher.final()]).toString('base64');
  return (
    `<xenc:EncryptedData xmlns:xenc="${XMLENC_NS}" Type="${XMLENC_TYPE_ELEMENT}">` +
    `<xenc:EncryptionMethod Algorithm="${AES128_CBC}"/>` +
    `<ds:KeyInfo xmlns:ds="${XMLDSIG_NS}">` +
    `<xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="${XMLENC_RSA_1_5}"/>` +
    `<ds:KeyInfo><ds:KeyName>${escapeText(key.keyName)}</ds:KeyName></ds:KeyInfo>` +
    `<xenc:CipherData><xenc:CipherValue>${key.wrappedAesKey.toString('base64')}</xenc:CipherValue></xenc:CipherData>` +
    `</xenc:EncryptedKey></ds:KeyInfo>` +
    `<xenc:CipherData><xenc:CipherValue>${cipherValue}</xenc:CipherValue></xenc:CipherData>` +
    `</xenc:EncryptedData>`
  );
}

/** An EncryptedKey found in an EncryptedData's KeyInfo. */
export interface EncryptedKeyReference {
  algorithm: string;
  keyName: string | undefined;
  cipherValue: Buffer;
}

/**
 * Key material for one EncryptedData: the unwrapped EncryptedKey when it has one, otherwise the
 * key the caller knows from elsewhere (SOEncryptedSymmetricKey). May return the 32-byte Altinn
 * blob: for AES-128 its first 16 bytes are the key.
 */
export type ContentKeyResolver = (encryptedKey: EncryptedKeyReference | undefined) => Buffer;

/** True when the text contains an XML-Enc EncryptedData element (cheap pre-check). */
export function mayContainEncryptedData(xml: string): boolean {
  return xml.includes('EncryptedData') && xml.includes(XMLENC_NS);
}

/** Replace every (outermost) EncryptedData element in the document by its decrypted content. */
export function decryptXmlDocument(documentXml: string, resolveKey: ContentKeyResolver): string {
  if (!mayContainEncryptedData(documentXml)) return documentXml;
  const spans = findElementSpans(documentXml, ({ local, ns }) => local === 'EncryptedData' && ns === XMLENC_NS);
  return replaceSpans(documentXml, spans, (elementXml) => decryptEncryptedData(elementXml, resolveKey));
}

// Encrypted form data can be large; the text comes from the owner's own files or our archive.
const ENCRYPTED_DATA_LIMITS: XmlLimits = {
  maxBytes: 512 * 1024 * 1024,
  maxDepth: 16,
  maxElements: 100,
  maxTextLength: 512 * 1024 * 1024,
  maxAttributes: 16,
};

/** The plaintext (an element or content, as UTF-8 text) of one EncryptedData element. */
export function decryptEncryptedData(encryptedDataXml: string, resolveKey: ContentKeyResolver): string {
  const encryptedData = parseXml(encryptedDataXml, ENCRYPTED_DATA_LIMITS);
  const algorithm = algorithmOf(encryptedData);
  const keyBytes = algorithm === undefined ? undefined : AES_CBC_KEY_BYTES[algorithm];
  if (keyBytes === undefined) throw new XmlDecryptionError(`Unsupported EncryptedData algorithm '${algorithm ?? '(none)'}'; expected AES-CBC`);

  const keyInfo = xencChild(encryptedData, 'KeyInfo', XMLDSIG_NS);
  const encryptedKey = keyInfo && xencChild(keyInfo, 'EncryptedKey');
  const material = resolveKey(encryptedKey ? readEncryptedKey(encryptedKey) : undefined);
  const key = material.length === keyBytes ? material : material.length === 32 && keyBytes === 16 ? material.subarray(0, 16) : undefined;
  if (!key) throw new XmlDecryptionError(`The key for EncryptedData is ${material.length} bytes; ${algorithm} needs ${keyBytes}`);

  const data = cipherValueOf(encryptedData, 'EncryptedData');
  if (data.length < 2 * AES_BLOCK_BYTES || data.length % AES_BLOCK_BYTES !== 0) {
    throw new XmlDecryptionError(`The EncryptedData CipherValue is ${data.length} bytes: not an IV followed by whole AES blocks`);
  }
  const decipher = createDecipheriv(`aes-${keyBytes * 8}-cbc`, key, data.subarray(0, AES_BLOCK_BYTES));
  decipher.setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(data.subarray(AES_BLOCK_BYTES)), decipher.final()]);
  return removeIso10126Padding(padded).toString('utf8');
}

/** ISO 10126: the last byte says how many bytes (1-16) of padding to drop; the others are arbitrary. */
function removeIso10126Padding(padded: Buffer): Buffer {
  const length = padded[padded.length - 1]!;
  if (length < 1 || length > AES_BLOCK_BYTES) {
    throw new XmlDecryptionError('The decrypted EncryptedData has invalid padding: wrong key, or the data was altered');
  }
  return padded.subarray(0, padded.length - length);
}

function readEncryptedKey(encryptedKey: XmlElement): EncryptedKeyReference {
  const algorithm = algorithmOf(encryptedKey);
  if (algorithm !== XMLENC_RSA_1_5) {
    throw new XmlDecryptionError(`Unsupported EncryptedKey algorithm '${algorithm ?? '(none)'}'; expected ${XMLENC_RSA_1_5}`);
  }
  const keyInfo = xencChild(encryptedKey, 'KeyInfo', XMLDSIG_NS);
  const keyName = keyInfo && xencChild(keyInfo, 'KeyName', XMLDSIG_NS);
  return { algorithm, keyName: keyName ? textContent(keyName).trim() : undefined, cipherValue: cipherValueOf(encryptedKey, 'EncryptedKey') };
}

function xencChild(element: XmlElement, local: string, ns = XMLENC_NS): XmlElement | undefined {
  return childElements(element).find((c) => c.local === local && c.ns === ns);
}

function algorithmOf(element: XmlElement): string | undefined {
  return xencChild(element, 'EncryptionMethod')?.attributes.find((a) => a.local === 'Algorithm' && a.ns === '')?.value;
}

function cipherValueOf(element: XmlElement, what: string): Buffer {
  const cipherData = xencChild(element, 'CipherData');
  const cipherValue = cipherData && xencChild(cipherData, 'CipherValue');
  if (!cipherValue) {
    const reference = cipherData && xencChild(cipherData, 'CipherReference');
    throw new XmlDecryptionError(reference ? `${what}: CipherReference is not supported` : `${what} has no CipherData/CipherValue`);
  }
  return Buffer.from(textContent(cipherValue).replace(/\s+/g, ''), 'base64');
}

/**
 * PKCS#12 (.p12/.pfx) bundles, read with node-forge (node:crypto cannot open them): the
 * certificate a service owner registers, and the private key the owner decrypts with.
 */
import forge from 'node-forge';

export class Pkcs12Error extends Error {
  override name = 'Pkcs12Error';
}

/** A PFX is a SEQUENCE whose first member is INTEGER 3; a DER certificate starts with a SEQUENCE. */
export function isPkcs12(bytes: Buffer): boolean {
  try {
    const top = forge.asn1.fromDer(forge.util.createBuffer(bytes.toString('binary')), false);
    const first = Array.isArray(top.value) ? top.value[0] : undefined;
    return (
      top.type === forge.asn1.Type.SEQUENCE &&
      first !== undefined &&
      first.type === forge.asn1.Type.INTEGER &&
      typeof first.value === 'string' &&
      first.value === '\x03'
    );
  } catch {
    return false;
  }
}

interface Bundle {
  certificates: { der: Buffer; localKeyId: string | undefined }[];
  keys: { key: forge.pki.rsa.PrivateKey | null; localKeyId: string | undefined }[];
}

function openBundle(bytes: Buffer, passphrase: string): Bundle {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(bytes.toString('binary')));
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, passphrase);
  } catch (error) {
    const message = (error as Error).message;
    throw new Pkcs12Error(
      /MAC could not be verified|Invalid password/i.test(message)
        ? 'Could not open the PKCS#12 bundle: wrong passphrase (give it with --passphrase-stdin)'
        : `Could not read the PKCS#12 bundle: ${message}`,
    );
  }
  const localKeyId = (bag: forge.pkcs12.Bag) => bag.attributes?.localKeyId?.[0] as string | undefined;
  const certBags = p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag!] ?? [];
  const keyBags = [forge.pki.oids.pkcs8ShroudedKeyBag!, forge.pki.oids.keyBag!].flatMap(
    (bagType) => p12.getBags({ bagType })[bagType] ?? [],
  );
  return {
    certificates: certBags.map((bag) => {
      // forge parses only RSA certificates; others it passes through as ASN.1 (bag.asn1).
      const asn1 = bag.cert ? forge.pki.certificateToAsn1(bag.cert) : bag.asn1;
      return { der: Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary'), localKeyId: localKeyId(bag) };
    }),
    keys: keyBags.map((bag) => ({ key: (bag.key as forge.pki.rsa.PrivateKey | undefined) ?? null, localKeyId: localKeyId(bag) })),
  };
}

/** DER of the bundle's certificate: the one paired with its private key, else its only one. */
export function certificatesFromPkcs12(bytes: Buffer, passphrase: string): Buffer {
  const bundle = openBundle(bytes, passphrase);
  if (bundle.certificates.length === 0) throw new Pkcs12Error('The PKCS#12 bundle holds no certificate');
  const keyId = bundle.keys.find((k) => k.localKeyId !== undefined)?.localKeyId;
  const paired = keyId === undefined ? undefined : bundle.certificates.find((c) => c.localKeyId === keyId);
  if (paired) return paired.der;
  if (bundle.certificates.length === 1) return bundle.certificates[0]!.der;
  throw new Pkcs12Error(
    `The PKCS#12 bundle holds ${bundle.certificates.length} certificates and none is marked as belonging to its key; ` +
      'export the service owner certificate on its own (PEM or DER) and register that',
  );
}

/** The bundle's RSA private key. */
export function privateKeyFromPkcs12(bytes: Buffer, passphrase: string): forge.pki.rsa.PrivateKey {
  const bundle = openBundle(bytes, passphrase);
  if (bundle.keys.length === 0) throw new Pkcs12Error('The PKCS#12 bundle holds no private key');
  const rsa = bundle.keys.find((k) => k.key !== null);
  if (!rsa) throw new Pkcs12Error('The private key in the PKCS#12 bundle is not an RSA key');
  return rsa.key!;
}

import 'reflect-metadata';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { webcrypto, X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
x509.cryptoProvider.set(webcrypto as any);

type Key = webcrypto.CryptoKey;
type KeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface TlsMaterial {
  cert: string;
  key: string;
  /** The CA certificate agents trust (`--tls_server_certs`): ours, or the user's chain. */
  ca: string;
  caFile: string | undefined;
}

async function exportKey(key: Key): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
}

async function importKey(pem: string): Promise<Key> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']);
}

/**
 * Our private CA and a server certificate signed by it, created on first start in
 * `<dataDir>/tls`. The server certificate is re-issued when it nears expiry or when the set
 * of names changes; the CA (what agents pin) stays.
 */
export async function ensureOwnCertificates(
  dataDir: string,
  extraNames: readonly string[],
): Promise<TlsMaterial> {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true });
  const caFile = join(dir, 'ca.pem');
  const caKeyFile = join(dir, 'ca-key.pem');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server-key.pem');

  let caPem: string;
  let caKey: Key;
  if (existsSync(caFile) && existsSync(caKeyFile)) {
    caPem = readFileSync(caFile, 'utf8');
    caKey = await importKey(readFileSync(caKeyFile, 'utf8'));
  } else {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      name: `CN=Flotilla CA ${hostname()}, O=Flotilla`,
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 10 * 365 * 24 * 3600_000),
      keys: keys as never,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      ],
    });
    caPem = ca.toString('pem') + '\n';
    caKey = keys.privateKey;
    writeFileSync(caKeyFile, await exportKey(keys.privateKey), { mode: 0o600 });
    writeFileSync(caFile, caPem);
  }

  const names = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...extraNames])];
  const namesFile = join(dir, 'server-names.json');
  const needsIssue =
    !existsSync(certFile) ||
    !existsSync(keyFile) ||
    !existsSync(namesFile) ||
    readFileSync(namesFile, 'utf8') !== JSON.stringify(names) ||
    new Date(new X509Certificate(readFileSync(certFile)).validTo).getTime() <
      Date.now() + 30 * 24 * 3600_000;
  if (needsIssue) {
    const ca = new x509.X509Certificate(caPem);
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as KeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      subject: `CN=${hostname()}, O=Flotilla`,
      issuer: ca.subject,
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 397 * 24 * 3600_000),
      signingKey: caKey as never,
      publicKey: keys.publicKey as never,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          names.map((n) => ({ type: isIP(n) ? 'ip' : 'dns', value: n })),
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false),
      ],
    });
    writeFileSync(keyFile, await exportKey(keys.privateKey), { mode: 0o600 });
    writeFileSync(certFile, cert.toString('pem') + '\n' + caPem);
    writeFileSync(namesFile, JSON.stringify(names));
  }
  chmodSync(caKeyFile, 0o600);
  return {
    cert: readFileSync(certFile, 'utf8'),
    key: readFileSync(keyFile, 'utf8'),
    ca: caPem,
    caFile,
  };
}

/** A user's own certificate: the chain they gave is what agents trust. */
export function loadCertificateFiles(certFile: string, keyFile: string): TlsMaterial {
  const cert = readFileSync(certFile, 'utf8');
  const key = readFileSync(keyFile, 'utf8');
  new X509Certificate(cert); // fails loudly on a malformed file
  return { cert, key, ca: cert, caFile: undefined };
}

/**
 * A certificate authority made for the test run, and a server certificate it signed for
 * 127.0.0.1 and localhost, so clients verify TLS exactly as they would against a cluster.
 */
import { generate } from 'selfsigned';

/** PEM material of the test PKI. */
export interface TestPki {
  /** The CA certificate clients trust (the kubeconfig's certificate-authority-data). */
  caCert: string;
  serverCert: string;
  serverKey: string;
}

let shared: Promise<TestPki> | undefined;

/**
 * The PKI of this process, made once: every server of a test file may share it, and it
 * spares each server the key generation.
 */
export function testPki(): Promise<TestPki> {
  shared ??= createPki();
  return shared;
}

async function createPki(): Promise<TestPki> {
  const ca = await generate([{ name: 'commonName', value: 'lab-reconciler-test-ca' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'kube-apiserver' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { caCert: ca.cert, serverCert: server.cert, serverKey: server.private };
}

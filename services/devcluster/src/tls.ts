import { createPrivateKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";

// A self-signed P-256 certificate for 127.0.0.1 and localhost, built with node:crypto
// and a few lines of DER, so the devcluster can serve HTTPS without openssl. kubectl
// only sends bearer tokens (and impersonation headers) over TLS, so RBAC mode needs it.

const der = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  const len = body.length;
  const head =
    len < 0x80
      ? Buffer.from([tag, len])
      : len < 0x100
        ? Buffer.from([tag, 0x81, len])
        : Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([head, body]);
};
const seq = (...p: Buffer[]) => der(0x30, ...p);
const set = (...p: Buffer[]) => der(0x31, ...p);
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number) as [number, number, ...number[]];
  const bytes = [a * 40 + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}
const integer = (b: Buffer) => der(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const utf8 = (s: string) => der(0x0c, Buffer.from(s, "utf8"));
const utcTime = (d: Date) => der(0x17, Buffer.from(`${d.toISOString().replace(/[-:T]/g, "").slice(2, 14)}Z`, "ascii"));
const octets = (b: Buffer) => der(0x04, b);

export interface SelfSigned {
  certPem: string;
  keyPem: string;
}

/** `dnsNames` replaces localhost in the subject alternative names (127.0.0.1 stays). */
export function selfSignedCertificate(
  commonName = "devcluster",
  now = new Date(),
  dnsNames: readonly string[] = ["localhost"],
): SelfSigned {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const ecdsaSha256 = seq(oid("1.2.840.10045.4.3.2"));
  const name = seq(set(seq(oid("2.5.4.3"), utf8(commonName))));
  const altNames = seq(
    der(0x87, Buffer.from([127, 0, 0, 1])),
    ...dnsNames.map((n) => der(0x82, Buffer.from(n, "ascii"))),
  );
  const extensions = der(
    0xa3,
    seq(
      seq(oid("2.5.29.19"), der(0x01, Buffer.from([0xff])), octets(seq(der(0x01, Buffer.from([0xff]))))),
      seq(oid("2.5.29.17"), octets(altNames)),
    ),
  );
  const serial = randomBytes(16);
  // Positive and without a leading zero byte, as DER demands of an INTEGER.
  serial[0] = 0x40 | (serial[0]! & 0x3f);
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))),
    integer(serial),
    ecdsaSha256,
    name,
    seq(utcTime(new Date(now.getTime() - 3600_000)), utcTime(new Date(now.getTime() + 365 * 24 * 3600_000))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
    extensions,
  );
  const signature = sign("sha256", tbs, createPrivateKey(privateKey.export({ type: "pkcs8", format: "pem" })));
  const cert = seq(tbs, ecdsaSha256, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = cert
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return {
    certPem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

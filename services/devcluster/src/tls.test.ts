import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { selfSignedCertificate } from "./tls.js";

describe("self-signed serving certificate", () => {
  it("is a CA for 127.0.0.1 and localhost that verifies itself", () => {
    const { certPem } = selfSignedCertificate("devcluster", new Date("2026-01-01T00:00:00Z"));
    const x = new X509Certificate(certPem);
    assert.equal(x.subject, "CN=devcluster");
    assert.equal(x.subjectAltName, "IP Address:127.0.0.1, DNS:localhost");
    assert.equal(x.ca, true);
    assert.ok(x.verify(x.publicKey));
    assert.ok(x.checkIP("127.0.0.1"));
  });

  it("encodes valid DER every time (serial numbers never need padding)", () => {
    for (let i = 0; i < 200; i++) assert.doesNotThrow(() => new X509Certificate(selfSignedCertificate().certPem));
  });
});

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createUser, encodeUser, fmtCreds, fromSeed } from "@nats-io/jwt";
import { type FoldCredsRequest, type NatsAuthMaterial, generateNatsAuth, mintFoldCreds } from "../auth.js";

// Credentials on disk for tests against a nats-server with auth on: the services' .creds
// files and, on demand, a fold attempt's, each a file as a pod would mount it.

export interface NatsAuthFixture {
  material: NatsAuthMaterial;
  earlyStopCredsFile: string;
  operatorCredsFile: string;
  exportCredsFile: string;
  /**
   * A user without limits: the test's own eyes and hands on the bus (inspect the stream,
   * replay what a fold published). Never minted outside tests.
   */
  observerCredsFile: string;
  /** Mints a fold attempt's credential (as the operator does) and writes it to a file. */
  foldCredsFile(request: FoldCredsRequest): Promise<string>;
  cleanup(): Promise<void>;
}

export async function makeNatsAuthFixture(): Promise<NatsAuthFixture> {
  const material = await generateNatsAuth();
  const dir = await mkdtemp(join(tmpdir(), "nnunet-nats-auth-"));
  const write = async (name: string, text: string): Promise<string> => {
    const file = join(dir, name);
    await writeFile(file, text, { mode: 0o600 });
    return file;
  };
  return {
    material,
    earlyStopCredsFile: await write("early-stop.creds", material.earlyStopCreds),
    operatorCredsFile: await write("operator.creds", material.operatorCreds),
    exportCredsFile: await write("export.creds", material.exportCreds),
    observerCredsFile: await write("observer.creds", await observerCreds(material)),
    foldCredsFile: async (request) =>
      write(
        `fold-${request.namespace}-${request.run}-${request.fold}-${request.attempt}.creds`,
        await mintFoldCreds(material, request),
      ),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

async function observerCreds(material: NatsAuthMaterial): Promise<string> {
  const user = createUser();
  const jwt = await encodeUser("test-observer", user, fromSeed(new TextEncoder().encode(material.accountSigningSeed)), {
    issuer_account: material.accountPublicKey,
  });
  return new TextDecoder().decode(fmtCreds(jwt, user));
}

import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { createUser, encodeUser, fmtCreds, fromSeed, parseCreds, type Permissions } from "@nats-io/jwt";
import {
  generateNatsAuth,
  type NatsAuthMaterial,
  SERVICE_USERS,
  type ServiceUser,
  staleServiceCreds,
} from "@nnunet-operator/bus";
import { type KubeObject, Resources } from "@nnunet-operator/kube";
import { FakeKubePort } from "@nnunet-operator/kube/testing";
import { buildNatsAuthSecret, ensureNatsAuthSecret } from "./nats-auth-secret.js";

// The chart's pre-install/pre-upgrade hook: an installation's NATS keys are made once and
// kept, and an upgrade that changed a service's permissions mints that service's credential
// again with the installation's own signing key (the account, the server configuration and
// every fold's credential stay valid).

const NS = "nnunet-system";
const NAME = "nnunet-operator-nats-auth";

/** A user credential as an older version would have minted it: same key, other permissions. */
async function credsWith(name: string, seed: string, account: string, permissions: Permissions): Promise<string> {
  const jwt = await encodeUser(name, createUser(), fromSeed(new TextEncoder().encode(seed)), {
    ...permissions,
    issuer_account: account,
  });
  return new TextDecoder().decode(fmtCreds(jwt, createUser()));
}

/** The Secret as the API server stores it: every key base64 under data. */
async function stored(
  material: NatsAuthMaterial,
  change: (data: Record<string, string>) => Promise<void> | void = () => {},
): Promise<KubeObject> {
  const secret = buildNatsAuthSecret(NS, NAME, material) as KubeObject & { stringData: Record<string, string> };
  const data = { ...secret.stringData };
  await change(data);
  const { stringData: _s, ...rest } = secret;
  return {
    ...rest,
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
  };
}

const decoded = (o: KubeObject, key: string): string | undefined => {
  const v = (o["data"] as Record<string, string>)[key];
  return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
};

async function claims(creds: string) {
  return (await parseCreds(new TextEncoder().encode(creds))).uc;
}

describe("the NATS auth Secret of an installation", () => {
  it("is created with every key when missing", async () => {
    const port = new FakeKubePort();
    assert.deepEqual(await ensureNatsAuthSecret(port, NS, NAME), { outcome: "created" });
    const secret = await port.get(Resources.secrets, { namespace: NS, name: NAME });
    assert.deepEqual(Object.keys(secret["stringData"] as object).sort(), [
      "account-signing.nk",
      "account.pub",
      "auth.conf",
      "early-stop.creds",
      "export.creds",
      "operator.creds",
    ]);
  });

  const upgrades: Array<{
    name: string;
    change: (data: Record<string, string>, m: NatsAuthMaterial) => Promise<void>;
    want: ServiceUser[];
  }> = [
    { name: "is kept untouched when every service credential is current", change: async () => {}, want: [] },
    {
      name: "mints again a service credential whose permissions an upgrade narrowed (the operator could once purge the stream)",
      change: async (data, m) => {
        data["operator.creds"] = await credsWith("operator", m.accountSigningSeed, m.accountPublicKey, {
          pub: { allow: ["$JS.API.>"] },
          sub: { allow: ["_INBOX.>", "nnunet.epoch.>"] },
        });
      },
      want: ["operator"],
    },
    {
      name: "mints a service credential an older version did not have (export.creds)",
      change: async (data) => {
        delete data["export.creds"];
      },
      want: ["export"],
    },
    {
      name: "mints again a credential signed by another key or unreadable",
      change: async (data, m) => {
        const other = await generateNatsAuth();
        data["early-stop.creds"] = await credsWith(
          "early-stop",
          other.accountSigningSeed,
          m.accountPublicKey,
          SERVICE_USERS["early-stop"](),
        );
        data["export.creds"] = "not a credential";
      },
      want: ["early-stop", "export"],
    },
  ];
  for (const c of upgrades) {
    it(c.name, async () => {
      const material = await generateNatsAuth();
      const port = new FakeKubePort();
      const before = await port.create(Resources.secrets, await stored(material, (d) => c.change(d, material)));
      const outcome = await ensureNatsAuthSecret(port, NS, NAME);
      assert.deepEqual(outcome, c.want.length ? { outcome: "updated", users: c.want } : { outcome: "kept" });
      const after = await port.get(Resources.secrets, { namespace: NS, name: NAME });
      const patches = port.writes().filter((w) => w.verb === "patch");
      assert.equal(patches.length, c.want.length ? 1 : 0);
      if (patches.length)
        assert.deepEqual((patches[0]!.body as KubeObject).metadata, {
          resourceVersion: before.metadata.resourceVersion,
        });
      const signer = fromSeed(new TextEncoder().encode(material.accountSigningSeed)).getPublicKey();
      for (const key of Object.keys(before["data"] as object).concat(c.want.map((u) => `${u}.creds`))) {
        const user = key.replace(/\.creds$/, "") as ServiceUser;
        if (!c.want.includes(user)) {
          assert.equal(decoded(after, key), decoded(before, key), `${key} must stay as it was`);
          continue;
        }
        const uc = await claims(decoded(after, key)!);
        assert.equal(uc.name, user);
        assert.equal(uc.iss, signer, `${key} is signed with the installation's signing key`);
        assert.equal(uc.nats.issuer_account, material.accountPublicKey);
        assert.deepEqual(uc.nats.pub?.allow, SERVICE_USERS[user]().pub?.allow);
        assert.deepEqual(uc.nats.sub?.allow, SERVICE_USERS[user]().sub?.allow);
        assert.deepEqual(
          await staleServiceCreds(material, { [user]: decoded(after, key) }).then((s) => s[user]),
          undefined,
        );
      }
    });
  }

  it("refuses a Secret of the same name without the account keys, naming the way out", async () => {
    const material = await generateNatsAuth();
    const port = new FakeKubePort();
    await port.create(
      Resources.secrets,
      await stored(material, (d) => {
        delete d["account-signing.nk"];
      }),
    );
    await assert.rejects(ensureNatsAuthSecret(port, NS, NAME), (e: Error) => {
      assert.equal(e.name, "NatsAuthSecretError");
      assert.match(e.message, /lacks account-signing\.nk or account\.pub.*delete it/);
      return true;
    });
  });
});

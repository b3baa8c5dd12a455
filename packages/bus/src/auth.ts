import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromSeed,
  parseCreds,
  type Permissions,
} from "@nats-io/jwt";
import {
  ALL_EPOCHS,
  ALL_HEARTBEATS,
  DECISION_PREFIX,
  EARLY_STOP_DURABLE,
  EPOCH_STREAM,
  type FoldAddress,
  decisionSubject,
  epochSubject,
  foldInboxPrefix,
  heartbeatSubject,
} from "./subjects.js";

// NATS identities (decentralized JWT auth of nats-server 2.9, resolver MEMORY). One account,
// NNUNET, holds the epoch stream; its JWT names a signing key that the operator holds, so the
// operator mints a user per fold attempt at run time without reloading the server. Every
// pod may be hostile (DESIGN.md, contracts): a fold's user may publish only its own epochs
// and heartbeats, read only its own replies and answer only requests on its own decision
// subject (an audit's would-be stop, sent by early-stop). Only early-stop's user may manage
// the stream, purge a deleted run's epochs and send decisions; nobody may delete the stream.
// The operator's and the export user only read it (progress, kubectl nnunet curves
// export): through ephemeral consumers they create, never purging, never deleting a
// consumer (the server cannot tell theirs from early-stop's), never touching early-stop's
// durable one.

export const ACCOUNT_NAME = "NNUNET";
const JS_API = "$JS.API";
const STREAM_DELETE = `${JS_API}.STREAM.DELETE.${EPOCH_STREAM}`;

/** What the bootstrap generates once per installation; kept in a Secret (chart: nats-auth). */
export interface NatsAuthMaterial {
  operatorJwt: string;
  systemAccountPublicKey: string;
  systemAccountJwt: string;
  accountPublicKey: string;
  accountJwt: string;
  /** The operator's minting key: signs fold users. Mounted into the operator only. */
  accountSigningSeed: string;
  /** .creds files of the two services. */
  earlyStopCreds: string;
  operatorCreds: string;
  /** .creds file of the read-only export user, for a platform team's `kubectl nnunet curves export`. */
  exportCreds: string;
}

/**
 * A responder may publish one reply to the inbox of each request it received, within this
 * time (the server's allow_responses); it can publish nowhere else.
 */
const ONE_REPLY = { max: 1, ttl: 60_000_000_000 };

/**
 * JetStream API calls that read the epoch stream through ephemeral consumers, and nothing
 * more: no purge, no consumer deletion (an ordered consumer's client asks to delete the old
 * one on a reset and ignores the refusal; the server drops it after its inactivity
 * threshold), and no create under the name of early-stop's durable consumer, which would
 * alter it.
 */
function streamReadOnly(): { allow: string[]; deny: string[] } {
  const consumerApi = ["CREATE", "INFO", "MSG.NEXT"].map((verb) => `${JS_API}.CONSUMER.${verb}.${EPOCH_STREAM}.>`);
  const durable = `${JS_API}.CONSUMER.CREATE.${EPOCH_STREAM}.${EARLY_STOP_DURABLE}`;
  return {
    allow: [
      `${JS_API}.INFO`,
      `${JS_API}.STREAM.INFO.${EPOCH_STREAM}`,
      `${JS_API}.CONSUMER.CREATE.${EPOCH_STREAM}`,
      ...consumerApi,
      "$JS.FC.>",
    ],
    deny: [durable, `${durable}.>`],
  };
}

/**
 * A fold's user: its epochs (JetStream publish), its heartbeats, its own last stored epoch,
 * its replies, and the requests on its own decision subject, each answered once.
 */
export function foldPermissions(address: FoldAddress): Permissions {
  const epochs = epochSubject(address);
  return {
    pub: { allow: [epochs, heartbeatSubject(address), `${JS_API}.DIRECT.GET.${EPOCH_STREAM}.${epochs}`] },
    sub: { allow: [`${foldInboxPrefix(address)}.>`, decisionSubject(address)] },
    resp: ONE_REPLY,
  };
}

/**
 * early-stop: manages the stream and its durable consumer, purges the epochs of deleted
 * runs, reads epochs and heartbeats, sends an audit's would-be decision to the fold (a
 * request; the reply comes to its _INBOX); never deletes the stream.
 */
export function earlyStopPermissions(): Permissions {
  return {
    pub: {
      allow: [`${JS_API}.>`, `$JS.ACK.${EPOCH_STREAM}.>`, "$JS.FC.>", `${DECISION_PREFIX}.>`],
      deny: [STREAM_DELETE],
    },
    sub: { allow: ["_INBOX.>", ALL_EPOCHS, ALL_HEARTBEATS] },
  };
}

/** The operator: reads epochs and heartbeats (progress, stalls) and replays through ephemeral consumers; writes nothing. */
export function operatorPermissions(): Permissions {
  return {
    pub: streamReadOnly(),
    sub: { allow: ["_INBOX.>", ALL_EPOCHS, ALL_HEARTBEATS] },
  };
}

/**
 * The export user (`kubectl nnunet curves export`, `explain`): reads the epoch stream through
 * ephemeral consumers; publishes nothing on the bus, purges and manages nothing, and sees
 * no heartbeats or decisions.
 */
export function exportPermissions(): Permissions {
  return { pub: streamReadOnly(), sub: { allow: ["_INBOX.>"] } };
}

async function mintUser(
  name: string,
  issuerSeed: string,
  accountPublicKey: string,
  permissions: Permissions,
): Promise<string> {
  const user = createUser();
  const jwt = await encodeUser(name, user, fromSeed(new TextEncoder().encode(issuerSeed)), {
    ...permissions,
    bearer_token: false,
    issuer_account: accountPublicKey,
  });
  return new TextDecoder().decode(fmtCreds(jwt, user));
}

/** The services' users, each with the permissions this version gives it. */
export const SERVICE_USERS = {
  operator: operatorPermissions,
  "early-stop": earlyStopPermissions,
  export: exportPermissions,
} as const satisfies Record<string, () => Permissions>;
export type ServiceUser = keyof typeof SERVICE_USERS;

/** Permissions as a comparable string: allow and deny lists sorted, absent lists empty. */
function permissionsKey(p: Permissions | undefined): string {
  const side = (x: Partial<{ allow: string[]; deny: string[] }> | undefined) => ({
    allow: [...(x?.allow ?? [])].sort(),
    deny: [...(x?.deny ?? [])].sort(),
  });
  return JSON.stringify({ pub: side(p?.pub), sub: side(p?.sub), resp: p?.resp ?? null });
}

/**
 * The service credentials of an existing installation that are not what this version would
 * mint: missing, unreadable, signed by another key or for another account, or carrying other
 * permissions (an upgrade that narrowed a service's rights must not leave it the old ones).
 * Returns a fresh credential for each of them, signed with the installation's own account
 * signing key, so the server configuration and every fold's credential stay valid.
 */
export async function staleServiceCreds(
  signing: { accountSigningSeed: string; accountPublicKey: string },
  creds: Readonly<Partial<Record<ServiceUser, string>>>,
): Promise<Partial<Record<ServiceUser, string>>> {
  const signer = fromSeed(new TextEncoder().encode(signing.accountSigningSeed)).getPublicKey();
  const out: Partial<Record<ServiceUser, string>> = {};
  for (const [user, permissions] of Object.entries(SERVICE_USERS) as [ServiceUser, () => Permissions][]) {
    const want = permissions();
    const current = await readUserClaims(creds[user]);
    const fresh =
      current !== undefined &&
      current.iss === signer &&
      current.nats.issuer_account === signing.accountPublicKey &&
      current.name === user &&
      permissionsKey(current.nats) === permissionsKey(want);
    if (!fresh) out[user] = await mintUser(user, signing.accountSigningSeed, signing.accountPublicKey, want);
  }
  return out;
}

async function readUserClaims(creds: string | undefined) {
  if (creds === undefined) return undefined;
  try {
    return (await parseCreds(new TextEncoder().encode(creds))).uc;
  } catch {
    return undefined;
  }
}

/** Generates fresh keys and JWTs for an installation. Run once; rotating means new fold creds for every running fold. */
export async function generateNatsAuth(): Promise<NatsAuthMaterial> {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const signing = createAccount();
  const operatorJwt = await encodeOperator("nnunet-operator", operator, { system_account: system.getPublicKey() });
  const systemAccountJwt = await encodeAccount("SYS", system, {}, { signer: operator });
  // JetStream is on for the account only with storage limits in its JWT; -1 is unlimited
  // (the server's own max_file_store still bounds it).
  const accountJwt = await encodeAccount(
    ACCOUNT_NAME,
    account,
    {
      signing_keys: [signing.getPublicKey()],
      limits: {
        mem_storage: -1,
        disk_storage: -1,
        streams: -1,
        consumer: -1,
        subs: -1,
        conn: -1,
        data: -1,
        payload: -1,
        imports: -1,
        exports: -1,
        wildcards: true,
        leaf: -1,
      },
    },
    { signer: operator },
  );
  const accountSigningSeed = new TextDecoder().decode(signing.getSeed());
  const accountPublicKey = account.getPublicKey();
  return {
    operatorJwt,
    systemAccountPublicKey: system.getPublicKey(),
    systemAccountJwt,
    accountPublicKey,
    accountJwt,
    accountSigningSeed,
    earlyStopCreds: await mintUser("early-stop", accountSigningSeed, accountPublicKey, earlyStopPermissions()),
    operatorCreds: await mintUser("operator", accountSigningSeed, accountPublicKey, operatorPermissions()),
    exportCreds: await mintUser("export", accountSigningSeed, accountPublicKey, exportPermissions()),
  };
}

/** The nats-server configuration that turns auth on (included by the chart's nats.conf). */
export function serverAuthConfig(
  material: Pick<
    NatsAuthMaterial,
    "operatorJwt" | "systemAccountPublicKey" | "systemAccountJwt" | "accountPublicKey" | "accountJwt"
  >,
): string {
  return [
    `operator: ${material.operatorJwt}`,
    `system_account: ${material.systemAccountPublicKey}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${material.systemAccountPublicKey}: ${material.systemAccountJwt}`,
    `  ${material.accountPublicKey}: ${material.accountJwt}`,
    "}",
    "",
  ].join("\n");
}

export interface FoldCredsRequest extends FoldAddress {
  attempt: number;
}

/** The user name a fold attempt's credential carries (shown by the server's connz). */
export function foldUserName(request: FoldCredsRequest): string {
  return `fold/${request.namespace}/${request.run}/${request.fold}/${request.attempt}`;
}

/** A .creds file for one fold attempt, signed with the account signing key. */
export function mintFoldCreds(
  signing: { accountSigningSeed: string; accountPublicKey: string },
  request: FoldCredsRequest,
): Promise<string> {
  return mintUser(
    foldUserName(request),
    signing.accountSigningSeed,
    signing.accountPublicKey,
    foldPermissions(request),
  );
}

// Prints a Secret with fresh NATS auth material (operator and account JWTs, the services'
// users, the account signing key) as YAML, for nats.auth.existingSecret:
//   npx tsx scripts/nats-auth.ts <namespace> <secret-name> | kubectl apply -f -
// The chart's hook Job does the same inside the cluster when existingSecret is empty.
import { stringify } from "yaml";
import { generateNatsAuth } from "@nnunet-operator/bus";
import { buildNatsAuthSecret } from "@nnunet-operator/operator";

const [namespace, name] = process.argv.slice(2);
if (!namespace || !name) {
  console.error("usage: npx tsx scripts/nats-auth.ts <namespace> <secret-name>");
  process.exitCode = 2;
} else {
  process.stdout.write(stringify(buildNatsAuthSecret(namespace, name, await generateNatsAuth())));
}

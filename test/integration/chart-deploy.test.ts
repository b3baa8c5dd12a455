import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { DEPLOY_VALUES, deployFiles } from "../../scripts/gen-deploy.js";
import { byKey, type K8sObject, objectKey, parseManifests, renderChart, repoRoot, runOk } from "../chart/render.js";

// deploy/ is `helm template` of the chart (scripts/gen-deploy.ts), so `kubectl apply -k
// deploy/` installs what `helm install` does. Its only difference from the default values
// is the webhook certificate (cert-manager instead of Helm's genCA, see ci/deploy-values.yaml).

const deployDir = join(repoRoot, "deploy");

describe("deploy/", () => {
  it("is up to date with the chart (npm run gen:deploy)", () => {
    const wanted = deployFiles();
    const present = [
      "kustomization.yaml",
      ...readdirSync(join(deployDir, "manifests")).map((f) => `manifests/${f}`),
    ].sort();
    assert.deepEqual(present, Object.keys(wanted).sort());
    for (const [path, content] of Object.entries(wanted))
      assert.equal(readFileSync(join(deployDir, path), "utf8"), content, `deploy/${path} is stale`);
  });

  it("builds with kubectl kustomize into exactly the objects the chart renders, plus the Namespace", () => {
    const kustomized = byKey(parseManifests(runOk("kubectl", ["kustomize", deployDir])));
    const rendered = byKey(renderChart({ valuesFiles: [DEPLOY_VALUES], includeCrds: true }));
    assert.deepEqual(
      [...kustomized.keys()].filter((k) => !rendered.has(k)),
      ["v1/Namespace//nnunet-system"],
    );
    assert.deepEqual(
      [...rendered.keys()].filter((k) => !kustomized.has(k)),
      [],
    );
    for (const [key, object] of rendered) assert.deepEqual(kustomized.get(key), object, `${key} differs`);
  });

  it("differs from the default values only in where the webhook certificate comes from", () => {
    const withoutTls = (objects: K8sObject[]) =>
      byKey(
        objects
          .filter((o) => !["Secret", "Certificate", "Issuer"].includes(o.kind))
          .map((o) => {
            if (o.kind !== "ValidatingWebhookConfiguration") return o;
            const copy = structuredClone(o) as K8sObject & { webhooks: { clientConfig: { caBundle?: string } }[] };
            delete copy.metadata.annotations;
            for (const w of copy.webhooks) delete w.clientConfig.caBundle;
            return copy;
          }),
      );
    const defaults = withoutTls(renderChart({ includeCrds: true }));
    const deploy = withoutTls(renderChart({ valuesFiles: [DEPLOY_VALUES], includeCrds: true }));
    assert.deepEqual([...deploy.keys()].sort(), [...defaults.keys()].sort());
    for (const [key, object] of defaults) assert.deepEqual(deploy.get(key), object, key);
  });

  it("leaves the samples (TrainingRuns to apply once the operator runs) out of the kustomization", () => {
    const kustomization = parse(readFileSync(join(deployDir, "kustomization.yaml"), "utf8")) as { resources: string[] };
    assert.ok(kustomization.resources.every((r) => r.startsWith("manifests/")));
    const sample = parse(readFileSync(join(deployDir, "samples/trainingrun.yaml"), "utf8")) as K8sObject;
    assert.equal(objectKey(sample), "nnunet-operator.io/v1alpha1/TrainingRun/default/topcow-ctamra");
  });
});

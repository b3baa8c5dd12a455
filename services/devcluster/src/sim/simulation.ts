import { cpSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Cluster } from "../cluster.js";
import { JobController } from "../jobs/job-controller.js";
import { loadImageMap, type ImageMap } from "../kubelet/image-map.js";
import { Kubelet } from "../kubelet/kubelet.js";
import { claimDir } from "../kubelet/paths.js";
import { buildNodes, DEFAULT_NODE_SHAPE, parseNodeSpec, type NodeShape } from "../nodes/node-spec.js";
import { Scheduler } from "../scheduler/scheduler.js";
import { bundleFakeNnunet } from "./fake-nnunet/bundle.js";

// Part 2 composed: simulated nodes, the scheduler, the Job controller and the process
// kubelet on one in-memory cluster. The cluster must use podTermination "external" so the
// kubelet ends graceful deletions.

export const DEFAULT_IMAGE_MAP = fileURLToPath(new URL("../../images.yaml", import.meta.url));
export const DEMO_PREPROCESSED = fileURLToPath(new URL("../../fixtures/preprocessed", import.meta.url));

export interface SeedClaim {
  namespace?: string;
  name: string;
  /** Copied into <claim>/nnUNet_preprocessed (nnUNet_raw and nnUNet_results are made empty); default: the demo fixtures (the TopCoW datasets 705 and 801, Dataset003_Liver). */
  preprocessed?: string;
  /** Also create the PersistentVolumeClaim object (default true). */
  create?: boolean;
}

export interface SimulationOptions {
  /** Node spec such as `4xL40S:4,2xcpu`; setting it turns the simulation on. */
  nodes?: string;
  nodeShape?: Partial<NodeShape>;
  /** Image map YAML (default services/devcluster/images.yaml). */
  imageMap?: string | ImageMap;
  /** Claims, hostPaths and pod folders live here (default: a new temporary folder, removed on stop). */
  dataRoot?: string;
  /** Recorded training seconds per wall-clock second for the simulated nnU-Net (default 1200: a 1,000-epoch curve of about 100,000 recorded seconds in under a minute and a half). */
  timeScale?: number;
  /** A fixed replay rate instead of timeScale. */
  epochsPerSecond?: number;
  /** JSON file mapping dataset names to curve CSVs, one for every fold or one per fold (NNUNET_SIM_CURVE_MAP). */
  curveMap?: string;
  seedClaims?: SeedClaim[];
  /** Extra environment for every container. */
  containerEnv?: Record<string, string>;
}

export interface Simulation {
  dataRoot: string;
  scheduler: Scheduler;
  jobs: JobController;
  kubelet: Kubelet;
  stop(): void;
}

export async function startSimulation(cluster: Cluster, options: SimulationOptions): Promise<Simulation> {
  const groups = parseNodeSpec(options.nodes ?? "");
  const dataRoot = options.dataRoot ?? mkdtempSync(join(tmpdir(), "devcluster-data-"));
  const temporary = options.dataRoot === undefined;
  mkdirSync(dataRoot, { recursive: true });
  const nodeDef = cluster.resource("", "v1", "nodes");
  for (const node of buildNodes(groups, { ...DEFAULT_NODE_SHAPE, ...options.nodeShape }, cluster.now())) {
    await cluster.registry.create(nodeDef, undefined, node, { fieldManager: "devcluster-node" });
  }
  for (const seed of options.seedClaims ?? []) {
    const ns = seed.namespace ?? "default";
    const dir = claimDir(dataRoot, ns, seed.name);
    // The folders a TrainingRun's storage defaults name (spec.storage.*SubPath).
    cpSync(seed.preprocessed ?? DEMO_PREPROCESSED, join(dir, "nnUNet_preprocessed"), { recursive: true });
    for (const sub of ["nnUNet_raw", "nnUNet_results"]) mkdirSync(join(dir, sub), { recursive: true });
    if (seed.create ?? true) {
      const exists = cluster.store.get("persistentvolumeclaims", ns, seed.name);
      if (!exists)
        await cluster.create({
          apiVersion: "v1",
          kind: "PersistentVolumeClaim",
          metadata: { name: seed.name, namespace: ns },
          spec: { accessModes: ["ReadWriteMany"], resources: { requests: { storage: "100Gi" } } },
        });
    }
  }
  const imageMap =
    typeof options.imageMap === "object" ? options.imageMap : loadImageMap(options.imageMap ?? DEFAULT_IMAGE_MAP);
  const env: Record<string, string> = { ...options.containerEnv };
  if (options.timeScale !== undefined) env["NNUNET_SIM_TIME_SCALE"] = String(options.timeScale);
  if (options.epochsPerSecond !== undefined) env["NNUNET_SIM_EPOCHS_PER_SECOND"] = String(options.epochsPerSecond);
  if (options.curveMap !== undefined) env["NNUNET_SIM_CURVE_MAP"] = options.curveMap;
  const scheduler = new Scheduler(cluster);
  const jobs = new JobController(cluster);
  const kubelet = new Kubelet(cluster, {
    dataRoot,
    imageMap,
    env,
    fakeNnunet: bundleFakeNnunet(join(dataRoot, "bin")),
  });
  const stops = [scheduler.start(), jobs.start(), kubelet.start()];
  return {
    dataRoot,
    scheduler,
    jobs,
    kubelet,
    stop: () => {
      stops.reverse().forEach((s) => s());
      if (temporary) rmSync(dataRoot, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

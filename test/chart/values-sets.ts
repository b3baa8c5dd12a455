// The values sets the chart is linted and rendered with: the defaults and every file in
// charts/nnunet-operator/ci/.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { chartDir } from "./render.js";

export interface ValuesSet {
  name: string;
  valuesFiles: string[];
}

export const VALUES_SETS: readonly ValuesSet[] = [
  { name: "default values", valuesFiles: [] },
  ...readdirSync(join(chartDir, "ci"))
    .filter((f) => f.endsWith("-values.yaml"))
    .sort()
    .map((f) => ({ name: `ci/${f}`, valuesFiles: [`charts/nnunet-operator/ci/${f}`] })),
];

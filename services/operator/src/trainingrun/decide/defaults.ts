import { GpuSpec, type TrainingRun } from "@nnunet-operator/api";
import type { OperatorConfig } from "../../config.js";

// Cluster-wide defaults from the operator's configuration. The API server fills
// spec.gpu.productLabel with the API's default, so the operator cannot tell "unset" from
// "set to the default"; a cluster whose GPU nodes carry another label (configured as
// gpu.defaultProductLabel) gets that label wherever a run kept the API default.

export const API_DEFAULT_PRODUCT_LABEL = GpuSpec.parse({}).productLabel;

export function withDefaultProductLabel(run: TrainingRun, label: string | undefined): TrainingRun {
  if (
    label === undefined ||
    run.spec.gpu.productLabel !== API_DEFAULT_PRODUCT_LABEL ||
    label === API_DEFAULT_PRODUCT_LABEL
  )
    return run;
  return { ...run, spec: { ...run.spec, gpu: { ...run.spec.gpu, productLabel: label } } };
}

/** The run as the decisions see it: spec with the cluster's defaults applied. */
export function withClusterDefaults(run: TrainingRun, config: OperatorConfig): TrainingRun {
  return withDefaultProductLabel(run, config.gpu.defaultProductLabel);
}

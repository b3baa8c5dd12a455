// Identity of the TrainingRun API. Every part that names the group, kind or a label key
// imports it from here.
export const GROUP = "nnunet-operator.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "TrainingRun";
export const LIST_KIND = "TrainingRunList";
export const PLURAL = "trainingruns";
export const SINGULAR = "trainingrun";
export const SHORT_NAMES = ["tr"] as const;
export const CATEGORIES = ["nnunet"] as const;
export const CRD_NAME = `${PLURAL}.${GROUP}`;

export const LABEL_RUN = `${GROUP}/run`;
export const LABEL_FOLD = `${GROUP}/fold`;
export const LABEL_ROLE = `${GROUP}/role`;
/**
 * The finalizer operators before issue 17 put on every run (its deletion purged the run's
 * epochs). early-stop purges them now; the operator only removes this from existing runs.
 */
export const LEGACY_FINALIZER = `${GROUP}/purge-metrics`;

export const ROLES = ["calibrate", "train", "validate"] as const;
export type Role = (typeof ROLES)[number];

/**
 * Child objects are named `<run>-calibrate`, `<run>-fold-<f>` and `<run>-validate-<f>`.
 * The longest suffix is `-validate-all` (13 characters); Job names must stay DNS labels of
 * at most 63 characters, and the Job controller appends a 6-character pod suffix
 * (`-xxxxx`), so a run name may have at most 63 - 13 - 6 = 44 characters.
 */
export const MAX_RUN_NAME_LENGTH = 44;

export function calibrateJobName(run: string): string {
  return `${run}-calibrate`;
}
export function foldJobName(run: string, fold: string): string {
  return `${run}-fold-${fold}`;
}
export function validateJobName(run: string, fold: string): string {
  return `${run}-validate-${fold}`;
}

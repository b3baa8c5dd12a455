// nnU-Net's trainer names as schedules: stock nnU-Net v2 has no epochs flag, the number of
// epochs is a property of the trainer class. nnUNetTrainer trains 1000 epochs and v2 ships
// variants nnUNetTrainer_<N>epochs for a fixed set of N. The one writer (the operator's
// schedule) and the one reader (the devcluster's simulated trainer) of that naming.

export const STOCK_TRAINER = "nnUNetTrainer";
export const STOCK_EPOCH_VARIANTS = [1, 5, 10, 20, 50, 100, 250, 300, 500, 750, 1000, 2000, 4000, 8000] as const;
const DEFAULT_EPOCHS = 1000;

export function stockTrainerFor(epochs: number): string {
  return epochs === DEFAULT_EPOCHS ? STOCK_TRAINER : `${STOCK_TRAINER}_${epochs}epochs`;
}

/**
 * The epochs a stock trainer trains: 1000 for nnUNetTrainer, N for nnUNetTrainer_<N>epochs
 * (the variants nnU-Net ships). Undefined for any other trainer, whose schedule is its own.
 */
export function stockTrainerEpochs(trainer: string): number | undefined {
  if (trainer === STOCK_TRAINER) return DEFAULT_EPOCHS;
  const m = /^nnUNetTrainer_(\d+)epochs$/.exec(trainer);
  const n = m ? Number(m[1]) : undefined;
  return n !== undefined && (STOCK_EPOCH_VARIANTS as readonly number[]).includes(n) ? n : undefined;
}

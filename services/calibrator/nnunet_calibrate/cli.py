"""`python -m nnunet_calibrate`: the composition root. Exit 0 chosen, 2 bad input, 3 nothing fits, 1 otherwise."""

from __future__ import annotations

import io
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from .backends import Backend, simulated_backend, torch_backend
from .derive import derive_plans, derived_plans_name, write_derived_plans
from .errors import EXIT_CHOSEN, EXIT_FAILED, BadInputError, CalibrationError, NothingFitsError
from .log import Logger
from .options import DEFAULT_TERMINATION_PATH, TERMINATION_PATH_ENV, Options, parse_options
from .plans import load_setup
from .result import RunFacts, build_result, compact, failure_message, termination_message, write_termination_message
from .search import Probe, ProbeOutcome, SearchConfig, run_search


def calibrate(options: Options, log: Logger, clock: Callable[[], float]) -> dict[str, Any]:
    started = clock()
    if options.preprocessed is None:
        raise BadInputError("not set; pass --preprocessed or set nnUNet_preprocessed", where="nnUNet_preprocessed")
    setup = load_setup(options.preprocessed, options.dataset, options.plans, options.configuration)
    log = log.child(dataset=setup.dataset, plans=setup.plans_name, configuration=setup.configuration)
    backend = simulated_backend(setup, options) if options.backend == "simulated" else torch_backend(setup, options, options.preprocessed, log)
    log.info("calibrating", backend=options.backend, builder=backend.builder, gpu=backend.gpu_name, memoryMiB=round(backend.memory_mib),
             plansBatchSize=setup.batch_size, patchSize=list(setup.patch_size), precision=backend.precision)

    def probe(batch_size: int) -> ProbeOutcome:
        outcome = backend.probe(batch_size)
        fields = {"peakMiB": outcome.peak_mib, "samplesPerSecond": outcome.samples_per_second} if outcome.fits else {"why": outcome.note}
        log.info("probed", batchSize=batch_size, fits=outcome.fits, **fields)
        return outcome

    config = SearchConfig(setup.batch_size, options.max_batch, backend.memory_mib, options.headroom, options.objective)  # type: ignore[arg-type]
    outcome = run_search(config, probe)
    if outcome.chosen is None:
        raise NothingFitsError(
            f"no batch size fits in {backend.memory_mib:.0f} MiB less {options.headroom:.0%} headroom on {backend.gpu_name}, not even 1",
            probes=outcome.probes,
        )
    derived = derived_plans_name(setup.plans_name, outcome.chosen)
    path = setup.plans_path.with_name(f"{derived}.json")
    written = write_derived_plans(path, derive_plans(setup.plans, setup.configuration, outcome.chosen, derived))
    log.info("derived plans", path=str(path), written=written, chosenBatchSize=outcome.chosen)
    loader = measure_loader(backend, outcome.chosen, log)
    facts = RunFacts(
        plans=setup.plans_name,
        configuration=setup.configuration,
        plans_batch_size=setup.batch_size,
        objective=options.objective,
        precision=backend.precision,
        headroom=options.headroom,
        backend=options.backend,
        builder=backend.builder,
        gpu_name=backend.gpu_name,
        gpu_memory_mib=backend.memory_mib,
        torch_version=backend.torch_version,
        nnunet_version=backend.nnunet_version,
    )
    return build_result(facts, outcome.probes, outcome.chosen, derived, loader_samples_per_second=loader, duration_seconds=clock() - started)


def measure_loader(backend: Backend, batch_size: int, log: Logger) -> float | None:
    if backend.measure_loader is None:
        return None
    try:
        value = backend.measure_loader(batch_size)
    except Exception as e:  # noqa: BLE001 - a loader that cannot run here (no unpacked data) must not fail the calibration
        log.warn("data loader not measured", error=f"{type(e).__name__}: {e}")
        return None
    log.info("data loader measured", samplesPerSecond=value, batchSize=batch_size)
    return value


def deliver(path: Path, explicit: bool, text: str, log: Logger) -> None:
    if not explicit and not path.exists():
        log.info("no termination message file, not in a pod", path=str(path))
        return
    try:
        write_termination_message(path, text)
    except OSError as e:
        log.error("cannot write the termination message", path=str(path), error=str(e))


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    out = claim_stdout() if stdout is None else stdout
    log = Logger(sys.stderr if stderr is None else stderr)
    options: Options | None = None
    try:
        options = parse_options(argv, env)
        result = calibrate(options, log, clock)
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except CalibrationError as e:
        return fail(options, argv, env, log, e.reason, e.message, e.exit_code, getattr(e, "probes", ()))
    except Exception as e:  # noqa: BLE001 - the operator reads the reason from the termination message
        log.error("calibration failed", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        return fail(options, argv, env, log, "CalibrationFailed", f"{type(e).__name__}: {e}", EXIT_FAILED, ())
    out.write(compact(result) + "\n")
    out.flush()
    deliver(options.termination_path, options.termination_path_explicit, termination_message(result), log)
    log.info("chosen", chosenBatchSize=result["chosenBatchSize"], derivedPlans=result["derivedPlans"])
    return EXIT_CHOSEN


def fail(options: Options | None, argv: Sequence[str], env: Mapping[str, str], log: Logger, reason: str, message: str, code: int,
         probes: Sequence[Probe]) -> int:
    log.error("no batch size chosen", reason=reason, message=message, exitCode=code)
    text = termination_message(failure_message(reason, message, list(probes)))
    if options is not None:
        deliver(options.termination_path, options.termination_path_explicit, text, log)
    else:  # the arguments did not parse: still tell the pod's reader why
        given = termination_path_in(argv) or env.get(TERMINATION_PATH_ENV)
        deliver(Path(given or DEFAULT_TERMINATION_PATH), bool(given), text, log)
    return code


def claim_stdout() -> TextIO:
    """Keeps stdout for the result alone: whatever else writes to it (nnunetv2 prints on import
    and in its trainer, data-loader workers inherit the descriptor) goes to stderr."""
    try:
        sys.stdout.flush()
        result = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        return result
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return sys.stdout  # not a real file (embedded); nothing to protect


def termination_path_in(argv: Sequence[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--termination-path" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--termination-path="):
            return arg.split("=", 1)[1]
    return None


if __name__ == "__main__":
    sys.exit(main())

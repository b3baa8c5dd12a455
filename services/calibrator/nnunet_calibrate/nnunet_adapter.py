"""nnunetv2's own network builder, loss and data loader, used when the image has nnunetv2.

Only imported after `nnunet_available()` said yes. Written against nnU-Net v2.4-2.6
(get_network_from_plans with the architecture dict, nnUNetTrainer keyword arguments).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

from .derive import derive_plans
from .fallback_loss import deep_supervision_weights
from .plans import TrainingSetup


def nnunet_available() -> bool:
    return importlib.util.find_spec("nnunetv2") is not None


def nnunet_version() -> str | None:
    try:
        return importlib.metadata.version("nnunetv2")
    except importlib.metadata.PackageNotFoundError:
        return None


def _managers(setup: TrainingSetup) -> tuple[Any, Any, Any]:
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans_manager = PlansManager(setup.plans)
    configuration_manager = plans_manager.get_configuration(setup.configuration)
    return plans_manager, configuration_manager, plans_manager.get_label_manager(setup.dataset_json)


def build_nnunet_network(setup: TrainingSetup) -> Any:
    """Exactly what nnUNetTrainer.initialize builds (without torch.compile: probes change shapes)."""
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

    plans_manager, configuration_manager, label_manager = _managers(setup)
    return get_network_from_plans(
        configuration_manager.network_arch_class_name,
        configuration_manager.network_arch_init_kwargs,
        configuration_manager.network_arch_init_kwargs_req_import,
        determine_num_input_channels(plans_manager, configuration_manager, setup.dataset_json),
        label_manager.num_segmentation_heads,
        allow_init=True,
        deep_supervision=True,
    )


def build_nnunet_loss(setup: TrainingSetup) -> Any:
    """nnUNetTrainer._build_loss, without DDP and compile."""
    from nnunetv2.training.loss.compound_losses import DC_and_BCE_loss, DC_and_CE_loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

    _, configuration_manager, label_manager = _managers(setup)
    dice = {"batch_dice": configuration_manager.batch_dice, "smooth": 1e-5, "ddp": False}
    if label_manager.has_regions:
        loss = DC_and_BCE_loss(
            {}, {**dice, "do_bg": True}, use_ignore_label=label_manager.ignore_label is not None, dice_class=MemoryEfficientSoftDiceLoss
        )
    else:
        loss = DC_and_CE_loss(
            {**dice, "do_bg": False}, {}, weight_ce=1, weight_dice=1, ignore_label=label_manager.ignore_label, dice_class=MemoryEfficientSoftDiceLoss
        )
    return DeepSupervisionWrapper(loss, deep_supervision_weights(len(setup.deep_supervision_scales)))


def measure_loader(setup: TrainingSetup, preprocessed: Path, batch_size: int, batches: int, device: Any) -> float:
    """Samples per second of nnU-Net's own training data loader (augmentation workers from
    nnUNet_n_proc_DA, as nnUNetv2_train uses them) at the chosen batch size. The trainer it
    borrows writes a log file into its results folder: that folder is a temporary one, so no
    stray training_log appears where the reporter watches."""
    import nnunetv2.paths as paths
    import nnunetv2.training.nnUNetTrainer.nnUNetTrainer as trainer_module

    plans = derive_plans(setup.plans, setup.configuration, batch_size, setup.plans_name)
    saved = {(m, k): getattr(m, k) for m in (paths, trainer_module) for k in ("nnUNet_results", "nnUNet_preprocessed") if hasattr(m, k)}
    with tempfile.TemporaryDirectory(prefix="nnunet-calibrate-") as results:
        for (module, key) in saved:
            setattr(module, key, results if key == "nnUNet_results" else str(preprocessed))
        try:
            trainer = trainer_module.nnUNetTrainer(
                plans=plans, configuration=setup.configuration, fold=0, dataset_json=setup.dataset_json, device=device
            )
            train, val = trainer.get_dataloaders()
        finally:
            for (module, key), value in saved.items():
                setattr(module, key, value)
        try:
            for _ in range(2):  # workers fill their queues; the first batches are not representative
                next(train)
            start = time.perf_counter()
            for _ in range(batches):
                next(train)
            elapsed = time.perf_counter() - start
        finally:
            for generator in (train, val):
                finish = getattr(generator, "_finish", None)
                if callable(finish):
                    finish()
    return batches * batch_size / elapsed

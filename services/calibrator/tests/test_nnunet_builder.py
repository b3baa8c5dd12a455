"""The nnunetv2 path, against a stand-in package with nnU-Net v2.5's module layout and signatures
(nnunetv2 itself is not installable here). It checks the glue: which functions are called with
which arguments, and what the result reports."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import HERE, load_fixture, result_validator, shrink, write_plans  # noqa: E402

FAKE = {
    "nnunetv2/__init__.py": "CALLS = []\n",
    "nnunetv2/utilities/__init__.py": "",
    "nnunetv2/utilities/plans_handling/__init__.py": "",
    "nnunetv2/paths.py": """
        import os
        if os.environ.get('nnUNet_raw') is None:
            print('nnUNet_raw is not defined and nnU-Net can only be used on data for which preprocessed files are already present')
    """,
    "nnunetv2/utilities/plans_handling/plans_handler.py": """
        import nnunetv2.paths
        from nnunet_calibrate.plans import resolve_configuration, label_facts

        class ConfigurationManager:
            def __init__(self, c):
                self.configuration = c
            network_arch_class_name = property(lambda self: self.configuration['architecture']['network_class_name'])
            network_arch_init_kwargs = property(lambda self: self.configuration['architecture']['arch_kwargs'])
            network_arch_init_kwargs_req_import = property(lambda self: self.configuration['architecture']['_kw_requires_import'])
            batch_dice = property(lambda self: self.configuration['batch_dice'])

        class LabelManager:
            def __init__(self, dataset_json):
                self.num_segmentation_heads, self.has_regions, self.ignore_label, _ = label_facts(dataset_json)

        class PlansManager:
            def __init__(self, plans):
                self.plans = plans
            def get_configuration(self, name):
                return ConfigurationManager(resolve_configuration(self.plans, name, 'plans'))
            def get_label_manager(self, dataset_json, **kwargs):
                return LabelManager(dataset_json)
    """,
    "nnunetv2/utilities/label_handling/__init__.py": "",
    "nnunetv2/utilities/label_handling/label_handling.py": """
        def determine_num_input_channels(plans_manager, configuration_manager, dataset_json):
            return len(dataset_json['channel_names'])
    """,
    "nnunetv2/utilities/get_network_from_plans.py": """
        import nnunetv2
        from nnunet_calibrate.fallback_net import FallbackUNet
        from nnunet_calibrate.plans import parse_network

        def get_network_from_plans(arch_class_name, arch_kwargs, arch_kwargs_req_import, input_channels, output_channels,
                                   allow_init=True, deep_supervision=None):
            nnunetv2.CALLS.append(('network', arch_class_name, input_channels, output_channels, allow_init, deep_supervision))
            spec = parse_network({'architecture': {'network_class_name': arch_class_name, 'arch_kwargs': arch_kwargs}}, 3, 'x')
            return FallbackUNet(spec, input_channels, output_channels, deep_supervision=bool(deep_supervision))
    """,
    "nnunetv2/training/__init__.py": "",
    "nnunetv2/training/loss/__init__.py": "",
    "nnunetv2/training/loss/dice.py": "class MemoryEfficientSoftDiceLoss:\n    pass\n",
    "nnunetv2/training/loss/compound_losses.py": """
        import nnunetv2, torch

        class DC_and_CE_loss(torch.nn.Module):
            def __init__(self, soft_dice_kwargs, ce_kwargs, weight_ce=1, weight_dice=1, ignore_label=None, dice_class=None):
                super().__init__()
                nnunetv2.CALLS.append(('loss', soft_dice_kwargs, ce_kwargs, weight_ce, weight_dice, ignore_label, dice_class.__name__))
            def forward(self, x, y):
                return torch.nn.functional.cross_entropy(x, y[:, 0].long())

        class DC_and_BCE_loss(DC_and_CE_loss):
            pass
    """,
    "nnunetv2/training/loss/deep_supervision.py": """
        import nnunetv2, torch

        class DeepSupervisionWrapper(torch.nn.Module):
            def __init__(self, loss, weight_factors=None):
                super().__init__()
                self.loss, self.weight_factors = loss, weight_factors
                nnunetv2.CALLS.append(('deep supervision', list(weight_factors)))
            def forward(self, *args):
                return sum(w * self.loss(*inputs) for w, inputs in zip(self.weight_factors, zip(*args)) if w != 0)
    """,
}


def write_fake(root: Path) -> Path:
    for name, text in FAKE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


def tiny_args(preprocessed: Path, tmp_path: Path) -> list[str]:
    plans, _ = load_fixture("Dataset003_Liver")
    write_plans(preprocessed, "Dataset003_Liver", "tinyPlans", shrink(plans))
    return ["--dataset", "3", "--configuration", "3d_fullres", "--plans", "tinyPlans", "--device", "cpu", "--memory-mib", "4",
            "--warmup-steps", "0", "--timed-steps", "1", "--preprocessed", str(preprocessed), "--termination-path", str(tmp_path / "t")]


@pytest.fixture
def fake_nnunetv2(tmp_path: Path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_fake(tmp_path / "site")))
    from nnunet_calibrate import nnunet_adapter

    monkeypatch.setattr(nnunet_adapter, "nnunet_version", lambda: "2.5.1")
    yield
    for module in [m for m in sys.modules if m == "nnunetv2" or m.startswith("nnunetv2.")]:
        del sys.modules[module]


def test_with_nnunetv2_importable_its_builder_and_loss_are_used(fake_nnunetv2, preprocessed: Path, tmp_path: Path):
    from nnunet_calibrate.cli import main

    out, err = io.StringIO(), io.StringIO()
    assert main(tiny_args(preprocessed, tmp_path), env={}, stdout=out, stderr=err) == 0, err.getvalue()
    result = json.loads(out.getvalue())
    assert list(result_validator().iter_errors(result)) == []
    assert (result["builder"], result["nnunetVersion"]) == ("nnunetv2", "2.5.1")
    assert "loaderSamplesPerSecond" not in result, "the loader is timed on CUDA only"

    import nnunetv2

    network, loss, wrapper = nnunetv2.CALLS[:3]
    assert network == ("network", "dynamic_network_architectures.architectures.unet.PlainConvUNet", 1, 3, True, True)
    assert loss == ("loss", {"batch_dice": False, "smooth": 1e-5, "ddp": False, "do_bg": False}, {}, 1, 1, None, "MemoryEfficientSoftDiceLoss")
    assert wrapper == ("deep supervision", [1.0, 0.0]), "three stages: two outputs, the lowest weighted 0"


def test_stdout_carries_only_the_result_though_nnunetv2_prints(preprocessed: Path, tmp_path: Path):
    site = write_fake(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if k != "nnUNet_raw"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE.parent)])
    done = subprocess.run([sys.executable, "-m", "nnunet_calibrate", *tiny_args(preprocessed, tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["builder"] == "nnunetv2"
    assert "nnUNet_raw is not defined" in done.stderr

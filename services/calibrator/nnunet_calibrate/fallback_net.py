"""The fallback builder: the U-Nets of dynamic_network_architectures rebuilt in plain torch
from the plans' architecture description, for images without nnunetv2.

It follows PlainConvUNet and ResidualEncoderUNet as nnU-Net v2 builds them: strided
convolutions for downsampling, conv -> norm -> nonlin blocks, transposed convolutions and
skip concatenation in the decoder, one 1x1 segmentation head per decoder stage (deep
supervision, outputs highest resolution first), He initialisation with a=1e-2. Memory and
compute per step match the original closely; parameter names do not (checkpoints are not
exchanged with it, it only measures).
"""

from __future__ import annotations

import torch
from torch import nn

from .plans import RESENC_UNET, NetworkSpec


def _ops(dims: int, norm: str) -> tuple[type[nn.Module], type[nn.Module], type[nn.Module], type[nn.Module]]:
    if dims == 3:
        return nn.Conv3d, nn.ConvTranspose3d, (nn.InstanceNorm3d if norm == "instance" else nn.BatchNorm3d), nn.AvgPool3d
    return nn.Conv2d, nn.ConvTranspose2d, (nn.InstanceNorm2d if norm == "instance" else nn.BatchNorm2d), nn.AvgPool2d


class _Ops:
    def __init__(self, spec: NetworkSpec, dims: int) -> None:
        self.conv, self.transp, self.norm, self.pool = _ops(dims, spec.norm)
        self.bias = spec.conv_bias
        self.leaky = spec.nonlin == "leakyrelu"

    def nonlin(self) -> nn.Module:
        return nn.LeakyReLU(1e-2, inplace=True) if self.leaky else nn.ReLU(inplace=True)

    def conv_norm(self, cin: int, cout: int, kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[nn.Module]:
        padding = tuple((k - 1) // 2 for k in kernel)
        return [self.conv(cin, cout, kernel, stride, padding, bias=self.bias), self.norm(cout, eps=1e-5, affine=True)]

    def block(self, cin: int, cout: int, kernel: tuple[int, ...], stride: tuple[int, ...]) -> nn.Sequential:
        return nn.Sequential(*self.conv_norm(cin, cout, kernel, stride), self.nonlin())

    def stacked(self, n: int, cin: int, cout: int, kernel: tuple[int, ...], stride: tuple[int, ...]) -> nn.Sequential:
        ones = tuple(1 for _ in kernel)
        return nn.Sequential(*[self.block(cin if i == 0 else cout, cout, kernel, stride if i == 0 else ones) for i in range(n)])


class BasicBlockD(nn.Module):
    """Residual block of ResidualEncoderUNet: two convs, an average-pooled 1x1 projection on the skip."""

    def __init__(self, ops: _Ops, cin: int, cout: int, kernel: tuple[int, ...], stride: tuple[int, ...]) -> None:
        super().__init__()
        ones = tuple(1 for _ in kernel)
        self.conv1 = ops.block(cin, cout, kernel, stride)
        self.conv2 = nn.Sequential(*ops.conv_norm(cout, cout, kernel, ones))
        self.nonlin = ops.nonlin()
        skip: list[nn.Module] = []
        if any(s != 1 for s in stride):
            skip.append(ops.pool(stride, stride))
        if cin != cout:
            skip += ops.conv_norm(cin, cout, ones, ones)
        self.skip = nn.Sequential(*skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nonlin(self.conv2(self.conv1(x)) + self.skip(x))


class FallbackUNet(nn.Module):
    def __init__(self, spec: NetworkSpec, input_channels: int, num_classes: int, deep_supervision: bool = True) -> None:
        super().__init__()
        dims = len(spec.kernel_sizes[0])
        ops = _Ops(spec, dims)
        self.deep_supervision = deep_supervision
        self.encoder = nn.ModuleList()
        cin = input_channels
        for s in range(spec.n_stages):
            kernel, stride, f = spec.kernel_sizes[s], spec.strides[s], spec.features[s]
            if spec.kind == RESENC_UNET:
                stage: list[nn.Module] = []
                if s == 0:  # the stem
                    stage.append(ops.block(cin, f, kernel, tuple(1 for _ in kernel)))
                    cin = f
                stage += [BasicBlockD(ops, cin if i == 0 else f, f, kernel, stride if i == 0 else tuple(1 for _ in kernel)) for i in range(spec.n_conv_encoder[s])]
                self.encoder.append(nn.Sequential(*stage))
            else:
                self.encoder.append(ops.stacked(spec.n_conv_encoder[s], cin, f, kernel, stride))
            cin = f
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        self.heads = nn.ModuleList()
        for s in range(spec.n_stages - 2, -1, -1):
            below, f, stride = spec.features[s + 1], spec.features[s], spec.strides[s + 1]
            self.upsample.append(ops.transp(below, f, stride, stride, bias=spec.conv_bias))
            self.decoder.append(ops.stacked(spec.n_conv_decoder[s], 2 * f, f, spec.kernel_sizes[s], tuple(1 for _ in stride)))
            self.heads.append(ops.conv(f, num_classes, tuple(1 for _ in stride), bias=True))
        self.apply(_he_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        x = skips[-1]
        outputs = []
        for i, (up, block, head) in enumerate(zip(self.upsample, self.decoder, self.heads)):
            x = block(torch.cat((up(x), skips[-(i + 2)]), 1))
            if self.deep_supervision or i == len(self.decoder) - 1:
                outputs.append(head(x))
        outputs.reverse()  # nnU-Net's order: full resolution first
        return outputs if self.deep_supervision else outputs[0]


def _he_init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        nn.init.kaiming_normal_(module.weight, a=1e-2)
        if module.bias is not None:
            nn.init.zeros_(module.bias)

"""A MAISI-style 3D KL autoencoder for volumes, with optional patch discriminator and perceptual loss.

The network is MONAI's :class:`~monai.apps.generation.maisi.networks.autoencoderkl_maisi.AutoencoderKlMaisi`
(``backbone="maisi"``: the MAISI VAE's layout, whose convolutions can split the volume along one
axis, ``num_splits``/``dim_split``, to encode large volumes on limited GPU memory) or plain
:class:`monai.networks.nets.AutoencoderKL` with ``spatial_dims=3`` (``backbone="monai"``; about
twice as fast on CPU for small networks). Both have identical parameter counts; their state dicts
are named differently, so the backbone is part of the saved config. Latents are
(latent_channels, D/f, H/f, W/f) with ``f = 2**(len(channels) - 1)``; every spatial size must be
a multiple of f (checked in the config and again on every input, with the axis named).

Losses (MAISI's recipe, weights in the config):

- ``recon_loss``: L1 (default) or MSE, mean over voxels; ``kl``: sum over latent elements, mean
  over the batch; ``loss = recon_loss + kl_weight * kl_weight(call) * kl``;
- ``+ perceptual_weight * perceptual`` when ``perceptual_weight > 0``: MONAI's
  :class:`~monai.losses.PerceptualLoss` in fake 3D (2D network on slices along each axis). It
  needs the 2D network's pretrained weights **as a local file**; vaearr never downloads at run
  time — a missing file is an :class:`~vaearr.errors.InputError` naming it, raised when the
  model is built;
- ``+ adversarial_weight * scale * adversarial`` when the trainer asks for it (``adversarial=scale``,
  :meth:`VAE3D.adversarial_scale`: 0 before ``adversarial_warmup_epochs``, then rising linearly to 1
  over ``adversarial_ramp_epochs``): the patch-GAN generator term (``adversarial_loss``: ``ls``
  least squares, ``hinge`` or ``ns`` non-saturating; :func:`vaearr.models.losses.generator_adversarial_loss`)
  from :attr:`VAE3D.discriminator` (:class:`monai.networks.nets.PatchDiscriminator`), which exists
  when ``adversarial_weight > 0``.

Intended use by a trainer (two stages: reconstruction warm-up, then adversarial)::

    model = build_model(config)
    opt_g = torch.optim.Adam(model.generator_parameters(), lr=1e-4)  # excludes the discriminator
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=1e-4) if model.discriminator else None
    for epoch in range(epochs):
        adversarial = model.adversarial_active(epoch)  # False during the first adversarial_warmup_epochs
        for x in batches:
            opt_g.zero_grad()
            out = model(x, kl_weight=warmup(epoch), adversarial=adversarial)
            out.loss.backward()  # does not touch the discriminator's gradients
            opt_g.step()
            if adversarial:
                opt_d.zero_grad()
                model.discriminator_loss(x, out).backward()  # uses out.recon.detach()
                opt_d.step()

``out.extras`` holds ``"perceptual"`` and ``"adversarial"`` (unweighted) when they were computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor, nn

from vaearr.errors import InputError, require
from vaearr.models.autoencoder_kl import (
    AutoencoderKL,
    spatial_axis_names,
    validate_kl_architecture,
)
from vaearr.models.base import (
    Adversarial,
    ModelConfig,
    VAEOutput,
    fmt_shape,
    register,
)
from vaearr.models.losses import (
    ADVERSARIAL_LOSSES,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    loss_units,
)
# moved to vaearr.models.perceptual; importable from here too
from vaearr.models.perceptual import (  # noqa: F401
    PERCEPTUAL_NETWORKS, perceptual_weights_file, build_perceptual_loss,
)

BACKBONES = ("maisi", "monai")


@dataclass
class VAE3DConfig(ModelConfig):
    """Config of :class:`VAE3D`.

    Attributes
    ----------
    input_shape
        (C, D, H, W) of one training patch/volume; D, H, W multiples of ``2**(len(channels) - 1)``.
    channels, num_res_blocks, latent_channels, attention_levels, with_mid_attention, norm_num_groups, norm_eps
        Network layout, as in :class:`~vaearr.models.autoencoder_kl.AutoencoderKLConfig`
        (``attention_levels=None`` → none). MAISI's VAE: channels (64, 128, 256), 2 res blocks.
    kl_weight
        β on the KL term (MAISI: 1e-7 .. 1e-6 with mean-reduced L1).
    recon_loss, recon_reduction
        ``"l1"``/``"mse"``; ``"mean"``/``"sum"``.
    adversarial_weight
        Weight of the generator's adversarial term; 0 = no discriminator is built.
    adversarial_warmup_epochs
        Epochs of reconstruction-only training before :meth:`VAE3D.adversarial_active` says yes.
    adversarial_loss
        ``"ls"`` (least squares, the default), ``"hinge"`` or ``"ns"`` (non-saturating), for both
        the generator's term and the discriminator's loss.
    adversarial_ramp_epochs
        Epochs over which the adversarial weight rises linearly from 1/ramp to 1 once it starts
        (0: full weight at once).
    discriminator_channels, discriminator_layers
        PatchDiscriminator width and depth; each spatial size must be >= ``3 * 2**layers``.
    perceptual_weight
        Weight of the fake-3D perceptual loss; 0 = none.
    perceptual_network
        ``"squeeze"`` (MAISI's choice), ``"alex"``, ``"vgg"`` (these three need the ``lpips``
        package) or ``"resnet50"``; all need ``torchvision``.
    perceptual_weights_path
        The 2D network's weights file. ``None`` → torch hub's cache,
        ``<torch.hub.get_dir()>/checkpoints/<torchvision file>``. For the LPIPS networks a given
        path must keep that layout (``.../checkpoints/squeezenet1_1-b8a52dc0.pth``), because lpips
        loads it through torchvision; for resnet50 any path to a state dict works.
    perceptual_fake_3d_ratio
        Fraction of slices per axis the fake-3D loss uses each step (MAISI: 0.2).
    use_checkpointing
        Gradient (activation) checkpointing of encoder and decoder.
    backbone
        ``"maisi"`` or ``"monai"`` (module docstring).
    num_splits, dim_split
        MAISI only: split every convolution's input into ``num_splits`` pieces along spatial
        axis ``dim_split`` (0 = D, 1 = H, 2 = W) to cap memory; 1 = no splitting.
    """

    name: ClassVar[str] = "vae3d"
    spatial_dims: ClassVar[int] = 3

    input_shape: tuple[int, ...] = (1, 64, 64, 64)
    channels: tuple[int, ...] = (32, 64, 64)
    num_res_blocks: int = 1
    latent_channels: int = 4
    attention_levels: tuple[bool, ...] | None = None
    with_mid_attention: bool = False
    norm_num_groups: int = 32
    norm_eps: float = 1e-6
    kl_weight: float = 1e-6
    recon_loss: str = "l1"
    recon_reduction: str = "mean"
    adversarial_weight: float = 0.0
    adversarial_warmup_epochs: int = 0
    adversarial_loss: str = "ls"
    adversarial_ramp_epochs: int = 0
    discriminator_channels: int = 32
    discriminator_layers: int = 3
    perceptual_weight: float = 0.0
    perceptual_network: str = "squeeze"
    perceptual_weights_path: str | None = None
    perceptual_fake_3d_ratio: float = 0.2
    use_checkpointing: bool = False
    backbone: str = "maisi"
    num_splits: int = 1
    dim_split: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.attention_levels is None and isinstance(self.channels, tuple | list):
            self.attention_levels = (False,) * len(self.channels)

    @property
    def downsampling_factor(self) -> int:
        """f: how much each spatial axis shrinks from input to latent."""
        return 2 ** (len(self.channels) - 1)

    def recon_units(self) -> str | None:
        """The unit of ``recon_loss`` (:func:`~vaearr.models.losses.loss_units` of ``recon_loss`` and its reduction)."""
        return loss_units(self.recon_loss, self.recon_reduction)

    def validate(self) -> None:
        """See :meth:`ModelConfig.validate`; also the layout, the losses' options and split sizes."""
        super().validate()
        validate_kl_architecture(self)
        if self.backbone not in BACKBONES:
            raise self.problem(f"backbone must be one of {', '.join(BACKBONES)}; got {self.backbone!r}")
        if self.adversarial_loss not in ADVERSARIAL_LOSSES:
            raise self.problem(f"adversarial_loss must be one of {', '.join(ADVERSARIAL_LOSSES)}; "
                               f"got {self.adversarial_loss!r}")
        for attr in ("adversarial_weight", "perceptual_weight", "adversarial_warmup_epochs", "adversarial_ramp_epochs"):
            if getattr(self, attr) < 0:
                raise self.problem(f"{attr} must be >= 0, got {getattr(self, attr)}")
        if self.adversarial_weight > 0:
            if self.discriminator_channels < 1 or self.discriminator_layers < 1:
                raise self.problem("discriminator_channels and discriminator_layers must be >= 1")
            need = 3 * 2**self.discriminator_layers
            for axis, size in zip(spatial_axis_names(3), self.input_shape[1:], strict=True):
                if size < need:
                    raise self.problem(
                        f"input_shape {fmt_shape(self.input_shape)} is too small along {axis} for a "
                        f"{self.discriminator_layers}-layer patch discriminator (needs >= {need}); "
                        "use fewer discriminator_layers"
                    )
        if self.perceptual_network not in PERCEPTUAL_NETWORKS:
            raise self.problem(
                f"perceptual_network must be one of {', '.join(PERCEPTUAL_NETWORKS)}; got {self.perceptual_network!r}"
            )
        if not 0 < self.perceptual_fake_3d_ratio <= 1:
            raise self.problem(f"perceptual_fake_3d_ratio must be in (0, 1], got {self.perceptual_fake_3d_ratio}")
        if self.num_splits < 1:
            raise self.problem(f"num_splits must be >= 1, got {self.num_splits}")
        if self.dim_split not in (0, 1, 2):
            raise self.problem(f"dim_split must be 0 (D), 1 (H) or 2 (W), got {self.dim_split}")
        if self.num_splits > 1:
            if self.backbone != "maisi":
                raise self.problem("num_splits > 1 needs backbone 'maisi'")
            axis = spatial_axis_names(3)[self.dim_split]
            deepest = self.input_shape[1 + self.dim_split] // self.downsampling_factor
            # MAISI overlaps neighbouring pieces by 4 voxels and cuts at size // num_splits: every
            # piece at the coarsest level must be a multiple of num_splits and at least 4 thick.
            if deepest % self.num_splits or deepest // self.num_splits < 4:
                raise self.problem(
                    f"num_splits={self.num_splits} along {axis} needs input_shape's {axis} size / "
                    f"{self.downsampling_factor} ({deepest}) to be a multiple of {self.num_splits} "
                    f"with pieces >= 4 voxels; use fewer splits"
                )


@register
class VAE3D(AutoencoderKL, Adversarial):
    """MAISI-style 3D KL autoencoder; see the module docstring for losses and the training loop.

    Examples
    --------
    >>> import torch
    >>> from vaearr.models import VAE3DConfig, build_model
    >>> config = VAE3DConfig(input_shape=(1, 8, 8, 8), channels=(8, 8), norm_num_groups=4)
    >>> model = build_model(config)
    >>> tuple(model(torch.randn(1, 1, 8, 8, 8)).mu.shape)  # (B, latent_channels, D/2, H/2, W/2)
    (1, 4, 4, 4, 4)
    """

    config_class: ClassVar[type[ModelConfig]] = VAE3DConfig
    config: VAE3DConfig  # type: ignore[assignment]

    def __init__(self, config: VAE3DConfig):
        super().__init__(config)  # type: ignore[arg-type]
        self.discriminator: nn.Module | None = None
        if config.adversarial_weight > 0:
            nets = require("monai.networks.nets", "models")
            self.discriminator = nets.PatchDiscriminator(
                spatial_dims=3,
                channels=config.discriminator_channels,
                in_channels=config.input_shape[0],
                out_channels=1,
                num_layers_d=config.discriminator_layers,
            )
        # Held outside the module tree on purpose (object.__setattr__ bypasses nn.Module's registration):
        # frozen third-party weights are not part of this model's state dict (save_model does not
        # write them), stay in eval mode, and are moved to the input's device when used.
        perceptual = build_perceptual_loss(config) if config.perceptual_weight > 0 else None
        object.__setattr__(self, "_perceptual", perceptual)

    def _build_net(self) -> nn.Module:
        c = self.config
        n_levels = len(c.channels)
        # what both backbones take under the same names
        common = dict(
            spatial_dims=3, in_channels=c.input_shape[0], out_channels=c.input_shape[0],
            num_res_blocks=(c.num_res_blocks,) * n_levels, attention_levels=c.attention_levels,
            latent_channels=c.latent_channels, norm_num_groups=c.norm_num_groups, norm_eps=c.norm_eps,
            with_encoder_nonlocal_attn=c.with_mid_attention, with_decoder_nonlocal_attn=c.with_mid_attention,
        )
        if c.backbone == "monai":
            nets = require("monai.networks.nets", "models")
            return nets.AutoencoderKL(**common, channels=c.channels, use_checkpoint=c.use_checkpointing)
        maisi = require("monai.apps.generation.maisi.networks.autoencoderkl_maisi", "models")
        return maisi.AutoencoderKlMaisi(
            **common,
            num_channels=c.channels,
            use_checkpointing=c.use_checkpointing,
            num_splits=c.num_splits,
            dim_split=c.dim_split,
            print_info=False,
            # emptying the CUDA cache after every norm only pays off when splitting for memory
            save_mem=c.num_splits > 1,
        )

    def check_input(self, x: Tensor) -> None:
        """As the 2D family (channels, multiples of f along z, y, x), plus MAISI's split sizes."""
        super().check_input(x)
        c = self.config
        if c.num_splits > 1:
            axis = spatial_axis_names(3)[c.dim_split]
            deepest = x.shape[2 + c.dim_split] // c.downsampling_factor
            if deepest % c.num_splits or deepest // c.num_splits < 4:
                raise InputError(
                    None,
                    f"input {fmt_shape(x.shape[1:])} cannot be split {c.num_splits} ways along {axis}: its size / "
                    f"{c.downsampling_factor} ({deepest}) must be a multiple of {c.num_splits} with pieces >= 4 voxels",
                )

    # -- two-stage training -------------------------------------------------------------------

    def adversarial_active(self, epoch: int) -> bool:
        """Whether the adversarial stage is on at ``epoch`` (0-based): a discriminator exists and warm-up is over."""
        return self.discriminator is not None and epoch >= self.config.adversarial_warmup_epochs

    def adversarial_scale(self, epoch: int) -> float:
        """The adversarial weight's multiplier at ``epoch`` (0-based): 0 before the stage, then a
        linear ramp to 1 over ``adversarial_ramp_epochs`` (1 at once without a ramp)."""
        if not self.adversarial_active(epoch):
            return 0.0
        ramp = self.config.adversarial_ramp_epochs
        return 1.0 if ramp <= 0 else min(1.0, (epoch - self.config.adversarial_warmup_epochs + 1) / ramp)

    def generator_parameters(self) -> Iterator[nn.Parameter]:
        """Everything but the discriminator: what the VAE optimiser steps."""
        return (p for name, p in self.named_parameters() if not name.startswith("discriminator."))

    def _require_discriminator(self) -> nn.Module:
        if self.discriminator is None:
            raise ValueError("model 'vae3d' has no discriminator: set adversarial_weight > 0 in its config")
        return self.discriminator

    def generator_adversarial_loss(self, recon: Tensor) -> Tensor:
        """The generator term (``adversarial_loss``): push D(recon) towards "real". Unweighted scalar.

        The discriminator's parameters are frozen while its graph is built, so backpropagating
        this term reaches the autoencoder only and leaves the discriminator's ``.grad`` alone.
        """
        disc = self._require_discriminator()
        flags = [p.requires_grad for p in disc.parameters()]
        disc.requires_grad_(False)
        try:
            logits = disc(recon.contiguous().float())[-1]  # PatchDiscriminator returns every layer's output
        finally:
            for p, flag in zip(disc.parameters(), flags, strict=True):
                p.requires_grad_(flag)
        return generator_adversarial_loss(logits, self.config.adversarial_loss)

    def discriminator_loss(self, x: Tensor, out: VAEOutput) -> Tensor:
        """The discriminator's loss (``adversarial_loss``) on real ``x`` and detached ``out.recon``: 0.5 (fake + real).

        Unweighted (Adam is indifferent to a constant factor); backpropagate it into the
        discriminator's own optimiser.
        """
        disc = self._require_discriminator()
        fake = disc(out.recon.detach().contiguous().float())[-1]
        real = disc(x.detach().contiguous().float())[-1]
        return discriminator_adversarial_loss(real, fake, self.config.adversarial_loss)

    # -- loss -------------------------------------------------------------------------------------

    def perceptual_loss(self, recon: Tensor, x: Tensor) -> Tensor:
        """Fake-3D perceptual distance between ``recon`` and ``x`` (unweighted scalar)."""
        if self._perceptual is None:
            raise ValueError("model 'vae3d' has no perceptual loss: set perceptual_weight > 0 in its config")
        self._perceptual.to(x.device)
        return self._perceptual(recon.float(), x.float())

    def loss_function(
        self, x: Tensor, out: VAEOutput, kl_weight: float = 1.0, adversarial: bool | float = False
    ) -> VAEOutput:
        """Reconstruction + KL (as the 2D family), plus perceptual and, if asked, adversarial terms
        (``adversarial``: True or the ramp's multiplier, :meth:`adversarial_scale`)."""
        out = super().loss_function(x, out, kl_weight=kl_weight)
        c = self.config
        if self._perceptual is not None:
            out.extras["perceptual"] = self.perceptual_loss(out.recon, x)
            out.loss = out.loss + c.perceptual_weight * out.extras["perceptual"]
        if adversarial:
            out.extras["adversarial"] = self.generator_adversarial_loss(out.recon)
            out.loss = out.loss + c.adversarial_weight * float(adversarial) * out.extras["adversarial"]
        return out

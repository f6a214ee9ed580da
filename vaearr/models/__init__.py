"""VAE model families: one per module, each a config dataclass + model class in one registry.

Importing this package registers every family; look them up by name in :data:`REGISTRY`, or
go through :func:`build_model` / :func:`config_from_dict` / :func:`load_model`. torch is needed
to import it; MONAI (the ``models`` extra) only when a MONAI-based family is built.
"""

from vaearr.models.autoencoder_kl import AutoencoderKL, AutoencoderKLConfig
from vaearr.models.base import (
    REGISTRY,
    Adversarial,
    ModelConfig,
    VAEBase,
    VAEOutput,
    build_model,
    channels_last,
    channels_last_batch,
    config_from_dict,
    load_model,
    register,
    save_model,
)
from vaearr.models.conv_vae import ConvVAE, ConvVAEConfig  # noqa: I001 - importing registers the family
from vaearr.models.losses import (
    gaussian_nll,
    kl_divergence,
    kl_per_dim,
    reconstruction_loss,
    reparameterise,
)
from vaearr.models.options import options_from_file
from vaearr.models.vae3d import VAE3D, VAE3DConfig

__all__ = [
    "REGISTRY",
    "Adversarial",
    "AutoencoderKL",
    "AutoencoderKLConfig",
    "ConvVAE",
    "ConvVAEConfig",
    "ModelConfig",
    "VAE3D",
    "VAE3DConfig",
    "VAEBase",
    "VAEOutput",
    "build_model",
    "channels_last",
    "channels_last_batch",
    "config_from_dict",
    "gaussian_nll",
    "kl_divergence",
    "kl_per_dim",
    "load_model",
    "options_from_file",
    "reconstruction_loss",
    "reparameterise",
    "register",
    "save_model",
]

"""Weights users already have: the lab scripts' checkpoints loaded into conv-vae, SD/LDM/diffusers VAEs into autoencoder-kl.

Each script's network is written here again from its key layout (not imported from the script),
saved with ``torch.save(model.state_dict())`` as the script does, loaded through vaearr, and both
networks are run on the same input: the posterior means and the decoded images agree to 1e-5.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vaearr.errors import InputError
from vaearr.models.imports import load_script_weights, read_checkpoint

# -- the scripts' networks, written from their key layouts -----------------------------------------


class EbsdScriptVAE(nn.Module):
    """Angelamer/microstructural_segmentation@vae ``vae_cnn.VAE``: stride-2 convs + LeakyReLU, exact-size upsampling."""

    def __init__(self, hw, latent_dim=8, base=8, n_down=3, upsample_mode="nearest"):
        super().__init__()
        enc, c_in, ch = [], 1, base
        for _ in range(n_down):
            enc += [nn.Conv2d(c_in, ch, 3, 2, 1), nn.LeakyReLU(0.2)]
            c_in, ch = ch, min(ch * 2, 512)
        self.encoder = nn.Sequential(*enc)
        self.mode = upsample_mode
        chs = [c_in]
        for _ in range(n_down - 1):
            chs.append(max(chs[-1] // 2, base))
        self.dec_refine = nn.ModuleList(nn.Sequential(nn.Conv2d(chs[i], chs[i + 1], 3, padding=1), nn.LeakyReLU(0.2))
                                        for i in range(len(chs) - 1))
        self.out_head = nn.Sequential(nn.Conv2d(base, 1, 3, padding=1), nn.Tanh())
        # the script builds its FC layers at the first batch; they come last in its state dict
        self.shapes = [hw]
        with torch.no_grad():
            z = torch.zeros(1, 1, *hw)
            for layer in self.encoder:
                z = layer(z)
                if isinstance(layer, nn.LeakyReLU):
                    self.shapes.append(tuple(z.shape[2:]))
        self.c_out = c_in
        flat = z.numel()
        self.fc_mu, self.fc_logvar, self.fc_decode = nn.Linear(flat, latent_dim), nn.Linear(flat, latent_dim), nn.Linear(latent_dim, flat)

    def encode(self, x):
        z = self.encoder(x).flatten(1)
        return self.fc_mu(z), self.fc_logvar(z)

    def decode(self, z):
        x = self.fc_decode(z).view(z.shape[0], self.c_out, *self.shapes[-1])
        for i, target in enumerate(reversed(self.shapes[:-1])):
            x = F.interpolate(x, size=target, mode=self.mode, align_corners=False if self.mode == "bilinear" else None)
            if i < len(self.dec_refine):
                x = self.dec_refine[i](x)
        return self.out_head(x)


class BetaVAE(nn.Module):
    """small-thinking/ml-playground ``VariationalAutoEncoder``: conv+BN+ReLU, transposed convs, bilinear resize, sigmoid."""

    def __init__(self, input_channels=3, latent_dim=6, hidden_dims=(8, 16, 32), output_size=20):
        super().__init__()
        layers, c = [], input_channels
        for h in hidden_dims:
            layers += [nn.Conv2d(c, h, 3, 2, 1), nn.BatchNorm2d(h), nn.ReLU()]
            c = h
        self.encoder = nn.Module()
        self.encoder.encoder = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.encoder.encoder(torch.zeros(1, input_channels, output_size, output_size)).numel()
        self.encoder.fc_mu, self.encoder.fc_logvar = nn.Linear(flat, latent_dim), nn.Linear(flat, latent_dim)
        dec_dims = list(reversed(hidden_dims))  # the decoder's own list: (32, 16, 8)
        size = output_size
        for _ in dec_dims:
            size = (size - 1) // 2 + 1
        self.size, self.first = size, dec_dims[-1]
        self.decoder = nn.Module()
        self.decoder.fc = nn.Linear(latent_dim, dec_dims[-1] * size * size)
        rev, layers = list(reversed(dec_dims)), []
        c = rev[0]
        for h in rev[1:]:
            layers += [nn.ConvTranspose2d(c, h, 3, 2, 1, output_padding=1), nn.BatchNorm2d(h), nn.ReLU()]
            c = h
        layers.append(nn.ConvTranspose2d(c, input_channels, 3, 2, 1, output_padding=1))
        self.decoder.decoder = nn.Sequential(*layers)
        self.output_size = output_size

    def encode(self, x):
        h = self.encoder.encoder(x).flatten(1)
        return self.encoder.fc_mu(h), self.encoder.fc_logvar(h)

    def decode(self, z):
        x = self.decoder.fc(z).view(z.shape[0], self.first, self.size, self.size)
        x = self.decoder.decoder(x)
        if x.shape[-1] != self.output_size:
            x = F.interpolate(x, size=(self.output_size, self.output_size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)


def _cbr(c_in, c_out, k, s, p, transpose=False):
    conv = nn.ConvTranspose2d if transpose else nn.Conv2d
    return nn.Sequential(conv(c_in, c_out, k, s, p), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))


class MnistVAE(nn.Module):
    """egorpol/nnstuff ``EnhancedVAE``: 28×28, conv+BN+LeakyReLU, FC 512, transposed convs, sigmoid."""

    def __init__(self, latent_dim=5):
        super().__init__()
        self.encoder = nn.Sequential(_cbr(1, 32, 4, 2, 1), _cbr(32, 64, 4, 2, 1), _cbr(64, 128, 3, 2, 1),
                                     _cbr(128, 256, 4, 1, 0))
        self.fc1, self.fc21, self.fc22 = nn.Linear(256, 512), nn.Linear(512, latent_dim), nn.Linear(512, latent_dim)
        self.fc3, self.fc4 = nn.Linear(latent_dim, 512), nn.Linear(512, 256)
        self.decoder = nn.Sequential(_cbr(256, 128, 4, 1, 0, True), _cbr(128, 64, 3, 2, 1, True),
                                     _cbr(64, 32, 4, 2, 1, True), nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Sigmoid())

    def encode(self, x):
        h = F.leaky_relu(self.fc1(self.encoder(x).flatten(1)), 0.2)
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        h = F.leaky_relu(self.fc4(F.leaky_relu(self.fc3(z), 0.2)), 0.2)
        return self.decoder(h.view(-1, 256, 1, 1))


def _randomise_norms(model: nn.Module) -> None:
    # trained BatchNorm statistics, so that eval-mode outputs depend on them
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _compare(script_model: nn.Module, ours, x: torch.Tensor) -> None:
    script_model.eval()
    with torch.no_grad():
        mu_s, logvar_s = script_model.encode(x)
        mu_o, logvar_o = ours.encode(x)
        np.testing.assert_allclose(mu_o.numpy(), mu_s.numpy(), atol=1e-5)
        np.testing.assert_allclose(logvar_o.numpy(), logvar_s.numpy(), atol=1e-5)
        np.testing.assert_allclose(ours.decode(mu_s).numpy(), script_model.decode(mu_s).numpy(), atol=1e-5)


@pytest.mark.parametrize(("hw", "mode"), [((60, 60), "nearest"), ((45, 37), "bilinear")])
def test_ebsd_script_checkpoint_gives_the_scripts_outputs(tmp_path: Path, hw, mode) -> None:
    torch.manual_seed(0)
    script = EbsdScriptVAE(hw, upsample_mode=mode)
    path = tmp_path / "vae_model_leaky_tanh.pth"
    torch.save(script.state_dict(), path)
    options = {"upsample_mode": mode}
    ours = load_script_weights(path, "ebsd-script", (1, *hw), options=options)
    assert ours.config.norm == "none" and ours.config.upsample_to == "encoder"
    assert ours.config.output_head == "tanh-mse"
    _compare(script, ours, torch.rand(3, 1, *hw) * 2 - 1)


def test_beta_vae_checkpoint_in_a_training_dict_gives_the_scripts_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    script = BetaVAE()
    _randomise_norms(script)
    path = tmp_path / "best_model.pt"
    # the script's save_checkpoint: a dict with the state dict, optimizer state and plain lists
    opt = torch.optim.Adam(script.parameters())
    torch.save({"epoch": 3, "model_state_dict": script.state_dict(), "optimizer_state_dict": opt.state_dict(),
                "train_losses": [1.0, 0.5], "beta": 4.0}, path)
    ours = load_script_weights(path, "beta-vae", (3, 20, 20))
    assert ours.config.decoder == "transpose" and ours.config.fit == "resize"
    _compare(script, ours, torch.rand(2, 3, 20, 20))


def test_mnist_vae_checkpoint_gives_the_scripts_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    script = MnistVAE()
    _randomise_norms(script)
    path = tmp_path / "vae_model_gauss_enh5.pth"
    torch.save(script.state_dict(), path)
    ours = load_script_weights(path, "mnist-vae", (1, 28, 28))
    assert ours.config.hidden_dims == (512,) and ours.config.latent_dim == 5
    _compare(script, ours, torch.rand(4, 1, 28, 28))


def test_a_checkpoint_of_another_script_lists_missing_and_unexpected_keys(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "mnist.pth"
    torch.save(MnistVAE().state_dict(), path)
    with pytest.raises(InputError) as err:
        load_script_weights(path, "ebsd-script", (1, 28, 28))
    msg = str(err.value)
    assert "\n" not in msg and "missing keys [encoder" in msg and "unexpected keys [encoder.0.0.weight" in msg


def test_a_wrong_input_size_names_the_features(tmp_path: Path) -> None:
    path = tmp_path / "ebsd.pth"
    torch.save(EbsdScriptVAE((60, 60)).state_dict(), path)
    with pytest.raises(InputError, match=r"takes 2048 features.*`resize`"):
        load_script_weights(path, "ebsd-script", (1, 30, 30))


class Custom:
    """Not a tensor or a plain container: torch.load(weights_only=True) must refuse it."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_with_a_custom_object_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"w": torch.zeros(2)}, "extra": Custom()}, f)
    torch.save({"model": {"w": torch.zeros(1)}, "obj": Custom()}, tmp_path / "evil2.pth")
    for p in (path, tmp_path / "evil2.pth"):
        with pytest.raises(InputError) as err:
            read_checkpoint(p)
        msg = str(err.value)
        assert "\n" not in msg and "refused" in msg and "weights_only" in msg


# -- import-weights: a run from a script's checkpoint, used by encode ---------------------------------


def test_import_weights_makes_a_run_that_encode_uses(tmp_path: Path) -> None:
    import xarray as xr

    from tests.helpers import cli, tree_hash, write_idx

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    store = tmp_path / "digits.zarr"
    cli("ingest", "idx", write_idx(tmp_path / "d-images-idx3-ubyte", images), store, check=True)
    torch.manual_seed(0)
    script = MnistVAE()
    _randomise_norms(script)
    ckpt = tmp_path / "vae_model_gauss_enh5.pth"
    torch.save(script.state_dict(), ckpt)
    run = tmp_path / "runs" / "mnist"
    proc = cli("import-weights", ckpt, "--from", "mnist-vae", store, "--var", "images", "--run", run,
                   check=True)
    assert "5 latent dims" in proc.stdout and "sigmoid-bce" in proc.stdout
    cli("encode", store, "--run", run, check=True)
    latent = xr.open_zarr(store)["latent"].values
    script.eval()
    with torch.no_grad():
        mu, _ = script.encode(torch.from_numpy(images[:, None].astype(np.float32) / 255))
    np.testing.assert_allclose(latent, mu.numpy(), atol=1e-5)

    # bad input: one line, exit 2, nothing written
    before = tree_hash(store)
    bad = cli("import-weights", ckpt, "--from", "ebsd-script", store, "--var", "images",
                  "--run", tmp_path / "runs" / "bad")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing keys" in bad.stderr
    assert not (tmp_path / "runs" / "bad").exists() and tree_hash(store) == before
    unknown = cli("import-weights", ckpt, "--from", "keras", store, "--var", "images",
                      "--run", tmp_path / "runs" / "bad")
    assert unknown.returncode == 2 and "unknown --from 'keras'" in unknown.stderr
    again = cli("import-weights", ckpt, "--from", "mnist-vae", store, "--var", "images", "--run", run)
    assert again.returncode == 2 and "not empty" in again.stderr

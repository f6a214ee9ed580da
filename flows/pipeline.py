"""Prefect flows: ingest, train-vae, encode. Each task is one library call; no logic lives here."""

from __future__ import annotations

from typing import Any

from prefect import flow, task


@task(name="ingest-ebsd")
def ingest_ebsd_task(src: str, store: str, **kwargs: Any) -> str:
    from vaearr.io.ebsd import ingest_ebsd

    ingest_ebsd(src, store, **kwargs)
    return store


@task(name="roi")
def roi_task(store: str, **kwargs: Any) -> dict:
    from vaearr.roi import create_roi

    return create_roi(store, **kwargs).info


@task(name="fit")
def fit_task(config: dict, resume: bool) -> dict:
    from vaearr.train import TrainConfig, fit

    result = fit(TrainConfig.from_dict(config), resume=resume, progress=False)
    return {"run": str(result.run), "epochs": len(result.history), "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss, "last": result.history[-1] if result.history else {}}


@task(name="encode")
def encode_task(store: str, run: str, **kwargs: Any) -> dict:
    from vaearr.encode import encode

    result = encode(store, run, progress=False, **kwargs)
    return {"variables": result.variables, "n_encoded": result.n_encoded, "checkpoint_sha256": result.checkpoint_sha256}


@flow(name="ingest", log_prints=True)
def ingest(
    src: str,
    store: str,
    dataset: str | None = None,
    bandcontrast: str | None = None,
    elements: str | None = None,
    phase: str | None = None,
    roi_otsu: bool = False,
    overwrite: bool = False,
) -> dict:
    """Ingest an EBSD map (patterns + CSV tables) and, optionally, make the Otsu ROI."""
    ingest_ebsd_task(src, store, dataset=dataset, bandcontrast=bandcontrast, elements=elements, phase=phase,
                     overwrite=overwrite)
    info = roi_task(store, otsu=True, overwrite=overwrite) if roi_otsu else {}
    print(f"ingested {src} into {store}")
    return {"store": store, "roi": info}


@flow(name="train-vae", log_prints=True)
def train_vae(
    store: str,
    run: str,
    epochs: int = 10,
    model: str = "conv-vae",
    latent_dim: int = 16,
    var: str = "patterns",
    mask: str | None = "auto",
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    resize: int | None = None,
    crop: int | None = None,
    model_options: dict | None = None,
    resume: bool = False,
) -> dict:
    """Train a VAE on a store variable (``vaearr train``); returns the run summary."""
    config = dict(store=store, run=run, epochs=epochs, model=model, latent_dim=latent_dim, var=var, mask=mask,
                  batch_size=batch_size, lr=lr, seed=seed, device=device, resize=resize, crop=crop,
                  model_options=model_options or {})
    summary = fit_task(config, resume)
    print(f"trained {model} for {summary['epochs']} epochs; best epoch {summary['best_epoch']}")
    return summary


@flow(name="encode", log_prints=True)
def encode(store: str, run: str, name: str = "latent", figures: str | None = None, export: str | None = None,
           overwrite: bool = False) -> dict:
    """Write a run's latents into the store (``vaearr encode``)."""
    summary = encode_task(store, run, name=name, figures=figures, export=export, overwrite=overwrite)
    print(f"encoded {summary['n_encoded']} samples into {store}:{name}")
    return summary


FLOWS = (ingest, train_vae, encode)

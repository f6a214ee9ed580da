"""What ``vaearr explore`` returns (:class:`ExploreResult`): the files it wrote, its summary and the lines it prints;
:mod:`vaearr.viz.explore` gives it too."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaearr.analysis import quality as Q


@dataclass
class ExploreResult:
    """What :func:`~vaearr.viz.explore.explore` wrote."""

    out: Path
    figures: list[Path] = field(default_factory=list)
    tables: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    quality: Q.QualityReport | None = None

    def describe(self) -> str:
        if "files" in self.summary:
            return self._describe_files()
        lines = [f"explored {self.summary.get('n_samples')} samples of {self.summary.get('store')} "
                 f"with {self.summary.get('run')} → {self.out}"]
        if self.quality is not None:
            lines.append(f"  reconstruction: {self.quality.describe()}")
        s = self.summary.get("stats")
        if s:
            lines.append(f"  active units: {s['active_units']}/{s['latent_dim']}, KL {s['kl_total']:.4g} nats")
        lines += [f"  {p}" for p in self.figures]
        return "\n".join(lines)

    def _describe_files(self) -> str:
        lines = [f"reconstructed {len(self.summary['files'])} file(s) with {self.summary['run']} → {self.out}"]
        for row in self.summary["per_file"]:
            parts = [f"MSE {row['mse']:.4g}"]
            if "psnr" in row:
                parts.append(f"PSNR {row['psnr']:.3g} dB, SSIM {row['ssim']:.3g} (float)")
            if "psnr_uint8" in row:
                parts.append(f"PSNR {row['psnr_uint8']:.3g} dB, SSIM {row['ssim_uint8']:.3g} (uint8)")
            lines.append(f"  {row['file']}: {', '.join(parts)}")
        q = self.summary["quality"]
        lines.append(f"  compression: {q['input_bytes']} B per input sample → {q['latent_bytes']} B per latent "
                     f"(float32): {q['compression_ratio_bytes']:.3g}× in bytes, {q['compression_ratio']:.3g}× in values")
        lines += [f"  {p}" for p in self.figures]
        return "\n".join(lines)

"""Presets: the published papers' settings as study grids.

* ``paper-mimo`` (single link): CIFAR-10, ``vit_small_patch16_224``
  -> ``vit_base_patch16_224``; N in {1, 2, 4, 8, 12, 24, 48, 96, 192}; 4200, 420 and 42 pilots per
  class; SNR -20 ... 30 dB at N = 8; FLOPs at N = 6 and 10; six seeds.
* ``paper-federated`` (multi-user downlink): CIFAR-10, AP
  ``vit_tiny_patch16_224``, the ten users of the published default config, its homogeneous and
  heterogeneous four-user sets; T in {1, 2, 4, 6, 8, 10, 20}, N in {1, 2, 4}; SNR at 4 x 4 for
  T in {1, 4, 8}; six seeds.

Both use the single-link code's noise level: the ``per-antenna`` SNR convention with channel variance
0.5. The federated code's own level divides the noise standard deviation by T as well
(sigma^2 = 1 / (N_r SNR T^2)), which makes "SNR" grow with the channel uses; it is available as the
compatibility convention ``published-federated`` (``semalign reproduce federated --preset
paper-federated --snr-convention published-federated`` runs that code's setting exactly).
They run semalign's corrected estimators (README, "Methods"), not the published code's defects.
The latents come from the ``timm`` source: extract them first with ``semalign latents extract``
(the error names the exact command when a cache is missing).
"""

from __future__ import annotations

from dataclasses import dataclass

#: CIFAR-10 encoders of the single-link paper: (transmitter, receiver).
PAPER_MIMO_ENCODERS = ("vit_small_patch16_224", "vit_base_patch16_224")
#: Access point and users of the federated paper (published default config, K = 10).
PAPER_FEDERATED_AP = "vit_tiny_patch16_224"
PAPER_FEDERATED_USERS = (
    "vit_small_patch16_224",
    "vit_small_patch32_224",
    "vit_base_patch16_224",
    "vit_base_patch32_clip_224",
    "rexnet_100",
    "mobilenetv3_small_075",
    "mobilenetv3_large_100",
    "mobilenetv3_small_100",
    "efficientvit_m5.r224_in1k",
    "levit_128s.fb_dist_in1k",
)
PAPER_FEDERATED_HOMOGENEOUS = (("rexnet_100", "mobilenetv3_small_075", "mobilenetv3_large_100", "mobilenetv3_small_100"),)
PAPER_FEDERATED_HETEROGENEOUS = (("vit_small_patch16_224", "vit_base_patch16_224", "mobilenetv3_small_075", "levit_128s.fb_dist_in1k"),)
#: The single-link published code's noise level (the ``per-antenna`` convention, channel variance 0.5).
PUBLISHED_NOISE = dict(snr_convention="per-antenna", channel_variance=0.5)


@dataclass(frozen=True)
class Preset:
    """A named study grid: ``study`` is ``mimo`` or ``federated``; ``models`` the timm encoders whose
    latents it needs (extracted on ``dataset``)."""

    name: str
    study: str
    dataset: str
    models: tuple[str, ...]
    description: str


PRESETS = {
    "paper-mimo": Preset("paper-mimo", "mimo", "cifar10", PAPER_MIMO_ENCODERS, "single-link paper: CIFAR-10, ViT-S/16 -> ViT-B/16"),
    "paper-federated": Preset("paper-federated", "federated", "cifar10", (PAPER_FEDERATED_AP, *PAPER_FEDERATED_USERS), "federated paper: CIFAR-10, ViT-Tiny AP, ten users"),
}


def get_preset(name: str, study: str) -> Preset:
    """The preset ``name`` of ``study``. Raises ``ValueError`` naming the presets of that study."""
    known = [p.name for p in PRESETS.values() if p.study == study]
    if name not in PRESETS or PRESETS[name].study != study:
        raise ValueError(f"unknown preset {name!r} for `reproduce {study}`; expected one of {', '.join(known)}")
    return PRESETS[name]


def preset_grid(name: str, study: str):
    """The study grid of preset ``name`` (a ``MimoGrid`` or ``FederatedGrid``)."""
    preset = get_preset(name, study)
    if study == "mimo":
        from semalign.experiments.studies.mimo import full_grid

        tx, rx = PAPER_MIMO_ENCODERS
        return full_grid(
            latents="timm",
            latents_options={"dataset": preset.dataset, "tx": tx, "rx": rx},
            compression_antennas=(1, 2, 4, 8, 12, 24, 48, 96, 192),
            compression_pilots=(4200, 420, 42),
            snr_values=(-20.0, -10.0, 10.0, 20.0, 30.0),
            snr_antennas=8,
            snr_pilots=4200,
            flops_antennas=(6, 10),
            flops_pilots=4200,
            **PUBLISHED_NOISE,
        )
    from semalign.experiments.studies.federated import full_grid

    return full_grid(
        latents="timm",
        dataset=preset.dataset,
        ap_encoder=PAPER_FEDERATED_AP,
        users=PAPER_FEDERATED_USERS,
        homogeneous_sets=PAPER_FEDERATED_HOMOGENEOUS,
        heterogeneous_sets=PAPER_FEDERATED_HETEROGENEOUS,
        heterogeneity_sources=("timm",),
        compression_antennas=(1, 2, 4),
        compression_channel_uses=(1, 2, 4, 6, 8, 10, 20),
        snr_values=(-20.0, -10.0, 10.0, 20.0, 30.0),
        snr_antennas=4,
        snr_channel_uses=(1, 4, 8),
        heterogeneity_antennas=4,
        heterogeneity_channel_uses=(1, 2, 4, 6, 8, 10, 20),
        **PUBLISHED_NOISE,
    )


def extract_command(preset: Preset) -> str:
    """The command that caches every latent the preset needs."""
    return f"semalign latents extract --dataset {preset.dataset} " + " ".join(f"--model {m}" for m in preset.models)

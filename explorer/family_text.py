"""How each model family is shown in the app: its title, one-line summary, explanation, what to look for on its
latent map, the words for what its codes are compared with (and what pulls them there), a diagram, the number that
heads its row, and a config in one readable line. The library's families hold the math (aae_core.families); the
words and pictures live here, by the family's kind. A family the app has no words for (one registered elsewhere)
is shown by its kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from aae_core import metric_schema as S

if TYPE_CHECKING:
    from aae_core.config import ModelConfig
    from aae_core.families import AAEModel


@dataclass(frozen=True)
class FamilyText:
    title: str                      # "semi-supervised AAE"
    summary: str                    # one line for the Train page: what it learns, paper section
    explanation: str                # a paragraph: what its latent map shows
    map_note: str                   # what to look for on its latent map
    prior_words: str = "the prior p(z)"     # what the codes are compared with, in the app's sentences
    diagram: str | None = None      # an SVG of its networks for Home (None: the AAE's, drawn there)
    code_words: Callable[[ModelConfig], str] | None = None   # the code in a few words (None: from the family)
    headline: S.Metric = S.MMD      # the one number of an evaluated model that says most about it (Home's table)
    pulled_by: Literal["discriminator", "kl", "learned"] = "discriminator"   # what pulls the codes to the prior:
    #                                 a discriminator on z, a KL term (VAE), or none on z: a learned F(z) (ALAE)


# ALAE's four networks and three phases, for the Home page (drawn like the AAE's diagram there).
ALAE_DIAGRAM = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 720 330"
 font-family="Helvetica, Arial, sans-serif" font-size="14" text-anchor="middle">
 <defs>
  <marker id="ab" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
   <path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>
 </defs>
 <text x="360" y="20" font-weight="bold">Z → W → image → W: the game is played on codes</text>
 <ellipse cx="52" cy="70" rx="44" ry="24" fill="#fce5cd" stroke="#555"/>
 <text x="52" y="66">noise z</text><text x="52" y="83" font-size="12">~ N(0, I)</text>
 <rect x="120" y="44" width="100" height="52" rx="10" fill="#d9d2e9" stroke="#555"/>
 <text x="170" y="67">Mapping F</text><text x="170" y="85" font-size="12">(6 layers)</text>
 <ellipse cx="280" cy="70" rx="34" ry="24" fill="#fff2cc" stroke="#555"/>
 <text x="280" y="66">code w</text><text x="280" y="83" font-size="12">= F(z)</text>
 <rect x="340" y="44" width="100" height="52" rx="10" fill="#d9ead3" stroke="#555"/>
 <text x="390" y="75">Generator G</text>
 <rect x="466" y="48" width="90" height="44" rx="4" fill="#eeeeee" stroke="#777"/>
 <text x="511" y="75">image G(w)</text>
 <rect x="590" y="44" width="110" height="52" rx="10" fill="#cfe2f3" stroke="#555"/>
 <text x="645" y="75">Encoder E</text>
 <ellipse cx="645" cy="165" rx="50" ry="22" fill="#fff2cc" stroke="#555"/>
 <text x="645" y="170">E(G(w))</text>
 <rect x="466" y="256" width="90" height="44" rx="4" fill="#eeeeee" stroke="#777"/>
 <text x="511" y="283">real image x</text>
 <rect x="590" y="252" width="110" height="52" rx="10" fill="#cfe2f3" stroke="#555"/>
 <text x="645" y="275">Encoder E</text><text x="645" y="292" font-size="12">(the same E)</text>
 <rect x="300" y="186" width="160" height="60" rx="10" fill="#f4cccc" stroke="#555"/>
 <text x="380" y="211">Discriminator D</text><text x="380" y="231" font-size="12">"real image's code?"</text>
 <g stroke="#555" stroke-width="2" marker-end="url(#ab)" fill="none">
  <line x1="96" y1="70" x2="118" y2="70"/><line x1="220" y1="70" x2="244" y2="70"/>
  <line x1="314" y1="70" x2="338" y2="70"/><line x1="440" y1="70" x2="464" y2="70"/>
  <line x1="556" y1="70" x2="588" y2="70"/><line x1="645" y1="96" x2="645" y2="141"/>
  <line x1="556" y1="278" x2="588" y2="278"/>
  <line x1="597" y1="172" x2="462" y2="206"/><line x1="590" y1="270" x2="462" y2="232"/></g>
 <path d="M 280 94 C 300 150, 560 140, 596 160" fill="none" stroke="#3d85c6" stroke-width="2.2"
  stroke-dasharray="7,5"/>
 <text x="440" y="128" fill="#3d85c6" font-size="13" font-weight="bold">③ E(G(w)) ≈ w</text>
 <g text-anchor="start" font-weight="bold" font-size="13">
  <text x="14" y="200" fill="#cc0000">① E and D learn to tell E(x)</text>
  <text x="14" y="218" fill="#cc0000">from E(G(F(z))) (+ R1 penalty)</text>
  <text x="14" y="248" fill="#38761d">② F and G learn to fool D</text>
  <text x="14" y="278" fill="#3d85c6">③ E and G learn to give back w</text>
  <text x="14" y="308" fill="#555" font-weight="normal">G(E(x)) rebuilds x: never trained on pixels</text></g>
</svg>"""


TEXTS: dict[str, FamilyText] = {
    'unsupervised': FamilyText(
        title='unsupervised AAE', headline=S.OWN_COMPONENT,
        summary='Codes pushed to a prior of your choice by a discriminator (paper §2, Fig. 2-4).',
        explanation=(
            'An encoder squeezes each image into a code z and a decoder rebuilds it. A discriminator sees codes '
            'next to samples of a chosen prior p(z) and learns to tell them apart while the encoder learns to fool'
            ' it, so the codes come to fill the prior: then any prior sample decodes to a plausible digit.'),
        map_note=(
            'Where the coloured codes cover the prior samples, the adversarial game has worked: prior samples '
            'there decode to digits, and holes in the coverage decode to blur. Without labels, digits still form '
            "regions of their own; with a label-conditioned prior (paper Fig. 4) each digit's codes should fill "
            'the part of the prior drawn in its colour.'),
    ),
    'supervised': FamilyText(
        title='supervised AAE', headline=S.CLASS_SWEEP,
        code_words=lambda c: f"{c.latent_dim}-D style",       # the class is the label, given to the decoder
        summary='The decoder also gets the label, so z keeps only the style (paper §4, Fig. 6).',
        explanation=(
            "The decoder is told each image's label, so the code z only needs to carry what the label does not: "
            'the style (slant, thickness, width). A discriminator pushes z toward the prior, which keeps the class'
            ' out of it. Fix a style and sweep the class code to draw every digit in that style.'),
        map_note=(
            "The digits' colours are mixed on this map, and that is the point: z holds the style, not the class, "
            "so a '2' and a '7' written alike sit side by side. Neighbouring points share slant and thickness."),
    ),
    'semi_supervised': FamilyText(
        title='semi-supervised AAE', headline=S.CLASSIFICATION_ERROR,
        summary='A class head learns from a few labels; z keeps the style (paper §5, Table 2).',
        explanation=(
            'The encoder gives two codes: a class y (a softmax over the ten digits) and a style z. One '
            'discriminator pushes y toward one-hot vectors, another pushes z toward a Gaussian, and a handful of '
            'labelled images teach y which digit is which. The decoder draws any digit in any style.'),
        map_note=(
            "This map shows the style z only, so the digits' colours mix: the class lives in y, not here. A "
            "well-mixed map means the style holds no class; the class head's errors show on the confusion matrix."),
    ),
    'clustering': FamilyText(
        title='clustering AAE', headline=S.CLUSTERING_ERROR,
        summary='The class head finds clusters without any labels (paper §6, Table 3).',
        explanation=(
            'The same two codes as the semi-supervised AAE, a category y and a style z, but no labels at all: the '
            'discriminator on y asks for confident one-hot codes, so the encoder sorts the images into clusters on'
            ' its own. Many clusters are purer than ten: one digit may take several (a slanted and an upright 1).'),
        map_note=(
            'This map shows the style z only, so the colours (the true labels, which the model never saw) mix, and'
            ' that is the point: the cluster lives in y, not here. The Style × class page shows what each cluster '
            'gathered.'),
    ),
    'vae': FamilyText(
        title='VAE (baseline)', pulled_by='kl',
        summary='The variational autoencoder baseline: a KL term instead of a discriminator.',
        explanation=(
            'A variational autoencoder encodes each image to a Gaussian q(z|x) rather than a point, and a KL term '
            'pulls every such Gaussian toward the prior. There is no discriminator: the VAE is the baseline the '
            'AAE paper compares against (§2.1).'),
        map_note=(
            'Compare with an AAE of the same size: the KL term pulls each code toward the centre one image at a '
            "time, so the aggregate codes tend to leave gaps and crowd the middle, where the AAE's discriminator "
            'matches the prior as a whole.'),
    ),
    'alae': FamilyText(
        title='ALAE', headline=S.ALAE_SURE, pulled_by='learned',
        summary=(
            'Adversarial Latent Autoencoder: the adversarial game is played in the latent space (CVPR 2020).'),
        explanation=(
            'An ALAE has four networks and two latent spaces. A mapping network F turns Gaussian noise z (space Z)'
            ' into a code w (space W); a generator G draws an image from w; an encoder E reads any image back into'
            ' W; a discriminator D sees only codes in W. D learns to tell E(x) of real digits from E(G(F(z))) of '
            'generated ones while F and G learn to fool it, and E and G learn to give back the w they started '
            'from: E(G(w)) = w. So the game is played on codes, not pixels: the encoder, not a pixel loss, decides'
            ' which differences between images matter. The image is never a training target: G(E(x)) rebuilds x '
            'only because E learned to invert G.'),
        map_note=(
            'Coloured dots are E(x) of test images; dark grey dots are samples of the learned distribution F(z), '
            'which is what the adversarial game shapes (there is no fixed prior in W). Where they overlap, '
            'generated and real digits share codes. A clicked test image shows G(E(x)): ALAE never trained on that'
            ' pixel reconstruction, so it keeps the digit and style rather than every pixel.'),
        prior_words='the learned distribution F(z) (noise z ~ N(0, I) through the mapping network F)',
        diagram=ALAE_DIAGRAM,
        code_words=lambda c: f"{c.latent_dim}-D w = F(z), z ~ N(0, I), {3 * c.n_hidden_layers}-layer mapping",
    ),
}
UNKNOWN = FamilyText(title="", summary="", explanation="", map_note="")


def of(kind: str) -> FamilyText:
    """The words for the family of this kind (torch-free: read from the config's kind)."""
    return TEXTS.get(kind, UNKNOWN) if isinstance(kind, str) else UNKNOWN     # a damaged config.json: no words


def title(kind: str) -> str:
    """The family's name for a reader ('semi-supervised AAE'); a family the app has no words for, by its kind."""
    return of(kind).title or f"{kind} model"


def code_words(config: ModelConfig, family: type[AAEModel]) -> str:
    """The code in a few words: '2-D gaussian prior', '10-D style + 10 classes'."""
    own = of(config.kind).code_words
    if own is not None:
        return own(config)
    if family.classes:
        plural = family.classes.noun + ("es" if family.classes.noun.endswith("s") else "s")
        return f"{config.latent_dim}-D style + {config.n_classes} {plural}"
    return f"{config.latent_dim}-D {config.prior.replace('_', ' ')} prior"


def describe(config: ModelConfig, family: type[AAEModel]) -> str:
    """One line a student can read, e.g. 'semi-supervised AAE, 10-D style + 10 classes, 100 labels'."""
    parts = [title(config.kind), code_words(config, family)]
    if config.label_conditioned:
        parts.append("label-conditioned")
    if config.consistency_eps:
        parts.append(f"consistency ε {config.consistency_eps:g}")
    if config.n_labels:
        parts.append(f"{config.n_labels:,} labels")
    return ", ".join(parts)

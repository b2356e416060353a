"""Digits and their captions: one model of 8×8 images and character captions, both directions.

Run:  python examples/image_caption.py --steps 5000 --out outputs/image_caption

Data: scikit-learn's 8×8 digits (1 797 images shipped inside the package, no download),
pixels ``0..16`` scaled to ``[-1, 1]``, split into training and held-out images with a seed.
Each image has a caption of characters, the digit's name and its stroke weight, ``"seven
thick"`` or ``"seven thin"`` (more or less ink than the median image of its digit in the
training set), padded with spaces to 11 characters.

Model: the product ``R^64 × {alphabet}^11``: a CondOT flow on the image and a masked CTMC on the
caption, each on its own clock (GM §9.8), one :class:`~genmatch.nn.ProductMLP` over ``[image,
one-hot caption, t_image, t_caption]``. Training pins the image at ``t = 1`` (captioning) or
the caption at ``t = 1`` (image given caption) 25 % of the time each and sets the caption's
time to ``0`` (fully masked: no caption) 10 % of the time, so one network gives the joint, both
conditionals and the unconditional image field that classifier-free guidance needs. The
caption's loss is weighted 4 against the image's 1 (``CAPTION_WEIGHT``).

Evaluation, on held-out digits, with an MLP classifier trained on the real training images
(its held-out accuracy is reported):

- joint samples: caption–image agreement (classifier label = digit named by the caption),
  Fréchet distance in the classifier's feature space and energy distance in pixel space to
  the held-out images, each next to the floor (training images vs held-out, same sizes);
- image given caption (the held-out captions held at ``t = 1``): class accuracy with
  classifier-free guidance weights 0 / 1 / 3 on the product, unconditional field = caption at
  ``t = 0``, fully masked;
- caption given image (held-out images held): accuracy of the digit's name and of the whole
  caption;
- the same metrics for the source (noise images, random training captions) as a reference.

Writes ``metrics.json`` and ``samples.png`` (joint samples with their captions, images per
caption, captions sampled for real held-out images) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

import genmatch as gm
from genmatch.guidance import ClassifierFreeGuidance
from genmatch.metrics import energy_distance, frechet_distance
from genmatch.time import AbstractTimeSampler
from genmatch.types import Field, ParamValue, State, Times

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WEIGHTS = ("thin", "thick")
LENGTH = 11
#: the caption's loss weight against the image's 1: the caption's cross-entropy summed over 11
#: characters is about a tenth of the image's squared velocity error summed over 64 pixels
CAPTION_WEIGHT = 4.0
ALPHABET = " " + "".join(sorted(set("".join(NAMES + WEIGHTS))))


@dataclass(frozen=True)
class Digits:
    """Images in ``[-1, 1]`` ``(n, 64)``, labels ``(n,)`` and caption tokens ``(n, LENGTH)``."""

    train_images: Tensor
    train_labels: Tensor
    train_captions: Tensor
    test_images: Tensor
    test_labels: Tensor
    test_captions: Tensor


def encode(captions: list[str]) -> Tensor:
    """Caption strings (at most ``LENGTH`` characters of ``ALPHABET``) to tokens ``(n, LENGTH)``."""
    index = {c: i for i, c in enumerate(ALPHABET)}
    return torch.tensor([[index[c] for c in s.ljust(LENGTH)] for s in captions])


def decode(tokens: Tensor) -> list[str]:
    """Tokens ``(n, LENGTH)`` back to strings; the mask token shows as ``?``."""
    return [
        "".join(ALPHABET[i] if i < len(ALPHABET) else "?" for i in row).rstrip()
        for row in tokens.tolist()
    ]


def caption_labels(tokens: Tensor) -> Tensor:
    """The digit named by each caption ``(n,)``; ``-1`` where the first word is no name."""
    words = [s.split(" ")[0] for s in decode(tokens)]
    return torch.tensor([NAMES.index(w) if w in NAMES else -1 for w in words])


def load_digits(seed: int = 0, held_out: float = 0.2) -> Digits:
    """scikit-learn's digits, split with ``seed``; captions ``"<name> <thin|thick>"``."""
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    images = torch.tensor(data.data, dtype=torch.float32) / 8 - 1
    labels = torch.tensor(data.target)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_test = int(held_out * len(labels))
    test, train = order[:n_test], order[n_test:]
    ink = images.sum(1)
    median = torch.stack([ink[train][labels[train] == k].median() for k in range(10)])
    thick = (ink > median[labels]).long()
    captions = encode([f"{NAMES[k]} {WEIGHTS[w]}" for k, w in zip(labels, thick, strict=True)])
    return Digits(
        images[train], labels[train], captions[train], images[test], labels[test], captions[test]
    )


def build(
    caption_weight: float = 1.0,
) -> tuple[gm.ProductSpace, gm.ProductPath, gm.ProductGenerator]:
    """The product space ``R^64 × tokens``, its factorised path and its product generator
    (the caption's loss weighted by ``caption_weight``, the image's by 1)."""
    tokens = gm.DiscreteSpace(LENGTH, len(ALPHABET), mask=True)
    source = gm.CategoricalSource.masked(tokens)
    space = gm.ProductSpace({"image": gm.EuclideanSpace(64), "caption": tokens})
    path = gm.ProductPath(
        space,
        {
            "image": gm.AffineGaussianPath(gm.CondOT()),
            "caption": gm.FactorizedMixturePath(tokens, source, gm.LinearKappa()),
        },
    )
    generator = gm.ProductGenerator(
        space,
        {
            "image": gm.FlowGenerator(),
            "caption": gm.CTMCGenerator(tokens, gm.LinearKappa(), source=source),
        },
        loss_weights={"caption": caption_weight},
    )
    return space, path, generator


@dataclass(frozen=True)
class CaptionDropout(AbstractTimeSampler):
    """Times of ``base`` with the caption's time set to ``0`` (fully masked) with probability
    ``p`` where it is not pinned: the network learns the image field without a caption."""

    base: AbstractTimeSampler
    p: float

    def sample(  # type: ignore[override]
        self,
        n: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | None = None,
    ) -> dict[str, Tensor]:
        t = self.base.sample(n, dtype=dtype, device=device, generator=generator)
        assert isinstance(t, Mapping)
        drop = torch.rand(n, dtype=dtype, device=device, generator=generator) < self.p
        caption = torch.where(
            drop & (t["caption"] < 1), torch.zeros_like(t["caption"]), t["caption"]
        )
        return {**t, "caption": caption}


class Classifier(nn.Module):
    """An MLP classifier of images ``(n, 64) → (n, 10)``; :meth:`features` is its last hidden
    layer ``(n, 64)`` (the feature space of the Fréchet distance)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 256), nn.SiLU(), nn.Linear(256, 64), nn.SiLU())
        self.head = nn.Linear(64, 10)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def train_classifier(
    images: Tensor, labels: Tensor, *, steps: int = 600, seed: int = 0
) -> Classifier:
    """Full-batch Adam on the real training images, light Gaussian pixel noise as augmentation."""
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    clf = Classifier()
    opt = torch.optim.Adam(clf.parameters(), lr=2e-3, weight_decay=1e-4)
    for _ in range(steps):
        noisy = images + 0.1 * torch.randn(images.shape, generator=rng)
        loss = nn.functional.cross_entropy(clf(noisy), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return clf.eval()


def image_quality(images: Tensor, reference: Tensor, clf: Classifier) -> dict[str, float]:
    """Fréchet distance in the classifier's features and energy distance in pixels."""
    x, y = images.clamp(-1, 1).double(), reference.double()
    with torch.no_grad():
        fx, fy = clf.features(x.float()).double(), clf.features(y.float()).double()
    return {"frechet": float(frechet_distance(fx, fy)), "energy": float(energy_distance(x, y))}


def classify(clf: Classifier, images: Tensor) -> Tensor:
    with torch.no_grad():
        return clf(images.clamp(-1, 1)).argmax(1)


def masked_captions(n: int) -> Tensor:
    return torch.full((n, LENGTH), len(ALPHABET))


def unconditional(field: Field) -> Field:
    """The image field without a caption: the caption replaced by the mask at ``t = 0``."""

    def without_caption(x: State, t: Times) -> ParamValue:
        assert isinstance(x, Mapping) and isinstance(t, Mapping)
        n = x["caption"].shape[0]
        return field(
            {**x, "caption": masked_captions(n)},
            {**t, "caption": torch.zeros_like(t["caption"])},
        )

    return without_caption


def sample_joint(
    generator: gm.ProductGenerator, field: Field, n: int, steps: int, seed: int
) -> State:
    rng = torch.Generator().manual_seed(seed)
    x_0 = {"image": torch.randn(n, 64, generator=rng), "caption": masked_captions(n)}
    with torch.no_grad():
        return gm.simulate(generator, field, x_0, steps, rng=rng).x


def sample_images(
    generator: gm.ProductGenerator,
    field: Field,
    captions: Tensor,
    weight: float,
    steps: int,
    seed: int,
) -> Tensor:
    """Images given held captions, classifier-free guided on the image factor with ``weight``."""
    rng = torch.Generator().manual_seed(seed)
    held = {"image": torch.randn(captions.shape[0], 64, generator=rng), "caption": captions}
    cfg = ClassifierFreeGuidance(generator, weight={"image": weight, "caption": 0.0})
    grids = gm.FactorGrids({"image": gm.TimeGrid.uniform(steps), "caption": None})
    with torch.no_grad():
        out = gm.simulate(cfg, cfg.combine(field, unconditional(field)), held, grids, rng=rng).x
    return out["image"]


def sample_captions(
    generator: gm.ProductGenerator, field: Field, images: Tensor, steps: int, seed: int
) -> Tensor:
    """Captions given held images."""
    rng = torch.Generator().manual_seed(seed)
    held = {"image": images, "caption": masked_captions(images.shape[0])}
    grids = gm.FactorGrids({"image": None, "caption": gm.TimeGrid.uniform(steps)})
    with torch.no_grad():
        return gm.simulate(generator, field, held, grids, rng=rng).x["caption"]


def joint_scores(
    images: Tensor, captions: Tensor, data: Digits, clf: Classifier
) -> dict[str, float]:
    """Agreement (classifier label = captioned digit) and image quality against held-out data."""
    agreement = float((classify(clf, images) == caption_labels(captions)).float().mean())
    return {"agreement": agreement, **image_quality(images, data.test_images, clf)}


def caption_scores(captions: Tensor, data: Digits) -> dict[str, float]:
    return {
        "digit_accuracy": float((caption_labels(captions) == data.test_labels).float().mean()),
        "caption_accuracy": float((captions == data.test_captions).all(1).float().mean()),
    }


def train_joint(
    data: Digits,
    steps: int,
    *,
    batch_size: int,
    lr: float,
    hidden: int,
    depth: int,
    caption_weight: float = CAPTION_WEIGHT,
    seed: int = 0,
) -> tuple[nn.Module, gm.TrainResult]:
    """The joint network trained on the training images and captions."""
    space, path, generator = build(caption_weight)
    torch.manual_seed(seed)
    net = gm.ProductMLP(space, generator.head_shapes(space), hidden=hidden, depth=depth)
    times = CaptionDropout(
        gm.PinnedTimes(
            space.names, {"image": 0.25, "caption": 0.25}, base=gm.IndependentTimes(space.names)
        ),
        0.1,
    )
    loss = gm.GeneratorMatchingLoss(path, generator, time_sampler=times, space=space)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    fit = gm.train(
        loss, net, {"image": data.train_images, "caption": data.train_captions}, steps=steps,
        batch_size=batch_size, optimizer=opt, scheduler=sched, seed=seed,
    )  # fmt: skip
    return net.eval(), fit


def evaluate(
    generator: gm.ProductGenerator,
    field: Field,
    data: Digits,
    clf: Classifier,
    *,
    weights: tuple[float, ...],
    sample_steps: int,
    caption_steps: int,
    seed: int,
) -> dict[str, object]:
    """Every score of the model: joint, image given caption per guidance weight, captioning."""
    n = data.test_images.shape[0]
    images_caps = sample_joint(generator, field, n, sample_steps, seed)
    out: dict[str, object] = {
        "joint": joint_scores(images_caps["image"], images_caps["caption"], data, clf)
    }
    given = {}
    for w in weights:
        images = sample_images(generator, field, data.test_captions, w, sample_steps, seed + 1)
        accuracy = float((classify(clf, images) == data.test_labels).float().mean())
        given[f"w={w:g}"] = {"accuracy": accuracy, **image_quality(images, data.test_images, clf)}
    out["image_given_caption"] = given
    captions = sample_captions(generator, field, data.test_images, caption_steps, seed + 2)
    out["caption_given_image"] = caption_scores(captions, data)
    return out


def reference_scores(data: Digits, clf: Classifier, seed: int) -> dict[str, object]:
    """The floor (training images vs held-out) and the source (noise, random captions)."""
    n = data.test_images.shape[0]
    rng = torch.Generator().manual_seed(seed)
    real = data.train_images[torch.randperm(data.train_images.shape[0], generator=rng)[:n]]
    noise = torch.randn(n, 64, generator=rng)
    random_caps = data.train_captions[
        torch.randint(0, data.train_captions.shape[0], (n,), generator=rng)
    ]
    return {
        "floor": image_quality(real, data.test_images, clf),
        "source": {
            **joint_scores(noise, random_caps, data, clf),
            **caption_scores(random_caps, data),
            "accuracy": float((classify(clf, noise) == data.test_labels).float().mean()),
        },
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000, help="training steps")
    parser.add_argument("--batch-size", type=int, default=256, help="pairs per step")
    parser.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate")
    parser.add_argument("--hidden", type=int, default=512, help="backbone width")
    parser.add_argument("--depth", type=int, default=3, help="backbone residual blocks")
    parser.add_argument("--caption-weight", type=float, default=CAPTION_WEIGHT,
                        help="weight of the caption loss against the image loss")  # fmt: skip
    parser.add_argument("--sample-steps", type=int, default=200, help="sampler steps for images")
    parser.add_argument("--caption-steps", type=int, default=LENGTH, help="caption sampler steps")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0, 3.0],
                        help="guidance weights for image given caption")  # fmt: skip
    parser.add_argument("--classifier-steps", type=int, default=600,
                        help="training steps of the evaluation classifier")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="seed of split, training, sampling")
    parser.add_argument("--out", type=Path, default=Path("outputs/image_caption"),
                        help="folder for metrics.json and the figure")  # fmt: skip
    parser.add_argument("--no-plot", action="store_true", help="skip the figure")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    data = load_digits(args.seed)
    clf = train_classifier(
        data.train_images, data.train_labels, steps=args.classifier_steps, seed=args.seed
    )
    clf_accuracy = float((classify(clf, data.test_images) == data.test_labels).float().mean())
    _, _, generator = build()
    net, fit = train_joint(
        data, args.steps, batch_size=args.batch_size, lr=args.lr, hidden=args.hidden,
        depth=args.depth, caption_weight=args.caption_weight, seed=args.seed,
    )  # fmt: skip
    field = generator.field(net)
    metrics: dict[str, object] = {
        "train_images": data.train_images.shape[0],
        "held_out_images": data.test_images.shape[0],
        "classifier_held_out_accuracy": clf_accuracy,
        "steps": args.steps,
        "train_seconds": fit.seconds,
        "final_loss": float(fit.losses[-100:].mean()),
        **reference_scores(data, clf, args.seed),
        "model": evaluate(
            generator, field, data, clf, weights=tuple(args.weights),
            sample_steps=args.sample_steps, caption_steps=args.caption_steps, seed=args.seed,
        ),
    }  # fmt: skip
    if not args.no_plot:
        _plot(args.out / "samples.png", generator, field, data, clf, args)
    metrics["total_seconds"] = time.perf_counter() - start
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps(metrics, indent=2))
    return metrics


def _plot(
    file: Path,
    generator: gm.ProductGenerator,
    field: Field,
    data: Digits,
    clf: Classifier,
    args: argparse.Namespace,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 8
    joint = sample_joint(generator, field, 2 * cols, args.sample_steps, args.seed + 10)
    weight = max(args.weights)
    wanted = [f"{name} thick" for name in NAMES for _ in range(cols)]
    drawn = sample_images(
        generator, field, encode(wanted), weight, args.sample_steps, args.seed + 11
    )
    real = data.test_images[: 2 * cols]
    said = sample_captions(generator, field, real, args.caption_steps, args.seed + 12)
    images = torch.cat([joint["image"], drawn, real]).clamp(-1, 1)
    titles = [*decode(joint["caption"]), *[f"clf: {k}" for k in classify(clf, drawn).tolist()]]
    titles += decode(said)
    rows = ["joint"] * 2 + [f'"{w}"\nw={weight:g}' for w in wanted[::cols]] + ["real"] * 2
    fig, axes = plt.subplots(len(rows), cols, figsize=(cols * 1.1, len(rows) * 1.25))
    for i, ax in enumerate(axes.flat):
        ax.imshow(images[i].reshape(8, 8).numpy(), cmap="gray_r", vmin=-1, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles[i], fontsize=6)
        if i % cols == 0:
            ax.set_ylabel(rows[i // cols], fontsize=6)
    fig.suptitle(
        "rows 1-2: joint samples and their captions; 3-12: images drawn for a caption "
        "(title: the classifier's label); 13-14: captions drawn for real held-out images",
        fontsize=7,
    )
    fig.tight_layout()
    fig.savefig(file, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()

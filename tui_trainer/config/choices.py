"""Every choice a preset offers (optimiser, loss, schedule, dataset, ...), one registry per kind.

A registry is the single source of a choice field's names: the schema's allowed values, the
editor's dropdown, the docs and the tests all read them here. Each entry also says which preset
keys it reads beyond the ones every choice of its kind reads (`Choice.uses`), so the editor can
grey out a key the current choice ignores and the reference can print a "used by" column.

Only data lives here, so the config layer stays free of torch; the factories live in the engine
(`engine.builders`) and the data layer (`data.loading`), keyed by the same names, and a test
checks that every name has a factory and every factory a name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    """One allowed value of a choice field."""

    name: str
    description: str
    uses: tuple[str, ...] = ()
    """Key paths ("optimizer.momentum") this choice reads and some other choice of its kind ignores."""


@dataclass(frozen=True)
class Registry:
    """The choices of one preset key, in the order the editor and the docs list them."""

    key: str  # the key that picks one: "optimizer.name"
    lead: str  # what the key chooses, a sentence that starts its description
    choices: tuple[Choice, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(choice.name for choice in self.choices)

    def __getitem__(self, name: str) -> Choice:
        for choice in self.choices:
            if choice.name == name:
                return choice
        raise KeyError(f"{self.key} has no choice {name!r}; allowed: {', '.join(self.names)}")

    def governed(self) -> tuple[str, ...]:
        """Every key some choice uses and another ignores, in first-use order."""
        return tuple(dict.fromkeys(path for choice in self.choices for path in choice.uses))

    def used_by(self, path: str) -> tuple[str, ...]:
        """The names of the choices that read `path` (empty when it is not a governed key)."""
        return tuple(choice.name for choice in self.choices if path in choice.uses)

    def description(self) -> str:
        """The key's description for the schema: the lead, then what each choice does."""
        return self.lead + " " + "; ".join(f"{c.name}: {c.description}" for c in self.choices) + "."


DATASETS = Registry(
    "data.dataset",
    "Where images come from.",
    (
        Choice(
            "cifar10",
            "torchvision's CIFAR-10 (10 classes, 32 px)",
            uses=("data.root", "data.download", "data.cache"),
        ),
        Choice(
            "imagefolder",
            "your images in root/train/<class>/ (and val/, test/ when present)",
            uses=("data.root", "data.val_fraction", "data.bad_images", "data.resize", "data.cache"),
        ),
        Choice(
            "synthetic",
            "generated shapes, no files and no internet needed",
            uses=("data.synthetic_train_size", "data.synthetic_val_size"),
        ),
        Choice(
            "csv",
            "image paths and labels in root/train.csv (and val.csv, test.csv), or in one .csv with a split column",
            uses=(
                *("data.root", "data.val_fraction", "data.bad_images", "data.resize", "data.cache"),
                *("data.csv_path_column", "data.csv_label_column", "data.csv_split_column", "data.classes"),
                "data.csv_allow_outside",
            ),
        ),
        Choice(
            "shards",
            "tar shards in root (train-000000.tar ..., val-*.tar, test-*.tar) or a brace pattern of them, "
            "members key.jpg|png|webp with key.cls or key.json",
            uses=(*("data.root", "data.val_fraction", "data.bad_images", "data.resize", "data.cache"), "data.classes"),
        ),
        Choice(
            "hf",
            "a Hugging Face dataset on disk (save_to_disk, or parquet files) with image and label columns, "
            "read offline through the datasets library (the hf extra)",
            uses=(
                *("data.root", "data.val_fraction", "data.bad_images", "data.resize", "data.cache"),
                *("data.hf_image_column", "data.hf_label_column", "data.classes"),
            ),
        ),
    ),
)

ROOT_NEEDED = {
    "imagefolder": "a folder with train/<class>/<image files>",
    "csv": "a folder with train.csv (columns path,label), or one .csv file with a split column",
    "hf": "a folder written by save_to_disk, or of train*.parquet files (validation*, test* too)",
    "shards": "a folder with train-000000.tar ... (key.jpg + key.cls members), or a brace pattern of .tar files",
}
"""What data.root must name, for the datasets that cannot do without one."""

BAD_IMAGES = Registry(
    "data.bad_images",
    "What to do with an image file that cannot be decoded.",
    (
        Choice("error", "stop with a list of every bad file"),
        Choice("skip", "train without them and list them in the run folder's bad_images.txt"),
    ),
)

RESIZES = Registry(
    "data.resize",
    "How an image that is not square becomes the square kept in the cache.",
    (
        Choice(
            "crop",
            "shorter side to the stored size, then the centre square, so shapes keep their proportions "
            "(ImageNet's evaluation) and the ends of the longer side are cut",
        ),
        Choice("squash", "the whole image to the square, so nothing is cut and shapes are stretched"),
    ),
)

STORAGES = Registry(
    "data.storage",
    "Where training reads images.",
    (
        Choice("auto", "device when the set fits half the free device memory (RAM on CPU), else stream"),
        Choice("device", "the whole set on the device"),
        Choice("stream", "per batch from the disk cache"),
    ),
)

LOSSES = Registry(
    "loss.name",
    "Training and validation loss.",
    (
        Choice(
            "label_smoothing_ce",
            "cross-entropy with a share of the target's weight spread over the other classes",
            uses=("loss.smoothing",),
        ),
        Choice("cross_entropy", "plain cross-entropy"),
        Choice(
            "focal",
            "focal loss, cross-entropy times (1 - p)^gamma of the target's probability p, so images the model "
            "already gets right count less (for imbalanced classes)",
            uses=("loss.gamma",),
        ),
    ),
)

OPTIMIZERS = Registry(
    "optimizer.name",
    "Optimiser.",
    (
        Choice(
            "rmsprop",
            "steps scaled by a running average of squared gradients",
            uses=("optimizer.momentum", "optimizer.alpha", "optimizer.eps"),
        ),
        Choice("sgd", "stochastic gradient descent", uses=("optimizer.momentum", "optimizer.nesterov")),
        Choice(
            "adamw",
            "Adam with decoupled weight decay",
            uses=("optimizer.eps", "optimizer.beta1", "optimizer.beta2"),
        ),
    ),
)

SCHEDULERS = Registry(
    "scheduler.name",
    "Learning-rate schedule.",
    (
        Choice(
            "cosine",
            "cosine decay from lr to eta_min over t_max epochs, stepped once per epoch",
            uses=("scheduler.t_max", "scheduler.eta_min"),
        ),
        Choice(
            "onecycle",
            "a rise to lr over pct_start of the run, then a fall far below it, stepped per optimiser step",
            uses=("scheduler.pct_start",),
        ),
        Choice(
            "warmup_linear",
            "a linear rise to lr over pct_start of the run, then a linear fall towards 0, stepped per optimiser step",
            uses=("scheduler.pct_start",),
        ),
        Choice("none", "lr stays as set"),
    ),
)

PRECISIONS = Registry(
    "train.precision",
    "Number format of the forward pass on CUDA (CPU and MPS always train in fp32).",
    (
        Choice("fp32", "32-bit floats throughout"),
        Choice("bf16", "bfloat16 autocast"),
        Choice(
            "fp16",
            "float16 autocast with a gradient scaler, for GPUs without bfloat16 (T4, V100); a step whose "
            "gradients overflow is skipped and counted",
        ),
        Choice("auto", "bf16 where the GPU computes bfloat16 natively, else fp16"),
    ),
)

SAMPLERS = Registry(
    "data.sampler",
    "How each epoch draws its training images.",
    (
        Choice("shuffle", "every image once, in a new order each epoch"),
        Choice(
            "balanced",
            "as many draws as images, each class drawn equally often (a rare class's images repeat, a "
            "common class's are subsampled), in an order fixed by the seed and the epoch",
        ),
    ),
)


@dataclass(frozen=True)
class Metric(Choice):
    """A validation figure that can pick the best epoch, and which way is better."""

    maximise: bool = True

    def is_better(self, value: float, best: float | None) -> bool:
        """Whether `value` beats `best` (None: nothing yet); a tie keeps the earlier epoch."""
        if best is None:
            return True
        return value > best if self.maximise else value < best


BEST_METRICS = Registry(
    "train.best_metric",
    "The validation figure that picks the best checkpoint (and a sweep's default objective).",
    (
        Metric("val_acc", "accuracy, higher is better"),
        Metric(
            "macro_f1",
            "the mean of the classes' F1 scores, higher is better: a rare class counts as much as a common one",
        ),
        Metric("balanced_acc", "the mean of the classes' accuracies (recall), higher is better"),
        Metric("val_loss", "validation loss, lower is better", maximise=False),
    ),
)


def best_metric(name: str) -> Metric:
    """The metric called `name` (a KeyError naming the allowed ones otherwise)."""
    metric = BEST_METRICS[name]
    assert isinstance(metric, Metric)
    return metric


REGISTRIES: dict[str, Registry] = {
    registry.key: registry
    for registry in (
        DATASETS,
        BAD_IMAGES,
        RESIZES,
        STORAGES,
        SAMPLERS,
        LOSSES,
        OPTIMIZERS,
        SCHEDULERS,
        PRECISIONS,
        BEST_METRICS,
    )
}
"""Choice key -> its registry."""


def governing(path: str) -> Registry | None:
    """The registry whose choice decides whether `path` is read, or None when it always is."""
    for registry in REGISTRIES.values():
        if path in registry.governed():
            return registry
    return None

"""The figures of the warm-up, made by code: ``python -m autograder figures``.

- (e) ``warmup_e_learning_rates.png``: four real training runs of a small network that
  differ only in the learning rate, in the shuffled panel order of ``warmup.PANEL_LABELS``;
- (f) ``warmup_f_activation.png``: the Leaky ReLU, unnamed (the student names it);
- (h) ``answer_figures/h_networks.png``: depth, size and ImageNet error of four classic
  networks, and ``answer_figures/h_blocks.png``: sketches of a VGG 3×3 stack, an Inception
  module with its 1×1 reductions and a residual block with its skip, for the model answer
  only (they are not shipped to students).

Everything is seeded and runs single-threaded on the CPU, so the same library versions
give the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from matplotlib.figure import Figure

from .build import MASTER
from .warmup import LEARNING_RATES, PANEL_LABELS

FIGURES = MASTER / "figures"
ANSWER_FIGURES = Path(__file__).resolve().parent / "answer_figures"
DPI = 100
# No "Software" entry: the PNG then holds nothing that changes between runs.
PNG_METADATA = {"Software": None}

DATA_SEED = 0
TRAIN_SEED = 1
EPOCHS = 60
BATCH = 30
HIDDEN = 64
# Top of the shared loss axis of (e), as a multiple of the loss before training.
Y_TOP = 1.3


def spiral_data(points_per_class: int = 200, classes: int = 3,
                seed: int = DATA_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Interleaved noisy spirals in 2-D: a classic task that a linear model cannot solve."""
    gen = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c in range(classes):
        radius = torch.linspace(0.05, 1.0, points_per_class)
        angle = (torch.linspace(4.0 * c, 4.0 * (c + 1), points_per_class)
                 + 0.25 * torch.randn(points_per_class, generator=gen))
        xs.append(torch.stack([radius * torch.sin(angle), radius * torch.cos(angle)], dim=1))
        ys.append(torch.full((points_per_class,), c))
    return torch.cat(xs), torch.cat(ys)


def train_run(lr: float, epochs: int = EPOCHS, seed: int = TRAIN_SEED) -> list[float]:
    """Train a 2-layer MLP with plain minibatch SGD; mean training loss per epoch.

    Entry 0 is the loss before any step. Every run starts from the same weights and sees
    the same minibatches, so the learning rate is the only difference between runs.
    A loss that overflows is recorded as inf.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same sums in the same order every time
    try:
        return _train(lr, epochs, seed)
    finally:
        torch.set_num_threads(threads)


def _train(lr: float, epochs: int, seed: int) -> list[float]:
    x, y = spiral_data()
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, HIDDEN), torch.nn.ReLU(),
                              torch.nn.Linear(HIDDEN, int(y.max()) + 1))
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.functional.cross_entropy
    with torch.no_grad():
        curve = [loss_fn(net(x), y).item()]
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=order)
        total, steps = 0.0, 0
        for start in range(0, len(x), BATCH):
            idx = perm[start:start + BATCH]
            loss = loss_fn(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            steps += 1
        mean = total / steps
        curve.append(mean if math.isfinite(mean) else math.inf)
    return curve


def learning_rate_curves() -> dict[str, list[float]]:
    """Label -> per-epoch training loss of the run at LEARNING_RATES[label]."""
    return {label: train_run(lr) for label, lr in LEARNING_RATES.items()}


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata=PNG_METADATA)
    return path


def draw_e(curves: dict[str, list[float]]) -> Figure:
    """Four panels A-D, one run each, in the order of PANEL_LABELS; titles are letters only.

    All panels share one linear loss axis, from 0 to Y_TOP times the loss before training,
    and show that starting loss as a dashed line. A run whose loss leaves the axis is not
    flattened along its top edge: its line leaves the panel, and a note gives the values
    it reached, so a diverging run cannot be mistaken for a plateau.
    """
    start = curves[PANEL_LABELS["A"]][0]
    top = Y_TOP * start
    fig = Figure(figsize=(8, 5.5))
    axes = fig.subplots(2, 2, sharex=True, sharey=True)
    for ax, panel in zip(axes.flat, sorted(PANEL_LABELS)):
        loss = curves[PANEL_LABELS[panel]]
        shown = [v if math.isfinite(v) else math.nan for v in loss]
        ax.axhline(loss[0], color="0.55", linestyle="--", linewidth=0.9)
        ax.plot(range(len(loss)), shown, color="tab:blue", linewidth=1.6)
        off = [i for i, v in enumerate(loss) if not v <= top]
        if off:
            finite = [v for v in loss if math.isfinite(v)]
            peak = "overflow (inf)" if len(finite) < len(loss) else f"{max(finite):.3g}"
            ax.annotate(f"off the scale: up to {peak}, {loss[-1]:.3g} at the end",
                        xy=(off[0], top), xytext=(0.97, 0.06), textcoords="axes fraction",
                        ha="right", color="tab:red", fontsize=8.5,
                        arrowprops={"arrowstyle": "->", "color": "tab:red"})
            # The whole run on a log scale, so that its rise is seen, not just told.
            inset = ax.inset_axes((0.4, 0.3, 0.56, 0.55))
            inset.semilogy(range(len(loss)), shown, color="tab:blue", linewidth=1.2)
            inset.axhline(loss[0], color="0.55", linestyle="--", linewidth=0.8)
            inset.set_title("the same run, log scale", fontsize=8)
            inset.tick_params(labelsize=7)
            inset.set_xlim(0, len(loss) - 1)
            inset.grid(alpha=0.3)
        ax.set_title(panel, fontsize=13, fontweight="bold")
        ax.set_ylim(0, top)
        ax.set_xlim(0, len(loss) - 1)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("training loss")
    fig.suptitle("Training loss of the same network at four learning rates\n"
                 "(dashed: the loss before training)", fontsize=11)
    fig.tight_layout()
    return fig


def figure_e(path: Path = FIGURES / "warmup_e_learning_rates.png") -> Path:
    """Train the four runs and save their figure."""
    return _save(draw_e(learning_rate_curves()), path)


def figure_f(path: Path = FIGURES / "warmup_f_activation.png", slope: float = 0.1) -> Path:
    """The Leaky ReLU max(slope * x, x), with a slope large enough to see."""
    x = torch.linspace(-4, 4, 401)
    y = torch.where(x > 0, x, slope * x)
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.axvline(0, color="0.6", linewidth=0.8)
    ax.plot(x.tolist(), y.tolist(), color="tab:purple", linewidth=2.2)
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.set_xlim(-4, 4)
    ax.set_ylim(-1.5, 4)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


#: Numbers of the (h) figure: name -> (layers with weights, parameters in millions,
#: ImageNet top-5 error in % of the network's ILSVRC entry on the test set).
NETWORKS = {
    "AlexNet\n(2012)": (8, 60.0, 15.3),
    "VGG-16\n(2014)": (16, 138.0, 7.3),
    "GoogLeNet\n(2014)": (22, 6.8, 6.67),
    "ResNet-152\n(2015)": (152, 60.2, 3.57),
}

H_SOURCES = (
    "Depth = layers with weights. Top-5 error: each network's ILSVRC entry on the test set, "
    "as reported in its paper\n"
    "(AlexNet: 7-CNN ensemble, ILSVRC-2012; VGG: ILSVRC-2014 submission; GoogLeNet: "
    "7-model ensemble; ResNet: ensemble, ILSVRC-2015).\n"
    "Parameters: AlexNet ~60M and VGG-16 138M from their papers; GoogLeNet ~6.8M (the paper: "
    "12x fewer than AlexNet); ResNet-152 60.2M (torchvision)."
)


def figure_h(path: Path = ANSWER_FIGURES / "h_networks.png") -> Path:
    """Depth, parameters and top-5 error of AlexNet, VGG-16, GoogLeNet and ResNet-152."""
    names = list(NETWORKS)
    colors = ["tab:gray", "tab:orange", "tab:green", "tab:blue"]
    fig = Figure(figsize=(11, 4.4))
    axes = fig.subplots(1, 3)
    panels = [("depth (layers with weights)", "{:.0f}", True),
              ("parameters (millions)", "{:g}M", False),
              ("ImageNet top-5 error (%)", "{:g}%", False)]
    for k, (ax, (title, fmt, log)) in enumerate(zip(axes, panels)):
        values = [NETWORKS[n][k] for n in names]
        bars = ax.bar(range(len(names)), values, color=colors)
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], fontsize=9)
        ax.set_xticks(range(len(names)), names, fontsize=8.5)
        ax.set_title(title, fontsize=11)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(5, 400)
        else:
            ax.set_ylim(0, max(values) * 1.18)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Four landmark ImageNet networks: deeper, not necessarily bigger")
    fig.text(0.01, 0.01, H_SOURCES, fontsize=7.5, va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.15, 1, 1))
    return _save(fig, path)


def _box(ax, x: float, y: float, text: str, color: str, width: float = 2.2,
         height: float = 0.55) -> tuple[float, float, float, float]:
    """A labelled box centred at (x, y); returns (left, bottom, right, top)."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.03,rounding_size=0.08",
                                facecolor=color, edgecolor="0.25", linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=8.5)
    return x - width / 2, y - height / 2, x + width / 2, y + height / 2


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], **style) -> None:
    props = {"arrowstyle": "-|>", "color": "0.2", "linewidth": 1.0, "shrinkA": 0,
             "shrinkB": 0, **style}
    ax.annotate("", xy=end, xytext=start, arrowprops=props)


CONV3, CONV1, POOL, OTHER = "#9ecae1", "#fdd0a2", "#c7e9c0", "#eeeeee"
BIG = "#6baed6"  # kernels larger than 3×3


def _stack(ax, layers: list[tuple[str, str]], pitch: float, width: float) -> None:
    """A plain chain of layers from the image up, as VGG and AlexNet are drawn."""
    ys = [0.6 + pitch * i for i in range(len(layers))]
    for (text, color), y in zip(layers, ys):
        _box(ax, 2.5, y, text, color, width=width)
    for y0, y1 in zip(ys, ys[1:]):
        _arrow(ax, (2.5, y0 + 0.28), (2.5, y1 - 0.28))
    ax.text(2.5, -0.25, "image", ha="center", va="center", fontsize=8.5)
    _arrow(ax, (2.5, -0.05), (2.5, ys[0] - 0.28))


def _vgg(ax) -> None:
    layers = [("3×3 conv, 64", CONV3), ("3×3 conv, 64", CONV3), ("2×2 max pool", POOL),
              ("3×3 conv, 128", CONV3), ("3×3 conv, 128", CONV3), ("2×2 max pool", POOL),
              ("3×3 conv, 256  (×3)", CONV3), ("...", OTHER)]
    _stack(ax, layers, pitch=0.9, width=2.8)
    ax.text(4.15, 1.05, "two 3×3 layers see\na 5×5 window with\n18 instead of 25\n"
            "weights per channel pair", fontsize=7.5, va="center")
    ax.set_title("VGG: a deep stack of 3×3 convolutions", fontsize=10)
    ax.set_xlim(0.6, 6.4)
    ax.set_ylim(-0.6, 7.6)


def _inception(ax) -> None:
    _box(ax, 3.4, 0.3, "previous layer", OTHER, width=3.0)
    _box(ax, 3.4, 5.0, "concatenate along channels", OTHER, width=5.8)
    xs = [0.9, 2.55, 4.25, 5.9]
    top = [("1×1 conv", CONV1), ("3×3 conv", CONV3), ("5×5 conv", CONV3), ("1×1 conv", CONV1)]
    low = [None, ("1×1 conv\n(reduce)", CONV1), ("1×1 conv\n(reduce)", CONV1),
           ("3×3 max pool", POOL)]
    for x, upper, lower in zip(xs, top, low):
        _arrow(ax, (3.4, 0.58), (x, 1.55 if lower else 3.1 - 0.28))
        if lower:
            _box(ax, x, 1.85, lower[0], lower[1], width=1.5, height=0.6)
            _arrow(ax, (x, 2.15), (x, 3.1 - 0.28))
        _box(ax, x, 3.1, upper[0], upper[1], width=1.5)
        _arrow(ax, (x, 3.38), (x, 5.0 - 0.28))
    ax.text(3.4, 6.0, "1×1 convolutions cut the channels before\nthe costly 3×3 and 5×5 "
            "convolutions", ha="center", fontsize=7.5)
    ax.set_title("GoogLeNet: an Inception module", fontsize=10)
    ax.set_xlim(-0.1, 6.9)
    ax.set_ylim(-0.4, 6.9)


def _alexnet(ax) -> None:
    layers = [("11×11 conv, 96, stride 4", BIG), ("ReLU, 3×3 max pool", POOL),
              ("5×5 conv, 256", BIG), ("ReLU, 3×3 max pool", POOL),
              ("3×3 conv, 384 / 384 / 256", CONV3), ("dense 4096, dropout (×2)", OTHER),
              ("dense 1000, softmax", OTHER)]
    _stack(ax, layers, pitch=0.95, width=3.2)
    ax.text(4.3, 1.6, "large early\nkernels, ReLU,\ndropout; trained\non two GPUs",
            fontsize=7.5, va="center")
    ax.set_title("AlexNet: a few large convolutions", fontsize=10)
    ax.set_xlim(0.6, 6.0)
    ax.set_ylim(-0.6, 7.6)


def _residual(ax) -> None:
    """The bottleneck block of ResNet-50/101/152 (the ResNet of the question's table)."""
    _box(ax, 2.0, 0.3, "x (256 channels)", OTHER, width=1.9)
    _box(ax, 2.0, 1.4, "1×1 conv, 64", CONV1)
    _box(ax, 2.0, 2.3, "batch norm, ReLU", OTHER)
    _box(ax, 2.0, 3.2, "3×3 conv, 64", CONV3)
    _box(ax, 2.0, 4.1, "batch norm, ReLU", OTHER)
    _box(ax, 2.0, 5.0, "1×1 conv, 256", CONV1)
    for y0, y1 in ((0.58, 1.12), (1.68, 2.02), (2.58, 2.92), (3.48, 3.82), (4.38, 4.72),
                   (5.28, 5.45)):
        _arrow(ax, (2.0, y0), (2.0, y1))
    from matplotlib.patches import Circle

    ax.add_patch(Circle((2.0, 5.7), 0.25, facecolor="white", edgecolor="0.2"))
    ax.text(2.0, 5.7, "+", ha="center", va="center", fontsize=12)
    _arrow(ax, (2.0, 5.95), (2.0, 6.55))
    ax.text(2.0, 6.8, "ReLU( F(x) + x )", ha="center", va="center", fontsize=8.5)
    # The identity shortcut, drawn around the stack on the right.
    _arrow(ax, (2.95, 0.3), (3.9, 0.3), arrowstyle="-", color="tab:red", linewidth=1.6)
    _arrow(ax, (3.9, 0.3), (3.9, 5.7), arrowstyle="-", color="tab:red", linewidth=1.6)
    _arrow(ax, (3.9, 5.7), (2.25, 5.7), color="tab:red", linewidth=1.6)
    ax.text(4.05, 3.0, "identity\nshortcut:\nx skips\nthe block", color="tab:red",
            fontsize=7.5, va="center")
    ax.text(0.3, 3.2, "F(x)", fontsize=10, va="center", style="italic")
    ax.text(2.0, -0.5, "1×1 convolutions shrink to 64 channels\nand restore 256 around the 3×3",
            ha="center", va="center", fontsize=7.5)
    ax.set_title("ResNet-152: a bottleneck residual block", fontsize=10)
    ax.set_xlim(0.1, 5.2)
    ax.set_ylim(-1.0, 7.3)


def figure_h_blocks(path: Path = ANSWER_FIGURES / "h_blocks.png") -> Path:
    """Sketches of the defining building blocks of AlexNet, VGG, GoogLeNet and ResNet-152."""
    fig = Figure(figsize=(16, 5.4))
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1.0, 1.0, 1.3, 0.95]})
    for ax, draw in zip(axes, (_alexnet, _vgg, _inception, _residual)):
        draw(ax)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _save(fig, path)


def make_all() -> list[Path]:
    """Write every figure; returns their paths."""
    return [figure_e(), figure_f(), figure_h(), figure_h_blocks()]

"""Build the image-kind training data here, reproducibly, from Debian packages and generated pictures.

    python -m training.kinds_data --out .cache/kinds --flickr8k ../shared/data/flickr8k

Needs (Debian): chromium, librsvg2-bin, papirus-icon-theme, breeze-icon-theme, fonts-noto-color-emoji,
fonts-liberation2, fonts-urw-base35, fonts-freefont-ttf, fonts-dejavu-extra, fonts-cantarell,
python3-doc, debian-reference-en; (pip) matplotlib. README: "Image kinds" has the one-line set-up.

Writes OUT/images/KIND/SOURCE/NNNN.png and OUT/manifest.tsv (path, kind, source, split): every
fourth item of each source is held out ("held"), the rest is "train". Photos are not copied: the
manifest names Flickr8k train-split files. Everything is seeded; the same packages give the same data.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

KINDS = ("photo", "text", "screenshot", "icon", "chart", "decoration", "art")
ICON_THEMES = ("/usr/share/icons/Papirus", "/usr/share/icons/breeze", "/usr/share/icons/Adwaita",
               "/usr/share/icons/hicolor")
EMOJI_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
FONT_DIRS = ("/usr/share/fonts/truetype", "/usr/share/fonts/opentype")
NOT_LETTERS = ("Emoji", "Symbol", "D050000L", "MathTeX")
DOC_ROOTS = ("/usr/share/doc/python3/html", "/usr/share/debian-reference")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]
WORDS = ("Register", "Sign in", "Log out", "Download", "Call for papers", "Contact us", "Buy now", "Subscribe",
         "Learn more", "Read more", "Donate", "Next", "Previous", "Submit", "Cancel", "OK", "Search", "Home",
         "About us", "Our team", "News", "Events", "Summer sale", "Free shipping", "Join the club",
         "Get started", "Documentation", "Support", "Welcome", "Annual report 2024", "Open day",
         "Book a table", "Menu", "Shop", "Careers", "Privacy", "Terms of use", "Members area", "Apply today",
         "New!", "50% off", "Conference 2025", "Volunteer", "Gallery", "Contact", "FAQ", "Login", "Continue")
TITLES = ("SSH settings", "Preferences", "Print", "Save changes?", "Network connections", "Update available",
          "Error", "Open file", "About", "Accounts", "Firewall", "Backup")
TERMINAL_LINES = ("$ ls -la", "total 48", "drwxr-xr-x  5 user user 4096 Mar  3 12:01 .",
                  "-rw-r--r--  1 user user  220 Mar  3 12:01 .bashrc", "$ git status", "On branch main",
                  "nothing to commit, working tree clean", "$ make test", "gcc -O2 -Wall -c main.c",
                  "PASS: 42 tests", "$ ssh admin@server", "Last login: Tue Mar  4 09:12:44",
                  "$ sudo apt-get update", "Reading package lists... Done", "$ python3 app.py",
                  "Traceback (most recent call last):", "  File \"app.py\", line 3", "$ top",
                  "  PID USER      PR  NI    VIRT    RES", "$ df -h", "/dev/sda1   50G   21G   27G  44% /")


def fonts() -> list[Path]:
    found = sorted(p for d in FONT_DIRS for p in Path(d).rglob("*") if p.suffix in (".ttf", ".otf"))
    return [p for p in found if not any(n in p.name for n in NOT_LETTERS)]


def colour(rng: random.Random, dark: bool | None = None) -> tuple[int, int, int]:
    low, high = (0, 110) if dark else (150, 255) if dark is False else (0, 255)
    return tuple(rng.randint(low, high) for _ in range(3))


def gradient(size: tuple[int, int], a, b, vertical: bool = True) -> Image.Image:
    w, h = size
    t = np.linspace(0, 1, h if vertical else w, dtype=np.float32)
    t = t[:, None, None] if vertical else t[None, :, None]
    pixels = np.asarray(a, np.float32) * (1 - t) + np.asarray(b, np.float32) * t
    return Image.fromarray(np.broadcast_to(pixels, (h, w, 3)).astype(np.uint8), "RGB")


def text_size(draw: ImageDraw.ImageDraw, text: str, font) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    return right - left, bottom - top


# ---------------------------------------------------------------- text


def text_image(rng: random.Random, font_files: list[Path]) -> Image.Image:
    """A button, heading, banner or word-mark: words in a font, colour and background of chance."""
    words = rng.choice(WORDS)
    words = words.upper() if rng.random() < 0.3 else words
    style = rng.choice(("button", "heading", "banner", "wordmark"))
    size = {"button": rng.randint(11, 22), "heading": rng.randint(18, 40), "banner": rng.randint(28, 64),
            "wordmark": rng.randint(24, 56)}[style]
    font = ImageFont.truetype(str(rng.choice(font_files)), size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    tw, th = text_size(probe, words, font)
    pad_x, pad_y = rng.randint(6, 40), rng.randint(4, 24)
    w, h = tw + 2 * pad_x, th + 2 * pad_y + size // 3
    if style == "banner":
        w = max(w, rng.randint(300, 728))
    dark = rng.random() < 0.5
    back, ink = colour(rng, dark), colour(rng, not dark)
    image = gradient((w, h), back, colour(rng, dark), rng.random() < 0.7) if rng.random() < 0.5 \
        else Image.new("RGB", (w, h), back)
    draw = ImageDraw.Draw(image)
    if style == "button":
        image = Image.new("RGB", (w, h), colour(rng, False) if rng.random() < 0.5 else (255, 255, 255))
        draw = ImageDraw.Draw(image)
        draw.rounded_rectangle((1, 1, w - 2, h - 2), radius=rng.randint(0, h // 2), fill=back,
                               outline=ink if rng.random() < 0.3 else None)
    draw.text(((w - tw) // 2, pad_y), words, font=font, fill=ink)
    return image


# ---------------------------------------------------------------- icons


def icon_files() -> list[Path]:
    found = []
    for theme in ICON_THEMES:
        found += sorted(Path(theme).rglob("*.svg"))[:20000] + sorted(Path(theme).rglob("*.png"))[:5000]
    return [p for p in found if not p.is_symlink()]


def render_svg(path: Path, side: int) -> Image.Image | None:
    done = subprocess.run(["rsvg-convert", "-w", str(side), "-h", str(side), str(path)],
                          capture_output=True, timeout=20)
    if done.returncode or not done.stdout:
        return None
    return Image.open(io.BytesIO(done.stdout))


def on_background(image: Image.Image, rng: random.Random, side: int) -> Image.Image:
    image = image.convert("RGBA").resize((side, side), Image.LANCZOS)
    back = (255, 255, 255) if rng.random() < 0.5 else colour(rng)
    pad = rng.randint(0, side // 4)
    canvas = Image.new("RGBA", (side + 2 * pad, side + 2 * pad), back + (255,))
    canvas.alpha_composite(image, (pad, pad))
    return canvas.convert("RGB")


def icon_images(rng: random.Random, count: int) -> Iterator[Image.Image]:
    files = icon_files()
    rng.shuffle(files)
    emoji = ImageFont.truetype(EMOJI_FONT, 109)
    codes = list(range(0x1F300, 0x1F5FF)) + list(range(0x1F600, 0x1F64F)) + list(range(0x1F680, 0x1F6C5))
    made = 0
    for path in files:
        if made >= count:
            return
        side = rng.choice((16, 24, 32, 48, 64, 96, 128))
        if rng.random() < 0.3:
            picture = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
            ImageDraw.Draw(picture).text((0, 0), chr(rng.choice(codes)), font=emoji, embedded_color=True)
            if picture.getbbox() is None:
                continue
        else:
            picture = render_svg(path, 256) if path.suffix == ".svg" else Image.open(path)
            if picture is None:
                continue
        yield on_background(picture, rng, side)
        made += 1


# ---------------------------------------------------------------- charts and diagrams


def chart_image(rng: random.Random) -> Image.Image:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    style = rng.choice(("default", "ggplot", "seaborn-v0_8", "bmh", "classic", "fivethirtyeight", "grayscale"))
    with plt.style.context(style):
        fig, ax = plt.subplots(figsize=(rng.uniform(3, 8), rng.uniform(2.5, 6)), dpi=rng.choice((60, 80, 100)))
        n = rng.randint(3, 12)
        values = np.random.default_rng(rng.randint(0, 10**9)).random(n) * rng.choice((1, 10, 100, 1000))
        kind = rng.choice(("bar", "barh", "line", "pie", "scatter", "hist", "area", "diagram"))
        labels = [f"{rng.choice(('Q', 'Y', 'W', 'Item ', ''))}{i + 1}" for i in range(n)]
        if kind == "bar":
            ax.bar(labels, values, color=[f"C{i % 10}" for i in range(n)] if rng.random() < 0.5 else None)
        elif kind == "barh":
            ax.barh(labels, values)
        elif kind == "line":
            for series in range(rng.randint(1, 4)):
                ax.plot(np.cumsum(np.random.default_rng(series + n).standard_normal(40)), label=f"series {series}")
            ax.legend()
        elif kind == "pie":
            ax.pie(values[:6], labels=labels[:6], autopct="%1.0f%%")
        elif kind == "scatter":
            points = np.random.default_rng(n).standard_normal((2, 30 * n))
            ax.scatter(points[0], points[1] * values.mean(), s=rng.randint(4, 40), alpha=0.7)
        elif kind == "hist":
            ax.hist(np.random.default_rng(n).standard_normal(500), bins=rng.randint(8, 40))
        elif kind == "area":
            ax.stackplot(range(n), values, values[::-1], alpha=0.8)
        else:
            diagram(ax, rng)
        if kind != "diagram":
            ax.set_title(rng.choice(("Sales", "Visitors per month", "Results", "Growth", "", "Share by region")))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
    return Image.open(buffer).convert("RGB")


def diagram(ax, rng: random.Random) -> None:
    """Boxes joined by arrows: a flow chart."""
    boxes = rng.randint(3, 7)
    xs = [rng.uniform(0.1, 0.9) for _ in range(boxes)]
    ys = [1 - (i + 0.5) / boxes for i in range(boxes)]
    for i in range(boxes):
        ax.text(xs[i], ys[i], rng.choice(WORDS), ha="center", va="center",
                bbox={"boxstyle": rng.choice(("round", "square", "round4")), "fc": f"C{i % 10}", "alpha": 0.4})
        if i:
            ax.annotate("", (xs[i], ys[i] + 0.04), (xs[i - 1], ys[i - 1] - 0.04), arrowprops={"arrowstyle": "->"})
    ax.set_axis_off()


# ---------------------------------------------------------------- screenshots


def doc_pages(rng: random.Random) -> list[Path]:
    found = sorted(p for root in DOC_ROOTS for p in Path(root).rglob("*.html"))
    rng.shuffle(found)
    return found


def chromium_screenshot(page: Path, size: tuple[int, int], profile: Path) -> Image.Image | None:
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        command = ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                   f"--screenshot={shot}", page.as_uri()]
        try:
            subprocess.run(command, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            return None
        return Image.open(shot).convert("RGB") if shot.is_file() else None


def window(rng: random.Random, size: tuple[int, int], title: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """An empty desktop window with a title bar."""
    image = Image.new("RGB", size, colour(rng, False))
    draw = ImageDraw.Draw(image)
    bar = colour(rng)
    draw.rectangle((0, 0, size[0], 28), fill=bar)
    draw.text((10, 7), title, fill=(255, 255, 255) if sum(bar) < 380 else (0, 0, 0))
    for i in range(3):
        draw.ellipse((size[0] - 22 - 20 * i, 8, size[0] - 10 - 20 * i, 20), fill=colour(rng))
    return image, draw


def dialog_image(rng: random.Random, font_files: list[Path]) -> Image.Image:
    size = (rng.randint(300, 700), rng.randint(180, 480))
    image, draw = window(rng, size, rng.choice(TITLES))
    font = ImageFont.truetype(str(rng.choice(font_files)), rng.randint(11, 15))
    y = 44
    while y < size[1] - 70:
        draw.text((16, y), rng.choice(WORDS) + ":", fill=(20, 20, 20), font=font)
        draw.rectangle((150, y - 2, size[0] - 20, y + 18), outline=(120, 120, 120), fill=(255, 255, 255))
        y += rng.randint(28, 40)
    for i, label in enumerate(("OK", "Cancel")):
        x = size[0] - 90 * (i + 1)
        draw.rounded_rectangle((x, size[1] - 44, x + 80, size[1] - 16), 4, fill=colour(rng), outline=(90, 90, 90))
        draw.text((x + 22, size[1] - 38), label, fill=(0, 0, 0), font=font)
    return image


def terminal_image(rng: random.Random, font_files: list[Path]) -> Image.Image:
    mono = [f for f in font_files if "Mono" in f.name]
    font = ImageFont.truetype(str(rng.choice(mono)), rng.randint(11, 16))
    size = (rng.randint(400, 900), rng.randint(240, 560))
    image, draw = window(rng, size, "user@host: ~")
    draw.rectangle((0, 29, size[0], size[1]), fill=colour(rng, True) if rng.random() < 0.8 else (250, 250, 250))
    ink = rng.choice(((220, 220, 220), (80, 250, 80), (240, 240, 240), (20, 20, 20)))
    y = 34
    while y < size[1] - 16:
        draw.text((6, y), rng.choice(TERMINAL_LINES), fill=ink, font=font)
        y += font.size + 4
    return image


def screenshot_images(rng: random.Random, count: int, font_files: list[Path], tmp: Path) -> Iterator[Image.Image]:
    pages = doc_pages(rng)
    for i in range(count):
        if i % 2 == 0 and pages and shutil.which("chromium"):
            size = rng.choice(((800, 600), (1024, 768), (1280, 800), (640, 480)))
            shot = chromium_screenshot(pages[i % len(pages)], size, tmp / "profile")
            if shot is not None:
                yield crop_or_scale(shot, rng)
                continue
        yield (dialog_image if i % 4 in (1, 2) else terminal_image)(rng, font_files)


def crop_or_scale(image: Image.Image, rng: random.Random) -> Image.Image:
    """Screenshots on the web are often cut to a part, or shrunk."""
    w, h = image.size
    if rng.random() < 0.4:
        cw, ch = int(w * rng.uniform(0.4, 0.9)), int(h * rng.uniform(0.4, 0.9))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        return image.crop((x, y, x + cw, y + ch))
    scale = rng.uniform(0.4, 1.0)
    return image.resize((int(w * scale), int(h * scale)), Image.LANCZOS)


# ---------------------------------------------------------------- decoration


def decoration_image(rng: random.Random) -> Image.Image:
    """Spacers, dividers, slices, shadows, corners and background tiles: nothing to say about them."""
    style = rng.choice(("flat", "slice", "divider", "gradient", "corner", "tile", "shadow"))
    a, b = colour(rng), colour(rng)
    if style == "flat":
        return Image.new("RGB", (rng.randint(1, 400), rng.randint(1, 200)), a)
    if style == "slice":
        wide = rng.random() < 0.5
        size = (rng.randint(20, 120), rng.randint(3, 16)) if wide else (rng.randint(3, 16), rng.randint(20, 120))
        return gradient(size, a, b, size[1] > size[0])
    if style == "divider":
        image = Image.new("RGB", (rng.randint(200, 900), rng.randint(4, 24)), (255, 255, 255))
        draw = ImageDraw.Draw(image)
        mid = image.size[1] // 2
        draw.line((0, mid, image.size[0], mid), fill=a, width=rng.randint(1, 3))
        if rng.random() < 0.5:
            for x in range(0, image.size[0], rng.randint(6, 20)):
                draw.ellipse((x, mid - 2, x + 4, mid + 2), fill=b)
        return image
    if style == "gradient":
        return gradient((rng.randint(100, 1200), rng.randint(20, 300)), a, b, rng.random() < 0.5)
    if style == "corner":
        side = rng.randint(6, 40)
        image = Image.new("RGB", (side, side), a)
        ImageDraw.Draw(image).ellipse((0, 0, 2 * side, 2 * side), fill=b)
        return image
    if style == "tile":
        side = rng.randint(8, 64)
        tile = Image.new("RGB", (side, side), a)
        draw = ImageDraw.Draw(tile)
        for _ in range(rng.randint(1, 4)):
            x, y = rng.randint(0, side), rng.randint(0, side)
            draw.rectangle((x, y, x + side // 4, y + side // 4), fill=b)
        reps = rng.randint(1, 6)
        return tile.resize((side * reps, side * reps), Image.NEAREST) if rng.random() < 0.5 else tile
    image = Image.new("RGB", (rng.randint(40, 600), rng.randint(6, 30)), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((0, 0, image.size[0], image.size[1] // 3), fill=a)
    return image.filter(ImageFilter.GaussianBlur(rng.uniform(1, 5)))


# ---------------------------------------------------------------- art


def art_image(rng: random.Random) -> Image.Image:
    """Drawings and renders: doodles, abstract shapes, painted landscapes, fractals."""
    w, h = rng.randint(200, 640), rng.randint(200, 640)
    style = rng.choice(("doodle", "abstract", "landscape", "fractal"))
    noise = np.random.default_rng(rng.randint(0, 10**9))
    if style == "fractal":
        return fractal(w, h, noise)
    image = gradient((w, h), colour(rng, False), colour(rng), True) if style == "landscape" \
        else Image.new("RGB", (w, h), colour(rng, False))
    draw = ImageDraw.Draw(image, "RGBA")
    if style == "doodle":
        for _ in range(rng.randint(3, 20)):
            points = np.cumsum(noise.standard_normal((rng.randint(10, 60), 2)) * 12, axis=0) + (w / 2, h / 2)
            ink = colour(rng, True) + (255,)
            draw.line([tuple(p) for p in points], fill=ink, width=rng.randint(1, 5), joint="curve")
    elif style == "abstract":
        for _ in range(rng.randint(5, 40)):
            x, y, r = rng.randint(0, w), rng.randint(0, h), rng.randint(10, max(w, h) // 3)
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x - r, y - r, x + r, y + r), fill=colour(rng) + (rng.randint(60, 200),))
    else:
        for layer in range(rng.randint(2, 4)):
            base = h * (0.4 + 0.15 * layer)
            ridge = [(x, base - abs(math.sin(x / rng.uniform(20, 90))) * rng.uniform(20, 120))
                     for x in range(0, w + 10, 10)]
            draw.polygon([(0, h)] + ridge + [(w, h)], fill=colour(rng, True) + (255,))
        x, y = rng.randint(0, w), rng.randint(0, h // 3)
        draw.ellipse((x - 25, y - 25, x + 25, y + 25), fill=(255, 230, 120, 255))
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.5)))
    return image


def fractal(w: int, h: int, noise: np.random.Generator) -> Image.Image:
    centre = complex(noise.uniform(-0.8, -0.6), noise.uniform(-0.4, 0.4))
    scale = noise.uniform(0.02, 1.5)
    y, x = np.mgrid[-1:1:h * 1j, -1.5:1.5:w * 1j]
    c = centre + scale * (x + 1j * y)
    z, count = np.zeros_like(c), np.zeros(c.shape, np.float32)
    for _ in range(60):
        z = np.where(np.abs(z) < 4, z * z + c, z)
        count += np.abs(z) < 4
    t = count / 60
    phase = noise.uniform(0, 6, 3)
    rgb = (np.sin(t[..., None] * 6 + phase) * 0.5 + 0.5) * 255
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


# ---------------------------------------------------------------- the data set


def generators(count: int, tmp: Path) -> dict[tuple[str, str], Callable[[random.Random], Iterator[Image.Image]]]:
    """(kind, source) -> a function of a seeded random source that yields its pictures."""
    font_files = fonts()

    def repeat(make):
        return lambda rng: (make(rng) for _ in range(count))

    return {
        ("text", "rendered-words"): repeat(lambda rng: text_image(rng, font_files)),
        ("icon", "icon-themes-and-emoji"): lambda rng: icon_images(rng, count),
        ("chart", "matplotlib"): repeat(chart_image),
        ("screenshot", "docs-and-mockups"): lambda rng: screenshot_images(rng, count, font_files, tmp),
        ("decoration", "spacers-and-slices"): repeat(decoration_image),
        ("art", "generated-art"): repeat(art_image),
    }


def flickr_photos(flickr8k: Path, count: int, seed: int) -> list[Path]:
    names = (flickr8k / "Flickr8k_text" / "Flickr_8k.trainImages.txt").read_text().split()
    random.Random(seed).shuffle(names)
    return [flickr8k / "Flicker8k_Dataset" / n for n in names[:count]]


def split(index: int) -> str:
    return "held" if index % 4 == 3 else "train"


def build(out: Path, flickr8k: Path, count: int, seed: int) -> list[tuple[str, str, str, str]]:
    rows = [(str(p), "photo", "flickr8k-train", split(i)) for i, p in enumerate(flickr_photos(flickr8k, count, seed))]
    with tempfile.TemporaryDirectory() as tmp:
        for n, ((kind, source), make) in enumerate(generators(count, Path(tmp)).items()):
            folder = out / "images" / kind / source
            folder.mkdir(parents=True, exist_ok=True)
            for i, image in enumerate(make(random.Random(seed * 1000 + n))):
                path = folder / f"{i:04d}.png"
                image.save(path)
                rows.append((str(path), kind, source, split(i)))
            print(f"{kind}/{source}: {i + 1} images", flush=True)
    (out / "manifest.tsv").write_text("".join("\t".join(r) + "\n" for r in rows))
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path(".cache/kinds"))
    p.add_argument("--flickr8k", type=Path, default=Path("../shared/data/flickr8k"))
    p.add_argument("--per-kind", type=int, default=240, help="pictures per kind (a quarter held out)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows = build(args.out, args.flickr8k, args.per_kind, args.seed)
    print(f"{len(rows)} images listed in {args.out / 'manifest.tsv'}")


if __name__ == "__main__":
    main()

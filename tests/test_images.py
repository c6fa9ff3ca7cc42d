"""alttext/images.py: the pixel budget and the decompression-bomb check, also from many threads at once."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from imagefiles import encode, gradient, png_header_only
from PIL import Image

from alttext.errors import SourceError
from alttext.images import MAX_PIXELS, decoded_pixels, open_image

PNG = encode(gradient(), "PNG")
BOMB = png_header_only(12000, 12000)  # 144 megapixels: past Pillow's limit, short of twice it
WARNED = "ignore:Image size:PIL.Image.DecompressionBombWarning"


def reason(data: bytes) -> str:
    try:
        open_image(data, "x")
    except SourceError as error:
        return error.reason
    return "decoded"


@pytest.mark.filterwarnings(WARNED)
def test_bombs_and_pictures_decoded_together_in_threads_each_get_their_own_answer():
    filters = list(warnings.filters)
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(reason, [BOMB, PNG] * 40))
    assert found == ["image has too many pixels (decompression bomb limit)", "decoded"] * 40
    assert warnings.filters == filters  # nothing process-wide was changed


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_and_other_formats_past_the_budget_refused():
    big = Image.new("RGB", (9000, 6000), (10, 200, 30))
    assert 9000 * 6000 > MAX_PIXELS
    assert decoded_pixels(encode(big, "JPEG"), "big.jpg") == 4500 * 3000
    assert open_image(encode(big, "JPEG"), "big.jpg").size == (4500, 3000)
    assert decoded_pixels(PNG, "small.png") == 64 * 48
    one_bit = encode(Image.new("1", (11000, 8000)), "PNG")
    assert len(one_bit) < 20000
    assert reason(one_bit) == "image has 88 megapixels; alttext decodes at most 40 unless it is a JPEG"

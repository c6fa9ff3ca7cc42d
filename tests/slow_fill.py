"""`fill` on a directory with a slow describer, one page per batch: the run the kill test kills."""

import sys

from fake_describer import FakeDescriber

from alttext import fill

if __name__ == "__main__":
    options = fill.Options(batch_pages=1, workers=1)
    fill.fill([sys.argv[1]], FakeDescriber(delay_s=float(sys.argv[2])), options)

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.contact_sheet import crop_contact_sheet  # noqa: E402

w = snakemake.wildcards
crop_contact_sheet(snakemake.input.overlays, snakemake.output.png, snakemake.output.svg,
                   f"Original (crop box) vs lesion crop: {w.encoder}-{w.pooling}-r{w.res}")

from pathlib import Path

from samderm.logs import setup_logging

setup_logging(snakemake.log[0])

from samderm.report.gate_report import report_gate  # noqa: E402

report_gate(snakemake.input.runs, snakemake.input.tuning, snakemake.input.end_to_end, snakemake.input.class_rejection,
            snakemake.input.risk_coverage, snakemake.input.images, snakemake.input.manifest, snakemake.params.heads,
            snakemake.params.selection_metric, Path(snakemake.output.end_to_end).parent,
            {"risk_png": snakemake.output.risk_png, "risk_svg": snakemake.output.risk_svg,
             "sheet_png": snakemake.output.sheet_png, "sheet_svg": snakemake.output.sheet_svg})

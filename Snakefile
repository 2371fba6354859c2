# samderm: skin images -> frozen SAM2 features -> heads -> OOD rejection -> tables, figures, report.
# The same study runs on one machine (--profile local) or on SLURM (--profile slurm); every
# finished run of the whole study ends by writing results/report.html (onsuccess below).
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/features.smk"
include: "rules/train.smk"
include: "rules/ood.smk"
include: "rules/report.smk"
include: "rules/tables.smk"
include: "rules/statistics.smk"
include: "rules/score.smk"
include: "rules/figures.smk"
include: "rules/operating_points.smk"
include: "rules/label_efficiency.smk"
include: "rules/external_sources.smk"
include: "rules/subgroups.smk"
include: "rules/predict.smk"


onsuccess:
    refresh_report(workflow.main_snakefile, Path.cwd(), config, REPORT_TARGETS)


rule all:
    default_target: True
    input:
        REPORT_TARGETS,
        "results/models/bundle.json",

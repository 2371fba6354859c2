# External test sources (evaluation.external): every head's internal test vs each source, per encoder.


rule tabulate_external_sources:
    input:
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
        manifest="results/data/manifest.tsv",
    output:
        multiext("results/tables/external_sources", ".csv", ".tex"),
        markdown="results/tables/external_sources.md",
        html=report(
            "results/tables/external_sources.html",
            caption="../report/external_sources.rst",
            category="External test sources",
            subcategory="Tables",
            labels={"table": "internal test vs external sources per encoder"},
        ),
        table="results/tables/external_sources_runs.tsv",
        operating_points="results/tables/external_sources_operating_points.tsv",
        figure=report(
            "results/figures/external_sources.png",
            caption="../report/external_sources_figure.rst",
            category="External test sources",
            subcategory="Figures",
            labels={"figure": "lesion task: internal test vs external sources"},
        ),
        svg="results/figures/external_sources.svg",
    log:
        "results/logs/tabulate_external_sources.log",
    conda:
        "../envs/samderm.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        bootstrap=config["report"]["bootstrap"],
        calibration_bins=config["report"]["calibration_bins"],
        selection_metric=config["report"]["selection_metric"],
        held_out_experiments=held_out_experiments(),
    script:
        "../scripts/tabulate_external_sources.py"

# Who the model fails: each chosen model per subgroup (sex, age band, site, Fitzpatrick type, ITA category) of the
# internal test split and of every external source, the worst group and the gap, and what the gate rejects per group.


rule tabulate_subgroups:
    input:
        predictions=[f"{d}/predictions.tsv" for d in run_dirs()],
        manifest="results/data/manifest.tsv",
        ita="results/data/ita.tsv",
        runs="results/tables/runs.tsv",
        tuning=[f"{d}/tuning.tsv" for d in ood_dirs()],
        images=[f"{d}/end_to_end_images.tsv" for d in ood_dirs()],
    output:
        multiext("results/tables/subgroups", ".csv", ".tex"),
        multiext("results/tables/subgroups_gate", ".csv", ".tex"),
        markdown="results/tables/subgroups.md",
        gate_markdown="results/tables/subgroups_gate.md",
        html=report(
            "results/tables/subgroups.html",
            caption="../report/subgroups.rst",
            category="Subgroups",
            subcategory="Tables",
            labels={"table": "metrics per subgroup per encoder"},
        ),
        gate_html=report(
            "results/tables/subgroups_gate.html",
            caption="../report/subgroups_gate.rst",
            category="Subgroups",
            subcategory="Tables",
            labels={"table": "what the gate rejects per subgroup"},
        ),
        table="results/tables/subgroups_runs.tsv",
        lesion_png=report(
            "results/figures/subgroups_lesion.png",
            caption="../report/subgroups_forest.rst",
            category="Subgroups",
            subcategory="Figures",
            labels={"figure": "lesion task per subgroup"},
        ),
        lesion_svg="results/figures/subgroups_lesion.svg",
        malignancy_png=report(
            "results/figures/subgroups_malignancy.png",
            caption="../report/subgroups_forest.rst",
            category="Subgroups",
            subcategory="Figures",
            labels={"figure": "malignancy task per subgroup"},
        ),
        malignancy_svg="results/figures/subgroups_malignancy.svg",
    log:
        "results/logs/tabulate_subgroups.log",
    conda:
        "../envs/samderm.yaml"
    threads: 2
    resources:
        mem_mb=per_attempt(4000),
        runtime=per_attempt(60),
    params:
        subgroups=config["subgroups"],
        bootstrap=config["report"]["bootstrap"],
        calibration_bins=config["report"]["calibration_bins"],
        selection_metric=config["report"]["selection_metric"],
        held_out_experiments=held_out_experiments(),
        heads=config["ood"]["heads"],
    script:
        "../scripts/tabulate_subgroups.py"

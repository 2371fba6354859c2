# Label efficiency (experiments.<name>.label_fraction): test metrics against the fraction of training lesion groups.


rule plot_label_efficiency:
    input:
        runs="results/tables/runs.tsv",
    output:
        multiext("results/tables/label_efficiency", *TABLE_FORMATS),
        png=report(
            "results/figures/label_efficiency.png",
            caption="../report/label_efficiency.rst",
            category="Label efficiency",
            subcategory="Figures",
            labels={"figure": "metrics by label fraction"},
        ),
        svg="results/figures/label_efficiency.svg",
        table=report(
            "results/tables/label_efficiency.html",
            caption="../report/label_efficiency.rst",
            category="Label efficiency",
            subcategory="Tables",
            labels={"table": "metrics by label fraction"},
        ),
    log:
        "results/logs/plot_label_efficiency.log",
    conda:
        "../envs/samderm.yaml"
    threads: 1
    resources:
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
    params:
        experiments=config["experiments"],
    script:
        "../scripts/plot_label_efficiency.py"

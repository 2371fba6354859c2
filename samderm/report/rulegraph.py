"""The pipeline as a figure: Snakemake's own ``--rulegraph`` (dot text), laid out in layers by
networkx and drawn by matplotlib (Graphviz is not needed)."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

import networkx as nx
import yaml

from samderm.io import atomic_path
from samderm.report.style import colour, new_figure, save_figure, styled

log = logging.getLogger(__name__)
NODE = re.compile(r'^\s*(\d+)\s*\[\s*label\s*=\s*"([^"]+)"', re.MULTILINE)
EDGE = re.compile(r"^\s*(\d+)\s*->\s*(\d+)", re.MULTILINE)


def snakemake_rulegraph(snakefile: str | Path, config: Mapping[str, Any], workdir: str | Path = ".") -> str:
    """``snakemake --rulegraph`` of the workflow under ``config`` (the whole, validated config, so the
    graph is the one of this study), as dot text. Runs read-only (``--nolock``)."""
    with tempfile.TemporaryDirectory() as tmp:
        config_file = Path(tmp) / "config.yaml"
        config_file.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--directory", str(workdir),
                   "--configfile", str(config_file), "--rulegraph", "dot", "--nolock", "--quiet", "all"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"snakemake --rulegraph failed ({done.returncode}):\n{done.stderr[-3000:]}")
    start, end = done.stdout.find("digraph"), done.stdout.rfind("}")
    if start < 0 or end < start:
        raise RuntimeError(f"snakemake --rulegraph printed no dot graph:\n{done.stdout[-2000:]}")
    return done.stdout[start:end + 1] + "\n"


def parse_rulegraph(dot: str) -> nx.DiGraph:
    """The rule graph of Snakemake's dot output: nodes are rule names, edges point downstream."""
    names = dict(NODE.findall(dot))
    if not names:
        raise ValueError("no rule nodes in the dot text")
    graph = nx.DiGraph()
    graph.add_nodes_from(names.values())
    for source, target in EDGE.findall(dot):
        if source not in names or target not in names:
            raise ValueError(f"edge {source} -> {target} names an undeclared node")
        graph.add_edge(names[source], names[target])
    return graph


@styled
def draw_rulegraph(graph: nx.DiGraph, png: str | Path, svg: str | Path) -> None:
    """Rules in layers from the inputs (top) down; one colour per layer. The target rule ``all`` is
    left out: it only collects the final files, and its many arrows would hide the pipeline."""
    graph = graph.copy()
    if graph.number_of_nodes() > 1 and "all" in graph:
        graph.remove_node("all")
    layers = list(nx.topological_generations(graph))
    for depth, layer in enumerate(layers):
        for node in layer:
            graph.nodes[node]["layer"] = depth
    position = nx.multipartite_layout(graph, subset_key="layer", align="horizontal", scale=1.0)
    position = {n: (x, -y) for n, (x, y) in position.items()}  # first layer at the top
    widest = max(len(layer) for layer in layers)
    fig, axes = new_figure(width=max(7.0, 2.8 * widest), height=max(4.0, 1.0 * len(layers)))
    ax = axes[0, 0]
    nx.draw_networkx_edges(graph, position, ax=ax, arrows=True, arrowsize=12, edge_color="#555555",
                           node_size=2500, connectionstyle="arc3,rad=0.15")
    for node, (x, y) in position.items():
        ax.text(x, y, node, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round,pad=0.35", "facecolor": colour(graph.nodes[node]["layer"]), "alpha": 0.35,
                      "edgecolor": "#333333"})
    ax.set_title(f"The workflow: {graph.number_of_nodes()} rules, {graph.number_of_edges()} dependencies")
    ax.axis("off")
    xs, ys = zip(*position.values())
    # texts and arrows do not widen the data limits: set them from the node positions
    ax.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
    ax.set_ylim(min(ys) - 0.15, max(ys) + 0.15)
    save_figure(fig, png, svg)


def plot_workflow_rulegraph(snakefile: str | Path, config: Mapping[str, Any], dot: str | Path, png: str | Path,
                            svg: str | Path) -> None:
    """The ``plot_rulegraph`` step: ask Snakemake for the rule graph, keep the dot text, draw it."""
    text = snakemake_rulegraph(snakefile, config)
    with atomic_path(dot) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    graph = parse_rulegraph(text)
    draw_rulegraph(graph, png, svg)
    log.info("rule graph: %d rules, %d edges -> %s", graph.number_of_nodes(), graph.number_of_edges(), png)

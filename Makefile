# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv if absent.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.samderm-installed

.PHONY: demo test install system-deps slurm-cluster lint clean

install: $(STAMP)

# torch first so sam2's source build (no CUDA toolkit needed: SAM2_BUILD_CUDA=0) sees it
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet "torch>=2.5.1" "torchvision>=0.20.1"
	SAM2_BUILD_CUDA=0 $(PY) -m pip install --quiet --no-build-isolation "sam2>=1.1.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# the README's command; the run ends by writing results/report.html
demo: $(STAMP)
	$(VENV)/bin/snakemake --profile local

test: $(STAMP)
	$(VENV)/bin/pytest --durations=15

# Debian packages the SLURM and browser tests use (root); .ci/run calls this.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge chromium chromium-driver

# a one-node SLURM cluster on this machine, for the SLURM tests (root)
slurm-cluster:
	bash tests/slurm/start_cluster.sh

clean:
	rm -rf results .snakemake
